import { describe, expect, it } from 'vitest';
import { argmaxRows, evaluate, type Runnable } from '../../src/bench/accuracy.js';
import { cosine } from '../../src/math/stats.js';
import { inputSpecs } from '../../src/bench/inputs.js';
import { measureModels } from '../../src/bench/index.js';
import { DataType } from '../../src/ir/dtype.js';
import { ModelBuilder } from '../../src/ir/builder.js';
import { cloneModel } from '../../src/ir/clone.js';
import { createSession } from '../../src/runtime/index.js';

function linear(wScale = 1, fixedBatch?: number) {
  const b = new ModelBuilder();
  const batch = fixedBatch ?? 'N';
  const x = b.input('x', DataType.FLOAT, [batch, 4]);
  const w = Float32Array.from({ length: 12 }, (_, i) => (((i * 7) % 5) - 2) * wScale);
  b.output(b.op('MatMul', [x, b.init('w', [4, 3], w)]), DataType.FLOAT, [batch, 3], 'y');
  return b.build();
}

function dataset(n: number, labels = true) {
  const x = Float32Array.from({ length: n * 4 }, (_, i) => Math.sin(i * 1.3));
  const ds = { inputs: { x: { dtype: 'float', dims: [n, 4], data: x } }, count: n } as {
    inputs: Record<string, { dtype: string; dims: number[]; data: Float32Array }>;
    count: number;
    labels?: Int32Array;
  };
  if (labels) ds.labels = Int32Array.from({ length: n }, (_, i) => i % 3);
  return ds;
}

describe('kernels', () => {
  it('argmax per row, first index on ties', () => {
    expect([...argmaxRows([1, 3, 2, 5, 5, 0], 3, 2)]).toEqual([1, 0]);
  });
  it('cosine with zero vectors', () => {
    expect(cosine([1, 0], [2, 0], 0, 2)).toBeCloseTo(1, 12);
    expect(cosine([1, 0], [0, 1], 0, 2)).toBeCloseTo(0, 12);
    expect(cosine([0, 0], [0, 0], 0, 2)).toBe(1);
    expect(cosine([0, 0], [1, 0], 0, 2)).toBe(0);
  });
});

describe('evaluate with fixed outputs', () => {
  // the "models" return a fixed output per row index, read from the feed
  const table = (rows: number[][]): Runnable => ({
    run: async (feeds) => {
      const x = feeds.x.data as Float32Array;
      const out = new Float32Array(feeds.x.dims[0] * 3);
      for (let r = 0; r < feeds.x.dims[0]; r++) out.set(rows[x[r * 4]], r * 3);
      return { y: { dtype: 'float', dims: [feeds.x.dims[0], 3], data: out } };
    },
  });
  const ref = [
    [1, 0, 0],
    [0, 2, 0],
    [0, 0, 3],
    [1, 2, 0],
  ];
  const cmp = [
    [1, 0, 0],
    [0, 2, 0.5],
    [0, 4, 3], // argmax changes 2 → 1
    [1, 2, 0],
  ];
  const n = 4;
  const data = {
    inputs: { x: { dtype: 'float', dims: [n, 4], data: Float32Array.from({ length: 16 }, (_, i) => Math.floor(i / 4)) } },
    count: n,
    labels: Int32Array.from([0, 1, 2, 0]),
  };
  const specs = [{ name: 'x', elemType: DataType.FLOAT, dtype: 'float', shape: ['N', 4] }];

  it('gives exact accuracy, agreement, mean cosine, max abs error (any batch size)', async () => {
    for (const batchSize of [1, 3, 64]) {
      const r = await evaluate([table(ref), table(cmp)], data, specs, 'y', { batchSize });
      expect(r.samples).toBe(4);
      expect(r.accuracy[0]).toBe(3 / 4); // row 3: argmax 1, label 0
      expect(r.accuracy[1]).toBe(2 / 4);
      expect(r.agreement[0]).toBe(3 / 4);
      const cos1 = 4 / Math.sqrt(4 * 4.25);
      const cos2 = 9 / Math.sqrt(9 * 25);
      expect(r.cosine[0]).toBeCloseTo((1 + cos1 + cos2 + 1) / 4, 12);
      expect(r.maxAbsError[0]).toBe(4);
    }
  });
  it('without labels: accuracy null, comparison still made', async () => {
    const { labels: _l, ...nolabels } = data;
    const r = await evaluate([table(ref), table(cmp)], nolabels, specs, 'y', { batchSize: 2 });
    expect(r.accuracy).toEqual([null, null]);
    expect(r.agreement[0]).toBe(3 / 4);
  });
  it('a fixed batch dimension gets padded batches; only real rows count', async () => {
    const seen: number[] = [];
    const m: Runnable = { run: async (f) => (seen.push(f.x.dims[0]), table(ref).run(f)) };
    const r = await evaluate([m], data, specs, 'y', { fixedBatch: 3 });
    expect(seen).toEqual([3, 3]);
    expect(r.accuracy[0]).toBe(3 / 4);
  });
  it('an integer output with one value per sample holds the predicted classes', async () => {
    const labelModel = (classes: number[]): Runnable => ({
      run: async (feeds) => {
        const x = feeds.x.data as Float32Array;
        const n = feeds.x.dims[0];
        return { y: { dtype: 'int64', dims: [n], data: BigInt64Array.from({ length: n }, (_, r) => BigInt(classes[x[r * 4]])) } };
      },
    });
    const r = await evaluate([labelModel([0, 1, 2, 1]), labelModel([0, 1, 1, 0])], data, specs, 'y', { batchSize: 3 });
    expect(r.accuracy).toEqual([3 / 4, 3 / 4]);
    expect(r.agreement[0]).toBe(2 / 4);
  });
  it('labels that do not match the predictions are a clear error', async () => {
    await expect(evaluate([table(ref)], { ...data, labels: Int32Array.from([0, 1]) }, specs, 'y')).rejects.toThrow(
      /labels hold 2 values, but output "y" \[4, 3\] gives 1 prediction\(s\) per sample for 4 samples/,
    );
  });
});

describe('measureModels through onnxruntime', () => {
  it('matches a plain session loop; agreement 1 against itself', async () => {
    const a = linear();
    const data = dataset(50);
    const m = await measureModels({ model: a }, { model: cloneModel(a) }, { data, runs: 5, warmup: 1, batchSize: 16 });
    // independent: one session, whole data set at once
    const s = await createSession(a);
    const out = (await s.run({ x: data.inputs.x }))['y'].data as Float32Array;
    await s.release();
    let correct = 0;
    for (let i = 0; i < 50; i++) {
      const row = Array.from(out.subarray(i * 3, i * 3 + 3));
      if (row.indexOf(Math.max(...row)) === data.labels![i]) correct++;
    }
    expect(m.before.accuracy).toBe(correct / 50);
    expect(m.after!.accuracy).toBe(correct / 50);
    expect(m.after!.agreement).toBe(1);
    expect(m.after!.maxAbsError).toBe(0);
    expect(m.after!.cosine).toBeCloseTo(1, 6);
    expect(m.settings).toMatchObject({ threads: 1, batchSize: 16, warmup: 1, runs: 5, samples: 50, outputName: 'y' });
    expect(m.before.latencyMs!.p50).toBeGreaterThan(0);
    expect(m.before.latencyMs!.p99).toBeGreaterThanOrEqual(m.before.latencyMs!.p50);
    expect(m.after!.throughputPerSec).toBeGreaterThan(0);
    expect(m.speedup).toBeGreaterThan(0);
    expect(m.before.params).toBe(12);
  });
  it('a scaled copy agrees on argmax but not in values; a fixed batch is honoured', async () => {
    const m = await measureModels({ model: linear(1, 1) }, { model: linear(2, 1) }, { data: dataset(7, false), runs: 5, warmup: 0 });
    expect(m.before.accuracy).toBeNull();
    expect(m.after!.agreement).toBe(1);
    expect(m.after!.cosine).toBeCloseTo(1, 6);
    expect(m.after!.maxAbsError).toBeGreaterThan(0);
    expect(m.settings.batchSize).toBe(1);
  });
  it('without data: synthesized inputs, no accuracy; --no-latency skips timing', async () => {
    const m = await measureModels({ model: linear() }, undefined, { runs: 5, warmup: 0 });
    expect(m.before.latencyMs).not.toBeNull();
    expect(m.after).toBeNull();
    expect(m.before.accuracy).toBeNull();
    const n = await measureModels({ model: linear() }, undefined, { latency: false });
    expect(n.before.latencyMs).toBeNull();
    expect(n.before.throughputPerSec).toBeNull();
  });
  it('an unknown --output-name is a usage error; mismatched inputs are an input error', async () => {
    await expect(measureModels({ model: linear() }, undefined, { data: dataset(4), outputName: 'z', latency: false })).rejects.toThrow(
      /no output "z" \(outputs: y\)/,
    );
    const b = new ModelBuilder();
    b.output(b.op('Relu', [b.input('other', DataType.FLOAT, ['N', 4])]), DataType.FLOAT);
    await expect(measureModels({ model: linear() }, { model: b.build() }, { latency: false })).rejects.toThrow(/compared model has no input "x"/);
  });
  it('inputSpecs skips initializer-backed inputs', () => {
    const m = linear();
    m.graph.inputs.push({ name: 'w', type: { kind: 'tensor', elemType: DataType.FLOAT, shape: [4, 3] } });
    expect(inputSpecs(m).map((s) => s.name)).toEqual(['x']);
  });
});
