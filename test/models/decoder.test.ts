import { describe, expect, it } from 'vitest';
import { DataType } from '../../src/ir/dtype.js';
import { buildDecoder, type DecoderOptions } from '../../src/models/decoder.js';
import { loadModel, saveModel } from '../../src/onnx/index.js';
import { cosine } from '../../src/math/stats.js';
import { compare, opCounts, quantize, runModel } from '../passes/quantize-helpers.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const TINY: DecoderOptions = { layers: 2, hidden: 32, heads: 4, vocab: 97, ctx: 24, biasStd: 0.02 };

function ids(batch: number, seq: number, vocab: number): { input_ids: { dtype: string; dims: number[]; data: BigInt64Array } } {
  const d = new BigInt64Array(batch * seq);
  for (let i = 0; i < d.length; i++) d[i] = BigInt((i * 31 + 7) % vocab);
  return { input_ids: { dtype: 'int64', dims: [batch, seq], data: d } };
}

describe('GPT-2-like decoder builder', () => {
  it('has the exported structure: Gather embeddings, Conv1D Gemms, causal Where mask, tanh GELU, tied LM head, dedup Identities', () => {
    const m = buildDecoder(TINY);
    const c = opCounts(m);
    const L = TINY.layers!;
    expect(c.Gemm).toBe(4 * L);
    expect(c.MatMul).toBe(2 * L + 1); // attention scores and context, LM head
    expect(c.Where).toBe(L);
    expect(c.Tanh).toBe(L);
    expect(c.LayerNormalization).toBe(2 * L + 1);
    expect(c.Gather).toBeGreaterThanOrEqual(2);
    const g = m.graph;
    const head = g.nodes.find((n) => n.name === '/lm_head/MatMul')!;
    const tr = g.producer(head.inputs[1])!;
    expect(tr.opType).toBe('Transpose');
    expect(tr.inputs[0]).toBe('transformer.wte.weight');
    // dedup: zero biases with the default init, LN gains / offsets and the L mask buffers collapse
    const deduped = buildDecoder({ ...TINY, biasStd: 0 });
    const ids0 = g.nodes.filter((n) => n.opType === 'Identity');
    expect(ids0.map((n) => n.outputs[0])).toContain('transformer.h.1.attn.bias'); // mask buffer
    expect(ids0.some((n) => n.outputs[0] === 'transformer.h.1.ln_1.weight')).toBe(true);
    const biasIds = deduped.graph.nodes.filter((n) => n.opType === 'Identity' && /c_(attn|proj|fc)\.bias$/.test(n.outputs[0]));
    expect(biasIds.length).toBeGreaterThan(0);
    for (const gm of deduped.graph.nodes.filter((n) => n.opType === 'Gemm')) expect(deduped.graph.initializers.has(gm.inputs[1])).toBe(true);
    expect(buildDecoder({ ...TINY, dedup: false }).graph.nodes.some((n) => n.opType === 'Identity')).toBe(false);
  });

  it('variants: MatMul linears, Gemm LM head, additive mask, decomposed LayerNorm (opset 17 and 18)', () => {
    const mm = opCounts(buildDecoder({ ...TINY, linear: 'matmul', lmHead: 'gemm', mask: 'add' }));
    expect(mm.Gemm).toBe(1);
    expect(mm.MatMul).toBe(4 * TINY.layers! + 2 * TINY.layers!);
    expect(mm.Where ?? 0).toBe(0);
    const dec = opCounts(buildDecoder({ ...TINY, decomposedLayerNorm: true }));
    expect(dec.LayerNormalization ?? 0).toBe(0);
    expect(dec.ReduceMean).toBe(2 * (2 * TINY.layers! + 1));
    expect(dec.Sqrt).toBe(2 * TINY.layers! + 1);
    expect(() => buildDecoder({ ...TINY, opset: 16, decomposedLayerNorm: false })).toThrow(RangeError);
    expect(() => buildDecoder({ ...TINY, opset: 12 })).toThrow(RangeError);
    expect(opCounts(buildDecoder({ ...TINY, opset: 16 })).LayerNormalization ?? 0).toBe(0);
    expect(() => buildDecoder({ ...TINY, hidden: 30 })).toThrow(RangeError);
  });

  it('runs in onnxruntime, is causal, and all variants compute the same function', async () => {
    const feeds = ids(2, 6, TINY.vocab!);
    const [ref] = await runModel(buildDecoder(TINY), feeds);
    expect(ref.length).toBe(2 * 6 * TINY.vocab!);
    // causal: changing the last token leaves the earlier positions' logits unchanged
    const f2 = ids(2, 6, TINY.vocab!);
    f2.input_ids.data[5] = 3n;
    const [alt] = await runModel(buildDecoder(TINY), f2);
    const V = TINY.vocab!;
    for (let i = 0; i < 5 * V; i++) expect(alt[i]).toBeCloseTo(ref[i], 5);
    expect(alt.slice(5 * V, 6 * V).some((v, i) => Math.abs(v - ref[5 * V + i]) > 1e-4)).toBe(true);
    for (const v of [{ linear: 'matmul' as const }, { lmHead: 'gemm' as const }, { mask: 'add' as const }, { decomposedLayerNorm: true }, { decomposedLayerNorm: true, opset: 18 }, { dedup: false }]) {
      const [out] = await runModel(buildDecoder({ ...TINY, ...v }), feeds);
      // the additive mask uses −10000 instead of float32 min: equal after softmax to float precision
      expect(cosine(out, ref), JSON.stringify(v)).toBeGreaterThan(0.99999);
    }
  });

  it('int8 dynamic quantizes every MatMul / Gemm with a constant weight (also after a save / load) and stays close', async () => {
    const m = buildDecoder(TINY);
    const dir = mkdtempSync(join(tmpdir(), 'mlc-decoder-'));
    try {
      await saveModel(m, join(dir, 'd.onnx'));
      const loaded = await loadModel(join(dir, 'd.onnx'));
      const { model: q, result } = await quantize(loaded, { type: 'int8' });
      expect(result.stats.Gemm).toBe(4 * TINY.layers!);
      expect(result.stats.MatMul).toBe(1); // the tied LM head
      expect(result.stats.tiedEmbeddings).toBe(1); // wte stored once in 8 bits for the Gather and the LM head
      // what is left: attention's activation × activation MatMuls and the int64 shape Gather
      for (const s of result.skipped) expect(s.node).toMatch(/attn\/MatMul|\/transformer\/Gather$/);
      const c = opCounts(q);
      expect(c.Gemm ?? 0).toBe(0);
      expect(c.MatMul).toBe(2 * TINY.layers!);
      expect(c.DynamicQuantizeMatMul).toBe(4 * TINY.layers! + 1);
      expect(q.graph.initializers.has('transformer.wte.weight')).toBe(false);
      const feeds = ids(1, 8, TINY.vocab!);
      expect((await compare(m, q, feeds)).cos).toBeGreaterThan(0.995);
      const wo = await quantize(loaded, { type: 'int8', mode: 'weight-only' });
      expect((await compare(m, wo.model, feeds)).cos).toBeGreaterThan(0.9995);
      const int4 = await quantize(loaded, { type: 'int4' });
      expect(int4.result.stats.Gemm).toBe(4 * TINY.layers!);
      expect(int4.result.stats.MatMul).toBe(1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('kvCache: the transformers.js layout; a step on the cache gives the logits of the full sequence', async () => {
    const opts: DecoderOptions = { ...TINY, kvCache: true, seed: 8 };
    const m = buildDecoder(opts);
    const L = opts.layers!;
    const hd = opts.hidden! / opts.heads!;
    expect(m.graph.realInputs().map((i) => i.name)).toEqual(['input_ids', 'attention_mask', 'position_ids', ...Array.from({ length: L }, (_, l) => [`past_key_values.${l}.key`, `past_key_values.${l}.value`]).flat()]);
    expect(m.graph.outputs.map((o) => o.name)).toEqual(['logits', ...Array.from({ length: L }, (_, l) => [`present.${l}.key`, `present.${l}.value`]).flat()]);
    const V = TINY.vocab!;
    const tokens = [5, 17, 42, 8, 61, 3];
    const i64 = (a: number[]) => ({ dtype: 'int64', dims: [1, a.length], data: BigInt64Array.from(a.map(BigInt)) });
    const feeds = (tok: number[], start: number, past: Float32Array[] | null, pastLen: number) => {
      const f: Record<string, { dtype: string; dims: number[]; data: BigInt64Array | Float32Array }> = {
        input_ids: i64(tok),
        attention_mask: i64(Array(start + tok.length).fill(1)),
        position_ids: i64(tok.map((_, i) => start + i)),
      };
      for (let l = 0; l < L; l++) {
        for (const [j, kv] of ['key', 'value'].entries()) f[`past_key_values.${l}.${kv}`] = { dtype: 'float', dims: [1, opts.heads!, pastLen, hd], data: past ? past[2 * l + j] : new Float32Array(0) };
      }
      return f;
    };
    const full = await runModel(m, feeds(tokens, 0, null, 0));
    expect(full.length).toBe(1 + 2 * L);
    const first = await runModel(m, feeds(tokens.slice(0, 4), 0, null, 0));
    let past = first.slice(1);
    for (let t = 4; t < tokens.length; t++) {
      const step = await runModel(m, feeds([tokens[t]], t, past, t));
      for (let j = 0; j < V; j++) expect(step[0][j]).toBeCloseTo(full[0][t * V + j], 4);
      past = step.slice(1);
      expect(past[0].length).toBe((t + 1) * hd * opts.heads!);
    }
    // with an empty cache it is the plain decoder (same weights for the same seed)
    const plainFeeds = ids(1, 6, V);
    plainFeeds.input_ids.data = BigInt64Array.from(tokens.map(BigInt));
    const [plain] = await runModel(buildDecoder({ ...TINY, seed: 8 }), plainFeeds);
    for (let j = 0; j < plain.length; j++) expect(full[0][j]).toBeCloseTo(plain[j], 4);
  });

  it('fixed batch / seq dims when asked', () => {
    const m = buildDecoder({ ...TINY, batch: 1, seq: 8 });
    const i = m.graph.inputs[0];
    expect(i.type).toMatchObject({ kind: 'tensor', elemType: DataType.INT64, shape: [1, 8] });
    expect(() => buildDecoder({ ...TINY, seq: 100 })).toThrow(RangeError);
  });
});

describe('MODEL_BUILDERS entries of the decoder', () => {
  it('build, run on their sample inputs and go through every pass mode with a valid result', async () => {
    const { MODEL_BUILDERS } = await import('../../src/models/index.js');
    const { runPrune, parsePruneOptions } = await import('../../src/passes/prune.js');
    const { runLowRank, parseLowRankOptions } = await import('../../src/passes/lowrank.js');
    const { cloneModel } = await import('../../src/ir/clone.js');
    const { seededRng, silentLogger } = await import('../../src/passes/pass.js');
    const entries = MODEL_BUILDERS.filter((e) => e.name.startsWith('gpt2'));
    expect(entries.length).toBe(2);
    for (const e of entries) {
      const m = e.build();
      const feeds = e.inputs(2, 3);
      const [ref] = await runModel(m, feeds);
      expect(ref.every(Number.isFinite)).toBe(true);
      for (const raw of [{ type: 'int8' }, { type: 'int8', mode: 'weight-only' }, { type: 'int4' }, { type: 'fp16' }]) {
        const { model: q, result } = await quantize(m, raw);
        expect(result.modified, `${e.name} ${JSON.stringify(raw)}`).toBe(true);
        expect(cosine((await runModel(q, feeds))[0], ref), `${e.name} ${JSON.stringify(raw)}`).toBeGreaterThan(0.98);
      }
      const p = cloneModel(m);
      const pr = await runPrune(p, parsePruneOptions({ sparsity: 0.3 }), { log: silentLogger, rng: seededRng(1) });
      expect(pr.modified).toBe(true);
      await runModel(p, feeds);
      const l = cloneModel(m);
      await runLowRank(l, parseLowRankOptions({ ratio: 0.25 }), { log: silentLogger, rng: seededRng(1) });
      await runModel(l, feeds);
    }
  });
});
