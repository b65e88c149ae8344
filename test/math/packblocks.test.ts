import { afterEach, describe, expect, it } from 'vitest';
import { seededRng } from '../../src/core/rng.js';
import { int4RowErrors, quantizeInt4BlocksWithErrors, quantizeInt8Blocks, quantizeTableRows } from '../../src/math/blockquant.js';
import { type Int4Blocks, quantizeInt4Blocks } from '../../src/math/quant.js';
import { useWasmKernels, WASM_MIN } from '../../src/math/wasm.js';

// The MatMulNBits blocks in WebAssembly (W transposed a band at a time, each column's codes written
// in place) against the JavaScript loops, the reference: byte for byte on every kind of input.

afterEach(() => useWasmKernels(true));

/**
 * W [K, N], each column of one kind (the kinds cycle, shifted by `seed`): Gaussian; a grid of
 * eighths with an extreme of ±2 or ±32 (every code a tie at 4 and at 8 bits); the awkward values
 * (±0, NaN, ±Inf, 3e38, 1e-30); zeros; ±a in the same block (a tie of |m| with both signs); tiny
 * (scale below 1e-30); huge.
 */
function weights(K: number, N: number, seed: number): Float32Array {
  const rng = seededRng(seed);
  const w = new Float32Array(K * N);
  const awkward = [0, -0, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 3e38, -3e38, 1e-30, 0.5, -1.5];
  for (let n = 0; n < N; n++) {
    const kind = (n + seed) % 7;
    const big = rng() < 0.5 ? 2 : 32;
    for (let k = 0; k < K; k++) {
      const g = (rng() + rng() + rng() - 1.5) * 2;
      let v: number;
      if (kind === 0) v = g;
      else if (kind === 1) v = k % 13 === 5 ? (rng() < 0.5 ? big : -big) : Math.round((rng() - 0.5) * 32) / 8;
      else if (kind === 2) v = rng() < 0.4 ? awkward[Math.floor(rng() * awkward.length)] : g;
      else if (kind === 3) v = 0;
      else if (kind === 4) v = k % 16 === 3 ? 1.75 : k % 16 === 11 ? -1.75 : g / 4;
      else if (kind === 5) v = g * 1e-33;
      else v = g * 1e37;
      w[k * N + n] = v;
    }
  }
  return w;
}

/** The same weights with the huge and non-finite values replaced by 0.5. */
function moderate(w: Float32Array): Float32Array {
  return w.map((v) => (Number.isFinite(v) && Math.abs(v) < 100 ? v : 0.5));
}

function same(a: Int4Blocks, b: Int4Blocks, label: string): void {
  expect(Buffer.from(a.packed).equals(Buffer.from(b.packed)), `${label}: codes`).toBe(true);
  expect(
    Buffer.from(a.scales.buffer, a.scales.byteOffset, a.scales.byteLength).equals(
      Buffer.from(b.scales.buffer, b.scales.byteOffset, b.scales.byteLength),
    ),
    `${label}: scales`,
  ).toBe(true);
  expect(a.zeroPoints === undefined, `${label}: zero points`).toBe(b.zeroPoints === undefined);
  if (a.zeroPoints && b.zeroPoints) expect(Buffer.from(a.zeroPoints).equals(Buffer.from(b.zeroPoints)), `${label}: zero points`).toBe(true);
  expect(a.kBlocks).toBe(b.kBlocks);
}

/** f() in WebAssembly and in JavaScript. */
function both<T>(f: () => T): [T, T] {
  useWasmKernels(true);
  const w = f();
  useWasmKernels(false);
  const j = f();
  useWasmKernels(true);
  return [w, j];
}

describe('MatMulNBits blocks in WebAssembly (transposed bands)', () => {
  const Ks = [16, 31, 32, 33, 64, 100, 768];
  const Ns = [1, 3, 4, 17, 64, 768];
  it('4-bit (symmetric and asymmetric) and 8-bit blocks: the bytes of the JavaScript loops, every shape', () => {
    let seed = 1;
    let fast = 0;
    for (const K of Ks) {
      for (const N of Ns) {
        if (K * N > 100_000 && !(K === 768 && N === 64) && !(K === 64 && N === 768)) continue; // the big ones below
        const w = weights(K, N, seed++);
        for (const bs of [16, 32]) {
          const label = `${K}×${N} bs ${bs}`;
          for (const sym of [true, false]) {
            const [a, b] = both(() => quantizeInt4Blocks(w, K, N, bs, sym));
            same(a, b, `${label} int4 sym ${sym}`);
          }
          const [a, b] = both(() => quantizeInt8Blocks(w, K, N, bs));
          same(a, b, `${label} int8`);
        }
        if (K * N >= WASM_MIN) fast++;
      }
    }
    expect(fast).toBeGreaterThan(10);
  });
  it('the same at BERT size (768 × 768) and with block sizes that are not a multiple of 8 (the scalar tails)', () => {
    const w = weights(768, 768, 99);
    for (const sym of [true, false]) {
      const [a, b] = both(() => quantizeInt4Blocks(w, 768, 768, 32, sym));
      same(a, b, `768×768 int4 sym ${sym}`);
    }
    const [a, b] = both(() => quantizeInt8Blocks(w, 768, 768, 128));
    same(a, b, '768×768 int8 bs 128');
    for (const [K, N, bs] of [
      [100, 37, 6],
      [61, 40, 10],
      [33, 64, 18],
    ]) {
      const v = weights(K, N, K + bs);
      for (const sym of [true, false]) {
        const [x, y] = both(() => quantizeInt4Blocks(v, K, N, bs, sym));
        same(x, y, `${K}×${N} bs ${bs} int4 sym ${sym}`);
      }
      const [x, y] = both(() => quantizeInt8Blocks(v, K, N, bs));
      same(x, y, `${K}×${N} bs ${bs} int8`);
    }
  });
  it('weights taller than one band (several transposes, the last band padded)', () => {
    // 1 << 16 values a band: 2100 × 600 is 22 bands of 96 rows at bs 32 (the last one 84 rows, padded)
    const K = 2100;
    const N = 600;
    const w = weights(K, N, 5);
    const [a, b] = both(() => quantizeInt4Blocks(w, K, N, 32, false));
    same(a, b, `${K}×${N} int4 asym`);
    const [c, d] = both(() => quantizeInt8Blocks(w, K, N, 32));
    same(c, d, `${K}×${N} int8`);
  });
  it('weights wider than one slab (the blocks of 8 MB of columns at a time; the sampled columns across slabs)', () => {
    // 4 + 8 bits at K = 768: 1368 bytes of blocks a column, so 6200 columns are two slabs (6132 and
    // 68 columns; the sampled columns, every 25th, start at the second slab's 18th)
    const K = 768;
    const N = 6200;
    // (moderate values: a huge column's error would absorb the others' in every row's sum)
    const w = moderate(weights(K, N, 77));
    for (const sym of [true, false]) {
      const [a, b] = both(() => quantizeInt4BlocksWithErrors(w, K, N, 32, sym, 256, true));
      const label = `${K}×${N} sym ${sym}`;
      same(a.blocks, b.blocks, label);
      if (!a.eight || !b.eight) throw new Error('no 8-bit blocks');
      same(a.eight, b.eight, `${label} 8-bit`);
      expect(Array.from(a.rows), label).toEqual(Array.from(b.rows));
      expect(a.energy, label).toBe(b.energy);
    }
  });
  it('table rows (4 and 8 bits): the bytes of the JavaScript loops', () => {
    for (const [V, H, bs] of [
      [300, 64, 16],
      [61, 96, 32],
      [1000, 768, 32],
      [50, 60, 10],
    ]) {
      const t = weights(V, H, V);
      for (const bits of [4, 8] as const) {
        const [a, b] = both(() => quantizeTableRows(t, V, H, bs, bits));
        same(a, b, `table ${V}×${H} bs ${bs} ${bits} bits`);
      }
    }
  });
  it('the row errors and the 8-bit blocks taken while packing are int4RowErrors of the blocks (to the bit) and quantizeInt8Blocks', () => {
    for (const [K, N, cols] of [
      [100, 37, 256],
      [768, 768, 256],
      [64, 3000, 256],
      [33, 64, 5],
      [2100, 600, 256],
    ]) {
      for (const w of [weights(K, N, K * 3 + N), moderate(weights(K, N, K + N))]) {
        for (const sym of [true, false]) {
          const [a, b] = both(() => quantizeInt4BlocksWithErrors(w, K, N, 32, sym, cols, true));
          const label = `${K}×${N} sym ${sym} columns ${cols}`;
          same(a.blocks, b.blocks, label);
          // the 8-bit blocks of the same pass are quantizeInt8Blocks' (JavaScript's)
          if (!a.eight || !b.eight) throw new Error('no 8-bit blocks');
          same(a.eight, b.eight, `${label} 8-bit`);
          same(a.eight, quantizeInt8Blocks(w, K, N, 32), `${label} 8-bit alone`);
          expect(Array.from(a.rows), label).toEqual(Array.from(b.rows));
          expect(a.energy, label).toBe(b.energy);
          const energy = new Float64Array(1);
          expect(Array.from(int4RowErrors(w, K, N, 32, a.blocks, cols, energy))).toEqual(Array.from(a.rows));
          expect(energy[0]).toBe(a.energy);
        }
      }
    }
  });
});
