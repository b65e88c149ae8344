import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Dataset } from '../../src/core/types.js';
import type { Model } from '../../src/ir/model.js';
import { loadDataset } from '../../src/data/index.js';
import { loadModel } from '../../src/onnx/index.js';
import { nodeTimes, profileNodes } from '../../src/runtime/profile.js';
import { sampleDataset } from '../../src/tune/data.js';
import { Evaluator, sqnrDb } from '../../src/tune/evaluate.js';
import { excludeAllBut, weightLayers } from '../../src/tune/layers.js';
import { analyseSensitivity, defaultProbe, withExclude } from '../../src/tune/sensitivity.js';
import { makeApplier } from '../../src/tune/apply.js';

const ROOT = join(import.meta.dirname, '../..');
let model: Model;
let data: Dataset;

beforeAll(async () => {
  model = await loadModel(join(ROOT, 'fixtures/mnist-mlp.onnx'));
  data = sampleDataset(await loadDataset(join(ROOT, 'fixtures/mnist-test.npz'), model), 200, 1);
});

describe('sensitivity', () => {
  it('weightLayers lists the nodes with a float weight; excludeAllBut leaves one of them', () => {
    const layers = weightLayers(model);
    expect(layers.map((l) => l.op)).toEqual(['Gemm', 'Gemm', 'Gemm']);
    const ex = excludeAllBut(layers, layers[1]);
    expect(ex).toContain(layers[0].name);
    expect(ex).toContain(layers[2].weight);
    expect(ex).not.toContain(layers[1].name);
    expect(ex).not.toContain(layers[1].weight);
  });

  it('the evaluator scores the original itself as no loss, and a changed model as a loss', async () => {
    const layers = weightLayers(model);
    const ev = await Evaluator.create(model, data, { layerOutputs: layers.map((l) => l.output) });
    expect(ev.metric).toBe('accuracy');
    expect(ev.baseline).toBeGreaterThan(0.9);
    const same = await ev.score(model, layers[0].output);
    expect(same).toMatchObject({ drop: 0, agreement: 1, sqnrDb: Infinity });
    expect(same.cosine).toBeCloseTo(1, 6);
    const applier = makeApplier(model);
    const { model: q } = await applier.apply([withExclude({ pass: 'quantize', options: { type: 'int4' } }, excludeAllBut(layers, layers[0]))]);
    await applier.release();
    const s = await ev.score(q, layers[0].output);
    expect(s.sqnrDb).toBeGreaterThan(5);
    expect(s.sqnrDb).toBeLessThan(60);
    expect(s.cosine).toBeLessThan(1);
    // agreement without labels: the baseline is 1
    const ag = await Evaluator.create(model, data, { agreement: true });
    expect(ag.metric).toBe('agreement');
    expect(ag.baseline).toBe(1);
    expect(sqnrDb(100, 1)).toBe(20);
    expect(sqnrDb(0, 1)).toBeNull();
  });

  it('one row per layer and probe, with costs, savings and latency shares', async () => {
    const { report, rows } = await analyseSensitivity(model, data, { probes: [defaultProbe('quantize'), defaultProbe('prune', { sparsity: 0.5 })] });
    expect(report.metric).toBe('accuracy');
    expect(report.seconds).toBeGreaterThan(0);
    expect(report.rows).toHaveLength(6);
    const q = rows.filter((r) => r.probe.step.pass === 'quantize');
    expect(q.map((r) => r.node)).toEqual(weightLayers(model).map((l) => l.name));
    for (const r of q) {
      // int8 stores the weight in a quarter of the bytes: the saving is most of the weight's float bytes
      expect(r.bytesSaved).toBeGreaterThan(r.layer.elements * 2.5);
      expect(r.bytesSaved).toBeLessThan(r.layer.elements * 4);
      expect(r.gzipBytesSaved).toBeGreaterThan(0);
      expect(r.cosine).toBeGreaterThan(0.99);
      expect(r.sqnrDb).toBeGreaterThan(10);
    }
    const p = rows.filter((r) => r.probe.step.pass === 'prune');
    for (const r of p) expect(r.bytesSaved).toBe(0); // zeros, same storage
    const shares = q.map((r) => r.latencyShare!);
    expect(shares.every((s) => s > 0 && s < 1)).toBe(true);
    expect(shares.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(1);
    // the first layer is the largest: the most bytes and the most time
    expect(q[0].bytesSaved).toBe(Math.max(...q.map((r) => r.bytesSaved)));
  });

  it('profile events are summed by node name', async () => {
    const t = nodeTimes([
      { cat: 'Node', name: 'a_kernel_time', dur: 5, args: { op_name: 'MatMul' } },
      { cat: 'Node', name: 'a_fence_before', dur: 1 },
      { cat: 'Session', name: 'model_run', dur: 100 },
      { cat: 'Node', name: 'a_kernel_time', dur: 3, args: { op_name: 'MatMul' } },
      { cat: 'Node', name: 'b_kernel_time', dur: 2, args: { op_name: 'Relu' } },
    ]);
    expect(Object.fromEntries(t.nodes)).toEqual({ a: 8, b: 2 });
    expect(Object.fromEntries(t.ops)).toEqual({ MatMul: 8, Relu: 2 });
    expect(t.totalUs).toBe(10);
    const p = await profileNodes(model, { input: { dtype: 'float', dims: [1, 784], data: new Float32Array(784) } }, 3);
    for (const l of weightLayers(model)) expect(p.nodes.get(l.name)).toBeGreaterThan(0);
    expect(p.ops.get('Gemm')).toBeGreaterThan(0);
    // the optimized graph: op types as onnxruntime runs them
    const o = await profileNodes(model, { input: { dtype: 'float', dims: [1, 784], data: new Float32Array(784) } }, 2, { optimization: 'all' });
    expect([...o.ops.values()].reduce((a, b) => a + b, 0)).toBeCloseTo(o.totalUs, 3);
  });
});
