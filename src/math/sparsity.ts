/**
 * Pure sparsity kernels on typed arrays: magnitude masks (one threshold across several tensors or
 * per tensor), N:M masks, per-channel L2 norms, slicing along an axis, and counts.
 *
 * Masks are Uint8Array with 1 = keep, 0 = prune. A tensor is viewed as [outer, axis, inner] around
 * the axis of interest, so element (o, a, i) lives at `(o * axisLen + a) * inner + i`.
 */
import type { NumberArray, TypedArrayData } from '../core/arrays.js';

/** Writable numeric typed arrays (everything but BigInt arrays). */
export type NumericArray = NumberArray;

export type AnyTypedArray = TypedArrayData;

/** The [outer, axisLen, inner] view of `dims` around `axis` (negative axes count from the end). */
export function axisView(dims: readonly number[], axis: number): { outer: number; axisLen: number; inner: number } {
  const r = dims.length;
  const a = axis < 0 ? axis + r : axis;
  if (a < 0 || a >= r) throw new RangeError(`axis ${axis} out of range for rank ${r}`);
  let outer = 1;
  let inner = 1;
  for (let i = 0; i < a; i++) outer *= dims[i];
  for (let i = a + 1; i < r; i++) inner *= dims[i];
  return { outer, axisLen: dims[a], inner };
}

/** Number of elements pruned for a requested sparsity s over n elements: round(s·n). */
export function pruneCount(n: number, sparsity: number): number {
  return Math.min(n, Math.max(0, Math.round(sparsity * n)));
}

/**
 * Magnitude masks with ONE threshold across all `weights` (global scope; pass a single array for
 * per-layer scope). Exactly k = round(s·Σn) elements are pruned: every |w| < t, then elements with
 * |w| = t in order (tensor by tensor, index by index) until k is reached, where t is the k-th
 * smallest |w|.
 */
export function magnitudeMasks(weights: readonly ArrayLike<number>[], sparsity: number): Uint8Array[] {
  if (!(sparsity >= 0 && sparsity <= 1)) throw new RangeError(`sparsity must be in [0, 1], got ${sparsity}`);
  let total = 0;
  for (const w of weights) total += w.length;
  const k = pruneCount(total, sparsity);
  const masks = weights.map((w) => new Uint8Array(w.length).fill(1));
  if (k === 0) return masks;
  const all = new Float32Array(total);
  let off = 0;
  for (const w of weights) {
    for (let i = 0; i < w.length; i++) all[off + i] = Math.abs(w[i]);
    off += w.length;
  }
  const t = kthSmallest(all, k);
  const tf = Math.fround(t);
  let pruned = 0;
  // strictly below the threshold first
  weights.forEach((w, j) => {
    const m = masks[j];
    for (let i = 0; i < w.length; i++) {
      if (Math.fround(Math.abs(w[i])) < tf) {
        m[i] = 0;
        pruned++;
      }
    }
  });
  // then ties at the threshold until exactly k
  for (let j = 0; j < weights.length && pruned < k; j++) {
    const w = weights[j];
    const m = masks[j];
    for (let i = 0; i < w.length && pruned < k; i++) {
      if (m[i] && Math.fround(Math.abs(w[i])) === tf) {
        m[i] = 0;
        pruned++;
      }
    }
  }
  return masks;
}

/** k-th smallest value (1-based) of `values` (no NaN); reorders `values` in place (quickselect, O(n)). */
export function kthSmallest(values: Float32Array, k: number): number {
  if (k < 1 || k > values.length) throw new RangeError(`k=${k} out of range 1..${values.length}`);
  const target = k - 1;
  let lo = 0;
  let hi = values.length - 1;
  while (hi > lo) {
    if (hi - lo < 64) {
      values.subarray(lo, hi + 1).sort();
      break;
    }
    // median of three as the pivot, Hoare partition
    const mid = (lo + hi) >>> 1;
    const a = values[lo];
    const b = values[mid];
    const c = values[hi];
    const pivot = a < b ? (b < c ? b : a < c ? c : a) : a < c ? a : b < c ? c : b;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (values[i] < pivot) i++;
      while (values[j] > pivot) j--;
      if (i <= j) {
        const t = values[i];
        values[i] = values[j];
        values[j] = t;
        i++;
        j--;
      }
    }
    if (target <= j) hi = j;
    else if (target >= i) lo = i;
    else break; // between j and i: equal to the pivot
  }
  return values[target];
}

/**
 * N:M mask: the tensor viewed as [outer, K, inner] with K the input dimension; in every group of
 * M consecutive elements along K (for each outer, inner) keep the N of largest |w| (ties: lower
 * index kept). Requires K % M === 0.
 */
export function nmMask(w: ArrayLike<number>, view: { outer: number; axisLen: number; inner: number }, n: number, m: number): Uint8Array {
  const { outer, axisLen: K, inner } = view;
  if (!(Number.isInteger(n) && Number.isInteger(m) && n >= 0 && m >= 1 && n <= m)) throw new RangeError(`bad N:M ${n}:${m}`);
  if (K % m !== 0) throw new RangeError(`input dimension ${K} is not a multiple of M=${m}`);
  if (outer * K * inner !== w.length) throw new RangeError(`view ${outer}x${K}x${inner} does not match ${w.length} elements`);
  const mask = new Uint8Array(w.length);
  const idx = new Array<number>(m);
  const mag = new Float64Array(m);
  for (let o = 0; o < outer; o++) {
    for (let g = 0; g < K; g += m) {
      for (let i = 0; i < inner; i++) {
        for (let j = 0; j < m; j++) {
          idx[j] = j;
          mag[j] = Math.abs(w[(o * K + g + j) * inner + i]);
        }
        // partial selection: the n largest (stable: lower j wins ties)
        idx.sort((a, b) => mag[b] - mag[a] || a - b);
        for (let j = 0; j < n; j++) mask[(o * K + g + idx[j]) * inner + i] = 1;
      }
    }
  }
  return mask;
}

/** L2 norm of each slice along `axis`: out[a] = sqrt(Σ_{o,i} w[o,a,i]²). */
export function axisL2Norms(w: ArrayLike<number>, dims: readonly number[], axis: number): Float64Array {
  const { outer, axisLen, inner } = axisView(dims, axis);
  const out = new Float64Array(axisLen);
  for (let o = 0; o < outer; o++)
    for (let a = 0; a < axisLen; a++) {
      const base = (o * axisLen + a) * inner;
      let s = 0;
      for (let i = 0; i < inner; i++) {
        const v = w[base + i];
        s += v * v;
      }
      out[a] += s;
    }
  for (let a = 0; a < axisLen; a++) out[a] = Math.sqrt(out[a]);
  return out;
}

/** Indices of the `count` smallest scores (ties: lower index first), sorted ascending by index. */
export function smallestIndices(scores: ArrayLike<number>, count: number): number[] {
  const idx = Array.from({ length: scores.length }, (_, i) => i);
  idx.sort((a, b) => scores[a] - scores[b] || a - b);
  return idx.slice(0, Math.max(0, Math.min(count, scores.length))).sort((a, b) => a - b);
}

/** Zero the elements whose mask is 0; returns how many were non-zero before. */
export function applyMask(data: NumericArray, mask: Uint8Array): number {
  let changed = 0;
  for (let i = 0; i < data.length; i++) {
    if (!mask[i]) {
      if (data[i] !== 0) changed++;
      data[i] = 0;
    }
  }
  return changed;
}

/** Number of exact zeros (±0). */
export function countZeros(data: ArrayLike<number>): number {
  let z = 0;
  for (let i = 0; i < data.length; i++) if (data[i] === 0) z++;
  return z;
}

/**
 * The slices at `keep` (ascending indices) along `axis` of a tensor with `dims`; returns new data
 * of the same typed-array kind and the new dims.
 */
export function takeAlongAxis<T extends AnyTypedArray>(data: T, dims: readonly number[], axis: number, keep: readonly number[]): { data: T; dims: number[] } {
  const r = dims.length;
  const a = axis < 0 ? axis + r : axis;
  const { outer, axisLen, inner } = axisView(dims, a);
  const Ctor = data.constructor as new (n: number) => T;
  const out = new Ctor(outer * keep.length * inner);
  for (let o = 0; o < outer; o++)
    for (let j = 0; j < keep.length; j++) {
      const src = (o * axisLen + keep[j]) * inner;
      const dst = (o * keep.length + j) * inner;
      (out as unknown as { set(a: ArrayLike<unknown>, off: number): void }).set(
        (data as unknown as { subarray(a: number, b: number): ArrayLike<unknown> }).subarray(src, src + inner),
        dst,
      );
    }
  const nd = [...dims];
  nd[a] = keep.length;
  return { data: out, dims: nd };
}

/** Indices 0..n-1 not in `removed`. */
export function complement(n: number, removed: readonly number[]): number[] {
  const r = new Set(removed);
  const out: number[] = [];
  for (let i = 0; i < n; i++) if (!r.has(i)) out.push(i);
  return out;
}

/** Parse an N:M pattern string ("2:4"). */
export function parseNM(s: string): { n: number; m: number } | undefined {
  const mm = /^\s*(\d+)\s*:\s*(\d+)\s*$/.exec(s);
  if (!mm) return undefined;
  const n = Number(mm[1]);
  const m = Number(mm[2]);
  if (m < 1 || n < 1 || n >= m) return undefined;
  return { n, m };
}

/**
 * LAMP scores (Lee et al., "Layer-adaptive sparsity for the magnitude-based pruning", ICLR 2021):
 * with the weights of one layer sorted by magnitude, |w_(1)| ≤ … ≤ |w_(n)|,
 *   score(w_(i)) = w_(i)² / Σ_{j ≥ i} w_(j)²
 * (the largest weight scores 1). One global threshold on these scores gives each layer a sparsity
 * adapted to how much of its remaining energy a weight carries. Returned in the input's order.
 */
export function lampScores(w: ArrayLike<number>): Float64Array {
  const n = w.length;
  const idx = Array.from({ length: n }, (_, i) => i);
  const sq = new Float64Array(n);
  for (let i = 0; i < n; i++) sq[i] = w[i] * w[i];
  idx.sort((a, b) => sq[a] - sq[b] || a - b);
  const out = new Float64Array(n);
  let tail = 0;
  for (let r = n - 1; r >= 0; r--) {
    const i = idx[r];
    tail += sq[i];
    out[i] = tail > 0 ? sq[i] / tail : 0;
  }
  return out;
}

/** H = AᵀA (k×k, float64) for A [s, k] row-major. */
export function gram(a: ArrayLike<number>, s: number, k: number): Float64Array {
  const h = new Float64Array(k * k);
  const row = new Float64Array(k);
  for (let r = 0; r < s; r++) {
    for (let i = 0; i < k; i++) row[i] = a[r * k + i];
    for (let i = 0; i < k; i++) {
      const v = row[i];
      if (v === 0) continue;
      const base = i * k;
      for (let j = i; j < k; j++) h[base + j] += v * row[j];
    }
  }
  for (let i = 0; i < k; i++) for (let j = 0; j < i; j++) h[i * k + j] = h[j * k + i];
  return h;
}

/** G = AᵀB (k×n, float64) for A [s, k] and B [s, n] row-major. */
export function crossProduct(a: ArrayLike<number>, b: ArrayLike<number>, s: number, k: number, n: number): Float64Array {
  const g = new Float64Array(k * n);
  for (let r = 0; r < s; r++)
    for (let i = 0; i < k; i++) {
      const v = a[r * k + i];
      if (v === 0) continue;
      const gb = i * n;
      const bb = r * n;
      for (let j = 0; j < n; j++) g[gb + j] += v * b[bb + j];
    }
  return g;
}

/**
 * Solve (H + λI)·x = b for symmetric positive definite H (k×k) by conjugate gradients with a
 * Jacobi (diagonal) preconditioner, starting from x0, for at most `iters` iterations or until
 * ‖r‖ ≤ tol·‖b‖. Cheaper than Cholesky (k² per iteration instead of k³/3) when a good start is
 * known and an approximate solution is enough.
 */
export function cgSolve(h: ArrayLike<number>, k: number, b: ArrayLike<number>, lambda: number, x0: ArrayLike<number>, iters: number, tol = 1e-6): Float64Array {
  const x = Float64Array.from(x0);
  const r = new Float64Array(k);
  const z = new Float64Array(k);
  const p = new Float64Array(k);
  const q = new Float64Array(k);
  const dinv = new Float64Array(k);
  const mul = (v: Float64Array, out: Float64Array) => {
    for (let i = 0; i < k; i++) {
      let s = lambda * v[i];
      const base = i * k;
      for (let j = 0; j < k; j++) s += h[base + j] * v[j];
      out[i] = s;
    }
  };
  let bn = 0;
  for (let i = 0; i < k; i++) {
    dinv[i] = 1 / (h[i * k + i] + lambda);
    bn += b[i] * b[i];
  }
  bn = Math.sqrt(bn);
  mul(x, q);
  let rz = 0;
  for (let i = 0; i < k; i++) {
    r[i] = b[i] - q[i];
    z[i] = r[i] * dinv[i];
    p[i] = z[i];
    rz += r[i] * z[i];
  }
  for (let it = 0; it < iters; it++) {
    let rn = 0;
    for (let i = 0; i < k; i++) rn += r[i] * r[i];
    if (Math.sqrt(rn) <= tol * bn) break;
    mul(p, q);
    let pq = 0;
    for (let i = 0; i < k; i++) pq += p[i] * q[i];
    if (!(pq > 0)) break;
    const alpha = rz / pq;
    let rz2 = 0;
    for (let i = 0; i < k; i++) {
      x[i] += alpha * p[i];
      r[i] -= alpha * q[i];
      z[i] = r[i] * dinv[i];
      rz2 += r[i] * z[i];
    }
    const beta = rz2 / rz;
    rz = rz2;
    for (let i = 0; i < k; i++) p[i] = z[i] + beta * p[i];
  }
  return x;
}
