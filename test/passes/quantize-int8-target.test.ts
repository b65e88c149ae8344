import { describe, expect, it } from 'vitest';
import { DataType } from '../../src/ir/dtype.js';
import { buildDecoder } from '../../src/models/decoder.js';
import { madeUpData } from '../../src/bench/inputs.js';
import { modelToBytes } from '../../src/onnx/index.js';
import { makeRunner } from '../../src/runtime/index.js';
import { compare, ctxWith, opCounts, quantize } from './quantize-helpers.js';

describe('dynamic int8 target (int8Target)', () => {
  it('leaves float the MatMuls whose 8-bit weights and activations cost most, until the probe reaches the target; off by default', async () => {
    const m = buildDecoder({ layers: 3, hidden: 64, heads: 4, vocab: 300, ctx: 32, seed: 5 });
    const feeds = { input_ids: { dtype: 'int64', dims: [2, 32], data: BigInt64Array.from({ length: 64 }, (_, i) => BigInt((i * 37 + 11) % 300)) } };
    const run = makeRunner({ intraOpThreads: 1 });
    const ctx = ctxWith({ run, madeUpData: (model, tryRun, n) => madeUpData(model, {}, tryRun, n) });
    try {
      const base = { type: 'int8', mode: 'dynamic', perChannel: false, reduceRange: false };
      const { model: all8, result: r8 } = await quantize(m, base, ctx);
      expect(r8.stats.int8ProbeRuns).toBeUndefined();
      const mm = opCounts(all8).DynamicQuantizeMatMul;
      // target 0 writes the same bytes as no target
      const { model: zero } = await quantize(m, { ...base, int8Target: 0 }, ctx);
      expect(Buffer.from(modelToBytes(zero)).equals(Buffer.from(modelToBytes(all8)))).toBe(true);
      const loss8 = 1 - (await compare(m, all8, feeds)).cos;
      // a target above what 8 bits give everywhere
      const target = 1 - loss8 / 2;
      const { model: q, result } = await quantize(m, { ...base, int8Target: target }, ctx);
      const kept = result.stats.int8KeptFloat as number;
      expect(kept).toBeGreaterThan(0);
      expect(kept).toBeLessThan(mm);
      expect(opCounts(q).DynamicQuantizeMatMul).toBe(mm - kept);
      expect(result.skipped.filter((s) => s.reason === 'kept float by the int8 target')).toHaveLength(kept);
      const d = (result.details as { probeCosine?: number; allEightBitCosine?: number; keptFloat?: string[] }[]).find((x) => x.probeCosine !== undefined)!;
      expect(d.probeCosine).toBeGreaterThanOrEqual(target);
      expect(d.allEightBitCosine).toBeLessThan(target);
      expect(d.keptFloat).toHaveLength(kept);
      // the written weights stay int8 (the probe's uint8 copy of them is the probe's only)
      // (a tied LM head reads the table's int8 rows through a Transpose)
      const weightOf = (name: string) => q.graph.initializers.get(name) ?? q.graph.initializers.get(q.graph.producer(name)?.inputs[0] ?? '');
      for (const n of q.graph.nodes.filter((x) => x.opType === 'DynamicQuantizeMatMul')) expect(weightOf(n.inputs[1])?.dtype).toBe(DataType.INT8);
      expect([...q.graph.initializers.keys()].filter((k) => k.endsWith('_u8'))).toHaveLength(0);
      // on other inputs the loss falls too
      expect(1 - (await compare(m, q, feeds)).cos).toBeLessThan(loss8);
      // a target the all-8-bit model already reaches: one probe run, nothing float
      const { model: easy, result: re } = await quantize(m, { ...base, int8Target: 0.5 }, ctx);
      expect(re.stats.int8KeptFloat).toBe(0);
      expect(re.stats.int8ProbeRuns).toBe(1);
      expect(Buffer.from(modelToBytes(easy)).equals(Buffer.from(modelToBytes(all8)))).toBe(true);
    } finally {
      await run.release();
    }
  });
});
