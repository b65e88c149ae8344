/**
 * Weights exporters hide (issue 17): behind Identity (initializer dedup), Constant nodes,
 * Reshape / Transpose (tied LM head), Gemm with a computed C, weights shared between nodes, and
 * float16 / opset 18+ models through every quantize mode.
 */
import { describe, expect, it } from 'vitest';
import { DataType } from '../../src/ir/dtype.js';
import { ModelBuilder } from '../../src/ir/builder.js';
import type { Model } from '../../src/ir/model.js';
import { AttrType } from '../../src/ir/node.js';
import { Tensor } from '../../src/ir/tensor.js';
import { float32ToHalfArray, halfArrayToFloat32 } from '../../src/math/float16.js';
import { cosine } from '../../src/math/stats.js';
import { type Feed, makeRunner } from '../../src/runtime/index.js';
import { dedupInitializers } from '../../src/models/decoder.js';
import { compare, ctxWith, opCounts, quantize, runModel, uniform } from './quantize-helpers.js';

const MODES: Record<string, unknown>[] = [
  { type: 'int8' },
  { type: 'int8', dynamicForm: 'standard' },
  { type: 'uint8' },
  { type: 'int8', mode: 'weight-only' },
  { type: 'int8', mode: 'static' },
  { type: 'int4' },
];

function initBytes(m: Model): number {
  let s = 0;
  for (const t of m.graph.initializers.values()) s += t.byteLength;
  return s;
}

function calibCtx(name: string, dims: number[]) {
  const n = dims.reduce((a, b) => a * b, 1);
  const run = makeRunner();
  return { ctx: ctxWith({ calibration: { inputs: { [name]: { dtype: 'float', dims, data: uniform(n, 1, 5) } }, count: dims[0] }, run }), run };
}

async function quantizeAll(m: Model, raw: Record<string, unknown>, input: string, dims: number[]) {
  if (raw.mode !== 'static') return quantize(m, raw);
  const { ctx, run } = calibCtx(input, dims);
  try {
    return await quantize(m, raw, ctx);
  } finally {
    await run.release();
  }
}

/**
 * x [N, 64] → Gemm(W1, b1) → Relu → Gemm(W2, b2) → Relu → Gemm(W2', b2') where W2' / b2' are
 * copies of W2 / b2 (a shared layer), then exported with dedup: W2' and b2' (and b1's twin b2,
 * both zero) become Identity outputs.
 */
function dedupMlp(): Model {
  const b = new ModelBuilder({ opset: 17 });
  const x = b.input('x', DataType.FLOAT, ['N', 64]);
  const w1 = b.init('l1.weight', [64, 64], uniform(64 * 64, 0.2, 1));
  const b1 = b.init('l1.bias', [64], new Float32Array(64));
  const w2 = b.init('l2.weight', [64, 64], uniform(64 * 64, 0.2, 2));
  const b2 = b.init('l2.bias', [64], new Float32Array(64));
  const w3 = b.init('l3.weight', [64, 64], uniform(64 * 64, 0.2, 2)); // same values as l2.weight
  const b3 = b.init('l3.bias', [64], uniform(64, 0.1, 3));
  const h1 = b.op('Relu', [b.op('Gemm', [x, w1, b1], {}, { name: 'g1' })]);
  const h2 = b.op('Relu', [b.op('Gemm', [h1, w2, b2], {}, { name: 'g2' })]);
  b.output(b.op('Gemm', [h2, w3, b3], {}, { name: 'g3' }), DataType.FLOAT, ['N', 64], 'y');
  const m = b.build();
  expect(dedupInitializers(m)).toBe(2); // l2.bias → Identity(l1.bias), l3.weight → Identity(l2.weight)
  return m;
}

const xFeeds = (n = 8) => ({ x: { dtype: 'float', dims: [n, 64], data: uniform(n * 64, 1, 9) } });

describe('weights behind Identity (initializer dedup)', () => {
  it('every mode quantizes all three Gemms; the shared weight once; the model shrinks; outputs match', async () => {
    const m = dedupMlp();
    expect(opCounts(m).Identity).toBe(2);
    for (const raw of MODES) {
      const { model: q, result } = await quantizeAll(m, raw, 'x', [16, 64]);
      const label = JSON.stringify(raw);
      expect(result.modified, label).toBe(true);
      expect(result.skipped, label).toEqual([]);
      expect(result.stats.Gemm, label).toBe(3);
      expect(opCounts(q).Gemm ?? 0, label).toBe(raw.mode === 'weight-only' || raw.mode === 'static' ? 3 : 0);
      // one quantized tensor per distinct weight: l1 and l2 (= l3)
      const quantized = [...q.graph.initializers.values()].filter((t) => t.size >= 64 * 64 / 2 && !t.isFloat);
      expect(quantized.length, label).toBe(2);
      expect(initBytes(q), label).toBeLessThan(initBytes(m) * 0.4);
      // no float copy of a weight is left, nor an Identity reading one
      expect([...q.graph.initializers.keys()].filter((k) => /weight$/.test(k)), label).toEqual([]);
      expect(q.graph.nodes.filter((n) => n.opType === 'Identity' && (q.graph.initializers.get(n.inputs[0])?.size ?? 0) >= 1024), label).toEqual([]);
      const { cos } = await compare(m, q, xFeeds());
      expect(cos, label).toBeGreaterThan(raw.type === 'int4' ? 0.99 : 0.999);
    }
  });

  it('the bias of the issue: Gemm bias behind an Identity is folded, not a skip', async () => {
    const m = dedupMlp();
    const { model: q, result } = await quantize(m, { type: 'int8' });
    expect(result.skipped).toEqual([]);
    const dqmm = q.graph.nodes.filter((n) => n.opType === 'DynamicQuantizeMatMul');
    expect(dqmm.map((n) => n.inputs.length)).toEqual([5, 5, 5]); // A, B, scale, zp slot, bias
    expect(opCounts(q).Add ?? 0).toBe(0);
  });
});

describe('weights in Constant nodes and behind Reshape / Transpose / Cast', () => {
  function model(): Model {
    const b = new ModelBuilder({ opset: 17 });
    const x = b.input('x', DataType.FLOAT, ['N', 64]);
    const g = b.graph;
    // Constant(value) weight
    g.makeNode('Constant', [], ['cw'], [{ name: 'value', type: AttrType.TENSOR, value: Tensor.float32('cw', [64, 32], uniform(2048, 0.2, 11)) }], { name: 'const_w' });
    // Constant(value_floats) reshaped to [32, 64]
    g.makeNode('Constant', [], ['cf'], [{ name: 'value_floats', type: AttrType.FLOATS, value: Array.from(uniform(2048, 0.2, 12)) }], { name: 'const_f' });
    const rw = b.op('Reshape', [b.op('Identity', ['cf']), b.ints('shape', [32, 64])], {}, { name: 'reshape_w' });
    // a float16 weight cast to float32, transposed ([64, 64] stored as its transpose)
    const h = b.init('w16', [64, 64], float32ToHalfArray(uniform(4096, 0.2, 13)), DataType.FLOAT16);
    const tw = b.op('Transpose', [b.op('Cast', [h], { to: DataType.FLOAT })], { perm: [1, 0] }, { name: 'tr_w' });
    const h1 = b.op('Relu', [b.op('MatMul', [x, 'cw'], {}, { name: 'mm1' })]);
    const h2 = b.op('Relu', [b.op('MatMul', [h1, rw], {}, { name: 'mm2' })]);
    b.output(b.op('MatMul', [h2, tw], {}, { name: 'mm3' }), DataType.FLOAT, ['N', 64], 'y');
    return b.build();
  }
  it('every mode finds the three weights; chains are removed; outputs match', async () => {
    const m = model();
    for (const raw of MODES) {
      const { model: q, result } = await quantizeAll(m, raw, 'x', [16, 64]);
      const label = JSON.stringify(raw);
      expect(result.skipped, label).toEqual([]);
      expect(result.stats.MatMul, label).toBe(3);
      const c = opCounts(q);
      expect(c.Constant ?? 0, label).toBe(0);
      expect(c.Reshape ?? 0, label).toBe(0);
      expect(c.Transpose ?? 0, label).toBe(0);
      expect(q.graph.initializers.has('w16'), label).toBe(false);
      const { cos } = await compare(m, q, xFeeds());
      expect(cos, label).toBeGreaterThan(raw.type === 'int4' ? 0.99 : 0.999);
    }
  });
});

describe('Gemm with a computed C', () => {
  function model(beta: number): Model {
    const b = new ModelBuilder({ opset: 17 });
    const x = b.input('x', DataType.FLOAT, ['N', 64]);
    const c = b.input('c', DataType.FLOAT, ['N', 32]);
    const w = b.init('w', [32, 64], uniform(2048, 0.2, 21));
    const cc = b.op('Relu', [c]);
    b.output(b.op('Gemm', [x, w, cc], { transB: 1, alpha: 0.5, beta }, { name: 'gemm', types: { alpha: AttrType.FLOAT, beta: AttrType.FLOAT } }), DataType.FLOAT, ['N', 32], 'y');
    return b.build();
  }
  const feeds = { ...xFeeds(), c: { dtype: 'float', dims: [8, 32], data: uniform(256, 1, 22) } };
  for (const beta of [1, 0.25]) {
    it(`dynamic and int4 quantize A·B and add beta·C after (beta ${beta})`, async () => {
      const m = model(beta);
      for (const raw of [{ type: 'int8' }, { type: 'int8', dynamicForm: 'standard' }, { type: 'int4' }]) {
        const { model: q, result } = await quantize(m, raw);
        const label = JSON.stringify(raw);
        expect(result.skipped, label).toEqual([]);
        expect(result.stats.gemmCAddedAfter, label).toBe(1);
        const c = opCounts(q);
        expect(c.Gemm ?? 0, label).toBe(0);
        expect(q.graph.nodes.some((n) => n.opType === 'Add' && n.outputs[0] === 'y'), label).toBe(true);
        if (beta !== 1) expect(q.graph.nodes.some((n) => n.opType === 'Mul' && n.inputs[0] === q.graph.nodes.find((r) => r.opType === 'Relu')!.outputs[0]), label).toBe(true);
        const [ra] = await runModel(m, feeds);
        const [rb] = await runModel(q, feeds);
        let err = 0;
        let ref = 0;
        for (let i = 0; i < ra.length; i++) {
          err = Math.max(err, Math.abs(ra[i] - rb[i]));
          ref = Math.max(ref, Math.abs(ra[i]));
        }
        expect(err / ref, label).toBeLessThan(raw.type === 'int4' ? 0.08 : 0.03);
      }
    });
  }
});

describe('tied embedding: Gather(table) and the LM head reading the same table', () => {
  function tiedModel(head: 'transpose' | 'gemm'): Model {
    const b = new ModelBuilder({ opset: 17 });
    const ids = b.input('ids', DataType.INT64, ['N', 4]);
    const table = b.init('wte', [100, 32], uniform(3200, 0.5, 31));
    const e = b.op('Tanh', [b.op('Gather', [table, ids], { axis: 0 }, { name: 'embed' })]);
    if (head === 'transpose') {
      const t = b.op('Transpose', [table], { perm: [1, 0] }, { name: 'tied' });
      b.output(b.op('MatMul', [e, t], {}, { name: 'lm_head' }), DataType.FLOAT, ['N', 4, 100], 'logits');
    } else {
      const flat = b.op('Reshape', [e, b.ints('flat', [-1, 32])]);
      b.output(b.op('Gemm', [flat, table], { transB: 1 }, { name: 'lm_head' }), DataType.FLOAT, ['N4', 100], 'logits');
    }
    return b.build();
  }
  const feeds = { ids: { dtype: 'int64', dims: [2, 4], data: BigInt64Array.from([1n, 5n, 99n, 0n, 42n, 42n, 7n, 3n]) } };
  for (const head of ['transpose', 'gemm'] as const) {
    it(`both readers quantized, the float table gone; dynamic mode stores it once (${head} head)`, async () => {
      const m = tiedModel(head);
      for (const raw of [{ type: 'int8' }, { type: 'uint8' }, { type: 'int8', dynamicForm: 'standard' }, { type: 'int8', mode: 'weight-only' }]) {
        const { model: q, result } = await quantize(m, raw);
        const label = JSON.stringify(raw);
        expect(result.skipped, label).toEqual([]);
        expect(result.stats[head === 'gemm' ? 'Gemm' : 'MatMul'], label).toBe(1);
        expect(q.graph.initializers.has('wte'), label).toBe(false);
        const tables = [...q.graph.initializers.values()].filter((t) => t.size === 3200);
        if (raw.mode === 'weight-only') {
          expect(initBytes(q), label).toBeLessThan(initBytes(m) * 0.6);
        } else {
          // one 8-bit table with one scale per row (token), read by the Gather and, transposed, by the LM head
          expect(result.stats.tiedEmbeddings, label).toBe(1);
          expect(tables.length, label).toBe(1);
          expect(tables[0].dims, label).toEqual([100, 32]);
          expect(q.graph.consumers(tables[0].name).map((n) => n.opType).sort(), label).toEqual(['Gather', 'Transpose']);
          expect(initBytes(q), label).toBeLessThan(initBytes(m) * 0.35);
        }
        expect((await compare(m, q, feeds)).cos, label).toBeGreaterThan(0.999);
      }
    });
  }
});

describe('tied embedding in static mode', () => {
  it('the Gather table gets 8-bit weights too, so the LM head\'s int8 copy does not leave the float table behind', async () => {
    const b = new ModelBuilder({ opset: 17 });
    const ids = b.input('ids', DataType.INT64, ['N', 4]);
    const table = b.init('wte', [100, 32], uniform(3200, 0.5, 31));
    const e = b.op('Tanh', [b.op('Gather', [table, ids], { axis: 0 }, { name: 'embed' })]);
    b.output(b.op('MatMul', [e, b.op('Transpose', [table], { perm: [1, 0] })], {}, { name: 'lm_head' }), DataType.FLOAT, ['N', 4, 100], 'logits');
    const m = b.build();
    const data = BigInt64Array.from({ length: 64 }, (_, i) => BigInt((i * 7) % 100));
    const run = makeRunner();
    try {
      const { model: q, result } = await quantize(m, { type: 'int8', mode: 'static' }, ctxWith({ calibration: { inputs: { ids: { dtype: 'int64', dims: [16, 4], data } }, count: 16 }, run }));
      expect(result.stats.MatMul).toBe(1);
      expect(result.stats['Gather(weight-only)']).toBe(1);
      expect(q.graph.initializers.has('wte')).toBe(false);
      expect(initBytes(q)).toBeLessThan(initBytes(m) * 0.6);
      const feeds = { ids: { dtype: 'int64', dims: [2, 4], data: data.slice(0, 8) } };
      expect((await compare(m, q, feeds)).cos).toBeGreaterThan(0.99);
    } finally {
      await run.release();
    }
  });
});

describe('float16 models and opset 18+ graphs through every mode', () => {
  /** x float16 [N, 64] → MatMul(W fp16) → Add(b fp16) → Relu → Gemm(W2 fp16, transB) */
  function fp16Model(): Model {
    const b = new ModelBuilder({ opset: 17 });
    const x = b.input('x', DataType.FLOAT16, ['N', 64]);
    const w = b.init('w', [64, 64], float32ToHalfArray(uniform(4096, 0.2, 41)), DataType.FLOAT16);
    const bias = b.init('b', [64], float32ToHalfArray(uniform(64, 0.1, 42)), DataType.FLOAT16);
    const w2 = b.init('w2', [32, 64], float32ToHalfArray(uniform(2048, 0.2, 43)), DataType.FLOAT16);
    const h = b.op('Relu', [b.op('Add', [b.op('MatMul', [x, w], {}, { name: 'mm' }), bias])]);
    b.output(b.op('Gemm', [h, w2], { transB: 1 }, { name: 'gemm' }), DataType.FLOAT16, ['N', 32], 'y');
    return b.build();
  }
  /** the float16 output bits of `m` decoded */
  const halfOut = async (m: Model, feeds: Record<string, Feed>) => halfArrayToFloat32((await runModel(m, feeds))[0] as unknown as Uint16Array);

  it('a float16 model: weight-only stores its weights in 8 bits (float16 again after a Cast); other modes skip them, saying why', async () => {
    const m = fp16Model();
    const feeds = { x: { dtype: 'float16', dims: [4, 64], data: float32ToHalfArray(uniform(256, 1, 44)) } };
    const ref = await halfOut(m, feeds);
    for (const raw of [...MODES, { type: 'uint8', mode: 'weight-only' }, { type: 'fp16' }]) {
      const { model: q, result } = await quantize(m, raw);
      const label = JSON.stringify(raw);
      const out = await halfOut(q, feeds);
      if (raw.mode === 'weight-only') {
        expect(result.modified, label).toBe(true);
        expect(result.skipped, label).toEqual([]);
        expect(result.stats.quantized, label).toBe(2);
        // the float16 weights are gone; int8 / uint8 codes, float32 scales; the nodes still read float16
        expect(q.graph.initializers.has('w') || q.graph.initializers.has('w2'), label).toBe(false);
        expect(result.stats.weightBytesBefore, label).toBe((4096 + 2048) * 2);
        expect(opCounts(q).Cast, label).toBe(4); // q → float, and the product → float16, per weight
        expect(cosine(ref, out), label).toBeGreaterThan(0.999);
      } else {
        expect(result.modified, label).toBe(false);
        if (raw.type !== 'fp16') {
          expect(result.skipped.map((s) => s.node).sort(), label).toEqual(['gemm', 'mm']);
          for (const s of result.skipped) expect(s.reason, label).toMatch(/is float16 .*--quantize-mode weight-only/);
        }
        expect(Array.from(out), label).toEqual(Array.from(ref));
      }
    }
  });

  it('a float16 CNN: dynamic int8 stores its Conv weights in 8 bits (as for float32 Convs)', async () => {
    const b = new ModelBuilder({ opset: 17 });
    const x = b.input('x', DataType.FLOAT16, ['N', 4, 8, 8]);
    const w = b.init('cw', [8, 4, 3, 3], float32ToHalfArray(uniform(288, 0.3, 51)), DataType.FLOAT16);
    const bias = b.init('cb', [8], float32ToHalfArray(uniform(8, 0.1, 52)), DataType.FLOAT16);
    b.output(b.op('Relu', [b.op('Conv', [x, w, bias], { pads: [1, 1, 1, 1] }, { name: 'conv' })]), DataType.FLOAT16, ['N', 8, 8, 8], 'y');
    const m = b.build();
    const feeds = { x: { dtype: 'float16', dims: [2, 4, 8, 8], data: float32ToHalfArray(uniform(512, 1, 53)) } };
    const { model: q, result } = await quantize(m, { type: 'int8' });
    expect(result.skipped).toEqual([]);
    expect(result.stats['Conv(weight-only)']).toBe(1);
    expect(q.graph.initializers.has('cw')).toBe(false);
    expect(cosine(await halfOut(m, feeds), await halfOut(q, feeds))).toBeGreaterThan(0.999);
  });

  for (const opset of [18, 21]) {
    it(`opset ${opset} graph (ReduceMean axes as input, decomposed LayerNorm): every mode loads and runs`, async () => {
      const { buildDecoder } = await import('../../src/models/decoder.js');
      const m = buildDecoder({ layers: 1, hidden: 32, heads: 2, vocab: 64, ctx: 16, opset, decomposedLayerNorm: true, biasStd: 0.02 });
      expect(m.opsetVersion('')).toBe(opset);
      const feeds = { input_ids: { dtype: 'int64', dims: [1, 8], data: BigInt64Array.from([1n, 2n, 3n, 4n, 5n, 6n, 7n, 8n]) } };
      const [ref] = await runModel(m, feeds);
      const run = makeRunner();
      const calibration = { inputs: { input_ids: { dtype: 'int64', dims: [4, 8], data: BigInt64Array.from({ length: 32 }, (_, i) => BigInt((i * 13) % 64)) } }, count: 4 };
      const staticCtx = ctxWith({ calibration, run });
      for (const raw of [...MODES, { type: 'fp16' }]) {
        const { model: q, result } = await quantize(m, raw, raw.mode === 'static' ? staticCtx : undefined);
        const label = JSON.stringify(raw);
        expect(result.modified, label).toBe(true);
        const [out] = await runModel(q, feeds);
        expect(out.length, label).toBe(ref.length);
        expect(out.every(Number.isFinite), label).toBe(true);
      }
      await run.release();
    });
  }
});

describe('weightBytesAfter', () => {
  it('counts the quantized weights the pass stores behind a Transpose (mnist-mlp after --prune 0.9)', async () => {
    const { constantTensors } = await import('../../src/ir/params.js');
    const { loadModel } = await import('../../src/onnx/index.js');
    const { prunePass } = await import('../../src/passes/prune.js');
    const m = await loadModel(new URL('../../fixtures/mnist-mlp.onnx', import.meta.url).pathname);
    await prunePass.run(m, prunePass.parseOptions({ sparsity: 0.9 }), ctxWith());
    const { model: q, result } = await quantize(m, { type: 'int8' });
    // the pruned Gemm weights deflate better in their [N, K] layout: stored so, read through a Transpose
    expect(opCounts(q).Transpose).toBeGreaterThan(0);
    let int8 = 0;
    for (const c of constantTensors(q)) if (c.tensor.dtype === DataType.INT8) int8 += c.tensor.byteLength;
    const params = 300 * 784 + 100 * 300 + 10 * 100;
    expect(int8).toBeGreaterThanOrEqual(params); // one byte per weight element
    expect(result.stats.weightBytesAfter as number).toBeGreaterThanOrEqual(int8);
    expect(result.stats.weightBytesAfter as number).toBeLessThan(int8 + 2 * 1024); // + the scales
  });
});
