import { describe, expect, it } from 'vitest';
import {
  axisL2Norms,
  axisView,
  applyMask,
  complement,
  countZeros,
  magnitudeMasks,
  nmMask,
  parseNM,
  smallestIndices,
  takeAlongAxis,
} from '../../src/math/sparsity.js';

function rand(n: number, seed = 1): Float32Array {
  let s = seed;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) % 2147483648;
    out[i] = s / 2147483648 - 0.5;
  }
  return out;
}

const kept = (m: Uint8Array) => m.reduce((a, b) => a + b, 0);

describe('kthSmallest', () => {
  it('matches a full sort for every k, with duplicates', async () => {
    const { kthSmallest } = await import('../../src/math/sparsity.js');
    for (const n of [1, 7, 100, 1000]) {
      const base = Float32Array.from(rand(n, n), (v) => Math.round(v * 20) / 20);
      const sorted = base.slice().sort();
      for (const k of [1, Math.ceil(n / 3), Math.ceil(n / 2), n]) expect(kthSmallest(base.slice(), k) === sorted[k - 1]).toBe(true);
    }
  });
});

describe('magnitudeMasks', () => {
  it('prunes exactly round(s*n) of one tensor, all smaller than the kept ones', () => {
    const w = rand(1000);
    const [m] = magnitudeMasks([w], 0.8);
    expect(kept(m)).toBe(200);
    let maxPruned = 0;
    let minKept = Infinity;
    for (let i = 0; i < w.length; i++) {
      if (m[i]) minKept = Math.min(minKept, Math.abs(w[i]));
      else maxPruned = Math.max(maxPruned, Math.abs(w[i]));
    }
    expect(maxPruned).toBeLessThanOrEqual(minKept);
  });

  it('uses one threshold across tensors (global)', () => {
    const a = Float32Array.from([1, 2, 3, 4]);
    const b = Float32Array.from([10, 20, 30, 40]);
    const [ma, mb] = magnitudeMasks([a, b], 0.5);
    expect([...ma]).toEqual([0, 0, 0, 0]);
    expect([...mb]).toEqual([1, 1, 1, 1]);
  });

  it('breaks ties to hit the exact count', () => {
    const w = new Float32Array(10).fill(0.5);
    const [m] = magnitudeMasks([w], 0.3);
    expect(kept(m)).toBe(7);
    expect([...m.slice(0, 3)]).toEqual([0, 0, 0]);
  });

  it('sparsity 0 keeps all, 1 prunes all; out of range throws', () => {
    const w = rand(50);
    expect(kept(magnitudeMasks([w], 0)[0])).toBe(50);
    expect(kept(magnitudeMasks([w], 1)[0])).toBe(0);
    expect(() => magnitudeMasks([w], 1.5)).toThrow();
  });
});

describe('nmMask', () => {
  it('keeps exactly N of every M along the input axis (inner stride)', () => {
    const K = 8;
    const N = 3;
    const w = rand(K * N, 7); // [K, N], input axis 0
    const m = nmMask(w, axisView([K, N], 0), 2, 4);
    for (let col = 0; col < N; col++)
      for (let g = 0; g < K; g += 4) {
        let c = 0;
        let minKept = Infinity;
        let maxPruned = 0;
        for (let j = 0; j < 4; j++) {
          const i = (g + j) * N + col;
          const v = Math.abs(w[i]);
          if (m[i]) {
            c++;
            minKept = Math.min(minKept, v);
          } else maxPruned = Math.max(maxPruned, v);
        }
        expect(c).toBe(2);
        expect(maxPruned).toBeLessThanOrEqual(minKept);
      }
  });

  it('rejects a dimension that is not a multiple of M', () => {
    expect(() => nmMask(rand(6), axisView([6, 1], 0), 2, 4)).toThrow(/multiple/);
  });
});

describe('axis helpers', () => {
  it('axisL2Norms computes per-slice norms', () => {
    // [2, 3]: columns along axis 1
    const w = Float32Array.from([3, 0, 1, 4, 0, 1]);
    expect([...axisL2Norms(w, [2, 3], 1)]).toEqual([5, 0, Math.SQRT2]);
    const r = axisL2Norms(w, [2, 3], 0);
    expect(r[0] ** 2).toBeCloseTo(10, 9);
    expect(r[1] ** 2).toBeCloseTo(17, 9);
  });

  it('takeAlongAxis slices rows / columns of any typed array', () => {
    const w = Float32Array.from([0, 1, 2, 3, 4, 5]); // [2,3]
    expect([...takeAlongAxis(w, [2, 3], 1, [0, 2]).data]).toEqual([0, 2, 3, 5]);
    expect(takeAlongAxis(w, [2, 3], 1, [0, 2]).dims).toEqual([2, 2]);
    expect([...takeAlongAxis(w, [2, 3], 0, [1]).data]).toEqual([3, 4, 5]);
    const b = BigInt64Array.from([1n, 2n, 3n]);
    expect([...takeAlongAxis(b, [3], -1, [2]).data]).toEqual([3n]);
  });

  it('smallestIndices, complement, applyMask, countZeros, parseNM', () => {
    expect(smallestIndices([5, 1, 3, 1], 2)).toEqual([1, 3]);
    expect(complement(5, [1, 3])).toEqual([0, 2, 4]);
    const d = Float32Array.from([1, 0, 2, 3]);
    expect(applyMask(d, Uint8Array.from([0, 0, 1, 0]))).toBe(2);
    expect(countZeros(d)).toBe(3);
    expect(parseNM('2:4')).toEqual({ n: 2, m: 4 });
    expect(parseNM('4:4')).toBeUndefined();
    expect(parseNM('x')).toBeUndefined();
  });
});

describe('lampScores', () => {
  it('scores w² over the energy of the weights at least as large; the largest scores 1', async () => {
    const { lampScores } = await import('../../src/math/sparsity.js');
    const s = lampScores([3, -1, 2]);
    // sorted squares 1, 4, 9: 1/14, 4/13, 9/9
    expect(s[1]).toBeCloseTo(1 / 14, 12);
    expect(s[2]).toBeCloseTo(4 / 13, 12);
    expect(s[0]).toBe(1);
    expect([...lampScores([0, 0])]).toEqual([0, 0]);
  });
});

describe('least squares helpers', () => {
  it('gram / crossProduct / choleskySolve recover an exact linear map', async () => {
    const { gram, crossProduct } = await import('../../src/math/sparsity.js');
    const { choleskySolve } = await import('../../src/math/matmul.js');
    const s = 20;
    const k = 3;
    const a = rand(s * k, 3);
    const wTrue = [1, -2, 0.5, 3, 0, -1]; // k×2
    const t = new Float64Array(s * 2);
    for (let r = 0; r < s; r++) for (let j = 0; j < 2; j++) for (let i = 0; i < k; i++) t[r * 2 + j] += a[r * k + i] * wTrue[i * 2 + j];
    const h = gram(a, s, k);
    expect(h[1]).toBeCloseTo(h[k], 12);
    const x = choleskySolve(h, k, crossProduct(a, t, s, k, 2), 2, 0)!;
    x.forEach((v, i) => expect(v).toBeCloseTo(wTrue[i], 5));
    expect(choleskySolve(new Float64Array(4), 2, new Float64Array(2), 1, 0)).toBeUndefined();
  });
});

describe('cgSolve', () => {
  it('agrees with Cholesky on an SPD system', async () => {
    const { gram, cgSolve } = await import('../../src/math/sparsity.js');
    const { choleskySolve } = await import('../../src/math/matmul.js');
    const k = 12;
    const a = rand(40 * k, 5);
    const h = gram(a, 40, k);
    const b = Array.from(rand(k, 6));
    const exact = choleskySolve(h, k, b, 1, 0.01)!;
    const x = cgSolve(h, k, b, 0.01, new Float64Array(k), 100, 1e-12);
    x.forEach((v, i) => expect(v).toBeCloseTo(exact[i], 6));
  });
});
