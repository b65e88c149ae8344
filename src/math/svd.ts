/**
 * Truncated singular value decompositions of dense row-major matrices.
 *
 *   A ≈ U_r · diag(σ_1 ≥ … ≥ σ_r) · V_rᵀ,   ‖A − A_r‖_F² = Σ_{i>r} σ_i²  (Eckart–Young: the best rank-r)
 *
 * Two engines:
 * - `exact`: ml-matrix's Golub–Kahan SVD (the reference; slow: ~27 s for a 768×3072 matrix).
 * - `randomized`: the randomized range finder with Gaussian test matrix, oversampling p (default
 *   max(10, r/10)) and q = 3 power (subspace) iterations, the short-side basis re-orthonormalized
 *   after every A·Aᵀ product (Halko, Martinsson & Tropp 2011, Algorithms 4.4 + 5.1; details at
 *   svdRandomized). With Q (m×l, l = r + p) an orthonormal basis of range((AAᵀ)^q A Ω),
 *   B = QᵀA (l×n) is small; its SVD comes from the eigendecomposition of B·Bᵀ (l×l):
 *   B·Bᵀ = W Λ Wᵀ → σ_i = √λ_i, U = Q·W, V_rᵀ = Σ_r⁻¹ W_rᵀ B. All products go through the blocked
 *   GEMM in ./matmul.ts. Forming B·Bᵀ squares the condition number, which only matters for
 *   σ_i < ~1e-7·σ_1 (treated as 0 here); that is far below float32 weight precision.
 *
 * `auto` picks randomized when the matrix is large (min(m, n) ≥ 256) and the sketch is at most
 * 80% of min(m, n). Measured (benchmarks/svd.bench.mjs --sweep, ratio 0.25): exact takes 0.2–0.5 s
 * below 256 (where its exactness is cheap) and 1.2 s at 256×784, 5 s at 512², 14 s at 768² on a
 * loaded machine, against 0.05–0.3 s randomized, whose error there is ~1% above Eckart–Young on
 * flat (random) spectra and 0.2–0.7% on decaying ones (768×3072, rank 192: ~0.65 s CPU).
 */
import { createRequire } from 'node:module';
import { MlcError } from '../core/errors.js';
import { fillNormal, seededRng } from '../core/rng.js';
import { gemm, transpose } from './matmul.js';

export type SvdMethod = 'auto' | 'exact' | 'randomized';

type MlMatrix = typeof import('ml-matrix');
let mlMatrix: MlMatrix | undefined;

/** ml-matrix, loaded on first use (it costs ~40 ms at start-up and most commands never need it). */
function ml(): MlMatrix {
  return (mlMatrix ??= createRequire(import.meta.url)('ml-matrix') as MlMatrix);
}

/** A (possibly truncated) SVD: A ≈ U · diag(S) · Vt. */
export interface Svd {
  m: number;
  n: number;
  /** number of singular triplets held */
  k: number;
  /** m×k row-major; columns are left singular vectors */
  U: Float64Array;
  /** k singular values, descending */
  S: Float64Array;
  /** k×n row-major; rows are right singular vectors */
  Vt: Float64Array;
  method: 'exact' | 'randomized';
}

export interface RandomizedOptions {
  /** extra sketch columns beyond the rank (p); default max(10, ⌈rank/10⌉) */
  oversample?: number;
  /** power (subspace) iterations q; default 3 */
  powerIters?: number;
  /** uniform [0, 1) source for the Gaussian test matrix; default a fixed-seed generator */
  rng?: () => number;
}

/** min(m, n) from which `auto` considers the randomized engine. */
export const RANDOMIZED_MIN_DIM = 256;
/** `auto` uses randomized only while the sketch width l = r + p is at most this share of min(m, n). */
export const RANDOMIZED_MAX_SKETCH = 0.8;

function checkShape(a: ArrayLike<number>, m: number, n: number): void {
  if (!(m > 0 && n > 0) || a.length !== m * n) {
    throw new MlcError('INTERNAL', `svd: expected ${m}×${n} = ${m * n} values, got ${a.length}`);
  }
}

/** Full thin SVD with ml-matrix (k = min(m, n)). The reference engine. */
export function svdExact(a: ArrayLike<number>, m: number, n: number): Svd {
  checkShape(a, m, n);
  const rows: number[][] = [];
  for (let i = 0; i < m; i++) rows.push(Array.from({ length: n }, (_, j) => a[i * n + j]));
  const { SVD, Matrix } = ml();
  const d = new SVD(new Matrix(rows), { autoTranspose: true });
  const k = Math.min(m, n);
  const order = d.diagonal
    .slice(0, k)
    .map((s, i) => [s, i] as const)
    .sort((x, y) => y[0] - x[0])
    .map((x) => x[1]);
  const L = d.leftSingularVectors;
  const R = d.rightSingularVectors;
  const U = new Float64Array(m * k);
  const S = new Float64Array(k);
  const Vt = new Float64Array(k * n);
  for (let c = 0; c < k; c++) {
    const src = order[c];
    S[c] = Math.max(0, d.diagonal[src]);
    for (let i = 0; i < m; i++) U[i * k + c] = L.get(i, src);
    for (let j = 0; j < n; j++) Vt[c * n + j] = R.get(j, src);
  }
  return { m, n, k, U, S, Vt, method: 'exact' };
}

/** Used when no rng is given (deterministic results). */
const defaultRng = (): (() => number) => seededRng(0x5eed);

function dot(x: Float64Array, xo: number, y: Float64Array, yo: number, d: number): number {
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  let i = 0;
  for (; i + 3 < d; i += 4) {
    s0 += x[xo + i] * y[yo + i];
    s1 += x[xo + i + 1] * y[yo + i + 1];
    s2 += x[xo + i + 2] * y[yo + i + 2];
    s3 += x[xo + i + 3] * y[yo + i + 3];
  }
  for (; i < d; i++) s0 += x[xo + i] * y[yo + i];
  return s0 + s1 + s2 + s3;
}

function axpy(alpha: number, x: Float64Array, xo: number, y: Float64Array, yo: number, d: number): void {
  for (let i = 0; i < d; i++) y[yo + i] += alpha * x[xo + i];
}

/**
 * Orthonormalize the l rows (each of length d, l ≤ d) of x in place: block classical Gram–Schmidt
 * run twice ("twice is enough"), blocks of 32 rows projected with GEMM, Gram–Schmidt twice inside a
 * block. A row that is (numerically) in the span of the previous ones is replaced by a random
 * direction orthogonal to them, so the result always has l orthonormal rows.
 */
export function orthonormalizeRows(x: Float64Array, l: number, d: number, rng: () => number = defaultRng()): void {
  if (l > d) throw new MlcError('INTERNAL', `orthonormalizeRows: ${l} rows of length ${d}`);
  const BS = 32;
  for (let j0 = 0; j0 < l; j0 += BS) {
    const b = Math.min(BS, l - j0);
    const blk = x.subarray(j0 * d, (j0 + b) * d);
    const norm0 = new Float64Array(b);
    for (let i = 0; i < b; i++) norm0[i] = Math.sqrt(dot(blk, i * d, blk, i * d, d));
    if (j0 > 0) {
      const prev = x.subarray(0, j0 * d);
      const coef = new Float64Array(b * j0);
      for (let pass = 0; pass < 2; pass++) {
        gemm(false, true, b, j0, d, 1, blk, prev, 0, coef); // coef = blk · prevᵀ
        gemm(false, false, b, d, j0, -1, coef, prev, 1, blk); // blk -= coef · prev
      }
    }
    for (let i = 0; i < b; i++) {
      const o = i * d;
      for (let pass = 0; pass < 2; pass++) {
        for (let t = 0; t < i; t++) axpy(-dot(blk, t * d, blk, o, d), blk, t * d, blk, o, d);
      }
      let nrm = Math.sqrt(dot(blk, o, blk, o, d));
      if (!(nrm > 1e-10 * norm0[i]) || nrm === 0) nrm = randomOrthogonalRow(x, j0 + i, d, rng);
      const inv = 1 / nrm;
      for (let q = 0; q < d; q++) blk[o + q] *= inv;
    }
  }
}

/** Fill row `row` of x with a random vector orthogonal to rows 0..row-1; returns its norm. */
function randomOrthogonalRow(x: Float64Array, row: number, d: number, rng: () => number): number {
  const o = row * d;
  for (let attempt = 0; attempt < 5; attempt++) {
    const g = new Float64Array(d);
    fillNormal(g, rng);
    x.set(g, o);
    for (let pass = 0; pass < 2; pass++) {
      for (let t = 0; t < row; t++) axpy(-dot(x, t * d, x, o, d), x, t * d, x, o, d);
    }
    const nrm = Math.sqrt(dot(x, o, x, o, d));
    if (nrm > 1e-6) return nrm;
  }
  throw new MlcError('INTERNAL', 'orthonormalizeRows: could not complete the basis');
}

/**
 * Randomized truncated SVD (HMT 2011): rank-`rank` approximation from a sketch of width
 * l = min(rank + p, m, n), with q power iterations.
 *
 * The sketch lives on the short side: a wide matrix (m ≤ n) is handled directly, a tall one through
 * its transpose. Every power iteration applies A·Aᵀ to the m×l basis and re-orthonormalizes it; the
 * intermediate n×l product Aᵀ·Q is not orthonormalized (its condition number is at most
 * σ_1/σ_l since Q is orthonormal, so the product A·(AᵀQ) loses nothing in float64 unless
 * σ_1/σ_l > ~1e7), which saves the expensive orthonormalization on the long side.
 */
export function svdRandomized(input: ArrayLike<number>, m: number, n: number, rank: number, opts: RandomizedOptions = {}): Svd {
  checkShape(input, m, n);
  // one element type for every product keeps the GEMM packing loops monomorphic (measurably faster)
  const a = input instanceof Float64Array ? input : Float64Array.from(input);
  if (m > n) {
    const at = transpose(a, m, n);
    const s = randomizedWide(at, n, m, rank, opts);
    // Aᵀ ≈ U S Vt  ⇒  A ≈ Vtᵀ S Uᵀ
    return { m, n, k: s.k, U: transpose(s.Vt, s.k, m), S: s.S, Vt: transpose(s.U, n, s.k), method: 'randomized' };
  }
  return randomizedWide(a, m, n, rank, opts);
}

function randomizedWide(a: ArrayLike<number>, m: number, n: number, rank: number, opts: RandomizedOptions): Svd {
  const kmax = m; // m ≤ n
  const r = Math.max(1, Math.min(rank, kmax));
  const p = opts.oversample ?? defaultOversample(r);
  const q = opts.powerIters ?? 3;
  const rng = opts.rng ?? defaultRng();
  const l = Math.min(r + p, kmax);

  // Qt (l×m): rows are an orthonormal basis of range((A Aᵀ)^q A Ω); Ω is n×l Gaussian (stored as Ωᵀ, l×n).
  const Zt = new Float64Array(l * n);
  fillNormal(Zt, rng);
  const Qt = new Float64Array(l * m);
  gemm(false, true, l, m, n, 1, Zt, a, 0, Qt); // (AΩ)ᵀ = Ωᵀ Aᵀ
  orthonormalizeRows(Qt, l, m, rng);
  for (let it = 0; it < q; it++) {
    gemm(false, false, l, n, m, 1, Qt, a, 0, Zt); // (AᵀQ)ᵀ = Qᵀ A
    gemm(false, true, l, m, n, 1, Zt, a, 0, Qt); // (A Aᵀ Q)ᵀ
    orthonormalizeRows(Qt, l, m, rng);
  }
  const B = Zt; // l×n
  gemm(false, false, l, n, m, 1, Qt, a, 0, B); // B = Qᵀ A

  // SVD of B from the eigendecomposition of B Bᵀ (l×l).
  const G = new Float64Array(l * l);
  gemm(false, true, l, l, n, 1, B, B, 0, G);
  const { values, vectors } = symmetricEigen(G, l); // descending; vectors l×l, column c = eigenvector c
  const S = new Float64Array(r);
  const Wr = new Float64Array(l * r); // l×r: leading eigenvectors
  const top = Math.max(values[0], 0);
  for (let c = 0; c < r; c++) {
    const lam = values[c];
    S[c] = lam > 1e-14 * top && lam > 0 ? Math.sqrt(lam) : 0;
    for (let i = 0; i < l; i++) Wr[i * r + c] = vectors[i * l + c];
  }
  const Ut = new Float64Array(r * m);
  gemm(true, false, r, m, l, 1, Wr, Qt, 0, Ut); // (Q W_r)ᵀ = W_rᵀ Qᵀ
  const Vt = new Float64Array(r * n);
  gemm(true, false, r, n, l, 1, Wr, B, 0, Vt); // W_rᵀ B = Σ_r V_rᵀ
  for (let c = 0; c < r; c++) {
    const s = S[c];
    const inv = s > 0 ? 1 / s : 0;
    for (let j = 0; j < n; j++) Vt[c * n + j] *= inv;
  }
  return { m, n, k: r, U: transpose(Ut, r, m), S, Vt, method: 'randomized' };
}

/**
 * Eigendecomposition of a symmetric l×l matrix (row-major): eigenvalues descending, eigenvectors
 * as the columns of a row-major l×l array. Householder tridiagonalization + implicit QL (tred2 /
 * tql2 of EISPACK via JAMA) on flat typed arrays, the QL rotations applied to contiguous rows;
 * same results as ml-matrix's EigenvalueDecomposition (the same algorithm), ~1.8× faster at l = 423.
 */
export function symmetricEigen(g: Float64Array, l: number): { values: Float64Array; vectors: Float64Array } {
  const n = l;
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) a[i * n + j] = 0.5 * (g[i * n + j] + g[j * n + i]);
  const { d, W } = tred2tql2(a, n);
  const order = Array.from(d, (v, i) => [v, i] as const)
    .sort((x, y) => y[0] - x[0])
    .map((x) => x[1]);
  const values = new Float64Array(n);
  const vectors = new Float64Array(n * n);
  for (let c = 0; c < n; c++) {
    values[c] = d[order[c]];
    const row = order[c] * n;
    for (let i = 0; i < n; i++) vectors[i * n + c] = W[row + i];
  }
  return { values, vectors };
}

/** tred2 + tql2 on a symmetric n×n row-major matrix: eigenvalue d[i] ↔ eigenvector W row i. */
function tred2tql2(a: Float64Array, n: number): { d: Float64Array; W: Float64Array } {
  const V = Float64Array.from(a); // row-major, V[i*n+j]
  const d = new Float64Array(n), e = new Float64Array(n);
  for (let j = 0; j < n; j++) d[j] = V[(n - 1) * n + j];
  for (let i = n - 1; i > 0; i--) {
    let scale = 0, h = 0;
    for (let k = 0; k < i; k++) scale += Math.abs(d[k]);
    if (scale === 0) {
      e[i] = d[i - 1];
      for (let j = 0; j < i; j++) { d[j] = V[(i - 1) * n + j]; V[i * n + j] = 0; V[j * n + i] = 0; }
    } else {
      for (let k = 0; k < i; k++) { d[k] /= scale; h += d[k] * d[k]; }
      let f = d[i - 1];
      let g = Math.sqrt(h);
      if (f > 0) g = -g;
      e[i] = scale * g;
      h -= f * g;
      d[i - 1] = f - g;
      for (let j = 0; j < i; j++) e[j] = 0;
      for (let j = 0; j < i; j++) {
        f = d[j];
        V[j * n + i] = f;
        g = e[j] + V[j * n + j] * f;
        for (let k = j + 1; k <= i - 1; k++) { const v = V[k * n + j]; g += v * d[k]; e[k] += v * f; }
        e[j] = g;
      }
      f = 0;
      for (let j = 0; j < i; j++) { e[j] /= h; f += e[j] * d[j]; }
      const hh = f / (h + h);
      for (let j = 0; j < i; j++) e[j] -= hh * d[j];
      for (let j = 0; j < i; j++) {
        f = d[j]; g = e[j];
        for (let k = j; k <= i - 1; k++) V[k * n + j] -= f * e[k] + g * d[k];
        d[j] = V[(i - 1) * n + j];
        V[i * n + j] = 0;
      }
    }
    d[i] = h;
  }
  for (let i = 0; i < n - 1; i++) {
    V[(n - 1) * n + i] = V[i * n + i];
    V[i * n + i] = 1;
    const h = d[i + 1];
    if (h !== 0) {
      for (let k = 0; k <= i; k++) d[k] = V[k * n + i + 1] / h;
      for (let j = 0; j <= i; j++) {
        let g = 0;
        for (let k = 0; k <= i; k++) g += V[k * n + i + 1] * V[k * n + j];
        for (let k = 0; k <= i; k++) V[k * n + j] -= g * d[k];
      }
    }
    for (let k = 0; k <= i; k++) V[k * n + i + 1] = 0;
  }
  for (let j = 0; j < n; j++) { d[j] = V[(n - 1) * n + j]; V[(n - 1) * n + j] = 0; }
  V[n * n - 1] = 1;
  e[0] = 0;
  // tql2 on W = Vᵀ (rows = eigenvector columns of V)
  const W = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) W[j * n + i] = V[i * n + j];
  for (let i = 1; i < n; i++) e[i - 1] = e[i];
  e[n - 1] = 0;
  let f = 0, tst1 = 0;
  const eps = 2 ** -52;
  for (let l = 0; l < n; l++) {
    tst1 = Math.max(tst1, Math.abs(d[l]) + Math.abs(e[l]));
    let m = l;
    while (m < n) { if (Math.abs(e[m]) <= eps * tst1) break; m++; }
    if (m > l) {
      let iter = 0;
      do {
        if (++iter > 60) throw new MlcError('INTERNAL', 'symmetricEigen: QL iteration did not converge');
        let g = d[l];
        let p = (d[l + 1] - g) / (2 * e[l]);
        let r = Math.hypot(p, 1);
        if (p < 0) r = -r;
        d[l] = e[l] / (p + r);
        d[l + 1] = e[l] * (p + r);
        const dl1 = d[l + 1];
        let h = g - d[l];
        for (let i = l + 2; i < n; i++) d[i] -= h;
        f += h;
        p = d[m];
        let c = 1, c2 = c, c3 = c;
        const el1 = e[l + 1];
        let s = 0, s2 = 0;
        for (let i = m - 1; i >= l; i--) {
          c3 = c2; c2 = c; s2 = s;
          g = c * e[i]; h = c * p;
          r = Math.hypot(p, e[i]);
          e[i + 1] = s * r; s = e[i] / r; c = p / r;
          p = c * d[i] - s * g;
          d[i + 1] = h + s * (c * g + s * d[i]);
          const oi = i * n, oj = (i + 1) * n;
          for (let k = 0; k < n; k++) {
            const hk = W[oj + k];
            const wk = W[oi + k];
            W[oj + k] = s * wk + c * hk;
            W[oi + k] = c * wk - s * hk;
          }
        }
        p = (-s * s2 * c3 * el1 * e[l]) / dl1;
        e[l] = s * p;
        d[l] = c * p;
      } while (Math.abs(e[l]) > eps * tst1);
    }
    d[l] += f;
    e[l] = 0;
  }
  return { d, W };
}

/** Default oversampling: 10 columns, or a tenth of the rank for large ranks (slow spectra need it). */
export function defaultOversample(rank: number): number {
  return Math.max(10, Math.ceil(rank / 10));
}

/** The engine `auto` picks for an m×n matrix and sketch width l. */
export function autoMethod(m: number, n: number, sketch: number): 'exact' | 'randomized' {
  const kmin = Math.min(m, n);
  return kmin >= RANDOMIZED_MIN_DIM && sketch <= RANDOMIZED_MAX_SKETCH * kmin ? 'randomized' : 'exact';
}

/** Smallest r with Σ_{i≤r} σ_i² ≥ fraction · total (total defaults to Σ σ_i² over the given S). */
export function rankForEnergy(S: ArrayLike<number>, fraction: number, total?: number): number | undefined {
  let tot = total;
  if (tot === undefined) {
    tot = 0;
    for (let i = 0; i < S.length; i++) tot += S[i] * S[i];
  }
  if (tot <= 0) return 1;
  const target = fraction * tot;
  let acc = 0;
  for (let i = 0; i < S.length; i++) {
    acc += S[i] * S[i];
    // a relative slack of 1e-12 absorbs rounding at fraction = 1
    if (acc >= target * (1 - 1e-12)) return i + 1;
  }
  return undefined;
}

export interface TruncatedSvdOptions extends RandomizedOptions {
  method?: SvdMethod;
  /** fixed rank (clamped to [1, min(m, n)]) */
  rank?: number;
  /** or: the smallest rank keeping this fraction of ‖A‖_F² (Σ σ_i²) */
  energy?: number;
  /** with `energy`: do not look beyond this rank */
  maxRank?: number;
}

export interface TruncatedSvd extends Svd {
  /** the chosen rank (= k) */
  rank: number;
  /** ‖A‖_F² = Σ σ_i² over all singular values */
  totalEnergy: number;
  /** Σ_{i≤rank} σ_i² / ‖A‖_F² */
  energyKept: number;
  /** with `energy`: false when even maxRank does not keep the requested fraction */
  reached: boolean;
  /** with `energy` and the exact engine: the rank the fraction needs (may exceed maxRank) */
  neededRank?: number;
}

function truncate(s: Svd, r: number): Svd {
  if (r >= s.k) return s;
  const U = new Float64Array(s.m * r);
  for (let i = 0; i < s.m; i++) for (let c = 0; c < r; c++) U[i * r + c] = s.U[i * s.k + c];
  return { ...s, k: r, U, S: s.S.slice(0, r), Vt: s.Vt.slice(0, r * s.n) };
}

function energyOf(S: ArrayLike<number>, r: number): number {
  let e = 0;
  for (let i = 0; i < r; i++) e += S[i] * S[i];
  return e;
}

/**
 * Truncated SVD by fixed rank or by kept energy, with the engine chosen by `method` (default auto).
 * In energy mode the randomized engine first sketches a third of maxRank and, if that does not
 * reach the fraction, sketches maxRank.
 */
export function truncatedSvd(a: ArrayLike<number>, m: number, n: number, opts: TruncatedSvdOptions): TruncatedSvd {
  checkShape(a, m, n);
  const kmin = Math.min(m, n);
  const method = opts.method ?? 'auto';
  let total = 0;
  for (let i = 0; i < a.length; i++) total += a[i] * a[i];

  const finish = (s: Svd, r: number, reached: boolean, neededRank?: number): TruncatedSvd => {
    const t = truncate(s, r);
    const kept = energyOf(t.S, t.k);
    return { ...t, rank: t.k, totalEnergy: total, energyKept: total > 0 ? Math.min(1, kept / total) : 1, reached, neededRank };
  };

  if (opts.energy === undefined) {
    const r = Math.max(1, Math.min(kmin, Math.round(opts.rank ?? kmin)));
    const p = opts.oversample ?? defaultOversample(r);
    const engine = method === 'auto' ? autoMethod(m, n, Math.min(r + p, kmin)) : method;
    const s = engine === 'exact' ? svdExact(a, m, n) : svdRandomized(a, m, n, r, opts);
    return finish(s, r, true);
  }

  const fraction = opts.energy;
  if (!(fraction > 0 && fraction <= 1)) throw new MlcError('USAGE', `energy must be in (0, 1], got ${fraction}`);
  const maxRank = Math.max(1, Math.min(kmin, opts.maxRank ?? kmin));
  const p = opts.oversample ?? defaultOversample(maxRank);
  const engine = method === 'auto' ? autoMethod(m, n, Math.min(maxRank + p, kmin)) : method;
  if (engine === 'exact') {
    const s = svdExact(a, m, n);
    const needed = rankForEnergy(s.S, fraction, total) ?? kmin;
    return finish(s, Math.min(needed, maxRank), needed <= maxRank, needed);
  }
  const guesses = maxRank > 24 ? [Math.ceil(maxRank / 3), maxRank] : [maxRank];
  let last: Svd | undefined;
  for (const g of guesses) {
    last = svdRandomized(a, m, n, g, opts);
    const r = rankForEnergy(last.S, fraction, total);
    if (r !== undefined) return finish(last, r, true);
  }
  return finish(last!, maxRank, false);
}

/** ‖A − L·R‖_F / ‖A‖_F for factors L (m×r) and R (r×n), all row-major. 0 when A = 0 and L·R = 0. */
export function relativeError(a: ArrayLike<number>, m: number, n: number, L: ArrayLike<number>, R: ArrayLike<number>, r: number): number {
  const d = Float64Array.from(a);
  let na = 0;
  for (let i = 0; i < d.length; i++) na += d[i] * d[i];
  gemm(false, false, m, n, r, -1, L, R, 1, d);
  let nd = 0;
  for (let i = 0; i < d.length; i++) nd += d[i] * d[i];
  if (na === 0) return nd === 0 ? 0 : Infinity;
  return Math.sqrt(nd / na);
}

/** U_r · diag(S_r) as a new m×r row-major array (the left factor A of W ≈ A·B). */
export function scaledLeft(s: Svd): Float64Array {
  const out = new Float64Array(s.m * s.k);
  for (let i = 0; i < s.m; i++) for (let c = 0; c < s.k; c++) out[i * s.k + c] = s.U[i * s.k + c] * s.S[c];
  return out;
}
