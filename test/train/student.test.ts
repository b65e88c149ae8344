/**
 * --student-width: the narrowed model runs in onnxruntime and equals the teacher with the dropped
 * units cut off (their outgoing weights zeroed), for an MLP and a CNN; unsafe layers are skipped.
 */
import { describe, expect, it } from 'vitest';
import { ModelBuilder } from '../../src/ir/builder.js';
import { cloneModel } from '../../src/ir/clone.js';
import { DataType } from '../../src/ir/dtype.js';
import type { Model } from '../../src/ir/model.js';
import { narrowModel } from '../../src/train/student.js';
import { floatFeed, maxAbsDiff, ortRun, randn } from './helpers.js';

const F = DataType.FLOAT;
const w = (b: ModelBuilder, name: string, dims: number[], seed: number, scale = 0.4) =>
  b.init(name, dims, randn(dims.reduce((p, q) => p * q, 1), seed, scale));

function mlp(): Model {
  const b = new ModelBuilder({ opset: 17 });
  const x = b.input('input', F, ['N', 20]);
  let h = b.op('Relu', [b.op('Gemm', [x, w(b, 'w1', [12, 20], 1), w(b, 'b1', [12], 2)], { transB: 1 }, { name: 'fc1' })]);
  h = b.op('Relu', [b.op('Add', [b.op('MatMul', [h, w(b, 'w2', [12, 8], 3)], {}, { name: 'fc2' }), w(b, 'b2', [8], 4)])]);
  b.output(b.op('Gemm', [h, w(b, 'w3', [8, 4], 5), w(b, 'b3', [4], 6)], {}, { name: 'fc3' }), F, ['N', 4], 'logits');
  return b.build();
}

function cnn(): Model {
  const b = new ModelBuilder({ opset: 17 });
  const x = b.input('input', F, ['N', 64]);
  let h = b.op('Reshape', [x, b.ints('s0', [-1, 1, 8, 8])]);
  h = b.op('Conv', [h, w(b, 'c1', [4, 1, 3, 3], 1), w(b, 'c1b', [4], 2)], { pads: [1, 1, 1, 1] }, { name: 'conv1' });
  h = b.op('BatchNormalization', [h, w(b, 'bn_s', [4], 3), w(b, 'bn_b', [4], 4), w(b, 'bn_m', [4], 5, 0.1), b.init('bn_v', [4], [1, 2, 0.5, 1])]);
  h = b.op('MaxPool', [b.op('Relu', [h])], { kernel_shape: [2, 2], strides: [2, 2] });
  h = b.op('Conv', [h, w(b, 'c2', [6, 4, 3, 3], 6)], { pads: [1, 1, 1, 1] }, { name: 'conv2' });
  h = b.op('Relu', [b.op('Add', [h, w(b, 'c2b', [6, 1, 1], 7)])]);
  h = b.op('Reshape', [h, b.ints('s1', [0, 96])]);
  h = b.op('Relu', [b.op('Gemm', [h, w(b, 'f1', [96, 16], 8, 0.2), w(b, 'f1b', [16], 9)], {}, { name: 'fc1' })]);
  b.output(b.op('Gemm', [h, w(b, 'f2', [16, 10], 10), w(b, 'f2b', [10], 11)], {}, { name: 'fc2' }), F, ['N', 10], 'logits');
  return b.build();
}

/** Zero `rows` (indices along `axis`, in blocks) of an initializer. */
function zeroAlong(m: Model, name: string, axis: number, drop: number[], block = 1) {
  const t = m.graph.initializers.get(name)!;
  const d = t.data as Float32Array;
  const dims = t.dims;
  const outer = dims.slice(0, axis).reduce((a, b) => a * b, 1);
  const inner = dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  for (let a = 0; a < outer; a++)
    for (const c of drop) for (let j = 0; j < block; j++) d.fill(0, (a * dims[axis] + c * block + j) * inner, (a * dims[axis] + c * block + j + 1) * inner);
}

const dropped = (n: number, keep: number[]) => Array.from({ length: n }, (_, i) => i).filter((i) => !keep.includes(i));

describe('narrowModel', () => {
  it('MLP: halves hidden widths, keeps output, equals the teacher with dropped units cut', async () => {
    const teacher = mlp();
    const student = cloneModel(teacher);
    const r = narrowModel(student, 0.5);
    expect(r.layers.map((l) => [l.node, l.before, l.after])).toEqual([
      ['fc1', 12, 6],
      ['fc2', 8, 4],
    ]);
    expect(r.skipped.map((s) => s.node)).toEqual(['fc3']);
    expect(student.graph.initializers.get('w1')!.dims).toEqual([6, 20]);
    expect(student.graph.initializers.get('w2')!.dims).toEqual([6, 4]);
    expect(student.graph.initializers.get('b2')!.dims).toEqual([4]);
    expect(student.graph.initializers.get('w3')!.dims).toEqual([4, 4]);
    expect(r.paramsAfter).toBeLessThan(r.paramsBefore * 0.55);
    // the kept channels are the largest-norm rows of w1 (transB: rows are outputs)
    const w1 = teacher.graph.initializers.get('w1')!.data as Float32Array;
    const norms = Array.from({ length: 12 }, (_, i) => Math.hypot(...w1.slice(i * 20, i * 20 + 20)));
    const minKept = Math.min(...r.layers[0].keep.map((i) => norms[i]));
    for (const d of dropped(12, r.layers[0].keep)) expect(norms[d]).toBeLessThanOrEqual(minKept);

    const ref = cloneModel(teacher);
    zeroAlong(ref, 'w2', 0, dropped(12, r.layers[0].keep));
    zeroAlong(ref, 'w3', 0, dropped(8, r.layers[1].keep));
    const feeds = { input: floatFeed([5, 20]) };
    const [a] = await ortRun(student, feeds);
    const [b] = await ortRun(ref, feeds);
    expect(maxAbsDiff(a.data, b.data)).toBeLessThan(1e-4);
  });

  it('CNN: filters, BN, channel bias, Reshape constant and the dense rows shrink together', async () => {
    const teacher = cnn();
    const student = cloneModel(teacher);
    const r = narrowModel(student, 0.5);
    expect(r.layers.map((l) => [l.node, l.before, l.after])).toEqual([
      ['conv1', 4, 2],
      ['conv2', 6, 3],
      ['fc1', 16, 8],
    ]);
    expect(student.graph.initializers.get('c2')!.dims).toEqual([3, 2, 3, 3]);
    expect(student.graph.initializers.get('bn_v')!.dims).toEqual([2]);
    expect(student.graph.initializers.get('c2b')!.dims).toEqual([3, 1, 1]);
    expect(student.graph.initializers.get('f1')!.dims).toEqual([48, 8]);
    expect(Array.from(student.graph.initializers.get('s1')!.toIntArray())).toEqual([0, 48]);

    const ref = cloneModel(teacher);
    zeroAlong(ref, 'c2', 1, dropped(4, r.layers[0].keep));
    zeroAlong(ref, 'f1', 0, dropped(6, r.layers[1].keep), 16);
    zeroAlong(ref, 'f2', 0, dropped(16, r.layers[2].keep));
    const feeds = { input: floatFeed([3, 64]) };
    const [a] = await ortRun(student, feeds);
    const [b] = await ortRun(ref, feeds);
    expect(maxAbsDiff(a.data, b.data)).toBeLessThan(1e-4);
  });

  it('skips layers whose output crosses a residual Add, also through a fan-out', () => {
    const b = new ModelBuilder({ opset: 17 });
    const x = b.input('input', F, ['N', 8]);
    const h = b.op('Relu', [b.op('MatMul', [x, w(b, 'w1', [8, 8], 1)], {}, { name: 'a' })]);
    const r = b.op('Add', [h, b.op('MatMul', [h, w(b, 'w2', [8, 8], 2)], {}, { name: 'b' })]);
    b.output(b.op('MatMul', [r, w(b, 'w3', [8, 3], 3)], {}, { name: 'c' }), F, ['N', 3], 'y');
    const m = b.build();
    const res = narrowModel(m, 0.5);
    expect(res.layers).toEqual([]);
    // a's output is read by b (which could follow) and by the residual Add (which cannot)
    expect(res.skipped.find((s) => s.node === 'a')!.reason).toMatch(/residual/);
    expect(res.skipped.find((s) => s.node === 'b')!.reason).toMatch(/residual/);
    expect(res.skipped.find((s) => s.node === 'c')!.reason).toMatch(/graph output/);
    expect(res.paramsAfter).toBe(res.paramsBefore);
  });

  it('rejects a width outside (0, 1]', () => {
    expect(() => narrowModel(mlp(), 0)).toThrow(/student-width/);
    expect(() => narrowModel(mlp(), 1.5)).toThrow(/student-width/);
  });
});
