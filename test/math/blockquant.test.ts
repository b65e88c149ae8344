import { describe, expect, it } from 'vitest';
import { int4RowErrors, quantizeInt4BlocksSearch, quantizeInt8Blocks, quantizeTableRows, searchInt4Block } from '../../src/math/blockquant.js';
import { useWasmKernels } from '../../src/math/wasm.js';
import { dequantizeInt4Blocks, quantizeInt4Blocks } from '../../src/math/quant.js';
import { seededRng } from '../../src/core/rng.js';

const normal = (rng: () => number) => () => Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng());
/** Student t with 4 degrees of freedom: the heavy tails of trained weights. */
const heavy = (rng: () => number) => {
  const g = normal(rng);
  return () => {
    let c = 0;
    for (let i = 0; i < 4; i++) c += g() ** 2;
    return g() / Math.sqrt(c / 4);
  };
};
const sqErr = (a: Float32Array, b: Float32Array) => a.reduce((s, v, i) => s + (v - b[i]) ** 2, 0);

describe('int4 blocks with the scale search', () => {
  const K = 70; // not a multiple of the block: padding
  const N = 24;
  const bs = 32;
  for (const [name, gen, gain] of [
    ['Gaussian', normal, 0.1],
    ['heavy-tailed', heavy, 0.2],
  ] as const) {
    it(`${name} weights: MatMulNBits layout with zero points, no block worse than round-to-nearest, total error ≥ ${gain * 100}% lower`, () => {
      const g = gen(seededRng(5));
      const w = Float32Array.from({ length: K * N }, () => 0.02 * g());
      const blk = quantizeInt4BlocksSearch(w, K, N, bs);
      expect(blk.kBlocks).toBe(3);
      expect(blk.packed.length).toBe(N * 3 * 16);
      expect(blk.scales.length).toBe(N * 3);
      expect(blk.zeroPoints!.length).toBe(N * 2);
      const back = dequantizeInt4Blocks(blk, K, N, bs);
      const rtn = dequantizeInt4Blocks(quantizeInt4Blocks(w, K, N, bs, true), K, N, bs);
      // block by block: the search keeps round-to-nearest as a candidate
      for (let n = 0; n < N; n++)
        for (let b = 0; b < 3; b++) {
          let e = 0;
          let e0 = 0;
          for (let k = b * bs; k < Math.min(K, (b + 1) * bs); k++) {
            e += (back[k * N + n] - w[k * N + n]) ** 2;
            e0 += (rtn[k * N + n] - w[k * N + n]) ** 2;
          }
          expect(e).toBeLessThanOrEqual(e0 * (1 + 1e-9) + 1e-20);
        }
      expect(sqErr(back, w)).toBeLessThan((1 - gain) * sqErr(rtn, w));
    });
  }
  it('an all-zero block is exact; padding codes are the zero point', () => {
    const w = new Float32Array(40 * 2);
    for (let k = 0; k < 40; k++) w[k * 2 + 1] = k % 3 === 0 ? -0.5 : 0.25;
    const blk = quantizeInt4BlocksSearch(w, 40, 2, 32);
    const back = dequantizeInt4Blocks(blk, 40, 2, 32);
    for (let k = 0; k < 40; k++) expect(back[k * 2]).toBe(0);
    // two-valued column: both values are on the grid
    for (let k = 0; k < 40; k++) expect(back[k * 2 + 1]).toBeCloseTo(w[k * 2 + 1], 6);
    // column 1, block 1 holds 8 values then 24 padding codes equal to its zero point
    const z = blk.zeroPoints![1] >> 4;
    const blob = blk.packed.subarray((1 * 2 + 1) * 16, (1 * 2 + 2) * 16);
    for (let i = 8; i < 32; i++) expect(i % 2 === 0 ? blob[i >> 1] & 15 : blob[i >> 1] >> 4).toBe(z);
  });
  it('searchInt4Block returns a float32 scale and a zero point in [0, 15]', () => {
    const x = Float64Array.from({ length: 32 }, (_, i) => Math.sin(i) * 0.1 + 0.03);
    const [s, z] = searchInt4Block(x, 32);
    expect(Math.fround(s)).toBe(s);
    expect(Number.isInteger(z) && z >= 0 && z <= 15).toBe(true);
  });
});

describe('int8 blocks (MatMulNBits bits = 8)', () => {
  it('layout [N, kBlocks, bs], default zero point 128, error within half a step, the block extreme exact', () => {
    const g = normal(seededRng(9));
    const K = 50;
    const N = 5;
    const w = Float32Array.from({ length: K * N }, () => g());
    const blk = quantizeInt8Blocks(w, K, N, 32);
    expect(blk.zeroPoints).toBeUndefined();
    expect(blk.packed.length).toBe(N * 2 * 32);
    for (let n = 0; n < N; n++)
      for (let k = 0; k < K; k++) {
        const b = Math.floor(k / 32);
        const s = blk.scales[n * 2 + b];
        const q = blk.packed[(n * 2 + b) * 32 + (k % 32)];
        const err = Math.abs(s * (q - 128) - w[k * N + n]);
        expect(err).toBeLessThanOrEqual(Math.abs(s) / 2 + 1e-6);
      }
    // padding past K is the zero point
    for (let i = K % 32; i < 32; i++) expect(blk.packed[(0 * 2 + 1) * 32 + i]).toBe(128);
  });
});

/** The transpose of row-major a [R, C]. */
const transposed = (a: Float32Array, R: number, C: number) => Float32Array.from({ length: R * C }, (_, i) => a[(i % R) * C + Math.floor(i / R)]);

/** Gaussian values with the block cases a rounding can differ on: ties between ±extremes, exact halves, zeros, a NaN. */
function awkward(n: number, seed: number): Float32Array {
  const g = normal(seededRng(seed));
  const w = Float32Array.from({ length: n }, () => g());
  for (let i = 0; i < n; i += 97) w[i] = -w[i + 1] || 1;
  for (let i = 5; i < n; i += 131) w[i] = 0.5;
  for (let i = 64; i < Math.min(n, 96); i++) w[i] = 0;
  w[n - 3] = Number.NaN;
  return w;
}

describe('int8 blocks: the WebAssembly path and the table rows', () => {
  it('quantizeInt8Blocks gives the same bytes in WebAssembly as in JavaScript (partial last block, odd N)', () => {
    const K = 83;
    const N = 77;
    const w = awkward(K * N, 21);
    const wasm = quantizeInt8Blocks(w, K, N, 32);
    useWasmKernels(false);
    try {
      const js = quantizeInt8Blocks(w, K, N, 32);
      expect(Buffer.from(wasm.packed).equals(Buffer.from(js.packed))).toBe(true);
      expect(wasm.scales).toEqual(js.scales);
    } finally {
      useWasmKernels(true);
    }
  });

  it('quantizeTableRows (8 and 4 bits) of a table [V, H] are the blocks of its transpose, without the transpose (WebAssembly and JavaScript)', () => {
    const V = 61;
    const H = 96;
    const t = awkward(V * H, 22);
    // values the clamps and the scale guard see: ±Inf, a tiny block, a huge one
    t[700] = Number.POSITIVE_INFINITY;
    t[1500] = Number.NEGATIVE_INFINITY;
    for (let i = 2048; i < 2080; i++) t[i] = 1e-33 * (i - 2064);
    for (let i = 3072; i < 3104; i++) t[i] = 3e38 * Math.sin(i);
    const tt = transposed(t, V, H);
    for (const [bs, wasm] of [
      [16, true],
      [32, true],
      [16, false],
      [32, false],
    ] as const) {
      useWasmKernels(wasm);
      const r8 = quantizeTableRows(t, V, H, bs, 8);
      const b8 = quantizeInt8Blocks(tt, H, V, bs);
      expect(Buffer.from(r8.packed).equals(Buffer.from(b8.packed))).toBe(true);
      expect(r8.scales).toEqual(b8.scales);
      const r4 = quantizeTableRows(t, V, H, bs, 4);
      const b4 = quantizeInt4Blocks(tt, H, V, bs, true);
      expect(Buffer.from(r4.packed).equals(Buffer.from(b4.packed))).toBe(true);
      expect(r4.scales).toEqual(b4.scales);
      expect(r4.kBlocks).toBe(b4.kBlocks);
    }
    useWasmKernels(true);
  });
});

describe('int4RowErrors (the int4 target estimate)', () => {
  it('is the squared error of the dequantized blocks per row of W, exactly with every column and closely from a sample of columns', () => {
    const g = normal(seededRng(12));
    const K = 70;
    const N = 600;
    const w = Float32Array.from({ length: K * N }, () => g());
    for (const blk of [quantizeInt4Blocks(w, K, N, 32, true), quantizeInt4BlocksSearch(w, K, N, 32)]) {
      const deq = dequantizeInt4Blocks(blk, K, N, 32);
      const want = new Float64Array(K);
      for (let k = 0; k < K; k++) for (let n = 0; n < N; n++) want[k] += (w[k * N + n] - deq[k * N + n]) ** 2;
      const all = int4RowErrors(w, K, N, 32, blk);
      for (let k = 0; k < K; k++) expect(all[k]).toBeCloseTo(want[k], 6);
      const energy = new Float64Array(1);
      const some = int4RowErrors(w, K, N, 32, blk, 100, energy);
      const sum = (a: Float64Array) => a.reduce((x, y) => x + y, 0);
      expect(Math.abs(sum(some) / sum(want) - 1)).toBeLessThan(0.1);
      // Σ W² from the same columns, scaled to all of them
      const all2 = w.reduce((a, v) => a + v * v, 0);
      expect(Math.abs(energy[0] / all2 - 1)).toBeLessThan(0.1);
    }
  });
});
