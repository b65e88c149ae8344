import { DataType } from '../../src/ir/dtype.js';
import type { Model } from '../../src/ir/model.js';
import { seededRng } from '../../src/passes/pass.js';
import { createSession } from '../../src/runtime/index.js';
import { GraphExecutor } from '../../src/train/executor.js';
import type { Tf } from '../../src/train/backend.js';

export type Feed = { dtype: string; dims: number[]; data: Float32Array | BigInt64Array | Int32Array };

/** Normal(0, scale) samples from a seeded rng (Box–Muller). */
export function randn(n: number, seed = 1, scale = 1): Float32Array {
  const rng = seededRng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = Math.max(rng(), 1e-12);
    out[i] = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng()) * scale;
  }
  return out;
}

export function floatFeed(dims: number[], seed = 1, scale = 1): Feed {
  return { dtype: 'float', dims, data: randn(dims.reduce((a, b) => a * b, 1), seed, scale) };
}

export async function ortRun(model: Model, feeds: Record<string, Feed>): Promise<{ dims: number[]; data: Float32Array }[]> {
  const s = await createSession(model);
  try {
    const out = await s.run(feeds);
    return model.graph.outputs.map((o) => ({ dims: out[o.name].dims, data: out[o.name].data as Float32Array }));
  } finally {
    await s.release();
  }
}

export function tfFeeds(tf: Tf, feeds: Record<string, Feed>) {
  const r: Record<string, ReturnType<Tf['tensor']>> = {};
  for (const [k, f] of Object.entries(feeds)) {
    if (f.data instanceof BigInt64Array) r[k] = tf.tensor(Int32Array.from(f.data, (x) => Number(x)), f.dims, 'int32');
    else r[k] = tf.tensor(f.data, f.dims, f.data instanceof Int32Array ? 'int32' : 'float32');
  }
  return r;
}

export function tfRun(tf: Tf, model: Model, feeds: Record<string, Feed>, exec?: GraphExecutor) {
  const e = exec ?? new GraphExecutor(tf, model);
  try {
    return tf.tidy(() => e.run(tfFeeds(tf, feeds))).map((t) => {
      const r = { dims: [...t.shape], data: Float32Array.from(t.dataSync() as ArrayLike<number>) };
      t.dispose();
      return r;
    });
  } finally {
    if (!exec) e.dispose();
  }
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

export { DataType };
