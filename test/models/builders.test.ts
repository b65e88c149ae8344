/**
 * The model builders of src/models: each builds deterministically from its seed, runs in
 * onnxruntime-node, has the structure the exporter it stands for writes, and survives a plain
 * re-export (`compress` with no pass) with bit-identical outputs.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { compress } from '../../src/index.js';
import { DataType } from '../../src/ir/dtype.js';
import { fingerprintModel } from '../../src/ir/fingerprint.js';
import type { Model } from '../../src/ir/model.js';
import { attrInt, getAttr, subgraphsOf } from '../../src/ir/node.js';
import { elemTypeOf, shapeOf } from '../../src/ir/types.js';
import { halfToFloat } from '../../src/math/float16.js';
import { cosine } from '../../src/math/stats.js';
import {
  MODEL_BUILDERS,
  buildControlFlow,
  buildEncoder,
  buildResNet,
  buildRnn,
  buildViT,
  encoderInputs,
  resnetInputs,
  vitInputs,
  type EncoderOptions,
  type SampleArray,
} from '../../src/models/index.js';
import { saveModel } from '../../src/onnx/index.js';
import { createSession, type Output } from '../../src/runtime/index.js';

const dir = mkdtempSync(join(tmpdir(), 'mlc-models-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function run(m: Model | string, feeds: Record<string, SampleArray>): Promise<Record<string, Output>> {
  const s = await createSession(m);
  try {
    return await s.run(feeds);
  } finally {
    await s.release();
  }
}

function ops(m: Model): Map<string, number> {
  const c = new Map<string, number>();
  for (const n of m.graph.nodes) c.set(n.opType, (c.get(n.opType) ?? 0) + 1);
  return c;
}

function nums(o: Output): number[] {
  return o.dtype === 'float16' ? Array.from(o.data as Uint16Array, halfToFloat) : Array.from(o.data as ArrayLike<number>, Number);
}

describe('every builder', () => {
  for (const e of MODEL_BUILDERS) {
    it(`${e.name}: deterministic, runs in onnxruntime at two batch sizes, re-exports bit-identically`, async () => {
      const m = e.build();
      expect(fingerprintModel(e.build())).toBe(fingerprintModel(m));
      for (const batch of [1, 3]) {
        const out = await run(m, e.inputs(batch, 4));
        for (const o of m.graph.outputs) {
          const got = out[o.name];
          expect(got.dims[0]).toBe(batch);
          expect(got.dims.length).toBe(shapeOf(o)!.length);
          expect(nums(got).every(Number.isFinite)).toBe(true);
        }
        // the batch axis is the dim_param `batch`, as exporters name it
        for (const i of m.graph.realInputs()) expect(shapeOf(i)![0]).toBe('batch');
      }
      // plain re-export through the API: no pass, bit-identical outputs
      const src = join(dir, `${e.name}.onnx`);
      const dst = join(dir, `${e.name}_copy.onnx`);
      await saveModel(m, src);
      const r = await compress(src, [], { output: dst });
      expect(r.passes).toEqual([]);
      const feeds = e.inputs(2, 5);
      const [a, b] = [await run(src, feeds), await run(dst, feeds)];
      for (const k of Object.keys(a)) {
        expect(b[k].dims).toEqual(a[k].dims);
        expect(Buffer.from((b[k].data as Float32Array).buffer).equals(Buffer.from((a[k].data as Float32Array).buffer))).toBe(true);
      }
    });
  }

  it('a different seed gives different weights', () => {
    for (const f of [(seed: number) => buildResNet({ channels: [4], blocks: [1], image: 16, classes: 3, seed }), (seed: number) => buildRnn({ features: 4, hidden: 4, seed })]) {
      const a = fingerprintModel(f(1));
      expect(fingerprintModel(f(1))).toBe(a);
      expect(fingerprintModel(f(2))).not.toBe(a);
    }
    expect(fingerprintModel(buildViT({ image: 8, patch: 4, hidden: 8, heads: 2, layers: 1, classes: 3, seed: 1 }))).not.toBe(
      fingerprintModel(buildViT({ image: 8, patch: 4, hidden: 8, heads: 2, layers: 1, classes: 3, seed: 2 })),
    );
  });
});

describe('encoder', () => {
  const bert: EncoderOptions = { hidden: 32, heads: 4, ffn: 64, layers: 2, seq: 12, vocab: 60, attentionMask: true, tokenTypes: 2, dynamicSequence: true, seed: 3 };

  it('without the new options it is the plain form the benchmarks use', () => {
    const m = buildEncoder({ hidden: 32, heads: 2, ffn: 64, layers: 2, seq: 8 });
    expect(m.graph.realInputs().map((i) => [i.name, shapeOf(i)])).toEqual([['input', ['batch', 8, 32]]]);
    expect(m.opsetVersion('')).toBe(17);
    expect(Object.fromEntries(ops(m))).toEqual({ MatMul: 16, Add: 18, Reshape: 8, Transpose: 8, Div: 4, Softmax: 2, LayerNormalization: 4, Erf: 2, Mul: 4 });
  });

  it('BERT export: three int64 inputs on [batch, sequence], the mask added to every attention score', () => {
    const m = buildEncoder(bert);
    expect(m.graph.realInputs().map((i) => [i.name, elemTypeOf(i), shapeOf(i)])).toEqual([
      ['input_ids', DataType.INT64, ['batch', 'sequence']],
      ['attention_mask', DataType.INT64, ['batch', 'sequence']],
      ['token_type_ids', DataType.INT64, ['batch', 'sequence']],
    ]);
    const c = ops(m);
    expect(c.get('Gather')).toBe(4); // words, token types, positions, the sequence length
    expect(c.get('Slice')).toBe(1);
    expect(c.get('Cast')).toBe(1);
    const softmaxIn = m.graph.nodes.filter((n) => n.opType === 'Softmax').map((n) => m.graph.producer(n.inputs[0])!.opType);
    expect(softmaxIn).toEqual(['Add', 'Add']);
  });

  it('masked tokens do not change the outputs at the kept positions; any sequence length up to seq runs', async () => {
    const m = buildEncoder(bert);
    for (const len of [5, 12]) {
      const feeds = encoderInputs(bert, 2, 8, len);
      const mask = feeds.attention_mask.data as BigInt64Array;
      mask.fill(1n);
      for (let t = 3; t < len; t++) mask[t] = 0n; // sample 0 keeps 3 tokens
      const a = (await run(m, feeds)).output;
      const ids = feeds.input_ids.data as BigInt64Array;
      for (let t = 3; t < len; t++) ids[t] = BigInt((Number(ids[t]) + 7) % 60);
      const b = (await run(m, feeds)).output;
      expect(a.dims).toEqual([2, len, 32]);
      const A = a.data as Float32Array;
      const B = b.data as Float32Array;
      for (let i = 0; i < 3 * 32; i++) expect(B[i]).toBeCloseTo(A[i], 5);
      if (len > 3) {
        let diff = 0;
        for (let i = 3 * 32; i < len * 32; i++) diff = Math.max(diff, Math.abs(B[i] - A[i]));
        expect(diff).toBeGreaterThan(1e-3); // the masked tokens themselves did change
      }
    }
  });

  it('opset 18 written-out LayerNorm (ReduceMean axes as an input) and the tanh / op GELU forms agree with the default', async () => {
    const base = buildEncoder(bert);
    const feeds = encoderInputs(bert, 2, 9);
    const want = (await run(base, feeds)).output.data as Float32Array;
    const ln = buildEncoder({ ...bert, opset: 18, layerNorm: 'decomposed' });
    const rm = ln.graph.nodes.filter((n) => n.opType === 'ReduceMean');
    expect(rm.length).toBeGreaterThan(0);
    for (const n of rm) {
      expect(n.inputs).toHaveLength(2);
      expect(getAttr(n, 'axes')).toBeUndefined();
    }
    expect(ops(ln).get('LayerNormalization')).toBeUndefined();
    expect(ln.irVersion).toBe(8);
    const got = (await run(ln, feeds)).output.data as Float32Array;
    for (let i = 0; i < want.length; i++) expect(got[i]).toBeCloseTo(want[i], 3);
    const op = buildEncoder({ ...bert, opset: 20, gelu: 'op' });
    expect(ops(op).get('Gelu')).toBe(2);
    expect(op.irVersion).toBe(9);
    const g = (await run(op, feeds)).output.data as Float32Array;
    for (let i = 0; i < want.length; i++) expect(g[i]).toBeCloseTo(want[i], 4);
    const tanh = (await run(buildEncoder({ ...bert, gelu: 'tanh' }), feeds)).output.data as Float32Array;
    expect(cosine(tanh, want)).toBeGreaterThan(0.999);
    expect(() => buildEncoder({ ...bert, gelu: 'op' })).toThrow(/opset 20/);
    expect(() => buildEncoder({ hidden: 8, heads: 2, attentionMask: true })).toThrow(/need vocab/);
  });

  it('float16: weights, inputs and outputs in float16, outputs close to the float32 model', async () => {
    const h = buildEncoder({ ...bert, dtype: 'float16' });
    for (const t of h.graph.initializers.values()) expect([DataType.FLOAT16, DataType.INT64]).toContain(t.dtype);
    expect(elemTypeOf(h.graph.outputs[0])).toBe(DataType.FLOAT16);
    expect(h.graph.nodes.find((n) => n.opType === 'Cast')!.attributes.find((a) => a.name === 'to')!.value).toBe(DataType.FLOAT16);
    const feeds = encoderInputs(bert, 2, 10);
    const a = (await run(h, feeds)).output;
    expect(a.dtype).toBe('float16');
    const b = (await run(buildEncoder(bert), feeds)).output.data as Float32Array;
    expect(cosine(Float32Array.from(nums(a)), b)).toBeGreaterThan(0.999);
  });
});

describe('resnet', () => {
  it('Conv + BatchNormalization, residual Adds with a strided 1×1 shortcut, GlobalAveragePool, Flatten, Gemm', () => {
    const m = buildResNet({ channels: [8, 16], blocks: [2, 1], image: 32, classes: 10 });
    const c = ops(m);
    expect(c.get('Conv')).toBe(1 + 2 * 3 + 1);
    expect(c.get('BatchNormalization')).toBe(c.get('Conv'));
    expect(c.get('Add')).toBe(3);
    expect([c.get('GlobalAveragePool'), c.get('Flatten'), c.get('Gemm'), c.get('MaxPool')]).toEqual([1, 1, 1, 1]);
    const gemm = m.graph.nodes.find((n) => n.opType === 'Gemm')!;
    expect(attrInt(gemm, 'transB', 0)).toBe(1);
    expect(m.graph.initializers.get('fc.weight')!.dims).toEqual([10, 16]);
    const bnVar = m.graph.initializers.get('bn1.running_var')!.data as Float32Array;
    expect(bnVar.some((v) => v !== 1)).toBe(true); // statistics that matter
  });

  it('dynamicSize: height and width dim_params, any image size runs', async () => {
    const o = { channels: [4, 8], blocks: [1, 1], classes: 5, dynamicSize: true };
    const m = buildResNet(o);
    expect(shapeOf(m.graph.inputs[0])).toEqual(['batch', 3, 'height', 'width']);
    for (const size of [17, 40]) expect((await run(m, resnetInputs(o, 2, 1, size))).logits.dims).toEqual([2, 5]);
  });

  it("layout 'nhwc' (tf2onnx): channels-last input behind a Transpose, ReduceMean pooling, MatMul + Add head", async () => {
    const o = { channels: [4, 8], blocks: [1, 1], image: 20, classes: 5, layout: 'nhwc' as const };
    for (const opset of [17, 18]) {
      const m = buildResNet({ ...o, opset });
      expect(shapeOf(m.graph.inputs[0])).toEqual(['batch', 20, 20, 3]);
      expect(m.graph.consumers('input').map((n) => n.opType)).toEqual(['Transpose']);
      const rm = m.graph.nodes.find((n) => n.opType === 'ReduceMean')!;
      expect(rm.inputs).toHaveLength(opset >= 18 ? 2 : 1);
      expect(ops(m).get('Gemm')).toBeUndefined();
      expect((await run(m, resnetInputs(o, 2, 1))).logits.dims).toEqual([2, 5]);
    }
  });

  it('float16 stays close to float32', async () => {
    const o = { channels: [4, 8], blocks: [1, 1], image: 24, classes: 5 };
    const feeds32 = resnetInputs(o, 2, 3);
    const feeds16 = resnetInputs({ ...o, dtype: 'float16' as const }, 2, 3);
    const a = nums((await run(buildResNet(o), feeds32)).logits);
    const b = nums((await run(buildResNet({ ...o, dtype: 'float16' }), feeds16)).logits);
    expect(cosine(Float32Array.from(a), Float32Array.from(b))).toBeGreaterThan(0.999);
  });
});

describe('vit', () => {
  const o = { image: 16, patch: 4, hidden: 16, heads: 2, layers: 2, classes: 7, seed: 5 };
  it('patch Conv, class token Expand + Concat, position Add, Split q/k/v, LayerNormalization, Erf GELU', () => {
    const m = buildViT(o);
    const c = ops(m);
    expect(c.get('Conv')).toBe(1);
    expect(c.get('Expand')).toBe(1);
    expect(c.get('Concat')).toBe(2);
    expect(c.get('Erf')).toBe(2);
    expect(c.get('LayerNormalization')).toBe(5);
    expect(m.graph.initializers.get('pos_embed')!.dims).toEqual([1, 17, 16]);
    const split = m.graph.nodes.find((n) => n.opType === 'Split')!;
    expect(split.inputs).toHaveLength(2); // opset 17: sizes as an input
  });

  it('opset 18+: Split with num_outputs; the Gelu op at opset 20; same function', async () => {
    const feeds = vitInputs(o, 2, 6);
    const want = (await run(buildViT(o), feeds)).logits.data as Float32Array;
    const m = buildViT({ ...o, opset: 20, gelu: 'op' });
    const split = m.graph.nodes.find((n) => n.opType === 'Split')!;
    expect(split.inputs).toHaveLength(1);
    expect(attrInt(split, 'num_outputs', 0)).toBe(3);
    expect(ops(m).get('Gelu')).toBe(2);
    const got = (await run(m, feeds)).logits.data as Float32Array;
    for (let i = 0; i < want.length; i++) expect(got[i]).toBeCloseTo(want[i], 4);
  });
});

describe('rnn and control flow', () => {
  it('LSTM / GRU: torch layouts (W [dirs, G·h, in]), GRU linear_before_reset, stacked bidirectional layers', () => {
    const l = buildRnn({ cell: 'LSTM', features: 5, hidden: 6, layers: 2, bidirectional: true });
    const lstms = l.graph.nodes.filter((n) => n.opType === 'LSTM');
    expect(lstms).toHaveLength(2);
    expect(l.graph.initializers.get(lstms[1].inputs[1])!.dims).toEqual([2, 24, 12]);
    const g = buildRnn({ cell: 'GRU', features: 5, hidden: 6 });
    const gru = g.graph.nodes.find((n) => n.opType === 'GRU')!;
    expect(attrInt(gru, 'linear_before_reset', 0)).toBe(1);
    expect(g.graph.initializers.get(gru.inputs[2])!.dims).toEqual([1, 18, 6]);
  });

  it('If and Loop bodies read main-graph weights by name; the Loop body has its own initializer', () => {
    const m = buildControlFlow({ features: 4, hidden: 8, classes: 3 });
    const iff = m.graph.nodes.find((n) => n.opType === 'If')!;
    const loop = m.graph.nodes.find((n) => n.opType === 'Loop')!;
    const [thenG, elseG] = subgraphsOf(iff);
    expect([...thenG.freeNames()]).toContain('branch.then.weight');
    expect([...elseG.freeNames()]).toContain('branch.else.weight');
    const body = subgraphsOf(loop)[0];
    expect([...body.freeNames()]).toContain('loop.weight');
    expect([...body.initializers.keys()]).toEqual(['loop.bias']);
    expect(m.graph.consumers('loop.weight')).toEqual([loop]);
  });
});
