/**
 * The one seeded PRNG of mlc: Mulberry32, uniform in [0, 1). Passes get one as ctx.rng; kernels
 * that need randomness take an rng argument and default to seededRng(<their seed>). Normal
 * samples come from it by Box–Muller: one at a time (`normalRng`) or an array at once
 * (`fillNormal`, for weights).
 */
export function seededRng(seed = 42): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normal samples from a uniform rng (Box–Muller, both values used). */
export function normalRng(uniform: () => number): () => number {
  let spare: number | undefined;
  return () => {
    if (spare !== undefined) {
      const s = spare;
      spare = undefined;
      return s;
    }
    let u = 0;
    while (u <= 1e-300) u = uniform();
    const v = uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  };
}

/**
 * Fill `out` with normal(0, std) samples drawn from `uniform`, in Box–Muller pairs (the values
 * normalRng(uniform) gives from a fresh start; an odd length drops the last pair's second value).
 * Model builders fill their weights with it (GPT-2 small: 124 M samples), math/svd its test matrices.
 */
export function fillNormal<T extends Float32Array | Float64Array>(out: T, uniform: () => number, std = 1): T {
  const n = out.length;
  for (let i = 0; i < n; i += 2) {
    let u = uniform();
    while (u <= 1e-300) u = uniform();
    const v = uniform();
    const r = Math.sqrt(-2 * Math.log(u)) * std;
    out[i] = r * Math.cos(2 * Math.PI * v);
    if (i + 1 < n) out[i + 1] = r * Math.sin(2 * Math.PI * v);
  }
  return out;
}

/** 0..n−1 in a random order (Fisher–Yates) drawn from `rng`. */
export function shuffledIndices(n: number, rng: () => number): Int32Array {
  const idx = Int32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    const t = idx[i];
    idx[i] = idx[j];
    idx[j] = t;
  }
  return idx;
}
