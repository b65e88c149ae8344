import { describe, expect, it } from 'vitest';
import { cholesky, frobeniusNorm, gemm, gemmBackend, matmul, setGemmBackend, solveLowerTransposed, transpose } from '../../src/math/matmul.js';
import {
  autoMethod,
  orthonormalizeRows,
  rankForEnergy,
  relativeError,
  scaledLeft,
  svdExact,
  svdRandomized,
  symmetricEigen,
  truncatedSvd,
  type Svd,
} from '../../src/math/svd.js';
import { EigenvalueDecomposition, Matrix } from 'ml-matrix';
import { seededRng } from '../../src/passes/pass.js';

const rng = (seed = 1): (() => number) => seededRng(seed);

function uniform(n: number, r: () => number): Float64Array {
  return Float64Array.from({ length: n }, () => r() * 2 - 1);
}

/** A = U·diag(sigma)·Vᵀ with random orthonormal U (m×k), V (n×k): its SVD is known exactly. */
function known(m: number, n: number, sigma: number[], seed = 3): Float64Array {
  const r = rng(seed);
  const k = sigma.length;
  const Ut = uniform(k * m, r);
  orthonormalizeRows(Ut, k, m, r);
  const Vt = uniform(k * n, r);
  orthonormalizeRows(Vt, k, n, r);
  const US = new Float64Array(m * k);
  for (let i = 0; i < m; i++) for (let c = 0; c < k; c++) US[i * k + c] = Ut[c * m + i] * sigma[c];
  return matmul(US, Vt, m, k, n);
}

/** Eckart–Young: relative error of the best rank-r approximation. */
function bestError(sigma: number[], r: number): number {
  const tot = sigma.reduce((s, x) => s + x * x, 0);
  const tail = sigma.slice(r).reduce((s, x) => s + x * x, 0);
  return Math.sqrt(tail / tot);
}

function naive(tA: boolean, tB: boolean, m: number, n: number, k: number, A: ArrayLike<number>, B: ArrayLike<number>): Float64Array {
  const C = new Float64Array(m * n);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += (tA ? A[p * m + i] : A[i * k + p]) * (tB ? B[j * k + p] : B[p * n + j]);
      C[i * n + j] = s;
    }
  return C;
}

function maxOrthError(rowsMajor: Float64Array, count: number, len: number): number {
  const G = matmul(rowsMajor, rowsMajor, count, len, count, { transB: true });
  let e = 0;
  for (let i = 0; i < count; i++) for (let j = 0; j < count; j++) e = Math.max(e, Math.abs(G[i * count + j] - (i === j ? 1 : 0)));
  return e;
}

function checkSvd(s: Svd, a: Float64Array, tol: number): void {
  expect(relativeError(a, s.m, s.n, scaledLeft(s), s.Vt, s.k)).toBeLessThan(tol);
  for (let i = 1; i < s.k; i++) expect(s.S[i]).toBeLessThanOrEqual(s.S[i - 1] + 1e-12);
  expect(maxOrthError(transpose(s.U, s.m, s.k), s.k, s.m)).toBeLessThan(1e-8);
  expect(maxOrthError(s.Vt, s.k, s.n)).toBeLessThan(1e-8);
}

describe('gemm', () => {
  it('uses the WebAssembly SIMD kernel here', () => {
    expect(gemmBackend()).toBe('wasm');
  });

  it.each(['wasm', 'js'] as const)('%s kernel: matches a naive product for every transpose combination, edge sizes, α, β, float32 inputs', (backend) => {
    setGemmBackend(backend);
    const r = rng(7);
    for (const [m, n, k] of [
      [1, 1, 1],
      [7, 5, 3],
      [13, 9, 300],
      [65, 130, 257],
    ]) {
      for (const tA of [false, true]) {
        for (const tB of [false, true]) {
          const A = Float32Array.from(uniform(m * k, r));
          const B = uniform(k * n, r);
          const C = new Float64Array(m * n).fill(1);
          gemm(tA, tB, m, n, k, 2, A, B, 0.5, C);
          const R = naive(tA, tB, m, n, k, A, B);
          let e = 0;
          for (let i = 0; i < m * n; i++) e = Math.max(e, Math.abs(C[i] - (2 * R[i] + 0.5)));
          expect(e).toBeLessThan(1e-10);
        }
      }
    }
    setGemmBackend('wasm');
  });

  it('both kernels give bit-identical results across several k slices and panels', () => {
    const r = rng(9);
    const [m, n, k] = [133, 1030, 600];
    const A = uniform(m * k, r);
    const B = uniform(k * n, r);
    setGemmBackend('js');
    const c1 = matmul(A, B, m, k, n, { transB: false });
    setGemmBackend('wasm');
    const c2 = matmul(A, B, m, k, n);
    expect(c2).toEqual(c1);
    const R = naive(false, false, 3, n, k, A, B); // first rows against the naive product
    let e = 0;
    for (let i = 0; i < 3 * n; i++) e = Math.max(e, Math.abs(c2[i] - R[i]));
    expect(e).toBeLessThan(1e-10);
  });

  it('β = 0 ignores NaN in C; bad sizes throw', () => {
    const C = new Float64Array(4).fill(NaN);
    gemm(false, false, 2, 2, 1, 1, [1, 2], [3, 4], 0, C);
    expect(Array.from(C)).toEqual([3, 4, 6, 8]);
    expect(() => gemm(false, false, 2, 2, 2, 1, [1], [1, 2, 3, 4], 0, C)).toThrow(/too small/);
  });

  it('transpose and Frobenius norm', () => {
    const a = Float64Array.from([1, 2, 3, 4, 5, 6]);
    expect(Array.from(transpose(a, 2, 3))).toEqual([1, 4, 2, 5, 3, 6]);
    expect(frobeniusNorm([3, 4])).toBe(5);
  });
});

describe('blocked Cholesky and triangular solve', () => {
  it('C = L·Lᵀ with L lower triangular, and Lᵀ·X = Y, across several 128-wide blocks', () => {
    const r = rng(21);
    const K = 300;
    const X = uniform(K * 400, r);
    const C = matmul(X, X, K, 400, K, { transB: true }); // SPD
    for (let i = 0; i < K; i++) C[i * K + i] += 1e-3;
    const L = cholesky(Float64Array.from(C), K);
    for (let i = 0; i < K; i++) for (let j = i + 1; j < K; j++) expect(L[i * K + j]).toBe(0);
    const LLt = matmul(L, L, K, K, K, { transB: true });
    let e = 0;
    for (let i = 0; i < K * K; i++) e = Math.max(e, Math.abs(LLt[i] - C[i]));
    expect(e).toBeLessThan(1e-9 * Math.max(...C));
    const Y = uniform(K * 7, r);
    const sol = solveLowerTransposed(L, K, Y, 7);
    const back = matmul(L, sol, K, K, 7, { transA: true });
    let e2 = 0;
    for (let i = 0; i < K * 7; i++) e2 = Math.max(e2, Math.abs(back[i] - Y[i]));
    expect(e2).toBeLessThan(1e-9);
    const bad = Float64Array.from([1, 2, 2, 1]);
    expect(() => cholesky(bad, 2)).toThrow(/positive definite/);
  });
});

describe('symmetricEigen', () => {
  it('matches ml-matrix and satisfies G·w = λ·w with orthonormal w, including repeated eigenvalues', () => {
    const r = rng(31);
    for (const n of [1, 2, 7, 60]) {
      const X = uniform(n * n, r);
      const G = matmul(X, X, n, n, n, { transB: true });
      const { values, vectors } = symmetricEigen(G, n);
      const rows: number[][] = [];
      for (let i = 0; i < n; i++) rows.push(Array.from(G.subarray(i * n, (i + 1) * n)));
      const ref = new EigenvalueDecomposition(new Matrix(rows), { assumeSymmetric: true }).realEigenvalues.sort((a, b) => b - a);
      for (let i = 0; i < n; i++) expect(values[i]).toBeCloseTo(ref[i], 9);
      for (let i = 1; i < n; i++) expect(values[i]).toBeLessThanOrEqual(values[i - 1]);
      const GW = matmul(G, vectors, n, n, n);
      let res = 0;
      for (let i = 0; i < n; i++) for (let c = 0; c < n; c++) res = Math.max(res, Math.abs(GW[i * n + c] - values[c] * vectors[i * n + c]));
      expect(res).toBeLessThan(1e-9 * Math.max(1, values[0]));
      expect(maxOrthError(transpose(vectors, n, n), n, n)).toBeLessThan(1e-10);
    }
    // identity block: repeated eigenvalues, zero off-diagonal
    const I = new Float64Array(16);
    for (let i = 0; i < 4; i++) I[i * 4 + i] = i < 2 ? 2 : 1;
    expect(Array.from(symmetricEigen(I, 4).values)).toEqual([2, 2, 1, 1]);
  });
});

describe('orthonormalizeRows', () => {
  it('gives orthonormal rows spanning the input, completing dependent rows with new directions', () => {
    const r = rng(5);
    const d = 50;
    const x = uniform(40 * d, r);
    // rows 35..39 copy rows 0..4 (dependent), row 20 is zero
    for (let i = 0; i < 5; i++) x.copyWithin((35 + i) * d, i * d, (i + 1) * d);
    x.fill(0, 20 * d, 21 * d);
    const orig = x.slice(0, 3 * d);
    orthonormalizeRows(x, 40, d, r);
    expect(maxOrthError(x, 40, d)).toBeLessThan(1e-12);
    // the first rows span the original first rows: projecting them on the basis keeps their norm
    for (let i = 0; i < 3; i++) {
      const v = orig.subarray(i * d, (i + 1) * d);
      const c = matmul(x, v, 40, d, 1);
      expect(Math.hypot(...c)).toBeCloseTo(Math.hypot(...v), 10);
    }
  });
});

describe('exact SVD (ml-matrix)', () => {
  it('is exact at full rank, wide and tall', () => {
    const r = rng(2);
    for (const [m, n] of [
      [12, 30],
      [30, 12],
    ]) {
      const a = uniform(m * n, r);
      const s = svdExact(a, m, n);
      expect(s.k).toBe(Math.min(m, n));
      checkSvd(s, a, 1e-12);
    }
  });

  it('recovers a known spectrum and meets the Eckart–Young error at lower rank', () => {
    const sigma = Array.from({ length: 20 }, (_, i) => Math.exp(-i / 4));
    const a = known(25, 40, sigma);
    const s = svdExact(a, 25, 40);
    for (let i = 0; i < 20; i++) expect(s.S[i]).toBeCloseTo(sigma[i], 10);
    for (let i = 20; i < 25; i++) expect(s.S[i]).toBeLessThan(1e-12);
    for (const r of [1, 5, 10]) {
      const t = truncatedSvd(a, 25, 40, { rank: r, method: 'exact' });
      expect(t.rank).toBe(r);
      expect(relativeError(a, 25, 40, scaledLeft(t), t.Vt, r)).toBeCloseTo(bestError(sigma, r), 10);
    }
  });
});

describe('randomized SVD', () => {
  it('is exact when the sketch covers the matrix (full rank, wide and tall)', () => {
    const r = rng(4);
    for (const [m, n] of [
      [20, 45],
      [45, 20],
    ]) {
      const a = uniform(m * n, r);
      const s = svdRandomized(a, m, n, Math.min(m, n), { rng: r });
      expect(s.method).toBe('randomized');
      checkSvd(s, a, 1e-9);
      const e = svdExact(a, m, n);
      for (let i = 0; i < s.k; i++) expect(s.S[i]).toBeCloseTo(e.S[i], 8);
    }
  });

  it('recovers an exactly low-rank matrix and zeroes the missing singular values', () => {
    const sigma = [5, 4, 3, 2, 1];
    const a = known(40, 60, sigma, 9);
    const s = svdRandomized(a, 40, 60, 10, { oversample: 4, rng: rng(1) });
    expect(s.k).toBe(10);
    for (let i = 0; i < 5; i++) expect(s.S[i]).toBeCloseTo(sigma[i], 9);
    for (let i = 5; i < 10; i++) expect(s.S[i]).toBeLessThan(1e-6);
    expect(Array.from(s.Vt).every(Number.isFinite)).toBe(true);
    expect(relativeError(a, 40, 60, scaledLeft(s), s.Vt, 10)).toBeLessThan(1e-9);
  });

  it('stays within a few percent of the Eckart–Young error for slowly decaying spectra', () => {
    const m = 80;
    const n = 200;
    const sigma = Array.from({ length: m }, (_, i) => 1 / Math.sqrt(1 + i));
    const a = known(m, n, sigma, 11);
    for (const r of [8, 20]) {
      const best = bestError(sigma, r);
      const s = svdRandomized(a, m, n, r, { powerIters: 3, rng: rng(r) });
      const err = relativeError(a, m, n, scaledLeft(s), s.Vt, r);
      expect(err).toBeGreaterThanOrEqual(best - 1e-12); // nothing beats the truncated SVD
      expect(err).toBeLessThan(best * 1.02);
      // the same on the transpose (tall path)
      const at = transpose(a, m, n);
      const st = svdRandomized(at, n, m, r, { powerIters: 3, rng: rng(r) });
      expect(relativeError(at, n, m, scaledLeft(st), st.Vt, r)).toBeLessThan(best * 1.02);
    }
    // more power iterations never hurt much and q = 0 is clearly worse on this spectrum
    const e0 = relativeError(a, m, n, ...factors(svdRandomized(a, m, n, 8, { powerIters: 0, rng: rng(1) })));
    const e3 = relativeError(a, m, n, ...factors(svdRandomized(a, m, n, 8, { powerIters: 3, rng: rng(1) })));
    expect(e3).toBeLessThan(e0);
  });

  it('is deterministic for a given rng seed', () => {
    const a = uniform(30 * 50, rng(8));
    const s1 = svdRandomized(a, 30, 50, 5, { rng: rng(3) });
    const s2 = svdRandomized(a, 30, 50, 5, { rng: rng(3) });
    expect(Array.from(s1.S)).toEqual(Array.from(s2.S));
  });
});

function factors(s: Svd): [Float64Array, Float64Array, number] {
  return [scaledLeft(s), s.Vt, s.k];
}

describe('truncatedSvd: rank by energy, engine choice', () => {
  const sigma = Array.from({ length: 30 }, (_, i) => 0.8 ** i);
  const a = known(30, 50, sigma, 13);
  const tot = sigma.reduce((s, x) => s + x * x, 0);
  const needed = (f: number) => {
    let acc = 0;
    for (let i = 0; i < sigma.length; i++) if ((acc += sigma[i] ** 2) >= f * tot) return i + 1;
    return sigma.length;
  };

  it('picks the smallest rank keeping the fraction (exact and randomized agree)', () => {
    for (const f of [0.5, 0.9, 0.99]) {
      const e = truncatedSvd(a, 30, 50, { energy: f, method: 'exact' });
      expect(e.rank).toBe(needed(f));
      expect(e.reached).toBe(true);
      expect(e.energyKept).toBeGreaterThanOrEqual(f - 1e-12);
      const r = truncatedSvd(a, 30, 50, { energy: f, method: 'randomized', rng: rng(2) });
      expect(r.rank).toBe(needed(f));
      expect(r.energyKept).toBeCloseTo(e.energyKept, 8);
    }
  });

  it('reports when maxRank cannot keep the fraction', () => {
    const e = truncatedSvd(a, 30, 50, { energy: 0.999, maxRank: 5, method: 'exact' });
    expect(e.reached).toBe(false);
    expect(e.neededRank).toBe(needed(0.999));
    expect(e.rank).toBe(5);
    const r = truncatedSvd(a, 30, 50, { energy: 0.999, maxRank: 5, method: 'randomized' });
    expect(r.reached).toBe(false);
  });

  it('rankForEnergy, zero matrix, auto engine threshold', () => {
    expect(rankForEnergy([3, 2, 1], 1)).toBe(3);
    expect(rankForEnergy([3, 2, 1], 9 / 14)).toBe(1);
    expect(rankForEnergy([3, 2, 1], 0.99, 100)).toBeUndefined();
    const z = truncatedSvd(new Float64Array(12), 3, 4, { rank: 2, method: 'randomized' });
    expect(z.energyKept).toBe(1);
    expect(Array.from(z.S)).toEqual([0, 0]);
    expect(autoMethod(100, 100, 20)).toBe('exact');
    expect(autoMethod(768, 3072, 202)).toBe('randomized');
    expect(autoMethod(768, 3072, 700)).toBe('exact');
    expect(() => truncatedSvd(a, 30, 50, { energy: 1.5 })).toThrow(/energy/);
    expect(() => svdExact(a, 30, 49)).toThrow(/expected/);
  });
});
