/**
 * The distill pass: options and flags, tfjs stays unloaded until the pass runs, and end to end on a
 * tiny model — a hand-pruned model (dense and sparse storage), --student file, --student-width.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ModelBuilder } from '../../src/ir/builder.js';
import { cloneModel } from '../../src/ir/clone.js';
import { fingerprintModel } from '../../src/ir/fingerprint.js';
import { DataType } from '../../src/ir/dtype.js';
import type { Model } from '../../src/ir/model.js';
import { Tensor } from '../../src/ir/tensor.js';
import { loadModel, saveModel } from '../../src/onnx/index.js';
import { distillPass, parseDistillOptions } from '../../src/passes/distill.js';
import { Dataset, PassContext, seededRng, silentLogger } from '../../src/passes/pass.js';
import { getPass, passes } from '../../src/passes/registry.js';
import { makeRunner } from '../../src/runtime/index.js';

const F = DataType.FLOAT;
const runner = makeRunner();
const dir = mkdtempSync(join(tmpdir(), 'mlc-distill-'));
afterAll(async () => {
  await runner.release();
  rmSync(dir, { recursive: true, force: true });
});

function randn(n: number, seed: number, scale: number): Float32Array {
  const rng = seededRng(seed);
  return Float32Array.from({ length: n }, () => Math.sqrt(-2 * Math.log(Math.max(rng(), 1e-12))) * Math.cos(2 * Math.PI * rng()) * scale);
}

/** 12 → 24 → 16 → 3 classifier with logits output. */
function teacherModel(): Model {
  const b = new ModelBuilder({ opset: 17 });
  const x = b.input('input', F, ['N', 12]);
  let h = b.op('Relu', [b.op('Gemm', [x, b.init('w1', [12, 24], randn(288, 1, 0.5)), b.init('b1', [24], randn(24, 2, 0.1))], {}, { name: 'fc1' })]);
  h = b.op('Relu', [b.op('Gemm', [h, b.init('w2', [24, 16], randn(384, 3, 0.4)), b.init('b2', [16], randn(16, 4, 0.1))], {}, { name: 'fc2' })]);
  b.output(b.op('Gemm', [h, b.init('w3', [16, 3], randn(48, 5, 0.5)), b.init('b3', [3], randn(3, 6, 0.1))], {}, { name: 'fc3' }), F, ['N', 3], 'logits');
  return b.build();
}

async function labelled(teacher: Model, n: number, seed: number): Promise<Dataset> {
  const x = randn(n * 12, seed, 1);
  const out = (await runner(teacher, { input: { dtype: 'float', dims: [n, 12], data: x } })).logits.data as Float32Array;
  const labels = Int32Array.from({ length: n }, (_, i) => {
    const r = out.subarray(i * 3, i * 3 + 3);
    return r.indexOf(Math.max(...r));
  });
  return { inputs: { input: { dtype: 'float', dims: [n, 12], data: x } }, labels, count: n };
}

function ctxFor(teacher: Model, train: Dataset): PassContext {
  return { log: silentLogger, rng: seededRng(3), train, original: teacher, run: runner, loadModel: (p) => loadModel(p) };
}

const quick = { epochs: 3, batchSize: 32, lr: 0.005 };

describe('distill pass: options', () => {
  it('loads no tfjs until it runs', () => {
    expect(getPass('distill')).toBe(distillPass);
    expect((globalThis as Record<string, unknown>)._tfengine).toBeUndefined();
  });

  it('sits between prune and quantize in the registry', () => {
    const names = passes.map((p) => p.name);
    const i = names.indexOf('distill');
    if (names.includes('prune')) expect(names.indexOf('prune')).toBeLessThan(i);
    if (names.includes('lowrank')) expect(names.indexOf('lowrank')).toBeLessThan(i);
    if (names.includes('quantize')) expect(names.indexOf('quantize')).toBeGreaterThan(i);
  });

  it('parses defaults and CLI flags (strings, converted), rejects bad values', () => {
    const d = parseDistillOptions({});
    expect(d).toMatchObject({ epochs: 10, batchSize: 64, lr: 3e-3, temperature: 4, alpha: 0.7, backend: 'auto', keepZeros: true });
    expect(parseDistillOptions(distillPass.cli!.fromFlags({ distill: true, epochs: '3', lr: '0.01', studentWidth: '0.5', alpha: '1' }))).toMatchObject({ epochs: 3, lr: 0.01, studentWidth: 0.5, alpha: 1 });
    expect(() => parseDistillOptions({ epochs: '3' })).toThrow(/epochs must be an integer.*a string: write 3 without quotes/);
    expect(() => parseDistillOptions({ alpha: 1.5 })).toThrow(/alpha/);
    expect(() => parseDistillOptions({ epochs: 2.5 })).toThrow(/epochs/);
    expect(() => parseDistillOptions({ studentWidth: 0 })).toThrow(/studentWidth/);
    expect(() => parseDistillOptions({ temperature: -1 })).toThrow(/temperature/);
    expect(() => parseDistillOptions({ backend: 'gpu' })).toThrow(/backend/);
    expect(() => parseDistillOptions({ nope: 1 })).toThrow(/unknown option/);
    expect(() => parseDistillOptions({ augment: 'cutmix' })).toThrow(/augment/);
    expect(parseDistillOptions({ augment: 'none' }).augment).toBe('none');
  });

  it('flags: --distill, --student and --student-width ask for the pass; nothing else does', () => {
    const cli = distillPass.cli!;
    expect(cli.fromFlags({ epochs: '3' })).toBeUndefined();
    expect(cli.fromFlags({ distill: true })).toMatchObject({});
    expect(cli.fromFlags({ studentWidth: '0.5', epochs: '2' })).toMatchObject({ studentWidth: 0.5, epochs: 2 });
    expect(cli.fromFlags({ student: 's.onnx' })).toMatchObject({ student: 's.onnx' });
    expect(cli.outputSuffix({})).toBe('_distilled');
  });
});

describe('distill pass: run', () => {
  it('needs training data', async () => {
    const t = teacherModel();
    await expect(distillPass.run(cloneModel(t), parseDistillOptions({}), { log: silentLogger, rng: seededRng(1), run: runner })).rejects.toThrow(/--train-data/);
  });

  it('pruned model: trains, keeps zeros, reports, keeps sparse storage sparse', async () => {
    const teacher = teacherModel();
    const model = cloneModel(teacher);
    // prune by hand: 80% of w1 and w2, w2 stored as a sparse initializer
    for (const n of ['w1', 'w2']) {
      const d = model.graph.initializers.get(n)!.data as Float32Array;
      const thr = Float32Array.from(d, Math.abs).sort()[Math.floor(0.8 * d.length)];
      for (let i = 0; i < d.length; i++) if (Math.abs(d[i]) < thr) d[i] = 0;
    }
    const w2 = model.graph.initializers.get('w2')!;
    const nz = Array.from(w2.data as Float32Array).flatMap((v, i) => (v !== 0 ? [i] : []));
    model.graph.initializers.delete('w2');
    model.graph.sparseInitializers.push({
      values: Tensor.float32('w2', [nz.length], nz.map((i) => (w2.data as Float32Array)[i])),
      indices: Tensor.int64('w2_indices', [nz.length], nz),
      dims: [24, 16],
    });
    const zeros1 = Array.from(model.graph.initializers.get('w1')!.data as Float32Array).flatMap((v, i) => (v === 0 ? [i] : []));

    const train = await labelled(teacher, 1000, 9);
    const r = await distillPass.run(model, parseDistillOptions(quick), ctxFor(teacher, train));
    expect(r.modified).toBe(true);
    expect(r.stats.metric).toBe('accuracy');
    expect(r.stats.maskedWeights).toBe(2);
    expect(r.stats.studentValAfter as number).toBeGreaterThanOrEqual(r.stats.studentValBefore as number);
    expect(r.stats.paramsAfter).toBe(r.stats.paramsBefore);
    expect(model.graph.sparseInitializers.map((s) => s.values.name)).toEqual(['w2']);
    expect(model.graph.sparseInitializers[0].values.size).toBeLessThanOrEqual(nz.length);
    const w1 = model.graph.initializers.get('w1')!.data as Float32Array;
    for (const i of zeros1) expect(w1[i]).toBe(0);
    // the pipeline's check: onnxruntime loads and runs the result
    const out = await runner(model, { input: { dtype: 'float', dims: [2, 12], data: randn(24, 77, 1) } });
    expect(out.logits.dims).toEqual([2, 3]);
  });

  it('--student-width narrows, then trains the narrow student', async () => {
    const teacher = teacherModel();
    const model = cloneModel(teacher);
    const train = await labelled(teacher, 1000, 10);
    const r = await distillPass.run(model, parseDistillOptions({ ...quick, studentWidth: 0.5 }), ctxFor(teacher, train));
    expect(r.stats.layersNarrowed).toBe(2);
    expect(model.graph.initializers.get('w1')!.dims).toEqual([12, 12]);
    expect(model.graph.initializers.get('w3')!.dims).toEqual([8, 3]);
    expect(r.stats.paramsAfter as number).toBeLessThan(0.6 * (r.stats.paramsBefore as number));
    expect(r.stats.studentValAfter as number).toBeGreaterThan(r.stats.studentValBefore as number);
    expect(r.skipped.some((s) => s.node === 'fc3')).toBe(true);
  });

  it('--student file: replaces the model; a mismatched student is refused', async () => {
    const teacher = teacherModel();
    const b = new ModelBuilder({ opset: 17 });
    const x = b.input('input', F, ['N', 12]);
    const h = b.op('Tanh', [b.op('MatMul', [x, b.init('s1', [12, 6], randn(72, 31, 0.3))])]);
    b.output(b.op('Gemm', [h, b.init('s2', [6, 3], randn(18, 32, 0.3)), b.init('s2b', [3], new Float32Array(3))]), F, ['N', 3], 'logits');
    const file = join(dir, 'student.onnx');
    await saveModel(b.build(), file);
    const model = cloneModel(teacher);
    const train = await labelled(teacher, 600, 11);
    const r = await distillPass.run(model, parseDistillOptions({ ...quick, student: file }), ctxFor(teacher, train));
    expect(model.graph.nodes.map((n) => n.opType)).toEqual(['MatMul', 'Tanh', 'Gemm']);
    expect(r.stats.paramsAfter).toBe(72 + 18 + 3);
    expect(r.stats.studentValAfter as number).toBeGreaterThan(r.stats.studentValBefore as number);

    const b2 = new ModelBuilder({ opset: 17 });
    const y = b2.input('pixels', F, ['N', 12]);
    b2.output(b2.op('MatMul', [y, b2.init('s', [12, 3], randn(36, 1, 1))]), F, ['N', 3], 'logits');
    const bad = join(dir, 'bad.onnx');
    await saveModel(b2.build(), bad);
    await expect(distillPass.run(cloneModel(teacher), parseDistillOptions({ student: bad }), ctxFor(teacher, train))).rejects.toThrow(/inputs \(pixels\) differ/);
  });

  it('an op outside the executor set is a skip naming the node and the op; the model stays as it was', async () => {
    const b = new ModelBuilder({ opset: 17 });
    const x = b.input('input', F, ['N', 12]);
    const h = b.op('Gemm', [x, b.init('w', [12, 3], randn(36, 1, 1))]);
    b.output(b.op('Hardmax', [h], {}, { name: 'hm' }), F, ['N', 3], 'logits');
    const m = b.build();
    const train = await labelled(teacherModel(), 100, 12);
    const work = cloneModel(m);
    const r = await distillPass.run(work, parseDistillOptions(quick), ctxFor(m, train));
    expect(r.modified).toBe(false);
    expect(r.skipped).toEqual([{ node: 'hm', reason: expect.stringMatching(/Hardmax/) }]);
    expect(fingerprintModel(work)).toBe(fingerprintModel(m));
  });

  it('an attribute form the executor refuses is a skip too (found when the student is compiled)', async () => {
    const b = new ModelBuilder({ opset: 17 });
    const x = b.input('input', F, ['N', 12]);
    const h = b.op('Reshape', [b.op('Gemm', [x, b.init('w', [12, 32], randn(384, 1, 1))]), b.ints('s', [-1, 2, 4, 4])]);
    const p = b.op('MaxPool', [h], { kernel_shape: [2, 2], dilations: [2, 2] }, { name: 'dilated' });
    b.output(b.op('Flatten', [p]), F, ['N', 8], 'logits');
    const m = b.build();
    const train: Dataset = { inputs: { input: { dtype: 'float', dims: [40, 12], data: randn(480, 9, 1) } }, count: 40 };
    const work = cloneModel(m);
    const r = await distillPass.run(work, parseDistillOptions(quick), ctxFor(m, train));
    expect(r.modified).toBe(false);
    expect(r.skipped).toEqual([{ node: 'dilated', reason: 'pooling dilations' }]);
    expect(fingerprintModel(work)).toBe(fingerprintModel(m));
  });

  it('0 epochs change nothing: modified false', async () => {
    const teacher = teacherModel();
    const work = cloneModel(teacher);
    const r = await distillPass.run(work, parseDistillOptions({ ...quick, epochs: 0 }), ctxFor(teacher, await labelled(teacher, 60, 13)));
    expect(r.modified).toBe(false);
    expect(fingerprintModel(work)).toBe(fingerprintModel(teacher));
  });
});
