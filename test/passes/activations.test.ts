import { afterAll, describe, expect, it } from 'vitest';
import { loadDataset } from '../../src/data/index.js';
import { takeDataset } from '../../src/data/batch.js';
import { DataType } from '../../src/ir/dtype.js';
import { ModelBuilder } from '../../src/ir/builder.js';
import type { Model } from '../../src/ir/model.js';
import { buildMobileNetV2 } from '../../src/models/mobilenet.js';
import { buildResNet, resnetInputs } from '../../src/models/resnet.js';
import { loadModel } from '../../src/onnx/index.js';
import {
  activationRanges,
  budgetBatch,
  collectActivations,
  feedBatches,
  shapeRules,
  streamActivations,
  updateRange,
  type ValueRange,
} from '../../src/passes/activations.js';
import { seededRng, type Dataset, type ModelRunner } from '../../src/passes/pass.js';
import { makeRunner } from '../../src/runtime/index.js';

const runner = makeRunner();
afterAll(() => runner.release());

/** Counts the runs, so tests can check how the data was batched. */
function counting(): ModelRunner & { calls: number[] } {
  const calls: number[] = [];
  const run = (async (m, feeds, names) => {
    calls.push(Object.values(feeds)[0].dims[0]);
    return runner(m, feeds, names);
  }) as ModelRunner & { calls: number[] };
  run.calls = calls;
  return run;
}

/** A runner that keeps every probe model it is given. */
function capturing(): { run: ModelRunner; probes: Model[] } {
  const probes: Model[] = [];
  const run: ModelRunner = async (p, feeds, outs) => {
    probes.push(p);
    return runner(p, feeds, outs);
  };
  return { run, probes };
}

/** Every float value a node writes, and the graph input. */
function allValues(m: Model): string[] {
  return [m.graph.inputs[0].name, ...m.graph.nodes.filter((n) => n.opType !== 'Constant').flatMap((n) => n.outputs)];
}

/** Reference: every value copied out in one run and scanned here (what calibration did before). */
async function scanned(m: Model, ds: Dataset, names: string[]): Promise<Map<string, ValueRange>> {
  const acts = await collectActivations(runner, m, ds.inputs, names);
  const out = new Map<string, ValueRange>();
  for (const n of names) {
    const r = { min: Infinity, max: -Infinity, count: 0 };
    updateRange(r, acts[n]!.data);
    out.set(n, r);
  }
  return out;
}

function images(n: number, res: number, seed: number): Dataset {
  const r = seededRng(seed);
  const x = new Float32Array(n * 3 * res * res);
  for (let i = 0; i < x.length; i++) x[i] = (r() * 2 - 1) * 2.5;
  return { inputs: { input: { dtype: 'float', dims: [n, 3, res, res], data: x } }, count: n };
}

/** Convs and pools with auto_pad SAME / VALID, dilations, odd sizes, a broadcast Mul, a Concat. */
function windows(): Model {
  const b = new ModelBuilder({ opset: 17 });
  const r = seededRng(9);
  const w = (name: string, dims: number[]) => b.init(name, dims, Float32Array.from({ length: dims.reduce((a, x) => a * x, 1) }, () => r() - 0.5));
  const x = b.input('input', DataType.FLOAT, ['N', 3, 'H', 'W']);
  const a = b.op('Conv', [x, w('wa', [8, 3, 3, 3])], { auto_pad: 'SAME_UPPER', strides: [2, 2] }, { name: 'same' });
  const v = b.op('Conv', [x, w('wv', [8, 3, 2, 3])], { auto_pad: 'VALID', strides: [2, 2], dilations: [2, 1] }, { name: 'valid' });
  const p = b.op('AveragePool', [a], { kernel_shape: [3, 2], pads: [1, 0, 1, 1], strides: [1, 2] }, { name: 'avg' });
  const m = b.op('MaxPool', [v], { kernel_shape: [2, 2], strides: [1, 2], dilations: [1, 2] }, { name: 'max' });
  const s = b.op('Mul', [b.op('Relu', [m], {}, { name: 'relu' }), w('scale', [8, 1, 1])], {}, { name: 'mul' });
  const c = b.op('Concat', [b.op('Conv', [p, w('wp', [8, 8, 3, 2])], {}, { name: 'pw' }), s], { axis: 1 }, { name: 'cat' });
  b.output(b.op('GlobalMaxPool', [c], {}, { name: 'gmp' }), DataType.FLOAT, undefined, 'out');
  return b.build();
}

describe('activation collector', () => {
  it('in-runtime min / max / count equal a scan of the copied-out values on the MNIST CNN, for any batching', async () => {
    const m = await loadModel('fixtures/mnist-cnn.onnx');
    const ds = takeDataset(await loadDataset('fixtures/mnist-train.npz', m), 50);
    const names = allValues(m);
    const ref = await scanned(m, ds, names);
    for (const batch of [1, 7, 64]) {
      const run = counting();
      const got = await activationRanges(run, m, names, () => feedBatches(m, ds, { samples: 50, batch }));
      expect(run.calls).toEqual(Array.from({ length: Math.ceil(50 / batch) }, (_, i) => Math.min(batch, 50 - i * batch)));
      expect([...got.keys()].sort()).toEqual([...ref.keys()].sort());
      for (const [n, r] of ref) expect(got.get(n), n).toEqual(r);
    }
  });

  it('Clip / Relu ranges derived from their input equal measured ones (MobileNetV2, BatchNorm kept and folded)', async () => {
    for (const foldBatchNorm of [true, false]) {
      const m = buildMobileNetV2({ width: 0.25, resolution: 32, classes: 10, dynamicBatch: true, foldBatchNorm });
      const ds = images(6, 32, 9);
      const names = allValues(m);
      const ref = await scanned(m, ds, names);
      const got = await activationRanges(runner, m, names, () => feedBatches(m, ds, { samples: 6, batch: 4 }));
      const clips = m.graph.nodes.filter((n) => n.opType === 'Clip').map((n) => n.outputs[0]);
      expect(clips.length).toBeGreaterThan(10);
      // the clamp is visible in the data: some ranges hit 0 and 6
      expect(clips.some((c) => ref.get(c)!.max === 6)).toBe(true);
      for (const [n, r] of ref) expect(got.get(n), n).toEqual(r);
    }
  });

  it('a Relu / Clip asked for without its input is measured itself: the probe leaves the Conv output one reader', async () => {
    const m = buildMobileNetV2({ width: 0.25, resolution: 32, classes: 10, dynamicBatch: true });
    const ds = images(5, 32, 3);
    const clips = m.graph.nodes.filter((n) => n.opType === 'Clip');
    const names = clips.map((n) => n.outputs[0]);
    const ref = await scanned(m, ds, names);
    const { run, probes } = capturing();
    const got = await activationRanges(run, m, names, () => feedBatches(m, ds, { samples: 5, batch: 2 }));
    for (const [n, r] of ref) expect(got.get(n), n).toEqual(r);
    const g = probes[0].graph;
    for (const c of clips)
      expect(
        g.consumers(c.inputs[0]).map((n) => n.opType),
        c.inputs[0],
      ).toEqual(['Clip']);
    // asked for together with its input, the Clip's range is the input's, clamped (no reduction of its own)
    const both = await activationRanges(runner, m, [clips[0].inputs[0], names[0]], () => feedBatches(m, ds, { samples: 5, batch: 5 }));
    expect(both.get(names[0])).toEqual(ref.get(names[0]));
  });

  it('zeroFloor: a Relu / Clip output gets its max only (GlobalMaxPool when it has 3+ dims), its min the bound; min(min, 0) and max are exact', async () => {
    const m = buildMobileNetV2({ width: 0.25, resolution: 32, classes: 10, dynamicBatch: true });
    // and a 2-D Relu (the classifier's output, ReLU'd): no GlobalMaxPool for it
    const g = m.graph;
    const out = g.outputs[0].name;
    g.addNode({ name: 'head_relu', opType: 'Relu', domain: '', inputs: [out], outputs: ['head_relu_out'], attributes: [] });
    g.outputs.push({ name: 'head_relu_out' });
    const ds = images(5, 32, 6);
    const clips = g.nodes.filter((n) => n.opType === 'Clip').map((n) => n.outputs[0]);
    const convs = g.nodes
      .filter((n) => n.opType === 'Conv' && !g.consumers(n.outputs[0]).some((c) => c.opType === 'Clip'))
      .map((n) => n.outputs[0]);
    const names = ['input', ...clips, ...convs, 'head_relu_out'];
    const ref = await scanned(m, ds, names);
    const { run, probes } = capturing();
    const got = await activationRanges(run, m, names, () => feedBatches(m, ds, { samples: 5, batch: 2 }), undefined, undefined, {
      zeroFloor: true,
    });
    for (const [n, r] of ref) {
      const bounded = clips.includes(n) || n === 'head_relu_out';
      expect(got.get(n), n).toEqual(bounded ? { ...r, min: 0 } : r);
      expect(Math.min(got.get(n)!.min, 0), n).toBe(Math.min(r.min, 0));
    }
    const pg = probes[0].graph;
    const readers = (v: string) =>
      pg
        .consumers(v)
        .map((c) => c.opType)
        .sort();
    for (const c of clips) expect(readers(c), c).toContain('GlobalMaxPool');
    for (const c of clips) expect(readers(c), c).not.toContain('ReduceMin');
    // their counts come from their shapes (Conv / Clip from the input's): no Size, so no reorder
    // of onnxruntime's blocked-channel layout for it; the counts above are still exact
    for (const c of clips) expect(readers(c), c).not.toContain('Size');
    expect(readers('head_relu_out')).toEqual(['ReduceMax', 'Size']);
    for (const c of convs) expect(readers(c), c).toContain('ReduceMin');
    // a Conv output's count comes from its shape too; the 2-D head's (Gemm: no shape rule) from Size
    expect(pg.nodes.filter((n) => n.opType === 'Size').map((n) => n.inputs[0])).toEqual(['head_relu_out']);
  });

  it('shapeRules: the shapes onnxruntime computes, for Conv / pools / elementwise / Concat; none past another op', async () => {
    const cases: [Model, Dataset['inputs']][] = [
      [buildMobileNetV2({ width: 0.25, resolution: 40, classes: 10, dynamicBatch: true }), images(3, 40, 2).inputs],
      // stem Conv stride 2 pad 3, MaxPool stride 2, strided blocks, residual Add, BatchNorm kept
      [buildResNet({ channels: [8, 16], blocks: [1, 1], image: 37 }), resnetInputs({ image: 37 }, 2, 1) as Dataset['inputs']],
      [windows(), images(2, 23, 3).inputs],
    ];
    for (const [m, feeds] of cases) {
      const g = m.graph;
      const names = g.nodes.filter((n) => n.opType !== 'Constant').map((n) => n.outputs[0]);
      const acts = await collectActivations(runner, m, feeds, names);
      const shape = shapeRules(g)(Object.fromEntries(Object.entries(feeds).map(([k, f]) => [k, f.dims])));
      let known = 0;
      for (const n of names) {
        const op = g.producer(n)!.opType;
        if (['Flatten', 'Gemm', 'Reshape', 'Shape', 'Gather', 'Unsqueeze'].includes(op) && shape(n) === undefined) continue;
        expect(shape(n), `${op} ${n}`).toEqual(acts[n]!.dims);
        known++;
      }
      expect(known).toBeGreaterThan(names.length / 2);
      // past an op it has no rule for (Flatten), nothing
      const flat = g.nodes.find((n) => n.opType === 'Flatten');
      if (flat) expect(shape(flat.outputs[0])).toBeUndefined();
    }
  });

  it('streaming batch by batch gives exactly the one-shot activations', async () => {
    const m = buildMobileNetV2({ width: 0.25, resolution: 32, classes: 10, dynamicBatch: true });
    const ds = images(5, 32, 4);
    const names = ['/features/features.0/features.0.2/Clip_output_0', '/features/features.2/conv/conv.2/Conv_output_0', 'input', 'output'];
    const one = await collectActivations(runner, m, ds.inputs, names);
    const parts: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
    const run = counting();
    await streamActivations(run, m, names, feedBatches(m, ds, { samples: 5, batch: 2 }), (acts) => {
      for (const n of names) parts[n].push(...acts[n]!.data);
    });
    expect(run.calls).toEqual([2, 2, 1]);
    for (const n of names) expect(Float32Array.from(parts[n])).toEqual(one[n]!.data);
  });

  it('a value with NaNs is scanned with NaNs skipped; non-float values are left out', async () => {
    // y = Sqrt(x) is NaN for x < 0; z = Cast(x) to int32
    const b = new ModelBuilder({ opset: 17 });
    const x = b.input('x', DataType.FLOAT, ['N', 4]);
    const y = b.op('Sqrt', [x], {}, { name: 'sqrt' });
    const z = b.op('Cast', [x], { to: DataType.INT32 }, { name: 'cast' });
    b.output(y, DataType.FLOAT, ['N', 4], 'y');
    b.output(z, DataType.INT32, ['N', 4], 'z');
    const m = b.build();
    const data = Float32Array.of(4, -1, 9, 0.25, -4, 16, 1, -9);
    const ds: Dataset = { inputs: { x: { dtype: 'float', dims: [2, 4], data } }, count: 2 };
    const got = await activationRanges(runner, m, ['x', 'y', 'z'], () => feedBatches(m, ds, { samples: 2, batch: 1 }));
    expect(got.get('x')).toEqual({ min: -9, max: 16, count: 8 });
    expect(got.get('y')).toEqual({ min: 0.5, max: 4, count: 8 });
    expect(got.has('z')).toBe(false);
  });

  it('float16 values are left out (reduced or, when the runtime has no float16 reduction, scanned); float ones still measured', async () => {
    const b = new ModelBuilder({ opset: 17 });
    const x = b.input('x', DataType.FLOAT, ['N', 4]);
    const h = b.op('Cast', [x], { to: DataType.FLOAT16 }, { name: 'to16' });
    const r = b.op('Relu', [h], {}, { name: 'relu16' });
    const y = b.op('Cast', [r], { to: DataType.FLOAT }, { name: 'to32' });
    b.output(b.op('Neg', [y], {}, { name: 'neg' }), DataType.FLOAT, ['N', 4], 'y');
    const m = b.build();
    const ds: Dataset = { inputs: { x: { dtype: 'float', dims: [2, 4], data: Float32Array.of(1, -2, 3, -4, 5, -6, 7, -8) } }, count: 2 };
    const got = await activationRanges(runner, m, ['x', h, r, y, 'y'], () => feedBatches(m, ds, { samples: 2, batch: 1 }));
    expect(got.has(h)).toBe(false);
    expect(got.has(r)).toBe(false);
    expect(got.get(y)).toEqual({ min: 0, max: 7, count: 8 });
    expect(got.get('y')).toEqual({ min: -7, max: -0, count: 8 });
    expect(got.get('x')).toEqual({ min: -8, max: 7, count: 8 });
  });

  it('batches: a fixed batch dimension wins, budgetBatch starts with one sample then fills the budget', () => {
    const fixed = buildMobileNetV2({ width: 0.25, resolution: 16, classes: 4, batch: 2 });
    const ds = images(7, 16, 1);
    expect([...feedBatches(fixed, ds, { samples: 7, batch: 5 })].map((f) => f.input.dims[0])).toEqual([2, 2, 2]);
    const free = buildMobileNetV2({ width: 0.25, resolution: 16, classes: 4, dynamicBatch: true });
    let per: number | undefined;
    const sizes = budgetBatch(64, 1000, () => per);
    const got: number[] = [];
    for (const f of feedBatches(free, ds, { samples: 7, batch: sizes })) {
      got.push(f.input.dims[0]);
      per = 300;
    }
    expect(got).toEqual([1, 3, 3]);
    expect(() => [...feedBatches(free, { inputs: {}, count: 1 }, { samples: 1, batch: 1 })]).toThrow(/no array for model input 'input'/);
  });
});
