/**
 * Op translation equivalence: each op's tfjs output (cpu and wasm backends) against onnxruntime's
 * on small random inputs, 1e-4. Plus: the wasm-safe Conv gradient equals tfjs's native one, and
 * unsupported ops fail at compile time naming the op and the node.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MlcError } from '../../src/core/errors.js';
import { ModelBuilder } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import type { Model } from '../../src/ir/model.js';
import { AttrType } from '../../src/ir/node.js';
import { Tensor } from '../../src/ir/tensor.js';
import { Tf, useBackend } from '../../src/train/backend.js';
import { GraphExecutor, SUPPORTED_OPS } from '../../src/train/executor.js';
import { Feed, floatFeed, maxAbsDiff, ortRun, randn, tfFeeds, tfRun } from './helpers.js';

const F = DataType.FLOAT;

interface Case {
  name: string;
  make: () => { model: Model; feeds: Record<string, Feed> };
  tol?: number;
}

/** One-op (or few-op) model on input x of `dims`, output y. */
function single(
  opType: string,
  dims: number[],
  extra: (b: ModelBuilder, x: string) => string[] = () => [],
  attrs: Record<string, unknown> = {},
  opts: { opset?: number; domain?: string; types?: Record<string, AttrType>; scale?: number } = {},
) {
  return () => {
    const b = new ModelBuilder({ opset: opts.opset ?? 17, opsets: opts.domain ? [{ domain: '', version: opts.opset ?? 17 }, { domain: opts.domain, version: 1 }] : undefined });
    const x = b.input('x', F, dims.map((d, i) => (i === 0 ? 'N' : d)));
    const y = b.op(opType, [x, ...extra(b, x)], attrs as never, { domain: opts.domain, types: opts.types });
    b.output(y, F, undefined, 'y');
    return { model: b.build(), feeds: { x: floatFeed(dims, 7, opts.scale ?? 1) } };
  };
}

const w = (b: ModelBuilder, name: string, dims: number[], seed = 3, scale = 0.5) =>
  b.init(name, dims, randn(dims.reduce((p, q) => p * q, 1), seed, scale));

const CASES: Case[] = [
  { name: 'Gemm', make: single('Gemm', [3, 5], (b) => [w(b, 'W', [5, 4]), w(b, 'C', [4], 4)]) },
  {
    name: 'Gemm transA transB alpha beta',
    make: single('Gemm', [5, 3], (b) => [w(b, 'W', [4, 5]), w(b, 'C', [3, 4], 4)], { transA: 1, transB: 1, alpha: 0.5, beta: 2 }, { types: { alpha: AttrType.FLOAT, beta: AttrType.FLOAT } }),
  },
  { name: 'MatMul 2-D', make: single('MatMul', [3, 6], (b) => [w(b, 'W', [6, 4])]) },
  { name: 'MatMul 3-D × 2-D', make: single('MatMul', [2, 3, 6], (b) => [w(b, 'W', [6, 4])]) },
  { name: 'MatMul batched broadcast', make: single('MatMul', [2, 3, 6], (b) => [w(b, 'W', [1, 6, 4])]) },
  { name: 'Add broadcast', make: single('Add', [2, 3, 4], (b) => [w(b, 'B', [3, 1])]) },
  { name: 'Sub', make: single('Sub', [2, 4], (b) => [w(b, 'B', [4])]) },
  { name: 'Mul', make: single('Mul', [2, 4], (b) => [w(b, 'B', [2, 4])]) },
  { name: 'Div', make: single('Div', [2, 4], (b) => [b.init('B', [4], [1.5, -2, 3, 0.5])]) },
  { name: 'Pow 2', make: single('Pow', [2, 4], (b) => [b.init('e', [], [2])]) },
  { name: 'Relu', make: single('Relu', [3, 7]) },
  { name: 'LeakyRelu', make: single('LeakyRelu', [3, 7], undefined, { alpha: 0.2 }, { types: { alpha: AttrType.FLOAT } }) },
  { name: 'Sigmoid', make: single('Sigmoid', [3, 7]) },
  { name: 'Tanh', make: single('Tanh', [3, 7]) },
  { name: 'Erf', make: single('Erf', [3, 7]) },
  { name: 'Exp', make: single('Exp', [3, 7]) },
  { name: 'Abs', make: single('Abs', [3, 7]) },
  { name: 'HardSigmoid', make: single('HardSigmoid', [3, 7]) },
  { name: 'Softplus', make: single('Softplus', [3, 7]) },
  { name: 'Elu', make: single('Elu', [3, 7]) },
  { name: 'Clip', make: single('Clip', [3, 7], (b) => [b.init('lo', [], [-0.5]), b.init('hi', [], [0.7])]) },
  { name: 'Gelu exact (opset 20)', make: single('Gelu', [3, 7], undefined, {}, { opset: 20 }) },
  { name: 'Gelu tanh (opset 20)', make: single('Gelu', [3, 7], undefined, { approximate: 'tanh' }, { opset: 20 }) },
  { name: 'com.microsoft Gelu', make: single('Gelu', [3, 7], undefined, {}, { domain: 'com.microsoft' }) },
  { name: 'Softmax', make: single('Softmax', [3, 7]) },
  { name: 'Softmax axis 1 of 3-D', make: single('Softmax', [2, 4, 3], undefined, { axis: 1 }) },
  { name: 'Softmax opset 11 (coerced 2-D)', make: single('Softmax', [2, 4, 3], undefined, { axis: 1 }, { opset: 11 }) },
  { name: 'LogSoftmax', make: single('LogSoftmax', [3, 7]) },
  { name: 'Identity', make: single('Identity', [3, 7]) },
  { name: 'Dropout', make: single('Dropout', [3, 7]) },
  { name: 'Flatten', make: single('Flatten', [2, 3, 4, 5]) },
  { name: 'Flatten axis 2', make: single('Flatten', [2, 3, 4, 5], undefined, { axis: 2 }) },
  { name: 'Reshape 0 and -1', make: single('Reshape', [2, 3, 4], (b) => [b.ints('shape', [0, -1, 2])]) },
  { name: 'Transpose', make: single('Transpose', [2, 3, 4], undefined, { perm: [2, 0, 1] }) },
  { name: 'Concat', make: single('Concat', [2, 3], (b) => [w(b, 'K', [2, 5])], { axis: 1 }) },
  { name: 'Unsqueeze', make: single('Unsqueeze', [2, 3], (b) => [b.ints('axes', [0, -1])]) },
  { name: 'Squeeze', make: single('Squeeze', [2, 1, 3], (b) => [b.ints('axes', [1])]) },
  { name: 'Slice', make: single('Slice', [4, 6], (b) => [b.ints('s', [1, -5]), b.ints('e', [3, 100]), b.ints('a', [0, 1]), b.ints('st', [1, 2])]) },
  { name: 'Slice negative step', make: single('Slice', [4, 6], (b) => [b.ints('s', [-1]), b.ints('e', [-100]), b.ints('a', [1]), b.ints('st', [-2])]) },
  { name: 'Pad constant', make: single('Pad', [2, 3], (b) => [b.ints('p', [0, 1, 1, 2]), b.init('v', [], [0.5])]) },
  { name: 'ReduceMean', make: single('ReduceMean', [2, 3, 4], undefined, { axes: [1], keepdims: 1 }) },
  { name: 'ReduceSum', make: single('ReduceSum', [2, 3, 4], (b) => [b.ints('ax', [2])], { keepdims: 0 }) },
  { name: 'Gather', make: single('Gather', [5, 3], (b) => [b.ints('idx', [4, 0, -1])]) },
  { name: 'Tile', make: single('Tile', [2, 3], (b) => [b.ints('r', [2, 1])]) },
  { name: 'Expand', make: single('Expand', [1, 3], (b) => [b.ints('s', [4, 1])]) },
  {
    name: 'Range (position ids from Shape, as GPT-2 exports write them)',
    make: () => {
      const b = new ModelBuilder({ opset: 17 });
      const x = b.input('x', F, ['N', 6]);
      const len = b.op('Gather', [b.op('Shape', [x]), b.init('one', [], [1], DataType.INT64)], { axis: 0 });
      const r = b.op('Range', [b.init('zero', [], [0], DataType.INT64), len, b.init('step', [], [2], DataType.INT64)]);
      const pos = b.op('Cast', [r], { to: DataType.FLOAT });
      const f = b.op('Range', [b.init('f0', [], [0.5]), b.init('f1', [], [2]), b.init('fd', [], [0.5])]);
      const y = b.op('Add', [b.op('Mul', [x, b.op('Concat', [pos, f], { axis: 0 })]), b.init('c', [6], [1, 2, 3, 4, 5, 6])]);
      b.output(y, F, undefined, 'y');
      return { model: b.build(), feeds: { x: floatFeed([3, 6], 7, 1) } };
    },
  },
  { name: 'PRelu', make: single('PRelu', [2, 3, 4, 4], (b) => [w(b, 'slope', [3, 1, 1])]) },
  { name: 'LayerNormalization', make: single('LayerNormalization', [2, 3, 8], (b) => [w(b, 'g', [8]), w(b, 'bb', [8], 5)]) },
  { name: 'BatchNormalization 2-D', make: single('BatchNormalization', [4, 3], (b) => [w(b, 's', [3]), w(b, 'bb', [3], 5), w(b, 'm', [3], 6), b.init('v', [3], [0.5, 1, 2])]) },
  { name: 'Conv', make: single('Conv', [2, 3, 7, 7], (b) => [w(b, 'W', [4, 3, 3, 3]), w(b, 'B', [4], 4)]) },
  { name: 'Conv stride 2 pads', make: single('Conv', [2, 3, 8, 7], (b) => [w(b, 'W', [4, 3, 3, 2])], { strides: [2, 2], pads: [1, 0, 2, 1] }) },
  { name: 'Conv SAME_UPPER', make: single('Conv', [1, 2, 7, 6], (b) => [w(b, 'W', [3, 2, 3, 3])], { auto_pad: 'SAME_UPPER', strides: [2, 2] }) },
  { name: 'Conv dilation 2', make: single('Conv', [1, 2, 9, 9], (b) => [w(b, 'W', [3, 2, 3, 3])], { dilations: [2, 2], pads: [1, 1, 1, 1] }) },
  { name: 'Conv group 2', make: single('Conv', [2, 4, 6, 6], (b) => [w(b, 'W', [6, 2, 3, 3]), w(b, 'B', [6], 4)], { group: 2 }) },
  { name: 'Conv depthwise', make: single('Conv', [2, 3, 6, 6], (b) => [w(b, 'W', [6, 1, 3, 3])], { group: 3, pads: [1, 1, 1, 1] }) },
  { name: 'Conv 1-D', make: single('Conv', [2, 3, 9], (b) => [w(b, 'W', [4, 3, 3]), w(b, 'B', [4], 4)], { pads: [1, 1], strides: [2] }) },
  { name: 'MaxPool', make: single('MaxPool', [2, 3, 6, 6], undefined, { kernel_shape: [2, 2], strides: [2, 2] }) },
  { name: 'MaxPool pads ceil', make: single('MaxPool', [1, 2, 7, 7], undefined, { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], ceil_mode: 1 }) },
  { name: 'AveragePool', make: single('AveragePool', [2, 3, 6, 6], undefined, { kernel_shape: [3, 3], strides: [1, 1] }) },
  { name: 'AveragePool pads exclude', make: single('AveragePool', [1, 2, 5, 5], undefined, { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] }) },
  { name: 'AveragePool pads include', make: single('AveragePool', [1, 2, 5, 5], undefined, { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], count_include_pad: 1 }) },
  { name: 'GlobalAveragePool', make: single('GlobalAveragePool', [2, 3, 4, 5]) },
  {
    name: 'Constant',
    make: () => {
      const b = new ModelBuilder({ opset: 17 });
      const x = b.input('x', F, ['N', 3]);
      const c = b.op('Constant', [], { value: Tensor.float32('c', [3], [1, -2, 0.5]) });
      b.output(b.op('Mul', [x, c]), F, undefined, 'y');
      return { model: b.build(), feeds: { x: floatFeed([2, 3]) } };
    },
  },
  {
    name: 'Shape → Gather → Unsqueeze → Concat → Reshape',
    make: () => {
      const b = new ModelBuilder({ opset: 17 });
      const x = b.input('x', F, ['N', 3, 4]);
      const s = b.op('Shape', [x]);
      const n = b.op('Gather', [s, b.ints('zero', [0])], { axis: 0 });
      const shape = b.op('Concat', [n, b.ints('rest', [-1])], { axis: 0 });
      b.output(b.op('Reshape', [x, shape]), F, undefined, 'y');
      return { model: b.build(), feeds: { x: floatFeed([2, 3, 4]) } };
    },
  },
  {
    name: 'Split',
    make: () => {
      const b = new ModelBuilder({ opset: 17 });
      const x = b.input('x', F, ['N', 6]);
      const [p, q] = b.opN('Split', [x, b.ints('sp', [2, 4])], { axis: 1 }, { outputs: 2 });
      b.output(b.op('ReduceSum', [q, b.ints('ax', [1])]), F, undefined, 'y');
      b.output(p, F, undefined, 'p');
      return { model: b.build(), feeds: { x: floatFeed([3, 6]) } };
    },
  },
  {
    name: 'CNN chain (NHWC path): Conv BN Relu MaxPool Conv residual Add Concat GAP Flatten Gemm Softmax',
    make: () => {
      const b = new ModelBuilder({ opset: 17 });
      const x = b.input('x', F, ['N', 784]);
      const img = b.op('Reshape', [x, b.ints('shape', [-1, 1, 28, 28])]);
      let h = b.op('Conv', [img, w(b, 'c1', [4, 1, 3, 3]), w(b, 'c1b', [4])], { pads: [1, 1, 1, 1] });
      h = b.op('BatchNormalization', [h, w(b, 's', [4], 8), w(b, 'bb', [4], 9), w(b, 'm', [4], 10, 0.1), b.init('v', [4], [1, 0.5, 2, 1.5])]);
      h = b.op('Relu', [h]);
      h = b.op('MaxPool', [h], { kernel_shape: [2, 2], strides: [2, 2] });
      const r = b.op('Conv', [h, w(b, 'c2', [4, 4, 3, 3], 11, 0.3)], { pads: [1, 1, 1, 1] });
      h = b.op('Add', [h, b.op('Relu', [r])]);
      h = b.op('Mul', [h, w(b, 'chscale', [4, 1, 1], 12)]);
      h = b.op('Concat', [h, b.op('Sigmoid', [h])], { axis: 1 });
      const g = b.op('GlobalAveragePool', [h]);
      const f = b.op('Flatten', [h]);
      const logits = b.op('Gemm', [f, w(b, 'fc', [8 * 14 * 14, 10], 13, 0.05), w(b, 'fcb', [10])]);
      const gf = b.op('Flatten', [g]);
      b.output(b.op('Softmax', [logits]), F, undefined, 'y');
      b.output(gf, F, undefined, 'g');
      return { model: b.build(), feeds: { x: floatFeed([3, 784]) } };
    },
  },
];

describe.each(['cpu', 'wasm'] as const)('executor vs onnxruntime on %s', (backend) => {
  let tf: Tf;
  beforeAll(async () => {
    tf = (await useBackend(backend)).tf;
  });

  it.each(CASES.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const { model, feeds } = c.make();
    const want = await ortRun(model, feeds);
    const got = tfRun(tf, model, feeds);
    expect(got.length).toBe(want.length);
    for (let i = 0; i < want.length; i++) {
      expect(got[i].dims).toEqual(want[i].dims);
      expect(maxAbsDiff(got[i].data, want[i].data)).toBeLessThan(c.tol ?? 1e-4);
    }
  });
});

describe('conv gradients without Conv2DBackpropFilter', () => {
  let tf: Tf;
  beforeAll(async () => {
    tf = (await useBackend('cpu')).tf;
  });
  afterAll(() => undefined);

  const convCases: [string, Record<string, unknown>, number[], number[]][] = [
    ['stride 1 pads', { pads: [1, 1, 1, 1] }, [2, 3, 7, 7], [4, 3, 3, 3]],
    ['stride 2', { strides: [2, 2], pads: [0, 1, 1, 0] }, [2, 3, 8, 7], [4, 3, 3, 2]],
    ['group 2', { group: 2 }, [2, 4, 6, 6], [6, 2, 3, 3]],
    ['depthwise', { group: 3, pads: [1, 1, 1, 1] }, [2, 3, 6, 6], [3, 1, 3, 3]],
  ];

  it.each(convCases)('%s: custom gradient equals tfjs native gradient', (_n, attrs, xd, wd) => {
    const b = new ModelBuilder({ opset: 17 });
    const x = b.input('x', F, ['N', ...xd.slice(1)]);
    const y = b.op('Conv', [x, w(b, 'W', wd), w(b, 'B', [wd[0]], 4)], attrs as never);
    b.output(y, F, undefined, 'y');
    const model = b.build();
    const feed = { x: floatFeed(xd) };
    const grads = (native: boolean) => {
      const e = new GraphExecutor(tf, model, { nativeConvFilterGrad: native });
      try {
        const inputs = tfFeeds(tf, feed);
        const size = tf.tidy(() => e.run(inputs)[0].size);
        const target = tf.tensor(randn(size, 9));
        const vars = [...e.variables.values()];
        const { grads: g } = tf.variableGrads(() => tf.sum(tf.mul(tf.reshape(e.run(inputs)[0], [-1]), target)) as never, vars);
        const out: Record<string, number[]> = {};
        for (const [k, v] of e.variables) out[k] = Array.from(g[v.name].dataSync());
        return out;
      } finally {
        e.dispose();
      }
    };
    const a = grads(true);
    const c = grads(false);
    expect(Object.keys(a).sort()).toEqual(['B', 'W']);
    for (const k of Object.keys(a)) expect(maxAbsDiff(a[k], c[k])).toBeLessThan(1e-3);
  });

  it('dilated conv: gradient equals the native gradient of the zero-inserted kernel', () => {
    const wd = [3, 2, 3, 3];
    const b = new ModelBuilder({ opset: 17 });
    const x = b.input('x', F, ['N', 2, 9, 9]);
    b.output(b.op('Conv', [x, w(b, 'W', wd)], { dilations: [2, 2], pads: [1, 2, 1, 0] }), F, undefined, 'y');
    const model = b.build();
    const xs = tfFeeds(tf, { x: floatFeed([2, 2, 9, 9]) }).x;
    const e = new GraphExecutor(tf, model);
    const W = e.variables.get('W')!;
    const size = tf.tidy(() => e.run({ x: xs })[0].size);
    const target = tf.tensor(randn(size, 9));
    const got = tf.variableGrads(() => tf.sum(tf.mul(tf.reshape(e.run({ x: xs })[0], [-1]), target)) as never, [W]).grads[W.name];
    // reference: kernel with zeros inserted (5×5), stride-1 conv, native gradient
    const dilate = (k: ReturnType<Tf['tensor']>) => {
      // [Co, Ci, 3, 3] → [Co, Ci, 5, 5] with zeros between taps
      const z = tf.stack([k, tf.zerosLike(k)], 3).reshape([3, 2, 6, 3]).slice([0, 0, 0, 0], [3, 2, 5, 3]);
      return tf.stack([z, tf.zerosLike(z)], 4).reshape([3, 2, 5, 6]).slice([0, 0, 0, 0], [3, 2, 5, 5]);
    };
    const xp = tf.transpose(tf.pad(xs, [[0, 0], [0, 0], [1, 1], [2, 0]]), [0, 2, 3, 1]);
    const ref = tf.grad((k: ReturnType<Tf['tensor']>) => {
      const y = tf.conv2d(xp as never, tf.transpose(dilate(k), [2, 3, 1, 0]) as never, 1, 'valid');
      return tf.sum(tf.mul(tf.reshape(tf.transpose(y, [0, 3, 1, 2]), [-1]), target));
    })(tf.tensor(W.dataSync(), W.shape));
    expect(maxAbsDiff(got.dataSync(), ref.dataSync())).toBeLessThan(1e-3);
    e.dispose();
  });
});

describe('compile errors', () => {
  it('names the unsupported op and node', async () => {
    const { tf } = await useBackend('cpu');
    const b = new ModelBuilder({ opset: 17 });
    const x = b.input('x', F, ['N', 3]);
    b.output(b.op('TopK', [x, b.ints('k', [1])], {}, { name: 'my_topk', outputs: 2 }), F, undefined, 'y');
    const m = b.build();
    let err: unknown;
    try {
      new GraphExecutor(tf, m);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(MlcError);
    expect((err as MlcError).code).toBe('UNSUPPORTED');
    expect((err as Error).message).toContain("'my_topk'");
    expect((err as Error).message).toContain('TopK');
  });

  it('documents the required op set', () => {
    for (const op of [
      'Gemm', 'MatMul', 'Add', 'Sub', 'Mul', 'Div', 'Relu', 'LeakyRelu', 'Sigmoid', 'Tanh', 'Softmax', 'Conv', 'MaxPool',
      'AveragePool', 'GlobalAveragePool', 'BatchNormalization', 'Flatten', 'Reshape', 'Transpose', 'Concat', 'Identity',
      'Dropout', 'Erf', 'Gelu', 'LayerNormalization', 'Constant',
    ]) {
      expect(SUPPORTED_OPS).toContain(op);
    }
  });

  it('makes float weights trainable and leaves scalars, ints and BN statistics constant', async () => {
    const { tf } = await useBackend('cpu');
    const b = new ModelBuilder({ opset: 17 });
    const x = b.input('x', F, ['N', 3, 2, 2]);
    let h = b.op('BatchNormalization', [x, w(b, 's', [3]), w(b, 'bb', [3]), w(b, 'm', [3]), b.init('v', [3], [1, 1, 1])]);
    h = b.op('Mul', [h, b.init('half', [], [0.5])]);
    h = b.op('Reshape', [h, b.ints('shape', [0, -1])]);
    b.output(b.op('MatMul', [h, w(b, 'W', [12, 2])]), F, undefined, 'y');
    const e = new GraphExecutor(tf, b.build());
    expect(e.trainableNames.sort()).toEqual(['W', 'bb', 's']);
    e.dispose();
  });
});
