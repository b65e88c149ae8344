/**
 * The WebAssembly SIMD kernels of kernels.wat, with the copying in and out of their memory.
 *
 * The kernels compute exactly what the JavaScript loops they replace compute (the tests compare
 * both on every kind of input), about 5–10× faster: V8 does not vectorize the JavaScript loops,
 * and a float → int8 store there costs a conversion per element. Data goes through the module's
 * memory in chunks of CHUNK elements (MatMulNBits blocks: bands of BAND values, their blocks a slab
 * of SLAB bytes at a time), so memory stays small whatever the tensor.
 *
 * Where WebAssembly SIMD is missing (or MLC_NO_WASM=1 is set) `wasmKernels()` is null and callers
 * keep their JavaScript loops.
 */
import { KERNELS_WASM_BASE64 } from './kernels-wasm.js';

/** A transposed band of W in the module's memory: its address, columns (rows here), blocks per column, block size. */
type Band = [src: number, rows: number, nb: number, bs: number];
/** Where colq puts each column's blocks: scales, their column stride, zero points, codes, their column stride. */
type Place = [scales: number, ss: number, zps: number, dst: number, ds: number];

interface Exports {
  memory: WebAssembly.Memory;
  q8s(src: number, dst: number, n: number, inv: number, zp: number, lo: number, hi: number): void;
  q8c(src: number, dst: number, rows: number, c: number, inv: number, zp: number, lo: number, hi: number): void;
  mmc(src: number, rows: number, c: number, lo: number, hi: number): void;
  nonfinite(src: number, n: number): number;
  lanehash(src: number, n4: number, state: number): void;
  zeros32(src: number, n: number): number;
  eq8(src: number, n: number, z: number): number;
  half(src: number, dst: number, n: number): void;
  zeros16(src: number, n: number): number;
  beyondhalf(src: number, n: number): number;
  trf(src: number, rows: number, N: number, dst: number): void;
  colq(...a: [...Band, mode: number, ...Place, scales8: number, dst8: number, ds8: number]): void;
  colerr(...a: [...Band, len: number, step: number, mode: number, ...Place, err: number, e2: number]): void;
}

/** The kinds of MatMulNBits blocks: 4-bit symmetric (z = 8), 4-bit asymmetric, 8-bit symmetric (z = 128). */
export type BlockMode = 'int4' | 'int4-asym' | 'int8';
const MODE_CODE: Record<BlockMode, number> = { int4: 0, 'int4-asym': 1, int8: 2 };

/** MatMulNBits blocks of a row-major W [K, N] along K, in the layout [N, kBlocks, blob]. */
export interface BlocksJob {
  w: Float32Array;
  K: number;
  N: number;
  bs: number;
  mode: BlockMode;
  /** N · kBlocks · blob bytes (blob = bs / 2, or bs at 8 bits) */
  packed: Uint8Array;
  /** N · kBlocks */
  scales: Float32Array;
  /** int4-asym: N · kBlocks bytes, block (n, b)'s zero point at n · kBlocks + b (one a byte, unpacked) */
  zeroPoints?: Uint8Array;
  /**
   * 4 bits: also, on the columns n = 0, step, 2·step, …, per row k of W the sums Σ_n d² into
   * rows[k] and Σ_n v² into energy[k] (v = W[k, n] if finite else 0, d = v − ŵ[k, n]), each in
   * the order of the columns (int4RowErrors' sums)
   */
  errors?: { step: number; rows: Float64Array; energy: Float64Array };
  /**
   * 4 bits: also the 8-bit blocks of W (quantizeInt8Blocks: packed N · kBlocks · bs bytes, scales
   * N · kBlocks) from the same transposed bands (symmetric: from the same block extremes)
   */
  eight?: { packed: Uint8Array; scales: Float32Array };
}

/** Runs shorter than this stay in JavaScript (the call and the copies cost more than they save). */
export const WASM_MIN = 1024;

/** Elements per chunk through the module's memory (4 MiB of float32 in, 1 MiB out). */
const CHUNK = 1 << 20;
const PAGE = 65536;
/** Values of W per band of blocks() (the last one padded to whole blocks). */
const BAND = 1 << 16;
/** Bytes of blocks a slab of columns of blocks() keeps in the module (the module's memory never shrinks). */
const SLAB = 8 << 20;

let enabled = process.env.MLC_NO_WASM !== '1';
let instance: Exports | null | undefined;

/** Turn the kernels off (the JavaScript loops run) or back on; tests compare the two. */
export function useWasmKernels(on: boolean): void {
  enabled = on;
}

function load(): Exports | null {
  if (instance !== undefined) return instance;
  try {
    const mod = new WebAssembly.Module(Buffer.from(KERNELS_WASM_BASE64, 'base64'));
    instance = new WebAssembly.Instance(mod, {}).exports as unknown as Exports;
  } catch {
    instance = null; // no SIMD in this engine
  }
  return instance;
}

/** The module with at least `bytes` of memory. */
function withMemory(k: Exports, bytes: number): ArrayBuffer {
  const have = k.memory.buffer.byteLength;
  if (have < bytes) k.memory.grow(Math.ceil((bytes - have) / PAGE));
  return k.memory.buffer;
}

export interface WasmKernels {
  /**
   * q[i] = clamp(round(data[i]·inv) + zp, qmin, qmax) (ties to even, NaN → zp) for i in
   * [from, to), the bytes written into `q` (int8 or uint8).
   */
  quantize8(data: Float32Array, q: Int8Array | Uint8Array, from: number, to: number, inv: number, zp: number, qmin: number, qmax: number): void;
  /** The same per channel on the last axis: `data` is rows × c, channel ch with inv[ch], zp[ch]. */
  quantize8Channels(data: Float32Array, q: Int8Array | Uint8Array, c: number, inv: Float64Array, zp: ArrayLike<number>, qmin: number, qmax: number): void;
  /**
   * Per channel on the last axis (`data` is rows × c), the least and greatest value, NaN ignored
   * (+Inf / −Inf for a channel with no number), into `min` and `max`.
   */
  minMaxChannels(data: Float32Array, c: number, min: Float64Array, max: Float64Array): void;
  /** Whether every value is finite (no ±Inf, no NaN). */
  allFinite(data: Float32Array): boolean;
  /**
   * Four 32-bit lanes over words (length a multiple of 4), lane j taking words j, j+4, …:
   * s ← rotl13((s ^ w)·K[j]), from `state`, which is updated.
   */
  laneHash(words: Uint32Array, state: Int32Array): void;
  /** How many values are ±0. */
  countZeros(data: Float32Array): number;
  /** How many 16-bit floats (float16 or bfloat16 bit patterns) are ±0. */
  countZeros16(data: Uint16Array): number;
  /** How many bytes equal `z` (0..255). */
  countEqualBytes(data: Uint8Array, z: number): number;
  /** float16 bit patterns of float32 values (round to nearest even; overflow → ±Inf; NaN kept). */
  toHalf(data: Float32Array, out: Uint16Array): void;
  /** Whether some finite value has |x| > 65504 (the largest float16). */
  beyondHalf(data: Float32Array): boolean;
  /**
   * Blocks of `bs` consecutive values (a table's rows, length a multiple of bs), symmetric at
   * `bits` (4 or 8): the scale of each block into `scales`, the codes into `out` (8 bits: a byte
   * each, zero point 128; 4 bits: two a byte, the first in the low nibble, zero point 8).
   */
  rowBlocks(data: Float32Array, bs: number, bits: 4 | 8, scales: Float32Array, out: Uint8Array): void;
  /**
   * The blocks of W [K, N] (quantizeInt4Blocks / quantizeInt8Blocks): W is transposed a band of
   * rows at a time in the module's memory (zero rows past K), so that each column's blocks are
   * contiguous and its codes go straight into the layout.
   */
  blocks(job: BlocksJob): void;
}

export function wasmKernels(): WasmKernels | null {
  if (!enabled) return null;
  const k = load();
  return k ? kernels(k) : null;
}

type Flat = Float32Array | Uint16Array | Uint8Array;

/**
 * `data` through the module's memory a chunk at a time (copied to offset 0), `each(n)` called on
 * every chunk of n elements; stops early, returning true, when `each` returns true.
 */
function throughMemory(k: Exports, data: Flat, each: (n: number) => boolean | void): boolean {
  for (let start = 0; start < data.length; start += CHUNK) {
    const n = Math.min(CHUNK, data.length - start);
    const view = data.subarray(start, start + n);
    const ctor = data.constructor as new (b: ArrayBuffer, o: number, n: number) => Flat;
    new ctor(withMemory(k, n * data.BYTES_PER_ELEMENT), 0, n).set(view as never);
    if (each(n)) return true;
  }
  return false;
}

function kernels(k: Exports): WasmKernels {
  return {
    quantize8(data, q, from, to, inv, zp, qmin, qmax) {
      for (let start = from; start < to; start += CHUNK) {
        const n = Math.min(CHUNK, to - start);
        const buf = withMemory(k, n * 5);
        new Float32Array(buf, 0, n).set(data.subarray(start, start + n));
        k.q8s(0, n * 4, n, inv, zp, qmin - zp, qmax - zp);
        bytesOf(q).set(new Uint8Array(buf, n * 4, n), start);
      }
    },
    quantize8Channels(data, q, c, inv, zp, qmin, qmax) {
      const rows = c === 0 ? 0 : data.length / c;
      // per channel: inv (f64), zero point, lower and upper bound (i32)
      const chanBytes = c * 20;
      const perChunk = Math.max(1, Math.floor(CHUNK / Math.max(c, 1)));
      const buf0 = withMemory(k, chanBytes + Math.min(rows, perChunk) * c * 5);
      new Float64Array(buf0, 0, c).set(inv);
      const z = new Int32Array(buf0, c * 8, c);
      const lo = new Int32Array(buf0, c * 12, c);
      const hi = new Int32Array(buf0, c * 16, c);
      for (let ch = 0; ch < c; ch++) {
        z[ch] = zp[ch];
        lo[ch] = qmin - zp[ch];
        hi[ch] = qmax - zp[ch];
      }
      const out = bytesOf(q);
      for (let row = 0; row < rows; row += perChunk) {
        const r = Math.min(perChunk, rows - row);
        const n = r * c;
        const src = chanBytes;
        const dst = src + n * 4;
        const buf = k.memory.buffer;
        new Float32Array(buf, src, n).set(data.subarray(row * c, row * c + n));
        k.q8c(src, dst, r, c, 0, c * 8, c * 12, c * 16);
        out.set(new Uint8Array(buf, dst, n), row * c);
      }
    },
    minMaxChannels(data, c, min, max) {
      const rows = c === 0 ? 0 : data.length / c;
      const perChunk = Math.max(1, Math.floor(CHUNK / Math.max(c, 1)));
      const buf0 = withMemory(k, c * 8 + Math.min(rows, perChunk) * c * 4);
      new Float32Array(buf0, 0, c).fill(Infinity);
      new Float32Array(buf0, c * 4, c).fill(-Infinity);
      for (let row = 0; row < rows; row += perChunk) {
        const n = Math.min(perChunk, rows - row) * c;
        new Float32Array(k.memory.buffer, c * 8, n).set(data.subarray(row * c, row * c + n));
        k.mmc(c * 8, n / c, c, 0, c * 4);
      }
      min.set(new Float32Array(k.memory.buffer, 0, c));
      max.set(new Float32Array(k.memory.buffer, c * 4, c));
    },
    allFinite(data) {
      return !throughMemory(k, data, (n) => !!k.nonfinite(0, n));
    },
    laneHash(words, state) {
      withMemory(k, 16 + Math.min(words.length, CHUNK) * 4);
      new Int32Array(k.memory.buffer, 0, 4).set(state);
      for (let start = 0; start < words.length; start += CHUNK) {
        const n = Math.min(CHUNK, words.length - start);
        new Uint32Array(k.memory.buffer, 16, n).set(words.subarray(start, start + n));
        k.lanehash(16, n, 0);
      }
      state.set(new Int32Array(k.memory.buffer, 0, 4));
    },
    countZeros(data) {
      let zeros = 0;
      throughMemory(k, data, (n) => void (zeros += k.zeros32(0, n)));
      return zeros;
    },
    countZeros16(data) {
      let zeros = 0;
      throughMemory(k, data, (n) => void (zeros += k.zeros16(0, n)));
      return zeros;
    },
    countEqualBytes(data, z) {
      let eq = 0;
      throughMemory(k, data, (n) => void (eq += k.eq8(0, n, z)));
      return eq;
    },
    toHalf(data, out) {
      for (let start = 0; start < data.length; start += CHUNK) {
        const n = Math.min(CHUNK, data.length - start);
        const buf = withMemory(k, n * 6);
        new Float32Array(buf, 0, n).set(data.subarray(start, start + n));
        k.half(0, n * 4, n);
        out.set(new Uint16Array(buf, n * 4, n), start);
      }
    },
    beyondHalf(data) {
      return throughMemory(k, data, (n) => !!k.beyondhalf(0, n));
    },
    rowBlocks(data, bs, bits, scales, out) {
      // chunks of whole blocks (BAND is a multiple of every power-of-two block size up to it),
      // each chunk one row of blocks for colq
      const step = Math.max(bs, BAND - (BAND % bs));
      const mode = MODE_CODE[bits === 8 ? 'int8' : 'int4'];
      for (let start = 0; start < data.length; start += step) {
        const n = Math.min(step, data.length - start);
        const nb = n / bs;
        const codes = bits === 8 ? n : n / 2;
        // layout: src f32[n] | scales f32[n / bs] | out u8[codes]
        const buf = withMemory(k, n * 4 + nb * 4 + codes);
        new Float32Array(buf, 0, n).set(data.subarray(start, start + n));
        k.colq(0, 1, nb, bs, mode, n * 4, 0, 0, n * 4 + nb * 4, 0, 0, 0, 0);
        scales.set(new Float32Array(buf, n * 4, nb), start / bs);
        out.set(new Uint8Array(buf, n * 4 + nb * 4, codes), bits === 8 ? start : start / 2);
      }
    },
    blocks({ w, K, N, bs, mode, packed, scales, zeroPoints, errors, eight }) {
      const kBlocks = Math.ceil(K / bs);
      const blob = mode === 'int8' ? bs : bs / 2;
      // symmetric 4 and 8 bits from the same extremes (mode 3); asymmetric 4 bits, then 8 bits
      const m = eight && mode === 'int4' ? 3 : MODE_CODE[mode];
      const after8 = eight && mode === 'int4-asym';
      // a slab of C columns at a time (their blocks, at most about SLAB bytes, stay in the module
      // until the slab is done: in the layout a slab's blocks are one run), down its rows a band of
      // R rows (whole blocks, about BAND values: the band and its transpose stay in the core's cache)
      const perColumn = kBlocks * (4 + 1 + blob + (eight ? 4 + bs : 0));
      const C = Math.min(N, Math.max(4, Math.floor(SLAB / perColumn / 4) * 4));
      const R = Math.min(kBlocks * bs, Math.max(bs, Math.floor(BAND / C / bs) * bs));
      // layout: scales f32[C·kBlocks] | zero points u8[C·kBlocks] | codes u8[C·kBlocks·blob] |
      // 8-bit scales f32[C·kBlocks] | 8-bit codes u8[C·kBlocks·bs] | err, e2 f64[K] | band f32[R·C] |
      // its transpose f32[C·R]
      const at16 = (x: number) => Math.ceil(x / 16) * 16;
      const sc = 0;
      const zp = at16(C * kBlocks * 4);
      const out = at16(zp + C * kBlocks);
      const sc8 = at16(out + C * kBlocks * blob);
      const out8 = sc8 + (eight ? C * kBlocks * 4 : 0);
      const err = at16(out8 + (eight ? C * kBlocks * bs : 0));
      const e2 = err + (errors ? K * 8 : 0);
      const src = at16(e2 + (errors ? K * 8 : 0));
      const tr = src + R * C * 4;
      const buf = withMemory(k, tr + R * C * 4);
      // (the error sums run on over the slabs, the columns in order)
      if (errors) new Float64Array(buf, err, 2 * K).fill(0);
      for (let n0 = 0; n0 < N; n0 += C) {
        const c = Math.min(C, N - n0);
        for (let k0 = 0; k0 < K; k0 += R) {
          const len = Math.min(R, K - k0);
          const rows = Math.ceil(len / bs) * bs;
          const band = new Float32Array(buf, src, rows * c);
          if (c === N) band.set(w.subarray(k0 * N, (k0 + len) * N));
          else for (let r = 0, at = (k0 * N) + n0; r < len; r++, at += N) band.set(w.subarray(at, at + c), r * c);
          band.fill(0, len * c);
          k.trf(src, rows, c, tr);
          const b0 = k0 / bs;
          const nb = rows / bs;
          const place = [sc + b0 * 4, kBlocks, zp + b0, out + b0 * blob, kBlocks * blob] as const;
          const place8 = [sc8 + b0 * 4, kBlocks, 0, out8 + b0 * bs, kBlocks * bs] as const;
          k.colq(tr, c, nb, bs, m, ...place, place8[0], place8[3], place8[4]);
          if (after8) k.colq(tr, c, nb, bs, MODE_CODE.int8, ...place8, 0, 0, 0);
          if (errors) {
            // the columns n = 0, step, 2·step, … of W that are in this slab: from its `first`
            const first = (errors.step - (n0 % errors.step)) % errors.step;
            if (first < c) {
              const [s0, ss, z0, d0, ds] = place;
              const f = first * kBlocks;
              k.colerr(tr + first * rows * 4, c - first, nb, bs, len, errors.step, MODE_CODE[mode], s0 + f * 4, ss, z0 + f, d0 + f * blob, ds, err + k0 * 8, e2 + k0 * 8);
            }
          }
        }
        scales.set(new Float32Array(buf, sc, c * kBlocks), n0 * kBlocks);
        packed.set(new Uint8Array(buf, out, c * kBlocks * blob), n0 * kBlocks * blob);
        zeroPoints?.set(new Uint8Array(buf, zp, c * kBlocks), n0 * kBlocks);
        if (eight) {
          eight.scales.set(new Float32Array(buf, sc8, c * kBlocks), n0 * kBlocks);
          eight.packed.set(new Uint8Array(buf, out8, c * kBlocks * bs), n0 * kBlocks * bs);
        }
      }
      if (errors) {
        errors.rows.set(new Float64Array(buf, err, K));
        errors.energy.set(new Float64Array(buf, e2, K));
      }
    },
  };
}

function bytesOf(q: Int8Array | Uint8Array): Uint8Array {
  return q instanceof Uint8Array ? q : new Uint8Array(q.buffer, q.byteOffset, q.length);
}
