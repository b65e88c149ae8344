/** Small models and a seeded RNG for the prune tests. */
import { DataType, Model, ModelBuilder } from '../../src/ir/index.js';
import { seededRng } from '../../src/passes/pass.js';

export const rng = (seed = 1): (() => number) => seededRng(seed);

export function randn(n: number, r: () => number, scale = 1): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (r() * 2 - 1) * scale;
  return out;
}

/**
 * MLP: Gemm(transB=1, bias) → Relu → MatMul → Add(bias) → Sigmoid → Gemm(transB=0, bias) → logits.
 * 16 → 12 → 8 → 4.
 */
export function mlp(seed = 1): Model {
  const r = rng(seed);
  const b = new ModelBuilder({ opset: 17 });
  const x = b.input('input', DataType.FLOAT, ['N', 16]);
  const h1 = b.op('Gemm', [x, b.init('w1', [12, 16], randn(192, r)), b.init('b1', [12], randn(12, r))], { transB: 1 }, { name: 'fc1' });
  const a1 = b.op('Relu', [h1], {}, { name: 'relu1' });
  const m2 = b.op('MatMul', [a1, b.init('w2', [12, 8], randn(96, r))], {}, { name: 'fc2' });
  const h2 = b.op('Add', [m2, b.init('b2', [8], randn(8, r))], {}, { name: 'fc2_bias' });
  const a2 = b.op('Sigmoid', [h2], {}, { name: 'sig2' });
  const y = b.op('Gemm', [a2, b.init('w3', [8, 4], randn(32, r)), b.init('b3', [4], randn(4, r))], {}, { name: 'fc3' });
  b.output(y, DataType.FLOAT, ['N', 4], 'logits');
  return b.build();
}

/**
 * CNN: Conv(3x3, bias) → BatchNorm → Relu → MaxPool(2) → Conv(3x3) → Relu → Flatten → Gemm → logits,
 * or with a Reshape [0, -1] / [-1, K] in place of the Flatten.
 * Input [N, 2, 8, 8]; 6 and 5 filters.
 */
export function cnn(seed = 2, flatten: 'flatten' | 'reshape-1' | 'reshapeK' = 'flatten'): Model {
  const r = rng(seed);
  const b = new ModelBuilder({ opset: 17 });
  const x = b.input('input', DataType.FLOAT, ['N', 2, 8, 8]);
  const c1 = b.op('Conv', [x, b.init('cw1', [6, 2, 3, 3], randn(108, r)), b.init('cb1', [6], randn(6, r))], { pads: [1, 1, 1, 1] }, { name: 'conv1' });
  const bn = b.op(
    'BatchNormalization',
    [c1, b.init('bn_s', [6], randn(6, r, 0.5).map((v) => v + 1)), b.init('bn_b', [6], randn(6, r)), b.init('bn_m', [6], randn(6, r)), b.init('bn_v', [6], randn(6, r, 0.4).map((v) => v + 1))],
    {},
    { name: 'bn1' },
  );
  const a1 = b.op('Relu', [bn], {}, { name: 'relu1' });
  const p1 = b.op('MaxPool', [a1], { kernel_shape: [2, 2], strides: [2, 2] }, { name: 'pool1' });
  const c2 = b.op('Conv', [p1, b.init('cw2', [5, 6, 3, 3], randn(270, r))], { pads: [1, 1, 1, 1] }, { name: 'conv2' });
  const a2 = b.op('Relu', [c2], {}, { name: 'relu2' });
  let f: string;
  if (flatten === 'flatten') f = b.op('Flatten', [a2], { axis: 1 }, { name: 'flat' });
  else f = b.op('Reshape', [a2, b.ints('shape', flatten === 'reshape-1' ? [0, -1] : [-1, 80])], {}, { name: 'flat' });
  const y = b.op('Gemm', [f, b.init('fw', [3, 80], randn(240, r)), b.init('fb', [3], randn(3, r))], { transB: 1 }, { name: 'fc' });
  b.output(y, DataType.FLOAT, ['N', 3], 'logits');
  return b.build();
}
