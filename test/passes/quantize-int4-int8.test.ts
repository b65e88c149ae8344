import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DataType } from '../../src/ir/dtype.js';
import { ModelBuilder } from '../../src/ir/builder.js';
import { cloneModel } from '../../src/ir/clone.js';
import type { Model } from '../../src/ir/model.js';
import { attrInt } from '../../src/ir/node.js';
import { cosine } from '../../src/math/stats.js';
import { buildEncoder, encoderInputs } from '../../src/models/encoder.js';
import { loadModel } from '../../src/onnx/index.js';
import { QuantState } from '../../src/passes/quantize/common.js';
import { int4ToInt8Compute } from '../../src/passes/quantize/int4-int8.js';
import { rewriteInt4, setBits } from '../../src/passes/quantize/int4.js';
import { quantizePass } from '../../src/passes/quantize.js';
import { variantSteps } from '../../src/passes/variants.js';
import { createSession } from '../../src/runtime/index.js';
import { SATURATES, ctxWith, opCounts, quantize, runModel, uniform } from './quantize-helpers.js';

const enc = { hidden: 64, heads: 4, ffn: 128, layers: 2, seq: 16, vocab: 96, attentionMask: true, tokenTypes: 2 };
const encFeeds = () =>
  Object.fromEntries(Object.entries(encoderInputs(enc, 2, 5)).map(([k, v]) => [k, { dtype: 'int64' as const, dims: [2, enc.seq], data: v.data }]));

/** input [N, 80] → MatMul(W [80, 48]) → Add(b) → Relu → MatMul(W2 [48, 23]) → output: K = 80 is 2.5 blocks of 32, N = 23 odd. */
function buildOddK(): Model {
  const b = new ModelBuilder({ opset: 17 });
  const x = b.input('input', DataType.FLOAT, ['N', 80]);
  const w = b.init('W', [80, 48], uniform(80 * 48, 0.2, 1));
  const bias = b.init('b', [48], uniform(48, 0.1, 2));
  const h = b.op('Relu', [b.op('Add', [b.op('MatMul', [x, w], {}, { name: 'mm1' }), bias], {}, { name: 'add1' })]);
  const w2 = b.init('W2', [48, 23], uniform(48 * 23, 0.3, 3));
  b.output(b.op('MatMul', [h, w2], {}, { name: 'mm2' }), DataType.FLOAT, ['N', 23], 'output');
  return b.build();
}
const oddFeeds = { input: { dtype: 'float' as const, dims: [5, 80], data: uniform(5 * 80, 1, 4) } };

async function outputsCos(a: Model, b: Model, feeds: Parameters<typeof runModel>[1]): Promise<number> {
  const [ra] = await runModel(a, feeds);
  const [rb] = await runModel(b, feeds);
  return cosine(ra, rb);
}

describe('int4 with int8 compute (--int4-compute int8)', () => {
  it('pair-safe column scales (the default): the file does not depend on the CPU, and onnxruntime-node computes what onnxruntime-web does', async () => {
    const m = buildOddK();
    const { openSession } = await import('../../src/runtime/runtimes.js');
    const gap = async (raw: Record<string, unknown>) => {
      const { model: q } = await quantize(m, { type: 'int4', int4Compute: 'int8', reduceRange: false, ...raw });
      const [node] = await runModel(q, oddFeeds);
      const web = await openSession('wasm', q);
      try {
        const w = ((await web.run(oddFeeds as never)) as Record<string, { data: Float32Array }>).output.data;
        let e = 0;
        let ref = 0;
        for (let i = 0; i < w.length; i++) {
          e = Math.max(e, Math.abs(w[i] - node[i]));
          ref = Math.max(ref, Math.abs(w[i]));
        }
        return { rel: e / ref, q };
      } finally {
        await web.release();
      }
    };
    const safe = await gap({});
    expect(safe.rel).toBeLessThan(1e-5);
    // the same bytes whatever the CPU of the machine that wrote them (only --no-pair-safe asks the CPU)
    const st = new QuantState(cloneModel(m), quantizePass.parseOptions({ type: 'int4', int4Compute: 'int8' }), ctxWith());
    expect(st.opts.pairSafe).toBe(true);
    const again = await quantize(m, { type: 'int4', int4Compute: 'int8', reduceRange: false }, ctxWith({ cpu: { int8Saturates: !SATURATES } }));
    const bytes = (x: Model) => [...x.graph.initializers.values()].map((t) => Buffer.from((t.data as Uint8Array).buffer, (t.data as Uint8Array).byteOffset, t.byteLength).toString('base64')).join();
    expect(bytes(again.model)).toBe(bytes(safe.q));
  });

  it('BERT-like encoder: every MatMulNBits becomes a DynamicQuantizeMatMul over the 4-bit codes; onnxruntime folds the unpacking at load', async () => {
    const m = buildEncoder(enc);
    const { model: nb } = await quantize(m, { type: 'int4', int4Compute: 'nbits' });
    const { model: i8, result } = await quantize(m, { type: 'int4', int4Compute: 'int8' });
    expect(result.stats.int4Compute).toBe('int8');
    const cNb = opCounts(nb);
    const c8 = opCounts(i8);
    expect(cNb.MatMulNBits).toBe(12); // 2 layers × (Q, K, V, out, FFN in, FFN out)
    expect(c8.MatMulNBits).toBeUndefined();
    expect(c8.DynamicQuantizeMatMul).toBe(cNb.MatMulNBits);
    expect(result.stats.int4Int8Compute).toBe(cNb.MatMulNBits);
    // the biases are folded into the product (and moved past the residual Adds)
    expect(result.stats.residualBiasReordered).toBe(4);
    // the same 4-bit codes and one float per block: the weights grow only by the column scales (and a few shared constants)
    const initBytes = (q: Model) => [...q.graph.initializers.values()].reduce((s, t) => s + t.byteLength, 0);
    const columns = nb.graph.nodes.filter((n) => n.opType === 'MatMulNBits').reduce((s, n) => s + attrInt(n, 'N', 0), 0);
    expect(initBytes(i8) - initBytes(nb)).toBeLessThanOrEqual(4 * columns + 2560);
    const { model: q8 } = await quantize(m, { type: 'int8' });
    expect(initBytes(i8)).toBeLessThan(0.75 * initBytes(q8));
    // onnxruntime's optimizer runs the constant unpacking once: no Mod / Div / Round left
    const opt = join(tmpdir(), `mlc-int4-int8-${process.pid}.onnx`);
    try {
      const s = await createSession(i8, { intraOpThreads: 1, optimizedModelFilePath: opt });
      await s.release();
      const o = opCounts(await loadModel(opt));
      expect(o.DynamicQuantizeMatMul).toBe(cNb.MatMulNBits);
      for (const op of ['Round', 'MatMulNBits']) expect(o[op]).toBeUndefined();
    } finally {
      rmSync(opt, { force: true });
    }
    // the int8 path computes the same 4-bit weights (plus a small requantization error)
    const feeds = encFeeds();
    expect(await outputsCos(nb, i8, feeds)).toBeGreaterThan(0.999);
    expect(await outputsCos(m, i8, feeds)).toBeGreaterThan(0.98);
  });

  for (const asym of [false, true]) {
    it(`K not a multiple of the block, ${asym ? 'asymmetric (packed zero points, odd block count)' : 'symmetric'}: matches MatMulNBits`, async () => {
      const m = buildOddK();
      const { model: nb } = await quantize(m, { type: 'int4', int4Compute: 'nbits', int4Asymmetric: asym });
      const { model: i8, result } = await quantize(m, { type: 'int4', int4Compute: 'int8', int4Asymmetric: asym });
      expect(result.stats.int4Int8Compute).toBe(2);
      expect(opCounts(i8).Round).toBe(2);
      // the zero points, one byte per block, only when the blocks had any
      expect([...i8.graph.initializers.keys()].filter((k) => k.endsWith('_block_zero'))).toHaveLength(asym ? 2 : 0);
      expect(await outputsCos(nb, i8, oddFeeds)).toBeGreaterThan(0.9999);
    });
  }

  it('8-bit blocks (the mixed-precision MatMulNBits of --int4-target) too', async () => {
    const m = buildOddK();
    const nb = cloneModel(m);
    const opts = quantizePass.parseOptions({ type: 'int4', int4Compute: 'nbits' });
    const st = new QuantState(nb, opts, ctxWith());
    const { sites, cache } = rewriteInt4(st);
    for (const site of sites) setBits(st, cache, site, 8);
    nb.graph.topoSort();
    expect(nb.graph.nodes.filter((n) => n.opType === 'MatMulNBits').map((n) => attrInt(n, 'bits', 0))).toEqual([8, 8]);
    const i8 = cloneModel(nb);
    int4ToInt8Compute(new QuantState(i8, opts, ctxWith()), SATURATES, new Set());
    i8.graph.topoSort();
    expect(opCounts(i8).DynamicQuantizeMatMul).toBe(2);
    expect(opCounts(i8).Gather).toBeUndefined(); // no nibble table for 8-bit codes
    expect(await outputsCos(nb, i8, oddFeeds)).toBeGreaterThan(0.9995);
  });

  it('MatMulNBits already in the input model are left alone', async () => {
    const { model: nb } = await quantize(buildOddK(), { type: 'int4', int4Compute: 'nbits' });
    const { model: again, result } = await quantize(nb, { type: 'int4', int4Compute: 'int8' });
    expect(result.stats.int4Int8Compute).toBeUndefined();
    expect(opCounts(again).MatMulNBits).toBe(2);
  });

  it('the default is MatMulNBits level 4 on every CPU; auto: int8 compute where the CPU lacks fast int8 dot products (ctx.cpu), else MatMulNBits level 4', async () => {
    const m = buildOddK();
    const level = (q: Model) => q.graph.nodes.filter((n) => n.opType === 'MatMulNBits').map((n) => attrInt(n, 'accuracy_level', -1));
    // the default is MatMulNBits level 4 on every CPU (the file must not depend on the machine)
    const plain = await quantize(m, { type: 'int4' }, ctxWith({ cpu: { int8Saturates: true } }));
    expect(plain.result.stats).toMatchObject({ int4Compute: 'nbits', int4AccuracyLevel: 4 });
    expect(level(plain.model)).toEqual([4, 4]);
    const slow = await quantize(m, { type: 'int4', int4Compute: 'auto' }, ctxWith({ cpu: { int8Saturates: true } }));
    expect(slow.result.stats.int4Compute).toBe('int8');
    expect(opCounts(slow.model).DynamicQuantizeMatMul).toBe(2);
    const fast = await quantize(m, { type: 'int4', int4Compute: 'auto' }, ctxWith({ cpu: { int8Saturates: false } }));
    expect(fast.result.stats).toMatchObject({ int4Compute: 'nbits', int4AccuracyLevel: 4 });
    expect(level(fast.model)).toEqual([4, 4]);
    const unknown = await quantize(m, { type: 'int4' });
    expect(level(unknown.model)).toEqual([4, 4]);
    const forced = await quantize(m, { type: 'int4', int4Compute: 'nbits' }, ctxWith({ cpu: { int8Saturates: true } }));
    expect(level(forced.model)).toEqual([4, 4]);
    const given = await quantize(m, { type: 'int4', int4Compute: 'nbits', accuracyLevel: 4 }, ctxWith({ cpu: { int8Saturates: true } }));
    expect(level(given.model)).toEqual([4, 4]);
    // transformers.js's q4 (mlc variants) stays MatMulNBits level 4 on every CPU
    const [step] = variantSteps('q4', false);
    const v = await quantize(m, step.options as Record<string, unknown>, ctxWith({ cpu: { int8Saturates: true } }));
    expect(level(v.model)).toEqual([4, 4]);
  });
});
