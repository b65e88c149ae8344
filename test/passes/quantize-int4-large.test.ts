// int4 on models above the probe threshold (int4ProbeMaxBytes, lowered here so that a small
// encoder counts as large): the probe's reference is the model
// in 8-bit blocks (MatMulNBits bits 8, GatherBlockQuantized bits 8), and the whole search runs on
// one session of the switched model (int4-probe.ts: an If per weight between its 4-bit and 8-bit
// node), nothing of which is left in the result. Above int4TargetMaxBytes (lowered here too) there
// is no probe by default.
import { describe, expect, it } from 'vitest';
import type { Model } from '../../src/ir/model.js';
import { attrInt } from '../../src/ir/node.js';
import { buildEncoder, encoderInputs } from '../../src/models/encoder.js';
import { modelToBytes } from '../../src/onnx/save.js';
import { quantizePass } from '../../src/passes/quantize.js';
import type { RunOptions } from '../../src/core/types.js';
import type { Feeds } from '../../src/passes/pass.js';
import { compare, ctxWith } from './quantize-helpers.js';

const feedsOf = (s: ReturnType<typeof encoderInputs>) => Object.fromEntries(Object.entries(s).map(([k, v]) => [k, { dtype: v.dtype, dims: v.dims, data: v.data }]));

async function int4(m: Model, options: Record<string, unknown>) {
  const { compress } = await import('../../src/index.js');
  const r = await compress(m, [{ pass: 'quantize', options: { type: 'int4', int4ProbeMaxBytes: 1000, ...options } }], { check: false, passThreads: 1 });
  const { stats, details = [] } = r.passes[0];
  const probe = details.find((d) => d.int4Target !== undefined) as { reference?: string; probe: string; probeCosine: number; allFourBitCosine: number };
  return { q: r.model, stats, details, probe };
}

describe('int4 above the probe threshold', () => {
  it('above int4TargetMaxBytes: plain 4-bit blocks, no model run; with a target (the default below it): the reference is the model in 8-bit blocks (embedding table included), lowered to 4 bits after its run', async () => {
    const o = { hidden: 64, heads: 4, ffn: 256, layers: 3, seq: 16, vocab: 512, seed: 5 };
    const m = buildEncoder(o);
    const feeds = feedsOf(encoderInputs(o, 2, 77));
    // the default above int4TargetMaxBytes: no probe, the bytes of --int4-target 0
    const plain = await int4(m, { int4TargetMaxBytes: 1000 });
    expect(plain.stats.int4ProbeRuns).toBeUndefined();
    expect(plain.stats.int4EightBit).toBe(0);
    expect(plain.probe.probe).toMatch(/^off/);
    const zero = await int4(m, { int4Target: 0 });
    expect(Buffer.from(modelToBytes(plain.q)).equals(Buffer.from(modelToBytes(zero.q)))).toBe(true);

    const r = await int4(m, { int4Target: 0.995 });
    expect(r.probe.reference).toBe('8-bit blocks');
    // below int4TargetMaxBytes the default is that target
    const byDefault = await int4(m, {});
    expect(byDefault.probe.reference).toBe('8-bit blocks');
    expect(byDefault.stats.int4ProbeRuns).toBeGreaterThan(0);
    expect(Buffer.from(modelToBytes(byDefault.q)).equals(Buffer.from(modelToBytes(r.q)))).toBe(true);
    expect(r.probe.probeCosine).toBeGreaterThanOrEqual(0.995);
    const gbq = r.q.graph.nodes.filter((n) => n.opType === 'GatherBlockQuantized');
    expect(gbq).toHaveLength(1);
    expect(attrInt(gbq[0], 'bits', 0)).toBe(4);
    // nothing of the 8-bit reference is left over (this encoder reaches the target at 4 bits)
    expect(r.stats.int4EightBit).toBe(0);
    expect(r.details.filter((d) => d.format === 'int8 blocks')).toHaveLength(0);
    expect((await compare(plain.q, r.q, feeds)).maxAbs).toBe(0);
    expect((await compare(m, r.q, feeds)).cos).toBeGreaterThanOrEqual(0.99);
  });

  it('a target above the all-4-bit cosine: the costliest MatMuls go back to 8 bits until the probe reaches it', async () => {
    const o = { hidden: 64, heads: 4, ffn: 256, layers: 3, seq: 16, seed: 5 };
    const m = buildEncoder(o);
    const feeds = feedsOf(encoderInputs(o, 2, 77));
    const plain = await int4(m, { int4TargetMaxBytes: 1000 });
    const plainCos = (await compare(m, plain.q, feeds)).cos;
    // a third of the all-4-bit loss on the probe (made-up inputs), read from a first run
    const target = 1 - (1 - (await int4(m, { int4Target: 0.999999 })).probe.allFourBitCosine) / 3;
    const { q, stats, details, probe } = await int4(m, { int4Target: target });
    expect(probe.reference).toBe('8-bit blocks');
    expect(probe.allFourBitCosine).toBeLessThan(target);
    expect(probe.probeCosine).toBeGreaterThanOrEqual(target);
    const nb = q.graph.nodes.filter((n) => n.opType === 'MatMulNBits');
    const eight = nb.filter((n) => attrInt(n, 'bits', 0) === 8);
    expect(eight.length).toBe(stats.int4EightBit);
    expect(eight.length).toBeGreaterThan(0);
    expect(eight.length).toBeLessThan(nb.length);
    // what the report counts is what the file holds, and no constant is left unread
    const read = new Set(q.graph.nodes.flatMap((n) => n.inputs));
    expect([...q.graph.initializers.keys()].filter((n) => !read.has(n))).toEqual([]);
    const held = new Set(nb.flatMap((n) => n.inputs.slice(1)));
    expect(stats.weightBytesAfter).toBe([...held].reduce((a, n) => a + q.graph.initializers.get(n)!.byteLength, 0));
    expect(details.filter((d) => d.format === 'int8 blocks')).toHaveLength(eight.length);
    // against the float model on other inputs
    const cos = (await compare(m, q, feeds)).cos;
    expect(cos).toBeGreaterThanOrEqual(0.99);
    expect(1 - cos).toBeLessThan((1 - plainCos) / 2);
  });
});

describe('int4 target: embedding tables are candidates for 8 bits too', () => {
  it('at a target the 4-bit weights cannot reach, the table goes to 8 bits with the MatMuls (float and 8-bit-block references alike), and nothing of its 4-bit blocks is left', async () => {
    const o = { hidden: 64, heads: 4, ffn: 256, layers: 2, seq: 16, vocab: 512, seed: 6 };
    const m = buildEncoder(o);
    for (const maxBytes of [1000, undefined]) {
      const r = await int4(m, { int4Target: 0.9999999, int4ProbeMaxBytes: maxBytes });
      expect(r.probe.reference).toBe(maxBytes ? '8-bit blocks' : 'float');
      expect(r.stats.int4EightBitTables).toBe(1);
      const gbq = r.q.graph.nodes.filter((n) => n.opType === 'GatherBlockQuantized');
      expect(gbq.map((n) => attrInt(n, 'bits', 0))).toEqual([8]);
      const table = r.q.graph.initializers.get(gbq[0].inputs[0])!;
      expect(table.dims).toEqual([512, 64]);
      expect(r.details.filter((d) => d.format === 'int8 blocks' && d.rows === 512)).toHaveLength(1);
      expect(r.details.filter((d) => d.format === 'int4' && d.rows === 512)).toHaveLength(0);
      const read = new Set(r.q.graph.nodes.flatMap((n) => n.inputs));
      expect([...r.q.graph.initializers.keys()].filter((n) => !read.has(n))).toEqual([]);
    }
  });
});

describe('int4 probe on the switched model', () => {
  it('one serialization and one session for the reference and every step; the result holds no If, no probe input or output; most MatMuls at 8 bits: a warning', async () => {
    const { makeRunner } = await import('../../src/runtime/index.js');
    const { madeUpData } = await import('../../src/bench/inputs.js');
    const o = { hidden: 64, heads: 4, ffn: 256, layers: 3, seq: 16, seed: 5 };
    const m = buildEncoder(o);
    const runner = makeRunner({ intraOpThreads: 1 });
    const calls: { unchanged: boolean; fetched: number }[] = [];
    const warns: string[] = [];
    const inputs = m.graph.inputs.map((i) => i.name);
    const outputs = m.graph.outputs.map((x) => x.name);
    try {
      const ctx = {
        ...ctxWith(),
        log: { info: () => {}, warn: (w: string) => warns.push(w), debug: () => {} },
        run: async (model: Model, feeds: Feeds, names?: string[], opts?: RunOptions) => {
          const out = await runner(model, feeds, names, opts);
          calls.push({ unchanged: !!opts?.unchanged, fetched: Object.keys(out).length });
          return out;
        },
        madeUpData: (model: Model, tryRun: (f: Feeds) => Promise<unknown>, count?: number) => madeUpData(model, {}, tryRun, undefined, count),
      };
      const r = await quantizePass.run(m, quantizePass.parseOptions({ type: 'int4', int4ProbeMaxBytes: 1000, int4Target: 0.999999 }), ctx as never);
      // the reference run serializes the switched model; every step reuses its session and fetches the outputs only
      expect(calls.filter((c) => !c.unchanged)).toHaveLength(1);
      expect(calls.length).toBe(1 + (r.stats.int4ProbeRuns as number));
      expect(calls[0].fetched).toBeGreaterThan(outputs.length);
      for (const c of calls.slice(1)) expect(c.fetched).toBe(outputs.length);
      // the result: no probe leftovers, and at this target nearly every MatMul at 8 bits, said plainly
      expect(m.graph.nodes.filter((n) => n.opType === 'If' || n.opType === 'ReduceSumSquare')).toEqual([]);
      expect(m.graph.inputs.map((i) => i.name)).toEqual(inputs);
      expect(m.graph.outputs.map((x) => x.name)).toEqual(outputs);
      const eight = m.graph.nodes.filter((n) => n.opType === 'MatMulNBits' && attrInt(n, 'bits', 0) === 8);
      expect(eight.length).toBe(r.stats.int4EightBit);
      expect(warns.join('\n')).toMatch(new RegExp(`${eight.length} of 18 MatMuls \\(\\d+ % of the MatMul weights\\) are kept at 8 bits.*--quantize int8`));
      const read = new Set(m.graph.nodes.flatMap((n) => n.inputs));
      expect([...m.graph.initializers.keys()].filter((n) => !read.has(n))).toEqual([]);
    } finally {
      await runner.release();
    }
  });
});

describe('int4 probe samples', () => {
  it('one sample when an output has 1000 values or more per sample, dynamic dimensions counted as 1; else two', async () => {
    const { probeSamples } = await import('../../src/passes/quantize/int4-mixed.js');
    const { ModelBuilder } = await import('../../src/ir/builder.js');
    const { DataType } = await import('../../src/ir/dtype.js');
    const withOutput = (shape: (number | string)[]) => {
      const b = new ModelBuilder();
      const x = b.input('x', DataType.FLOAT, shape);
      b.output(b.op('Identity', [x]), DataType.FLOAT, shape, 'y');
      return b.build();
    };
    expect(probeSamples(withOutput(['batch', 'seq', 2000]))).toBe(1); // logits [batch, seq, vocab]
    expect(probeSamples(withOutput(['batch', 128, 768]))).toBe(1);
    expect(probeSamples(withOutput(['batch', 10]))).toBe(2);
    expect(probeSamples(withOutput(['batch', 'seq', 8]))).toBe(2);
  });

  it('a model whose graph fixes the batch at 1 (a Reshape to [1, H] after a dynamic batch) is probed on one sample', async () => {
    const { ModelBuilder } = await import('../../src/ir/builder.js');
    const { DataType } = await import('../../src/ir/dtype.js');
    const { Tensor } = await import('../../src/ir/tensor.js');
    const H = 64;
    const b = new ModelBuilder();
    const x = b.input('x', DataType.FLOAT, ['batch', H]);
    const { seededRng } = await import('../../src/passes/pass.js');
    const rnd = (seed: number) => {
      const r = seededRng(seed);
      return Float32Array.from({ length: H * H }, () => (r() - 0.5) * 0.4);
    };
    let h = b.op('MatMul', [x, b.init('W1', [H, H], rnd(1))]);
    h = b.op('Reshape', [h, b.init('shape', [2], new Tensor('', DataType.INT64, [2], BigInt64Array.from([1n, BigInt(H)])).data as BigInt64Array, DataType.INT64)]);
    h = b.op('MatMul', [b.op('Relu', [h]), b.init('W2', [H, H], rnd(2))]);
    b.output(h, DataType.FLOAT, [1, H], 'y');
    const m = b.build();
    for (const maxBytes of [undefined, 1000]) {
      const r = await int4(m, { int4Target: 0.999999, minElements: 16, int4ProbeMaxBytes: maxBytes });
      // it ran (a batch of two would fail in the Reshape): the probe's runs and its cosines are there
      expect(r.stats.int4ProbeRuns).toBeGreaterThan(0);
      expect(r.probe.probe).toBe('made-up');
      expect(r.probe.probeCosine).toBeGreaterThanOrEqual(0.999);
    }
  });
});
