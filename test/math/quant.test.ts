import { describe, expect, it } from 'vitest';
import {
  Histogram,
  computeScaleZp,
  dequantizeInt4Blocks,
  dequantizeTensor,
  entropyThreshold,
  klDivergence,
  minMax,
  minMaxPerChannel,
  percentileRange,
  qRange,
  quantizeInt4Blocks,
  quantizeTensor,
  quantizeValue,
  rint,
} from '../../src/math/quant.js';
import { seededRng } from '../../src/passes/pass.js';
import { cosine } from '../../src/math/stats.js';

const seeded = (seed: number): (() => number) => seededRng(seed);

describe('rint', () => {
  it('rounds half to even', () => {
    expect([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 2.4, -2.6].map(rint)).toEqual([0, 2, 2, -0, -2, -2, 2, -3]);
  });
});

describe('computeScaleZp', () => {
  it('asymmetric uint8 maps rmin to 0 and rmax to 255, zero exactly representable', () => {
    const r = qRange('uint8');
    const { scale, zeroPoint } = computeScaleZp(-1, 3, r, false);
    expect(scale).toBeCloseTo(4 / 255, 9);
    expect(zeroPoint).toBe(64);
    expect(quantizeValue(-1, scale, zeroPoint, r)).toBe(0);
    expect(quantizeValue(3, scale, zeroPoint, r)).toBe(255);
    expect(quantizeValue(0, scale, zeroPoint, r)).toBe(zeroPoint);
  });
  it('widens a positive-only range to include 0', () => {
    const { scale, zeroPoint } = computeScaleZp(2, 4, qRange('uint8'), false);
    expect(zeroPoint).toBe(0);
    expect(scale).toBeCloseTo(4 / 255, 9);
  });
  it('symmetric int8 uses [-127, 127] with z = 0', () => {
    const { scale, zeroPoint } = computeScaleZp(-0.5, 2.54, qRange('int8', true), true);
    expect(zeroPoint).toBe(0);
    expect(scale).toBeCloseTo(2.54 / 127, 9);
  });
  it('guards degenerate ranges', () => {
    for (const sym of [true, false]) {
      const p = computeScaleZp(0, 0, qRange('int8', sym), sym);
      expect(p.scale).toBe(1);
      expect(Number.isFinite(p.scale)).toBe(true);
      const tiny = computeScaleZp(0, 1e-40, qRange('uint8'), sym);
      expect(tiny.scale).toBe(1);
    }
    const inf = computeScaleZp(-Infinity, Infinity, qRange('uint8'), false);
    expect(Number.isFinite(inf.scale)).toBe(true);
  });
});

describe('quantizeTensor', () => {
  it('reduceRange keeps 8-bit weights within 7 bits (no u8·s8 saturation)', () => {
    expect(qRange('int8', true, true)).toEqual({ qmin: -64, qmax: 64 });
    expect(qRange('uint8', false, true)).toEqual({ qmin: 0, qmax: 127 });
    const data = Float32Array.from({ length: 64 }, (_, i) => Math.sin(i) * 3);
    const qt = quantizeTensor(data, [8, 8], { qtype: 'int8', symmetric: true, axis: 1, reduceRange: true });
    const q = qt.q as Int8Array;
    expect(Math.max(...Array.from(q, Math.abs))).toBe(64);
    const back = dequantizeTensor(qt, [8, 8]);
    for (let i = 0; i < 64; i++) expect(Math.abs(back[i] - data[i])).toBeLessThanOrEqual(qt.scale[i % 8] / 2 + 1e-6);
  });

  it('pairs: adjacent codes along K add up to at most 128 with one sign; the scale grows at most 2×', () => {
    const rng = seeded(3);
    const K = 33; // odd: the last row pairs with nothing
    const N = 6;
    const w = Float32Array.from({ length: K * N }, () => (rng() - 0.5) * 2);
    w[4 * N + 2] = 1.5; // a same-signed pair of large values
    w[5 * N + 2] = 1.4;
    const pairsOk = (q: Int8Array, along: 0 | 1, rows: number, cols: number) => {
      if (along === 0) for (let k = 0; k + 1 < rows; k += 2) for (let c = 0; c < cols; c++) expect(Math.abs(q[k * cols + c] + q[(k + 1) * cols + c])).toBeLessThanOrEqual(128);
      else for (let r = 0; r < rows; r++) for (let c = 0; c + 1 < cols; c += 2) expect(Math.abs(q[r * cols + c] + q[r * cols + c + 1])).toBeLessThanOrEqual(128);
    };
    for (const axis of [1, undefined] as const) {
      const plain = quantizeTensor(w, [K, N], { qtype: 'int8', symmetric: true, axis });
      const safe = quantizeTensor(w, [K, N], { qtype: 'int8', symmetric: true, axis, pairs: 'rows' });
      pairsOk(safe.q as Int8Array, 0, K, N);
      expect(plain.q[4 * N + 2] + plain.q[5 * N + 2]).toBeGreaterThan(128); // what saturates
      for (let c = 0; c < safe.scale.length; c++) {
        expect(safe.scale[c]).toBeGreaterThanOrEqual(plain.scale[c]);
        expect(safe.scale[c]).toBeLessThanOrEqual(2 * plain.scale[c] + 1e-7);
      }
      const back = dequantizeTensor(safe, [K, N]);
      for (let i = 0; i < w.length; i++) expect(Math.abs(back[i] - w[i])).toBeLessThanOrEqual(safe.scale[axis === 1 ? i % N : 0] / 2 + 1e-6);
    }
    // rows of a table [V, H] read through its transpose: pairs along each row
    const t = quantizeTensor(w, [K, N], { qtype: 'int8', symmetric: true, axis: 0, pairs: 'columns' });
    pairsOk(t.q as Int8Array, 1, K, N);
    expect(t.scale.length).toBe(K);
    // uint8, asymmetric and 7-bit weights ignore it
    expect(quantizeTensor(w, [K, N], { qtype: 'uint8', symmetric: false, axis: 1, pairs: 'rows' }).q).toEqual(quantizeTensor(w, [K, N], { qtype: 'uint8', symmetric: false, axis: 1 }).q);
    expect(quantizeTensor(w, [K, N], { qtype: 'int8', symmetric: true, axis: 1, reduceRange: true, pairs: 'rows' }).q).toEqual(quantizeTensor(w, [K, N], { qtype: 'int8', symmetric: true, axis: 1, reduceRange: true }).q);
  });

  it('per channel: each channel error is at most half its scale; all-zero channel stays exact', () => {
    const rng = seeded(1);
    const K = 16;
    const N = 5;
    const w = new Float32Array(K * N);
    for (let k = 0; k < K; k++) for (let n = 0; n < N; n++) w[k * N + n] = n === 2 ? 0 : (rng() - 0.5) * (n + 1);
    const qt = quantizeTensor(w, [K, N], { qtype: 'int8', symmetric: true, axis: 1 });
    expect(qt.scale.length).toBe(N);
    expect(qt.scale[2]).toBe(1);
    const back = dequantizeTensor(qt, [K, N]);
    for (let i = 0; i < w.length; i++) {
      const n = i % N;
      expect(Math.abs(back[i] - w[i])).toBeLessThanOrEqual(qt.scale[n] / 2 + 1e-7);
    }
    for (let k = 0; k < K; k++) expect(back[k * N + 2]).toBe(0);
  });
  it('per tensor uint8 round-trips within half a step', () => {
    const w = Float32Array.from([-2, -1, 0, 0.3, 5]);
    const qt = quantizeTensor(w, [5], { qtype: 'uint8', symmetric: false });
    expect(qt.q).toBeInstanceOf(Uint8Array);
    const back = dequantizeTensor(qt, [5]);
    for (let i = 0; i < w.length; i++) expect(Math.abs(back[i] - w[i])).toBeLessThanOrEqual(qt.scale[0] / 2 + 1e-7);
    expect(back[2]).toBe(0);
  });
  it('maps NaN to the zero point instead of garbage', () => {
    const qt = quantizeTensor(Float32Array.from([NaN, 1, -1]), [3], { qtype: 'int8', symmetric: true });
    expect(qt.q[0]).toBe(0);
  });
  it('minMaxPerChannel handles an inner axis', () => {
    // dims [2, 3, 2], axis 1
    const d = Float32Array.from([1, 2, 3, 4, 5, 6, -1, -2, -3, -4, -5, -6]);
    const { min, max } = minMaxPerChannel(d, [2, 3, 2], 1);
    expect(Array.from(min)).toEqual([-2, -4, -6]);
    expect(Array.from(max)).toEqual([2, 4, 6]);
  });
});

describe('calibration', () => {
  it('percentile clips outliers, minmax would not', () => {
    const data = new Float32Array(100000);
    const rng = seeded(3);
    for (let i = 0; i < data.length; i++) data[i] = rng() * 2 - 1;
    data[5] = 1000;
    const h = new Histogram(-1, 1000, 4096);
    h.add(data);
    const [lo, hi] = percentileRange(h, 99.9, [-1, 1000]);
    expect(hi).toBeLessThan(2);
    expect(lo).toBeGreaterThan(-1.01);
  });
  it('entropy threshold cuts a long sparse tail of a gaussian-like distribution', () => {
    const rng = seeded(4);
    const n = 200000;
    const abs = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const u = rng() || 1e-12;
      abs[i] = Math.abs(Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng()));
    }
    abs[0] = 40; // one outlier
    const h = new Histogram(0, 40, 2048);
    h.add(abs);
    const t = entropyThreshold(h, 128);
    expect(t).toBeGreaterThan(2);
    expect(t).toBeLessThan(20);
  });
  it('entropy with skipZeroBin does not let a ReLU zero spike pull the threshold down', () => {
    const rng = seeded(5);
    const n = 200000;
    const v = new Float32Array(n);
    for (let i = 0; i < n; i++) v[i] = rng() < 0.7 ? 0 : Math.abs(Math.sqrt(-2 * Math.log(rng() || 1e-12)) * Math.cos(2 * Math.PI * rng()));
    const hi = minMax(v)[1];
    const h = new Histogram(0, hi, 2048);
    h.add(v);
    const plain = entropyThreshold(h, 256);
    const skip = entropyThreshold(h, 256, true);
    expect(skip).toBeGreaterThan(plain);
    expect(skip).toBeGreaterThan(0.5 * hi);
    const zeros = new Histogram(0, 1, 2048);
    zeros.add(new Float32Array(100));
    expect(entropyThreshold(zeros, 256, true)).toBe(1);
  });
  it('KL divergence is 0 for equal distributions and positive otherwise', () => {
    expect(klDivergence([1, 2, 3], [2, 4, 6])).toBeCloseTo(0, 12);
    expect(klDivergence([1, 2, 3], [3, 2, 1])).toBeGreaterThan(0);
  });
});

describe('int4 blocks (MatMulNBits layout)', () => {
  const K = 70; // not a multiple of the block: padding
  const N = 3;
  const bs = 32;
  const rng = seeded(7);
  const w = new Float32Array(K * N);
  for (let i = 0; i < w.length; i++) w[i] = rng() * 2 - 1;
  for (let k = 0; k < 32; k++) w[k * N + 1] = 0; // one all-zero block

  it('symmetric: layout sizes, low nibble first, error within half a step (one step where clipped)', () => {
    const blk = quantizeInt4Blocks(w, K, N, bs, true);
    expect(blk.kBlocks).toBe(3);
    expect(blk.packed.length).toBe(N * 3 * 16);
    expect(blk.scales.length).toBe(N * 3);
    expect(blk.zeroPoints).toBeUndefined();
    // element k=0 of column 0 is the low nibble of byte 0, k=1 the high nibble
    const s = blk.scales[0];
    const q0 = blk.packed[0] & 15;
    const q1 = blk.packed[0] >> 4;
    expect(s * (q0 - 8)).toBeCloseTo(w[0], 1);
    expect(s * (q1 - 8)).toBeCloseTo(w[N], 1);
    const back = dequantizeInt4Blocks(blk, K, N, bs);
    for (let k = 0; k < K; k++)
      for (let n = 0; n < N; n++) {
        const sc = Math.abs(blk.scales[n * 3 + Math.floor(k / bs)]);
        // the largest-magnitude value maps to q = 0 (−8 steps); values of the other sign beyond
        // 7 steps clip, so the bound there is one step
        const err = Math.abs(back[k * N + n] - w[k * N + n]);
        const clipped = Math.abs(w[k * N + n]) > 7 * sc;
        expect(err).toBeLessThanOrEqual((clipped ? sc : sc / 2) + 1e-6);
      }
    // all-zero block: guarded scale, exact zeros
    expect(blk.scales[1 * 3 + 0]).toBe(1);
    for (let k = 0; k < 32; k++) expect(back[k * N + 1]).toBe(0);
    expect(cosine(back, w)).toBeGreaterThan(0.99);
  });
  it('asymmetric: zero points packed per column, two blocks per byte', () => {
    const blk = quantizeInt4Blocks(w, K, N, bs, false);
    expect(blk.zeroPoints!.length).toBe(N * 2);
    const back = dequantizeInt4Blocks(blk, K, N, bs);
    for (let i = 0; i < w.length; i++) expect(Math.abs(back[i] - w[i])).toBeLessThan(2 / 15);
  });
});
