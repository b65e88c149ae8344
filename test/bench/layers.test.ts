import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { layerStats } from '../../src/bench/layers.js';
import { cloneModel } from '../../src/ir/clone.js';
import { addParamStats, constantTensors, countConstant, countParams, type ParamStats } from '../../src/ir/params.js';
import { loadModel } from '../../src/onnx/index.js';
import { ROOT } from '../cli/helpers.js';
import { NASTY, nastyMlp, runPass } from './html-fixtures.js';

describe('layerStats', () => {
  it('countConstant over every constant sums to countParams', async () => {
    const m = await loadModel(join(ROOT, 'fixtures/mnist-cnn.onnx'));
    const q = cloneModel(m);
    await runPass(q, 'quantize', { type: 'int8' });
    for (const model of [m, q]) {
      const sum: ParamStats = { params: 0, nonzeroParams: 0, bytesByDtype: {} };
      for (const c of constantTensors(model)) addParamStats(sum, countConstant(c));
      expect(sum).toEqual(countParams(model));
    }
  });

  it('one model: a layer per node with weights (shape constants left out), bytes, params and sparsity', async () => {
    const m = await loadModel(join(ROOT, 'fixtures/mnist-cnn.onnx'));
    const s = layerStats(m);
    expect(s.after).toBeNull();
    expect(s.before.map((l) => `${l.op} ${l.node}`)).toEqual(['Conv /conv1/Conv', 'Conv /conv2/Conv', 'Gemm /fc1/Gemm', 'Gemm /fc2/Gemm', 'Gemm /fc3/Gemm']);
    // weight and bias of fc1: 120×400 + 120
    const fc1 = s.before[2];
    expect(fc1.params).toBe(48_120);
    expect(fc1.bytesByDtype).toEqual({ float: 48_120 * 4 });
    expect(fc1.sparsity).toBe(0);
    // every float parameter of the model is in some layer
    expect(s.before.reduce((a, l) => a + l.params, 0)).toBe(countParams(m, { floatOnly: true }).params);
  });

  it('quantized (dynamic and weight-only): layers matched by name or output, int8 bytes, a small weight error, the pass notes', async () => {
    for (const mode of ['dynamic', 'weight-only']) {
      const before = nastyMlp();
      const after = cloneModel(before);
      const pass = await runPass(after, 'quantize', { type: 'int8', mode });
      const s = layerStats(before, after, [pass]);
      expect(s.after!.length).toBe(3);
      for (const l of s.after!) {
        expect(l.matches, `${mode} ${l.node}`).toBeTruthy();
        expect(l.bytesByDtype.int8, `${mode} ${l.node}`).toBeGreaterThan(0);
        // int8 per-channel: well under 2% relative error, yet not zero
        expect(l.weightError, `${mode} ${l.node}`).toBeGreaterThan(0);
        expect(l.weightError!).toBeLessThan(0.02);
        expect(l.notes?.['quantize.format']).toBe('int8');
      }
      expect(s.after!.find((l) => l.matches === NASTY)).toBeDefined();
    }
  });

  it('pruned: sparsity per layer; the weight error is that of the zeroed weights', async () => {
    const before = nastyMlp();
    const after = cloneModel(before);
    const pass = await runPass(after, 'prune', { sparsity: 0.5 });
    const s = layerStats(before, after, [pass]);
    const pruned = s.after!.filter((l) => l.notes?.['prune.sparsity'] !== undefined);
    expect(pruned.length).toBeGreaterThan(0);
    for (const l of pruned) {
      const w = l.notes!['prune.sparsity'] as number;
      // the layer's params include its bias (not pruned): its sparsity is a little under the weight's
      expect(l.sparsity).toBeGreaterThan(w * 0.9);
      expect(l.sparsity).toBeLessThanOrEqual(w);
      expect(l.weightError!).toBeGreaterThan(0.1);
      expect(l.weightError!).toBeLessThan(1);
    }
  });

  it('low-rank: the rank the pass recorded is on the layer', async () => {
    const before = nastyMlp();
    const after = cloneModel(before);
    const pass = await runPass(after, 'lowrank', { ratio: 0.5 });
    const s = layerStats(before, after, [pass]);
    // each Gemm became two (x·A, then ·B writing the original output): one layer of two parts
    expect(s.after!.length).toBe(s.before.length);
    for (const d of pass.details ?? []) {
      const l = s.after!.find((x) => x.matches === (d.nodes as string[])[0])!;
      expect(l.parts?.length).toBe(2);
      expect(l.notes?.['lowrank.rank']).toBe(d.rank);
      // the two factors' weights (the bias stays)
      expect(l.params).toBe((d.paramsAfter as number) + (s.before.find((b) => b.node === l.matches)!.params - (d.paramsBefore as number)));
    }
    expect(s.after!.reduce((a, l) => a + l.params, 0)).toBeLessThan(s.before.reduce((a, l) => a + l.params, 0));
  });
});
