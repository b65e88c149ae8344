import { describe, expect, it } from 'vitest';
import { MlcError } from '../../src/core/errors.js';
import { DataType } from '../../src/ir/dtype.js';
import { ModelBuilder } from '../../src/ir/builder.js';
import { attrInt } from '../../src/ir/node.js';
import { Tensor } from '../../src/ir/tensor.js';
import { elemTypeOf } from '../../src/ir/types.js';
import { buildDecoder } from '../../src/models/decoder.js';
import { buildEncoder } from '../../src/models/encoder.js';
import { quantizePass } from '../../src/passes/quantize.js';
import { makeRunner } from '../../src/runtime/index.js';
import { SATURATES, buildCnn, buildMlp, compare, ctxWith, dataset, opCounts, quantize, runModel, uniform } from './quantize-helpers.js';

const mlpFeeds = { input: { dtype: 'float', dims: [16, 32], data: uniform(16 * 32, 1, 99) } };

describe('quantize options and CLI flags', () => {
  it('defaults to dynamic int8, per channel, block 32', () => {
    const o = quantizePass.parseOptions({});
    expect(o).toMatchObject({ type: 'int8', mode: 'dynamic', perChannel: true, blockSize: 32, calibrationMethod: 'minmax', exclude: [] });
    expect(quantizePass.parseOptions({ type: 'int4' }).mode).toBe('weight-only');
  });
  it('rejects bad values with MlcError USAGE', () => {
    for (const bad of [{ type: 'int3' }, { blockSize: 24 }, { blockSize: 8 }, { type: 'fp16', mode: 'static' }, { bogus: 1 }, { percentile: 20 }, { opTypes: '' }, { opTypes: ['Relu'] }]) {
      expect(() => quantizePass.parseOptions(bad), JSON.stringify(bad)).toThrow(MlcError);
      try {
        quantizePass.parseOptions(bad);
      } catch (e) {
        expect((e as MlcError).code).toBe('USAGE');
      }
    }
  });
  it('maps CLI flags to options and names the output', () => {
    const cli = quantizePass.cli!;
    expect(cli.fromFlags({})).toBeUndefined();
    const raw = cli.fromFlags({ quantize: 'int4', int4BlockSize: '64', exclude: ['mm*'], opTypes: 'MatMul,Gemm', perChannel: false });
    const o = quantizePass.parseOptions(raw);
    expect(o).toMatchObject({ type: 'int4', blockSize: 64, exclude: ['mm*'], opTypes: ['MatMul', 'Gemm'], perChannel: false });
    expect(quantizePass.parseOptions(cli.fromFlags({ quantizeMode: 'static', calibrationMethod: 'entropy' }))).toMatchObject({ type: 'int8', mode: 'static', calibrationMethod: 'entropy' });
    expect(['int8', 'uint8', 'fp16', 'int4'].map((t) => cli.outputSuffix(quantizePass.parseOptions({ type: t })))).toEqual(['_int8', '_uint8', '_fp16', '_q4']);
    const flagNames = cli.flags.map((f) => f.flags.split(' ')[0]);
    expect(flagNames).toEqual(expect.arrayContaining(['--quantize', '--quantize-mode', '--calibration-method', '--per-channel', '--no-per-channel', '--op-types', '--int4-block-size', '--int4-accuracy-level']));
    expect(quantizePass.parseOptions(cli.fromFlags({ quantize: 'int4', int4AccuracyLevel: '0' })).accuracyLevel).toBe(0);
    expect(quantizePass.parseOptions({ type: 'int4' }).accuracyLevel).toBeUndefined(); // by the CPU when the pass runs
    expect(quantizePass.parseOptions(cli.fromFlags({ quantize: 'int4', int4Compute: 'int8' })).int4Compute).toBe('int8');
    expect(() => quantizePass.parseOptions({ type: 'int4', accuracyLevel: 5 })).toThrow(MlcError);
  });
});

describe('dynamic int8', () => {
  it('reduceRange: 7-bit weights in dynamic and static mode, exact outputs on every CPU', async () => {
    const m = buildMlp();
    for (const raw of [{ type: 'int8', reduceRange: true }, { type: 'int8', reduceRange: true, dynamicForm: 'standard' }]) {
      const { model: q, result } = await quantize(m, raw);
      expect(result.stats.reduceRange).toBe('true');
      const weights = q.graph.nodes.filter((n) => n.opType === 'DynamicQuantizeMatMul' || n.opType === 'MatMulInteger').map((n) => q.graph.initializers.get(n.inputs[1])!);
      expect(weights.length).toBe(3);
      for (const w of weights) {
        const d = w.data as Int8Array;
        expect(Math.max(...Array.from(d, Math.abs))).toBe(64);
      }
      expect((await compare(m, q, mlpFeeds)).cos).toBeGreaterThan(0.999);
    }
    const { result: full } = await quantize(m, { type: 'int8', reduceRange: false });
    expect(full.stats.reduceRange).toBeUndefined();
  });

  it('pair-safe weights (the default): onnxruntime-node computes the exact integer product on every CPU', async () => {
    // a MatMul whose adjacent weights along K are large and of one sign, fed large positive
    // activations: on an x86 CPU without VNNI the uint8 × int8 kernel adds such pairs in 16 bits
    const K = 64;
    const N = 8;
    const w = new Float32Array(K * N);
    for (let k = 0; k < K; k++) for (let n = 0; n < N; n++) w[k * N + n] = (k % 4 < 2 ? 1 : -0.9) * (0.8 + 0.2 * Math.sin(k * 7 + n));
    const b = new ModelBuilder({ opset: 17 });
    const x = b.input('x', DataType.FLOAT, [4, K]);
    b.output(b.op('MatMul', [x, b.init('W', [K, N], w)]), DataType.FLOAT, [4, N], 'y');
    const m = b.build();
    const xs = Float32Array.from({ length: 4 * K }, (_, i) => (i % 5 === 0 ? -0.05 : 1 - (i % 7) * 0.01));
    const feeds = { x: { dtype: 'float', dims: [4, K], data: xs } };
    /** DynamicQuantizeMatMul's integer math, exactly (uint8 activations, per-column int8 weights) */
    const exact = (q: typeof m) => {
      const n = q.graph.nodes.find((v) => v.opType === 'DynamicQuantizeMatMul')!;
      const qw = q.graph.initializers.get(n.inputs[1])!.data as Int8Array;
      const sw = q.graph.initializers.get(n.inputs[2])!.data as Float32Array;
      const lo = Math.min(0, ...xs);
      const hi = Math.max(0, ...xs);
      const sa = Math.fround((hi - lo) / 255);
      const za = Math.min(255, Math.max(0, Math.round(-lo / sa)));
      const qa = Array.from(xs, (v) => Math.min(255, Math.max(0, Math.round(v / sa) + za)));
      const y = new Float64Array(4 * N);
      for (let r = 0; r < 4; r++) for (let c = 0; c < N; c++) {
        let acc = 0;
        for (let k = 0; k < K; k++) acc += (qa[r * K + k] - za) * qw[k * N + c];
        y[r * N + c] = acc * sa * sw[sw.length === 1 ? 0 : c];
      }
      return { y, qw };
    };
    const err = async (raw: Record<string, unknown>) => {
      const { model: q } = await quantize(m, { type: 'int8', reduceRange: false, ...raw });
      const { y, qw } = exact(q);
      const [got] = await runModel(q, feeds);
      let e = 0;
      for (let i = 0; i < y.length; i++) e = Math.max(e, Math.abs(got[i] - y[i]) / (Math.abs(y[i]) + 1e-3));
      return { e, qw };
    };
    for (const perChannel of [true, false]) {
      const { e, qw } = await err({ perChannel });
      expect(e, `perChannel ${perChannel}`).toBeLessThan(1e-4);
      // no two adjacent codes along K add up past 128 with one sign
      for (let k = 0; k < K; k += 2) for (let c = 0; c < N; c++) expect(Math.abs(qw[k * N + c] + qw[(k + 1) * N + c])).toBeLessThanOrEqual(128);
    }
    // full-range weights saturate where the CPU's kernels do (x86 without VNNI); exact elsewhere
    const full = await err({ pairSafe: false });
    if (SATURATES) expect(full.e).toBeGreaterThan(1e-3);
    else expect(full.e).toBeLessThan(1e-4);
  });

  it('contrib form: MatMul+Add, Gemm and MatMul become DynamicQuantizeMatMul; outputs stay close', async () => {
    const m = buildMlp();
    const { model: q, result } = await quantize(m, { type: 'int8' });
    expect(result.modified).toBe(true);
    expect(result.skipped).toEqual([]);
    const c = opCounts(q);
    expect(c.DynamicQuantizeMatMul).toBe(3);
    expect(c.MatMul ?? 0).toBe(0);
    expect(c.Gemm ?? 0).toBe(0);
    expect(c.Add ?? 0).toBe(0); // bias folded
    expect(q.opsetVersion('com.microsoft')).toBe(1);
    const dq = q.graph.nodes.filter((n) => n.opType === 'DynamicQuantizeMatMul');
    for (const n of dq) {
      expect(q.graph.initializers.get(n.inputs[1])!.dtype).toBe(DataType.INT8);
      expect(q.graph.initializers.get(n.inputs[2])!.dims.length).toBe(1); // per-column scale
    }
    expect(q.graph.initializers.has('W1')).toBe(false);
    expect(result.stats.weightRatio).toBeLessThan(0.3);
    const { cos, maxAbs, refMax } = await compare(m, q, mlpFeeds);
    expect(cos).toBeGreaterThan(0.999);
    expect(maxAbs).toBeLessThan(0.05 * refMax);
  });

  it('standard form uses DynamicQuantizeLinear + MatMulInteger only (no contrib domain)', async () => {
    const m = buildMlp();
    const { model: q } = await quantize(m, { type: 'int8', dynamicForm: 'standard' });
    const c = opCounts(q);
    expect(c.DynamicQuantizeLinear).toBe(3);
    expect(c.MatMulInteger).toBe(3);
    expect(q.graph.nodes.some((n) => n.domain === 'com.microsoft')).toBe(false);
    expect((await compare(m, q, mlpFeeds)).cos).toBeGreaterThan(0.999);
  });

  it('uint8 stores uint8 weights with zero points; per-tensor option gives scalar scales', async () => {
    const m = buildMlp();
    const { model: q } = await quantize(m, { type: 'uint8', perChannel: false });
    for (const n of q.graph.nodes.filter((x) => x.opType === 'DynamicQuantizeMatMul')) {
      expect(q.graph.initializers.get(n.inputs[1])!.dtype).toBe(DataType.UINT8);
      expect(q.graph.initializers.get(n.inputs[2])!.dims).toEqual([]);
      expect(q.graph.initializers.get(n.inputs[3])!.dtype).toBe(DataType.UINT8);
    }
    expect((await compare(m, q, mlpFeeds)).cos).toBeGreaterThan(0.999);
  });

  it('encoder: every linear layer quantized, attention MatMuls of two activations skipped with a reason', async () => {
    const m = buildEncoder({ hidden: 64, heads: 4, ffn: 128, layers: 2, seq: 16 });
    const { model: q, result } = await quantize(m, { type: 'int8' });
    expect(opCounts(q).DynamicQuantizeMatMul).toBe(12);
    expect(opCounts(q).MatMul).toBe(4);
    expect(result.skipped).toHaveLength(4);
    for (const s of result.skipped) expect(s.reason).toMatch(/both inputs are computed .*kept float/);
    expect(result.skipped.map((s) => s.node).sort()).toEqual(
      [0, 1].flatMap((l) => [`/encoder/layer.${l}/attention/self/MatMul`, `/encoder/layer.${l}/attention/self/MatMul_1`]).sort(),
    );
    const feeds = { input: { dtype: 'float', dims: [2, 16, 64], data: uniform(2 * 16 * 64, 1.7, 3) } };
    expect((await compare(m, q, feeds)).cos).toBeGreaterThan(0.999);
  });

  it('decoder: the attention MatMuls (causal, fused c_attn) are listed as activation products kept float', async () => {
    const m = buildDecoder({ layers: 2, hidden: 32, heads: 2, vocab: 64, ctx: 16, seed: 3 });
    const { model: q, result } = await quantize(m, { type: 'int8' });
    expect(opCounts(q).MatMul).toBe(4);
    expect(result.skipped.map((s) => s.node).sort()).toEqual(
      [0, 1].flatMap((l) => [`/transformer/h.${l}/attn/MatMul`, `/transformer/h.${l}/attn/MatMul_1`]).sort(),
    );
    for (const s of result.skipped) expect(s.reason).toMatch(/both inputs are computed .*kept float/);
    const feeds = { input_ids: { dtype: 'int64', dims: [2, 16], data: BigInt64Array.from({ length: 32 }, (_, i) => BigInt((i * 37 + 11) % 64)) } };
    expect((await compare(m, q, feeds)).cos).toBeGreaterThan(0.999);
  });

  it('excluded nodes and op types outside --op-types stay untouched', async () => {
    const m = buildMlp();
    const { model: q, result } = await quantize(m, { type: 'int8', exclude: ['mm1'], opTypes: ['MatMul'] });
    const mm1 = q.graph.nodes.find((n) => n.name === 'mm1')!;
    expect(mm1.opType).toBe('MatMul');
    expect(q.graph.initializers.get('W1')!.data).toEqual(m.graph.initializers.get('W1')!.data);
    expect(q.graph.nodes.find((n) => n.name === 'gemm')!.opType).toBe('Gemm');
    expect(q.graph.initializers.get('W2')!.dtype).toBe(DataType.FLOAT);
    expect(opCounts(q).DynamicQuantizeMatMul).toBe(1);
    expect(result.skipped).toEqual([{ node: 'mm1', reason: 'excluded' }]);
    expect((await compare(m, q, mlpFeeds)).cos).toBeGreaterThan(0.999);
  });
});

describe('pair-safe static int8', () => {
  it('Conv (3 and 16 input channels), MatMul and Gemm weights: onnxruntime-node gives what onnxruntime-web (exact integer math) gives', async () => {
    // adjacent weights of one sign along onnxruntime's K order (kernel positions, channels fastest)
    const b = new ModelBuilder({ opset: 17 });
    const x = b.input('input', DataType.FLOAT, ['N', 3, 8, 8]);
    const big = (n: number, seed: number) => Float32Array.from(uniform(n, 0.3, seed), (v, i) => (i % 4 < 2 ? 1 : -1) * (0.7 + Math.abs(v)));
    const c1 = b.op('Relu', [b.op('Conv', [x, b.init('w1', [16, 3, 3, 3], big(432, 1)), b.init('b1', [16], new Float32Array(16))], { pads: [1, 1, 1, 1] }, { name: 'conv1' })]);
    const c2 = b.op('Relu', [b.op('Conv', [c1, b.init('w2', [8, 16, 3, 3], big(1152, 2)), b.init('b2', [8], new Float32Array(8))], { pads: [1, 1, 1, 1] }, { name: 'conv2' })]);
    const f = b.op('Flatten', [b.op('GlobalAveragePool', [c2])], { axis: 1 });
    const h = b.op('Relu', [b.op('MatMul', [f, b.init('w3', [8, 16], big(128, 3))], {}, { name: 'mm' })]);
    b.output(b.op('Gemm', [h, b.init('w4', [10, 16], big(160, 4))], { transB: 1 }, { name: 'fc' }), DataType.FLOAT, ['N', 10], 'output');
    const m = b.build();
    const calib = dataset('input', [16, 3, 8, 8], 5, 2);
    const feeds = { input: { dtype: 'float', dims: [4, 3, 8, 8], data: Float32Array.from(uniform(4 * 192, 1, 6), (v) => Math.abs(v)) } };
    const { openSession } = await import('../../src/runtime/runtimes.js');
    const run = makeRunner();
    const gap = async (raw: Record<string, unknown>) => {
      const { model: q } = await quantize(m, { type: 'int8', mode: 'static', reduceRange: false, ...raw }, ctxWith({ calibration: calib, run }));
      expect(opCounts(q).DequantizeLinear).toBeGreaterThanOrEqual(4);
      const [node] = await runModel(q, feeds);
      const web = await openSession('wasm', q);
      try {
        const out = (await web.run(feeds as never)) as Record<string, { data: Float32Array }>;
        const w = out.output.data;
        let e = 0;
        let ref = 0;
        for (let i = 0; i < w.length; i++) (e = Math.max(e, Math.abs(w[i] - node[i]))), (ref = Math.max(ref, Math.abs(w[i])));
        return e / ref;
      } finally {
        await web.release();
      }
    };
    try {
      expect(await gap({})).toBeLessThan(1e-5);
      // full-range weights differ in node where its kernels saturate (x86 without VNNI)
      const full = await gap({ pairSafe: false });
      if (SATURATES) expect(full).toBeGreaterThan(1e-3);
      else expect(full).toBeLessThan(1e-5);
    } finally {
      await run.release();
    }
  });
});

describe('--exclude in every mode', () => {
  const calib = dataset('input', [64, 32], 7);
  for (const raw of [
    { type: 'int8', mode: 'weight-only' },
    { type: 'uint8', mode: 'dynamic', dynamicForm: 'standard' },
    { type: 'int8', mode: 'static' },
    { type: 'fp16' },
    { type: 'int4' },
  ]) {
    it(`${JSON.stringify(raw)}: mm1 keeps its float weight, the rest changes`, async () => {
      const run = makeRunner();
      try {
        const m = buildMlp();
        const { model: q, result } = await quantize(m, { ...raw, exclude: ['mm*'] }, ctxWith({ calibration: calib, run }));
        expect(result.modified).toBe(true);
        const mm1 = q.graph.nodes.find((n) => n.name === 'mm1')!;
        expect(mm1.opType).toBe('MatMul');
        expect(mm1.inputs[1]).toBe('W1');
        const w1 = q.graph.initializers.get('W1')!;
        expect(w1.dtype).toBe(DataType.FLOAT);
        expect(w1.data).toEqual(m.graph.initializers.get('W1')!.data);
        expect(q.graph.initializers.get('W2')?.dtype ?? DataType.UNDEFINED).not.toBe(DataType.FLOAT);
        expect((await compare(m, q, mlpFeeds)).cos).toBeGreaterThan(0.99);
      } finally {
        await run.release();
      }
    });
  }
});

describe('shared (tied) weights', () => {
  it('a weight read by several nodes is quantized once; an embedding table tied to the output layer works', async () => {
    const b = new ModelBuilder({ opset: 17 });
    const ids = b.input('ids', DataType.INT64, ['N']);
    const E = b.init('E', [50, 32], uniform(50 * 32, 1, 1));
    const W = b.init('W', [32, 32], uniform(32 * 32, 0.3, 2));
    const h = b.op('Gather', [E, ids], { axis: 0 }, { name: 'emb' });
    const h2 = b.op('MatMul', [b.op('MatMul', [h, W], {}, { name: 'mm1' }), W], {}, { name: 'mm2' });
    b.output(b.op('Gemm', [h2, E], { transB: 1 }, { name: 'lm' }), DataType.FLOAT, ['N', 50], 'logits');
    const m = b.build();
    const feeds = { ids: { dtype: 'int64', dims: [6], data: BigInt64Array.from([1n, 5n, 9n, 13n, 49n, 0n]) } };
    const calib = { inputs: { ids: { dtype: 'int64', dims: [20], data: BigInt64Array.from({ length: 20 }, (_, i) => BigInt(i * 2)) } }, count: 20 };
    const run = makeRunner();
    try {
      for (const raw of [{ type: 'int8' }, { type: 'int8', mode: 'weight-only' }, { type: 'uint8', dynamicForm: 'standard' }, { type: 'int4', blockSize: 16 }, { type: 'int8', mode: 'static' }]) {
        const { model: q, result } = await quantize(m, { ...raw, minElements: 1 }, ctxWith({ calibration: calib, run }));
        expect(result.skipped, JSON.stringify(raw)).toEqual([]);
        const names = [...q.graph.initializers.keys()];
        expect(names.filter((n) => n.startsWith('W_')).every((n) => !/_1$/.test(n)), names.join(',')).toBe(true);
        expect(names).not.toContain('W');
        expect((await compare(m, q, feeds)).cos).toBeGreaterThan(0.99);
      }
    } finally {
      await run.release();
    }
  });
});

describe('no-op cases', () => {
  it('a model without quantizable nodes is unchanged', async () => {
    const b = new ModelBuilder();
    b.output(b.op('Relu', [b.input('x', DataType.FLOAT, [4])]), DataType.FLOAT, [4]);
    const m = b.build();
    for (const type of ['int8', 'uint8', 'fp16', 'int4']) {
      const { model: q, result } = await quantize(m, { type });
      expect(result.modified).toBe(false);
      expect(result.skipped).toEqual([]);
      expect(q.graph.nodes.map((n) => n.opType)).toEqual(['Relu']);
    }
  });
  it('non-constant, tiny and overridable weights are skipped with reasons', async () => {
    const b = new ModelBuilder();
    const x = b.input('x', DataType.FLOAT, [2, 4]);
    const wIn = b.input('w_in', DataType.FLOAT, [4, 4]);
    const tiny = b.init('tiny', [4, 2], uniform(8, 1, 1));
    const over = b.init('over', [4, 64], uniform(256, 1, 2));
    b.graph.inputs.push({ name: 'over', type: { kind: 'tensor', elemType: DataType.FLOAT, shape: [4, 64] } });
    b.output(b.op('MatMul', [x, wIn], {}, { name: 'dyn' }), DataType.FLOAT);
    b.output(b.op('MatMul', [x, tiny], {}, { name: 'small' }), DataType.FLOAT);
    b.output(b.op('MatMul', [x, over], {}, { name: 'overridable' }), DataType.FLOAT);
    const m = b.build();
    for (const raw of [{ type: 'int8' }, { type: 'int8', mode: 'weight-only' }, { type: 'int4' }]) {
      const { model: q, result } = await quantize(m, raw);
      expect(result.modified).toBe(false);
      const why = Object.fromEntries(result.skipped.map((s) => [s.node, s.reason]));
      expect(why.dyn).toMatch(/not a constant/);
      expect(why.small).toMatch(/tiny/);
      expect(why.overridable).toMatch(/not a constant/);
      expect(opCounts(q)).toEqual({ MatMul: 3 });
    }
  });
});

describe('weight-only int8 / uint8', () => {
  it('weights become int8 + DequantizeLinear (MatMul) or Cast → Mul (Gemm), per channel; compute stays float', async () => {
    const m = buildMlp();
    const { model: q, result } = await quantize(m, { type: 'int8', mode: 'weight-only' });
    const c = opCounts(q);
    expect([c.DequantizeLinear, c.Cast, c.Mul]).toEqual([2, 1, 1]);
    expect(c.MatMul).toBe(2);
    expect(c.Gemm).toBe(1);
    const dqW1 = q.graph.producer('W1')!;
    expect(dqW1.opType).toBe('DequantizeLinear');
    expect(attrInt(dqW1, 'axis', -99)).toBe(1); // MatMul: output channels on axis 1
    expect(q.graph.initializers.get(dqW1.inputs[0])!.dtype).toBe(DataType.INT8);
    const mulW2 = q.graph.producer('W2')!;
    expect(mulW2.opType).toBe('Mul');
    expect(q.graph.initializers.get(mulW2.inputs[1])!.dims).toEqual([16, 1]); // Gemm transB: channels on axis 0
    expect(result.stats.weightRatio).toBeLessThan(0.3);
    expect((await compare(m, q, mlpFeeds)).cos).toBeGreaterThan(0.999);
  });
  it('uint8, and per-tensor below opset 13', async () => {
    const m = buildMlp({ opset: 11 });
    const { model: q, result } = await quantize(m, { type: 'uint8', mode: 'weight-only' });
    for (const n of q.graph.nodes.filter((x) => x.opType === 'DequantizeLinear')) {
      expect(n.attributes.find((a) => a.name === 'axis')).toBeUndefined();
      expect(q.graph.initializers.get(n.inputs[0])!.dtype).toBe(DataType.UINT8);
    }
    expect(result.stats['perTensorFallback(opset<13)']).toBe(2); // the MatMuls; Gemm's Cast → Mul stays per channel
    expect((await compare(m, q, mlpFeeds)).cos).toBeGreaterThan(0.999);
  });
  it('embedding Gather reads the int8 table and dequantizes only the gathered rows', async () => {
    const m = buildEncoder({ hidden: 32, heads: 2, ffn: 64, layers: 1, seq: 8, vocab: 50 });
    const ids = { input_ids: { dtype: 'int64', dims: [2, 8], data: BigInt64Array.from({ length: 16 }, (_, i) => BigInt((i * 7) % 50)) } };
    for (const mode of ['weight-only', 'dynamic']) {
      const { model: q } = await quantize(m, { type: 'int8', mode });
      const gather = q.graph.nodes.find((n) => n.opType === 'Gather')!;
      expect(q.graph.initializers.get(gather.inputs[0])!.dtype).toBe(DataType.INT8);
      const dq = q.graph.consumers(gather.outputs[0]);
      expect(dq.map((n) => n.opType)).toEqual(['DequantizeLinear']);
      expect(attrInt(dq[0], 'axis', 0)).toBe(-1);
      expect(q.graph.initializers.has('embeddings.word_embeddings.weight')).toBe(false);
      expect((await compare(m, q, ids)).cos).toBeGreaterThan(0.999);
    }
  });
  it('Conv and Gemm weights dequantize with Cast → Mul (folded by onnxruntime at load), per output channel', async () => {
    const m = buildCnn();
    const feeds = { input: { dtype: 'float', dims: [4, 1, 8, 8], data: uniform(4 * 64, 1, 31) } };
    for (const type of ['int8', 'uint8']) {
      const { model: q } = await quantize(m, { type, mode: 'weight-only', minElements: 1 });
      const c = opCounts(q);
      expect([c.Cast, c.Mul, c.Sub ?? 0, c.DequantizeLinear ?? 0]).toEqual([3, 3, type === 'uint8' ? 3 : 0, 0]); // 2 Conv + Gemm
      const mul = q.graph.producer('conv2.weight')!;
      expect(mul.opType).toBe('Mul');
      expect(q.graph.initializers.get(mul.inputs[1])!.dims).toEqual([8, 1, 1, 1]);
      expect(q.graph.initializers.get('conv2.weight_quantized')!.dtype).toBe(type === 'int8' ? DataType.INT8 : DataType.UINT8);
      expect((await compare(m, q, feeds)).cos).toBeGreaterThan(0.999);
    }
  });
  it('a weight from a Constant node and degenerate (all-zero) channels', async () => {
    const b = new ModelBuilder();
    const x = b.input('x', DataType.FLOAT, [3, 16]);
    const w = uniform(16 * 16, 1, 4);
    for (let k = 0; k < 16; k++) w[k * 16 + 5] = 0; // all-zero output channel
    const wc = b.op('Constant', [], { value: Tensor.float32('wval', [16, 16], w) }, { name: 'wconst' });
    b.output(b.op('MatMul', [x, wc], {}, { name: 'mm' }), DataType.FLOAT, [3, 16]);
    const m = b.build();
    const feeds = { x: { dtype: 'float', dims: [3, 16], data: uniform(48, 1, 5) } };
    for (const mode of ['weight-only', 'dynamic']) {
      const { model: q, result } = await quantize(m, { type: 'int8', mode });
      expect(result.modified).toBe(true);
      expect(opCounts(q).Constant ?? 0).toBe(0);
      // the all-zero channel gets the guarded scale 1 and exact zeros (no NaN / Inf)
      const scales = [...q.graph.initializers.values()].find((t) => t.dtype === DataType.FLOAT && t.dims[0] === 16)!;
      expect((scales.data as Float32Array)[5]).toBe(1);
      const [a] = await runModel(q, feeds);
      expect(a.every(Number.isFinite)).toBe(true);
      // onnxruntime may run DQ + MatMul with 8-bit activations at level 'all': near zero, not exactly
      for (let r = 0; r < 3; r++) expect(Math.abs(a[r * 16 + 5]), mode).toBeLessThan(1e-3);
      expect((await compare(m, q, feeds)).cos).toBeGreaterThan(0.999);
    }
  });
});

describe('fp16', () => {
  it('stores float weights as float16 with a Cast back; interface stays float32', async () => {
    const m = buildMlp();
    const { model: q, result } = await quantize(m, { type: 'fp16', minElements: 1 });
    expect(opCounts(q).Cast).toBe(5);
    for (const t of q.graph.initializers.values()) expect(t.dtype).toBe(DataType.FLOAT16);
    expect(elemTypeOf(q.graph.inputs[0])).toBe(DataType.FLOAT);
    expect(elemTypeOf(q.graph.outputs[0])).toBe(DataType.FLOAT);
    expect(result.stats.weightRatio).toBe(0.5);
    const r = await compare(m, q, mlpFeeds);
    expect(r.cos).toBeGreaterThan(0.99999);
  });
  it('keeps tiny tensors and out-of-range values float32, with the reason', async () => {
    const b = new ModelBuilder();
    const x = b.input('x', DataType.FLOAT, [256]);
    const big = new Float32Array(256).fill(1);
    big[3] = 1e6;
    b.output(b.op('Add', [b.op('Mul', [x, b.init('big', [256], big)]), b.init('eps', [], [1e-12])]), DataType.FLOAT, [256]);
    const { model: q, result } = await quantize(b.build(), { type: 'fp16' });
    expect(result.modified).toBe(false);
    expect(result.skipped[0].reason).toMatch(/float16 range/);
    expect(result.stats.tinyKeptFloat).toBe(1);
    expect(q.graph.initializers.get('eps')!.dtype).toBe(DataType.FLOAT);
  });
});

describe('int4 (MatMulNBits)', () => {
  it('embedding tables become GatherBlockQuantized (4-bit rows in blocks, onnxruntime runs them); accuracy level 0 on request', async () => {
    const o = { hidden: 64, heads: 4, ffn: 128, layers: 1, seq: 16, vocab: 300, tokenTypes: 2 };
    const m = buildEncoder(o);
    const tables = m.graph.nodes.filter((n) => n.opType === 'Gather' && m.graph.initializers.get(n.inputs[0])?.dims.length === 2);
    expect(tables.length).toBe(3); // words, positions, token types
    const { model: q, result } = await quantize(m, { type: 'int4', accuracyLevel: 0, minElements: 64 });
    const gbq = q.graph.nodes.filter((n) => n.opType === 'GatherBlockQuantized');
    expect(gbq).toHaveLength(3);
    expect(result.stats.Gather).toBe(3);
    for (const n of gbq) {
      expect(n.domain).toBe('com.microsoft');
      expect([attrInt(n, 'gather_axis', -1), attrInt(n, 'quantize_axis', -1), attrInt(n, 'block_size', 0), attrInt(n, 'bits', 0)]).toEqual([0, 1, 32, 4]);
      const data = q.graph.initializers.get(n.inputs[0])!;
      expect(data.dtype).toBe(DataType.UINT8);
      expect(q.graph.initializers.get(n.inputs[2])!.dims).toEqual([data.dims[0], 2]);
    }
    for (const n of q.graph.nodes.filter((x) => x.opType === 'MatMulNBits')) expect(attrInt(n, 'accuracy_level', -1)).toBe(0);
    // the float tables are gone
    for (const t of tables) expect(q.graph.initializers.has(t.inputs[0])).toBe(false);
    const ids = BigInt64Array.from({ length: 32 }, (_, i) => BigInt((i * 37) % 300));
    const feeds = { input_ids: { dtype: 'int64', dims: [2, 16], data: ids }, token_type_ids: { dtype: 'int64', dims: [2, 16], data: ids.map((v) => v % 2n) } };
    expect((await compare(m, q, feeds)).cos).toBeGreaterThan(0.98);
    // a row length that is not a multiple of the block: left as it is, with the reason
    const { result: r64 } = await quantize(m, { type: 'int4', blockSize: 128, minElements: 64 });
    expect(r64.skipped.find((s) => /not a multiple of the block size 128/.test(s.reason))).toBeDefined();
  });
  it('encoder MatMuls become MatMulNBits with ≤ 0.16× the weight bytes; with the scale search ≤ 0.161× (a 4-bit zero point per block of 32)', async () => {
    const m = buildEncoder({ hidden: 64, heads: 4, ffn: 128, layers: 2, seq: 16 });
    const { model: q, result } = await quantize(m, { type: 'int4' });
    const nb = q.graph.nodes.filter((n) => n.opType === 'MatMulNBits');
    expect(nb).toHaveLength(12);
    for (const n of nb) {
      expect(n.domain).toBe('com.microsoft');
      expect(attrInt(n, 'bits', 0)).toBe(4);
      expect(attrInt(n, 'block_size', 0)).toBe(32);
      const K = attrInt(n, 'K', 0);
      const N = attrInt(n, 'N', 0);
      expect(q.graph.initializers.get(n.inputs[1])!.dims).toEqual([N, Math.ceil(K / 32), 16]);
    }
    expect(result.stats.weightRatio).toBeLessThanOrEqual(0.16);
    // the default (onnxruntime's blocks) has no zero points; the scale search writes them
    for (const n of nb) expect(n.inputs).toHaveLength(3);
    const feeds = { input: { dtype: 'float', dims: [1, 16, 64], data: uniform(16 * 64, 1.7, 8) } };
    expect((await compare(m, q, feeds)).cos).toBeGreaterThan(0.99);
    const { model: qs, result: rs } = await quantize(m, { type: 'int4', int4Scales: 'search' });
    for (const n of qs.graph.nodes.filter((x) => x.opType === 'MatMulNBits')) expect(n.inputs).toHaveLength(4);
    expect(rs.stats.weightRatio).toBeLessThanOrEqual(0.161);
    expect((await compare(m, qs, feeds)).cos).toBeGreaterThan(0.99);
  });
  it('int4Target: the MatMuls whose 4-bit error costs most on the calibration data stay at 8 bits until the target is reached', async () => {
    const o = { hidden: 64, heads: 4, ffn: 256, layers: 3, seq: 16, seed: 5 };
    const m = buildEncoder(o);
    const calib = dataset('input', [4, 16, 64], 31, 1.7);
    const feeds = { input: { dtype: 'float', dims: [2, 16, 64], data: uniform(2 * 16 * 64, 1.7, 32) } };
    const run = makeRunner();
    try {
      const { model: all4 } = await quantize(m, { type: 'int4' });
      const loss4 = 1 - (await compare(m, all4, feeds)).cos;
      // a target above what 4 bits give everywhere
      const target = 1 - loss4 / 3;
      const { model: q, result } = await quantize(m, { type: 'int4', int4Scales: 'search', int4Target: target }, ctxWith({ calibration: calib, run }));
      const nb = q.graph.nodes.filter((n) => n.opType === 'MatMulNBits');
      expect(nb).toHaveLength(18);
      const eight = nb.filter((n) => attrInt(n, 'bits', 0) === 8);
      expect(eight.length).toBe(result.stats.int4EightBit);
      expect(eight.length).toBeGreaterThan(0);
      expect(eight.length).toBeLessThan(18);
      for (const n of eight) {
        const K = attrInt(n, 'K', 0);
        expect(q.graph.initializers.get(n.inputs[1])!.dims).toEqual([attrInt(n, 'N', 0), Math.ceil(K / 32), 32]);
        expect(n.inputs).toHaveLength(3); // symmetric, default zero point 128
      }
      const probe = (result.details as { probeCosine?: number }[]).find((d) => d.probeCosine !== undefined)!;
      expect(probe.probeCosine).toBeGreaterThanOrEqual(target);
      // on other inputs the loss is far below the all-4-bit one too
      expect(1 - (await compare(m, q, feeds)).cos).toBeLessThan(loss4 / 2);
      // without a runtime, or without data and made-up inputs: a warning, everything at 4 bits
      for (const [extra, why] of [[{}, /no runtime/], [{ run }, /no calibration data/]] as const) {
        const warnings: string[] = [];
        const { model: q4 } = await quantize(m, { type: 'int4', int4Target: target }, ctxWith({ ...extra, log: { info() {}, debug() {}, warn: (w) => warnings.push(w) } }));
        expect(q4.graph.nodes.filter((n) => n.opType === 'MatMulNBits' && attrInt(n, 'bits', 0) === 8)).toHaveLength(0);
        expect(warnings.join('\n')).toMatch(why);
      }
    } finally {
      await run.release();
    }
  });
  it('the default target without calibration data: made-up inputs (ctx.madeUpData), 8-bit blocks in place of the 4-bit ones in the bytes and the details', async () => {
    const m = buildEncoder({ hidden: 64, heads: 4, ffn: 256, layers: 3, seq: 16, seed: 5 });
    const feeds = { input: { dtype: 'float', dims: [2, 16, 64], data: uniform(2 * 16 * 64, 1.7, 33) } };
    const { compress } = await import('../../src/index.js');
    // (made-up float inputs are uniform in [0, 1): 4 bits cost this encoder little there)
    const target = 0.99999;
    const r = await compress(m, [{ pass: 'quantize', options: { type: 'int4', int4Target: target } }], { check: false, passThreads: 1 });
    const q = r.model;
    const { stats, details = [] } = r.passes[0];
    const nb = q.graph.nodes.filter((n) => n.opType === 'MatMulNBits');
    const eight = nb.filter((n) => attrInt(n, 'bits', 0) === 8);
    expect(eight.length).toBe(stats.int4EightBit);
    expect(eight.length).toBeGreaterThan(0);
    const probe = details.find((d) => d.int4Target !== undefined) as { probe: string; probeCosine: number; allFourBitCosine: number };
    expect(probe.probe).toBe('made-up');
    expect(probe.probeCosine).toBeGreaterThanOrEqual(target);
    expect(probe.allFourBitCosine).toBeLessThan(target);
    // what the report counts is what the file holds: one details line and its bytes per packed weight
    const held = new Set(nb.flatMap((n) => n.inputs.slice(1)));
    const bytes = [...held].reduce((a, n) => a + q.graph.initializers.get(n)!.byteLength, 0);
    expect(stats.weightBytesAfter).toBe(bytes);
    const formats = details.filter((d) => d.format !== undefined).map((d) => d.format);
    expect(formats.filter((f) => f === 'int8 blocks')).toHaveLength(eight.length);
    expect(formats.filter((f) => f === 'int4')).toHaveLength(nb.length - eight.length);
    expect([...q.graph.initializers.keys()].filter((n) => /_Q4$/.test(n))).toHaveLength(nb.length - eight.length);
    // --int4-target 0: every MatMul 4-bit, no model run
    const plain = await compress(m, [{ pass: 'quantize', options: { type: 'int4', int4Target: 0 } }], { check: false });
    expect(plain.passes[0].stats.int4EightBit).toBe(0);
    expect(plain.passes[0].stats.int4ProbeRuns).toBeUndefined();
    expect((await compare(m, q, feeds)).cos).toBeGreaterThan((await compare(m, plain.model, feeds)).cos);
  });
  it('MLP incl. Gemm transB with bias; asymmetric and block 16 variants', async () => {
    const m = buildMlp();
    for (const raw of [{ type: 'int4' }, { type: 'int4', int4Asymmetric: true, blockSize: 16 }]) {
      const { model: q } = await quantize(m, raw);
      expect(opCounts(q).MatMulNBits).toBe(3);
      for (const n of q.graph.nodes.filter((x) => x.opType === 'MatMulNBits')) expect(attrInt(n, 'accuracy_level', -1)).toBe(4);
      expect(opCounts(q).Gemm ?? 0).toBe(0);
      const r = await compare(m, q, mlpFeeds);
      expect(r.cos).toBeGreaterThan(0.99);
    }
  });
});

describe('static int8 (QDQ)', () => {
  const calib = dataset('input', [32, 1, 8, 8], 21);
  const feeds = { input: { dtype: 'float', dims: [8, 1, 8, 8], data: uniform(8 * 64, 1, 22) } };

  it('needs calibration data', async () => {
    await expect(quantize(buildCnn(), { type: 'int8', mode: 'static' })).rejects.toMatchObject({ code: 'USAGE' });
  });

  it('below opset 13 (PaddleOCR exports at 11): per-channel weights and int32 biases through com.microsoft DequantizeLinear, still fused into QLinearConv', async () => {
    const m = buildCnn();
    m.opsetImports = m.opsetImports.map((o) => (o.domain === '' ? { ...o, version: 11 } : o));
    const run = makeRunner();
    try {
      const { model: q, result } = await quantize(m, { type: 'int8', mode: 'static', minElements: 1 }, ctxWith({ calibration: calib, run }));
      expect(result.stats['perTensorFallback(opset<13)']).toBeUndefined();
      expect(result.stats.biasKeptFloat).toBeUndefined();
      const conv2 = q.graph.nodes.find((n) => n.name === 'conv2')!;
      for (const i of [1, 2]) {
        const dq = q.graph.producer(conv2.inputs[i])!;
        expect([dq.opType, dq.domain, attrInt(dq, 'axis', -1)]).toEqual(['DequantizeLinear', 'com.microsoft', 0]);
      }
      expect(q.graph.initializers.get(q.graph.producer(conv2.inputs[1])!.inputs[1])!.dims).toEqual([8]); // a scale per channel
      expect((await compare(m, q, feeds)).cos).toBeGreaterThan(0.99);
    } finally {
      await run.release();
    }
  });

  for (const method of ['minmax', 'percentile', 'entropy']) {
    it(`CNN, ${method}: Q/DQ around Conv and Gemm, ReLU folded, int32 biases, outputs close`, async () => {
      const m = buildCnn();
      const run = makeRunner();
      try {
        const { model: q, result } = await quantize(m, { type: 'int8', mode: 'static', calibrationMethod: method, minElements: 1 }, ctxWith({ calibration: calib, run }));
        expect(result.modified).toBe(true);
        const c = opCounts(q);
        expect(c.Conv).toBe(2);
        expect(c.Gemm).toBe(1);
        expect(c.Relu ?? 0).toBe(0); // both folded into the Conv outputs' Q
        expect(result.stats.reluFolded).toBe(2);
        // activations: input, conv1 out (ReLU range), pool out, conv2 out (ReLU range), flatten out;
        // fc's output is the graph output and stays float
        expect(c.QuantizeLinear).toBe(5);
        expect(q.graph.producer('output')!.opType).toBe('Gemm');
        const conv1 = q.graph.nodes.find((n) => n.name === 'conv1')!;
        const wDq = q.graph.producer(conv1.inputs[1])!;
        const bDq = q.graph.producer(conv1.inputs[2])!;
        const xDq = q.graph.producer(conv1.inputs[0])!;
        expect([xDq.opType, wDq.opType, bDq.opType]).toEqual(['DequantizeLinear', 'DequantizeLinear', 'DequantizeLinear']);
        expect(q.graph.initializers.get(wDq.inputs[0])!.dtype).toBe(DataType.INT8);
        expect(q.graph.initializers.get(bDq.inputs[0])!.dtype).toBe(DataType.INT32);
        expect(q.graph.consumers(conv1.outputs[0]).map((n) => n.opType)).toEqual(['QuantizeLinear']);
        const r = await compare(m, q, feeds);
        expect(r.cos).toBeGreaterThan(0.99);
      } finally {
        await run.release();
      }
    });
  }

  it('MatMul of two activations gets Q/DQ on both inputs; excluded Conv untouched', async () => {
    const run = makeRunner();
    try {
      const m = buildCnn();
      const { model: q, result } = await quantize(m, { type: 'uint8', mode: 'static', exclude: ['conv2'], minElements: 1 }, ctxWith({ calibration: calib, run }));
      expect(result.skipped).toContainEqual({ node: 'conv2', reason: 'excluded' });
      const conv2 = q.graph.nodes.find((n) => n.name === 'conv2')!;
      expect(conv2.inputs[1]).toBe('conv2.weight');
      expect(q.graph.initializers.get('conv2.weight')!.dtype).toBe(DataType.FLOAT);
      expect((await compare(m, q, feeds)).cos).toBeGreaterThan(0.99);

      const e = buildEncoder({ hidden: 32, heads: 2, ffn: 64, layers: 1, seq: 8 });
      const ecal = dataset('input', [16, 8, 32], 5, 1.7);
      const { model: qe } = await quantize(e, { type: 'int8', mode: 'static' }, ctxWith({ calibration: ecal, run }));
      const scores = qe.graph.nodes.find((n) => n.name === '/encoder/layer.0/attention/self/MatMul')!;
      expect(scores.inputs.map((i) => qe.graph.producer(i)!.opType)).toEqual(['DequantizeLinear', 'DequantizeLinear']);
      const ef = { input: { dtype: 'float', dims: [2, 8, 32], data: uniform(2 * 8 * 32, 1.7, 6) } };
      expect((await compare(e, qe, ef)).cos).toBeGreaterThan(0.98);
    } finally {
      await run.release();
    }
  });
});

describe('quantize: what is listed as skipped', () => {
  it('a Gather over computed values (a shape, hidden states) is data movement: not listed; a MatMul of two activations is', async () => {
    const b = new ModelBuilder({ opset: 13 });
    const x = b.input('x', DataType.FLOAT, [4, 8]);
    const dim = b.op('Gather', [b.op('Shape', [x]), b.ints('zero', [0])], { axis: 0 }, { name: 'shape_gather' });
    const rows = b.op('Gather', [x, b.ints('idx', [1, 2])], { axis: 0 }, { name: 'row_gather' });
    const sq = b.op('MatMul', [rows, b.op('Transpose', [rows], { perm: [1, 0] })], {}, { name: 'act_matmul' });
    const y = b.op('MatMul', [x, b.init('w', [8, 8], uniform(64, 1, 5))], {}, { name: 'fc' });
    b.output(dim, DataType.INT64);
    b.output(sq, DataType.FLOAT);
    b.output(y, DataType.FLOAT);
    const m = b.build();
    const r = await quantizePass.run(m, quantizePass.parseOptions({ type: 'int8', minElements: 1 }), ctxWith());
    expect(r.stats?.MatMul).toBe(1);
    const listed = r.skipped.map((s) => s.node);
    expect(listed).toContain('act_matmul');
    expect(listed).not.toContain('shape_gather');
    expect(listed).not.toContain('row_gather');
  });
});
