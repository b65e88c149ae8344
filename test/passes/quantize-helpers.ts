/** Small models and helpers shared by the quantize tests. */
import { DataType } from '../../src/ir/dtype.js';
import { ModelBuilder } from '../../src/ir/builder.js';
import type { Model } from '../../src/ir/model.js';
import { cosine } from '../../src/math/stats.js';
import { seededRng, silentLogger, type Dataset, type PassContext } from '../../src/passes/pass.js';
import { quantizePass } from '../../src/passes/quantize.js';
import { int8Saturates } from '../../src/runtime/cpu.js';
import { createSession, type Feed } from '../../src/runtime/index.js';
import { cloneModel } from '../../src/ir/clone.js';

export function uniform(n: number, scale: number, seed: number): Float32Array {
  const r = seededRng(seed);
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = (r() * 2 - 1) * scale;
  return a;
}

/**
 * input [N, 32] → MatMul(W1 [32, 64]) + b1 → Relu → Gemm(W2 [16, 64], transB, C [16]) → Relu →
 * MatMul(W3 [16, 8]) → output [N, 8]. Node names mm1, add1, gemm, mm3.
 */
export function buildMlp(opts: { opset?: number } = {}): Model {
  const b = new ModelBuilder({ opset: opts.opset ?? 17 });
  const x = b.input('input', DataType.FLOAT, ['N', 32]);
  const w1 = b.init('W1', [32, 64], uniform(32 * 64, Math.sqrt(3 / 32), 1));
  const b1 = b.init('b1', [64], uniform(64, 0.1, 2));
  const h1 = b.op('Relu', [b.op('Add', [b.op('MatMul', [x, w1], {}, { name: 'mm1' }), b1], {}, { name: 'add1' })], {}, { name: 'relu1' });
  const w2 = b.init('W2', [16, 64], uniform(16 * 64, Math.sqrt(3 / 64) * 2, 3));
  const c2 = b.init('C2', [16], uniform(16, 0.1, 4));
  const h2 = b.op('Relu', [b.op('Gemm', [h1, w2, c2], { transB: 1 }, { name: 'gemm' })], {}, { name: 'relu2' });
  const w3 = b.init('W3', [16, 8], uniform(16 * 8, Math.sqrt(3 / 16), 5));
  b.output(b.op('MatMul', [h2, w3], {}, { name: 'mm3' }), DataType.FLOAT, ['N', 8], 'output');
  return b.build();
}

/**
 * input [N, 1, 8, 8] → Conv(4, 3×3, pad 1) → Relu → MaxPool 2 → Conv(8, 3×3) → Relu → Flatten →
 * Gemm(10, transB) → output [N, 10]. Node names conv1, conv2, fc.
 */
export function buildCnn(): Model {
  const b = new ModelBuilder({ opset: 17 });
  const x = b.input('input', DataType.FLOAT, ['N', 1, 8, 8]);
  const w1 = b.init('conv1.weight', [4, 1, 3, 3], uniform(36, Math.sqrt(3 / 9), 11));
  const b1 = b.init('conv1.bias', [4], uniform(4, 0.1, 12));
  const c1 = b.op('Conv', [x, w1, b1], { pads: [1, 1, 1, 1], kernel_shape: [3, 3] }, { name: 'conv1' });
  const p1 = b.op('MaxPool', [b.op('Relu', [c1], {}, { name: 'relu1' })], { kernel_shape: [2, 2], strides: [2, 2] }, { name: 'pool1' });
  const w2 = b.init('conv2.weight', [8, 4, 3, 3], uniform(288, Math.sqrt(3 / 36), 13));
  const b2 = b.init('conv2.bias', [8], uniform(8, 0.1, 14));
  const c2 = b.op('Relu', [b.op('Conv', [p1, w2, b2], { kernel_shape: [3, 3] }, { name: 'conv2' })], {}, { name: 'relu2' });
  const f = b.op('Flatten', [c2], { axis: 1 }, { name: 'flatten' });
  const w3 = b.init('fc.weight', [10, 32], uniform(320, Math.sqrt(3 / 32), 15));
  const b3 = b.init('fc.bias', [10], uniform(10, 0.1, 16));
  b.output(b.op('Gemm', [f, w3, b3], { transB: 1 }, { name: 'fc' }), DataType.FLOAT, ['N', 10], 'output');
  return b.build();
}

export function ctxWith(extra: Partial<PassContext> = {}): PassContext {
  return { log: silentLogger, rng: seededRng(1), ...extra };
}

export async function runModel(model: Model, feeds: Record<string, Feed>): Promise<Float32Array[]> {
  const s = await createSession(model, { intraOpThreads: 1 });
  try {
    const r = await s.run(feeds);
    return s.outputNames.map((n) => r[n].data as Float32Array);
  } finally {
    await s.release();
  }
}

export function opCounts(model: Model): Record<string, number> {
  const c: Record<string, number> = {};
  for (const n of model.graph.nodes) c[n.opType] = (c[n.opType] ?? 0) + 1;
  return c;
}

/** Quantize a copy; returns the copy and the pass result. */
/** This CPU's int8 kernels saturate (x86 without VNNI): see src/runtime/cpu.ts. */
export const SATURATES = int8Saturates();

/**
 * Quantize a copy of `model`. On a CPU whose int8 kernels saturate (x86 without VNNI) the 8-bit
 * weights get 7 bits unless the caller says otherwise, so the numerics checks hold on every CPU.
 */
export async function quantize(model: Model, raw: Record<string, unknown>, ctx = ctxWith()) {
  const q = cloneModel(model);
  const opts = 'reduceRange' in raw ? raw : { ...raw, reduceRange: SATURATES };
  const result = await quantizePass.run(q, quantizePass.parseOptions(opts), ctx);
  return { model: q, result };
}

export function dataset(name: string, dims: number[], seed: number, scale = 1): Dataset {
  const n = dims.reduce((a, b) => a * b, 1);
  return { inputs: { [name]: { dtype: 'float', dims, data: uniform(n, scale, seed) } }, count: dims[0] };
}

/** Cosine and max-abs error of the quantized model's first output against the original's. */
export async function compare(a: Model, b: Model, feeds: Record<string, Feed>): Promise<{ cos: number; maxAbs: number; refMax: number }> {
  const [ra] = await runModel(a, feeds);
  const [rb] = await runModel(b, feeds);
  let maxAbs = 0;
  let refMax = 0;
  for (let i = 0; i < ra.length; i++) {
    maxAbs = Math.max(maxAbs, Math.abs(ra[i] - rb[i]));
    refMax = Math.max(refMax, Math.abs(ra[i]));
  }
  return { cos: cosine(ra, rb), maxAbs, refMax };
}
