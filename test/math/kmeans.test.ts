import { describe, expect, it } from 'vitest';
import { seededRng } from '../../src/core/rng.js';
import { huffmanBits, kmeans1d } from '../../src/math/kmeans.js';

/** Brute-force Lloyd step check: every value is assigned to its nearest centroid, each centroid is its members' mean. */
function expectFixedPoint(x: ArrayLike<number>, r: ReturnType<typeof kmeans1d>): void {
  const sum = new Float64Array(r.centroids.length);
  const cnt = new Float64Array(r.centroids.length);
  let worse = 0;
  for (let i = 0; i < x.length; i++) {
    const d = Math.abs(x[i] - r.centroids[r.assign[i]]);
    for (const c of r.centroids) if (d > Math.abs(x[i] - c) + 1e-12) worse++;
    sum[r.assign[i]] += x[i];
    cnt[r.assign[i]]++;
  }
  expect(worse, 'values nearer another centroid').toBe(0);
  for (let j = 0; j < r.centroids.length; j++) if (cnt[j]) expect(r.centroids[j]).toBeCloseTo(sum[j] / cnt[j], 10);
}

describe('kmeans1d', () => {
  it('finds well-separated groups exactly, with every init', () => {
    const x = [-2.01, -1.99, -2, 0.5, 0.51, 0.49, 3, 3.02, 2.98, 3.0];
    for (const init of ['linear', 'kmeans++', 'density'] as const) {
      const r = kmeans1d(x, 3, { init, rng: seededRng(3) });
      expect(Array.from(r.centroids)).toEqual([expect.closeTo(-2, 9), expect.closeTo(0.5, 9), expect.closeTo(3, 9)]);
      expect(new Set(r.assign.slice(0, 3)).size).toBe(1);
      expect(r.sse).toBeCloseTo(2e-4 + 2e-4 + 8e-4, 9);
    }
  });

  it('converges to a Lloyd fixed point on random data; centroids ascending; sse matches', () => {
    const rng = seededRng(7);
    const x = Float64Array.from({ length: 5000 }, () => (rng() - 0.5) * (rng() < 0.1 ? 4 : 1));
    for (const init of ['linear', 'kmeans++', 'density'] as const) {
      const r = kmeans1d(x, 15, { init, rng: seededRng(1) });
      expect(r.centroids.length).toBe(15);
      for (let j = 1; j < 15; j++) expect(r.centroids[j]).toBeGreaterThan(r.centroids[j - 1]);
      expectFixedPoint(x, r);
      let sse = 0;
      for (let i = 0; i < x.length; i++) sse += (x[i] - r.centroids[r.assign[i]]) ** 2;
      expect(r.sse).toBeCloseTo(sse, 8);
    }
  });

  it('never makes more clusters than distinct values; k = 1 is the mean', () => {
    expect(Array.from(kmeans1d([1, 1, 2, 2], 8).centroids)).toEqual([1, 2]);
    // already shared values come back exactly, each its own cluster
    const shared = [0.3, -1.25, 0.3, 7, -1.25, 0.1];
    const r = kmeans1d(shared, 4);
    expect(Array.from(r.centroids)).toEqual([-1.25, 0.1, 0.3, 7]);
    expect(Array.from(r.assign, (a) => r.centroids[a])).toEqual(shared);
    expect(r.sse).toBe(0);
    expect(kmeans1d([1, 2, 6], 1).centroids[0]).toBeCloseTo(3, 12);
    expect(kmeans1d([], 4).centroids.length).toBe(0);
    expect(() => kmeans1d([1], 0)).toThrow(RangeError);
  });

  it('weights: centroids are weighted means of their members, zero weights do not pull them', () => {
    const rng = seededRng(11);
    const x = Float64Array.from({ length: 400 }, () => rng() * 2 - 1);
    // values below 0 weigh 0 in every other place, the rest 1 … 4
    const h = Float64Array.from(x, (v, i) => (v < 0 && i % 2 ? 0 : 1 + (i % 4)));
    const r = kmeans1d(x, 5, { weights: h });
    const plain = kmeans1d(x, 5);
    const sw = new Float64Array(5);
    const swx = new Float64Array(5);
    for (let i = 0; i < x.length; i++) {
      // assignment stays the nearest centroid
      for (const c of r.centroids) expect(Math.abs(x[i] - r.centroids[r.assign[i]])).toBeLessThanOrEqual(Math.abs(x[i] - c) + 1e-12);
      sw[r.assign[i]] += h[i];
      swx[r.assign[i]] += h[i] * x[i];
    }
    for (let j = 0; j < 5; j++) expect(r.centroids[j]).toBeCloseTo(swx[j] / sw[j], 10);
    const werr = (c: Float64Array, a: Uint16Array) => x.reduce((s, v, i) => s + h[i] * (v - c[a[i]]) ** 2, 0);
    expect(werr(r.centroids, r.assign)).toBeLessThan(werr(plain.centroids, plain.assign));
    // all-zero weights in a cluster: its plain mean; weights of 1: plain k-means
    expect(kmeans1d([0, 0.1, 5, 5.2], 2, { weights: [0, 0, 1, 3] }).centroids[0]).toBeCloseTo(0.05, 12);
    expect(Array.from(kmeans1d(x, 5, { weights: new Float64Array(400).fill(1) }).centroids)).toEqual(Array.from(plain.centroids).map((c) => expect.closeTo(c, 12)));
    expect(() => kmeans1d([1, 2, 3], 2, { weights: [1, 2] })).toThrow(RangeError);
    expect(() => kmeans1d([1, 2, 3], 2, { weights: [1, -1, 2] })).toThrow(RangeError);
  });
});

describe('huffmanBits', () => {
  it('is the optimal prefix code length', () => {
    expect(huffmanBits([])).toBe(0);
    expect(huffmanBits([5, 5, 5])).toBe(3); // one symbol: one bit each
    expect(huffmanBits([0, 1, 0, 1])).toBe(4);
    // counts 4, 2, 1, 1 → lengths 1, 2, 3, 3 → 4 + 4 + 3 + 3
    expect(huffmanBits([7, 7, 7, 7, 8, 8, 9, 10])).toBe(14);
    // dyadic counts: Huffman meets the entropy exactly
    const s = [...Array(8).fill(0), ...Array(4).fill(1), ...Array(2).fill(2), 3, 4];
    expect(huffmanBits(s)).toBe(8 * 1 + 4 * 2 + 2 * 3 + 4 + 4);
  });
});
