import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { layerRows, layerStats } from '../../src/bench/layers.js';
import { buildEncoder } from '../../src/models/index.js';
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
        expect(l.matches?.length, `${mode} ${l.node}`).toBe(1);
        expect(l.bytesByDtype.int8, `${mode} ${l.node}`).toBeGreaterThan(0);
        // int8 per-channel: well under 2% relative error, yet not zero
        expect(l.weightError, `${mode} ${l.node}`).toBeGreaterThan(0);
        expect(l.weightError!).toBeLessThan(0.02);
        expect(l.notes?.['quantize.format']).toBe('int8');
      }
      expect(s.after!.find((l) => l.matches?.[0] === NASTY)).toBeDefined();
    }
  });

  it('a BERT-like encoder quantized to int8: fused MatMul + Add and int8 embedding tables (Gather, then DequantizeLinear) are one row each', async () => {
    const before = buildEncoder({ hidden: 32, heads: 2, ffn: 64, layers: 2, seq: 8, vocab: 300, attentionMask: true, tokenTypes: 2, seed: 5 });
    const after = cloneModel(before);
    const pass = await runPass(after, 'quantize', { type: 'int8' });
    const s = layerStats(before, after, [pass]);
    const rows = layerRows(s);
    // no compressed layer is left without its original
    expect(rows.filter((r) => !r.before).map((r) => r.after!.node)).toEqual([]);
    // every original's weight bytes are in exactly one row
    expect(rows.reduce((a, r) => a + (r.before?.bytes ?? 0), 0)).toBe(s.before.reduce((a, l) => a + l.bytes, 0));
    const fused = rows.filter((r) => r.after?.op === 'DynamicQuantizeMatMul');
    expect(fused.length).toBe(2 * 6);
    for (const r of fused) {
      // the MatMul and the Add of its bias, replaced by one node
      expect(r.before!.op).toBe('MatMul + Add');
      expect(r.after!.weightError).toBeGreaterThan(0);
      expect(r.after!.weightError!).toBeLessThan(0.02);
    }
    const table = rows.find((r) => r.before?.node.includes('word_embeddings'))!;
    expect(table.after!.bytesByDtype.int8).toBe(300 * 32);
    expect(table.after!.node.split(' + ').length).toBe(2);
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
      const l = s.after!.find((x) => x.matches?.[0] === (d.nodes as string[])[0])!;
      expect(l.parts?.length).toBe(2);
      expect(l.notes?.['lowrank.rank']).toBe(d.rank);
      // the two factors' weights (the bias stays)
      expect(l.params).toBe((d.paramsAfter as number) + (s.before.find((b) => b.node === l.matches![0])!.params - (d.paramsBefore as number)));
    }
    expect(s.after!.reduce((a, l) => a + l.params, 0)).toBeLessThan(s.before.reduce((a, l) => a + l.params, 0));
  });
});
