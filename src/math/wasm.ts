/**
 * The WebAssembly SIMD kernels of kernels.wat, with the copying in and out of their memory.
 *
 * The kernels compute exactly what the JavaScript loops they replace compute (the tests compare
 * both on every kind of input), about 5–10× faster: V8 does not vectorize the JavaScript loops,
 * and a float → int8 store there costs a conversion per element. Data goes through the module's
 * memory in chunks of CHUNK elements, so memory stays small whatever the tensor.
 *
 * Where WebAssembly SIMD is missing (or MLC_NO_WASM=1 is set) `wasmKernels()` is null and callers
 * keep their JavaScript loops.
 */
import { KERNELS_WASM_BASE64 } from './kernels-wasm.js';

interface Exports {
  memory: WebAssembly.Memory;
  q8s(src: number, dst: number, n: number, inv: number, zp: number, lo: number, hi: number): void;
  q8c(src: number, dst: number, rows: number, c: number, inv: number, zp: number, lo: number, hi: number): void;
  mmc(src: number, rows: number, c: number, lo: number, hi: number): void;
  nonfinite(src: number, n: number): number;
  lanehash(src: number, n4: number, state: number): void;
  zeros32(src: number, n: number): number;
  eq8(src: number, n: number, z: number): number;
  tr8(src: number, rows: number, N: number, dst: number): void;
  rowsq(src: number, n: number, bs: number, bits: number, scales: number, dst: number): void;
  half(src: number, dst: number, n: number): void;
  zeros16(src: number, n: number): number;
  beyondhalf(src: number, n: number): number;
  absext(src: number, rows: number, N: number, ext: number): void;
  q4pack(src: number, len: number, bs: number, N: number, sc: number, z: number, zlo: number, zhi: number, out: number): void;
}

/**
 * One block row of a 4-bit block quantization: the block's extremes per column, handed to
 * `scales`, which fills every column's scale and zero point; then the packed bytes.
 */
export interface Int4BlockRow {
  /** `rows` is len × N (the block's rows of W), len ≤ bs; rows past len count as zeros */
  rows: Float32Array;
  len: number;
  bs: number;
  N: number;
  symmetric: boolean;
  /**
   * symmetric: ext[n] is column n's value of largest magnitude (0 when none); asymmetric: lo[n],
   * hi[n] its range widened to 0. Fill sc[n] (the float32 scale, as a number) and z[n].
   */
  scales(ext: Float32Array | null, lo: Float32Array | null, hi: Float32Array | null, sc: Float64Array, z: Int32Array): void;
  /** bs / 2 × N bytes: row j column n = q(row 2j) | q(row 2j + 1) << 4 */
  out: Uint8Array;
}

export interface Int8BlockRow {
  /** `rows` is len × N (one block row of W) */
  rows: Float32Array;
  len: number;
  N: number;
  /** ext[n] is column n's value of largest magnitude (0 when none): fill inv[n] = 1 / scale */
  scales(ext: Float32Array, inv: Float64Array): void;
  /** N × len bytes, column by column (column n's codes at n · len): q = clamp(round(w · inv) + 128, 0, 255) (ties to even, NaN → 128) */
  out: Uint8Array;
}

/** Runs shorter than this stay in JavaScript (the call and the copies cost more than they save). */
export const WASM_MIN = 1024;

/** Elements per chunk through the module's memory (4 MiB of float32 in, 1 MiB out). */
const CHUNK = 1 << 20;
const PAGE = 65536;

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
  /** q = clamp(round(w / s) + z, 0, 15) (ties to even, NaN → z) of one block row, packed. */
  int4BlockRow(job: Int4BlockRow): void;
  /** The 8-bit codes of one block row (symmetric, zero point 128), column by column. */
  int8BlockRow(job: Int8BlockRow): void;
  /**
   * Blocks of `bs` consecutive values (a table's rows, length a multiple of bs), symmetric at
   * `bits` (4 or 8): the scale of each block into `scales`, the codes into `out` (8 bits: a byte
   * each, zero point 128; 4 bits: two a byte, the first in the low nibble, zero point 8).
   */
  rowBlocks(data: Float32Array, bs: number, bits: 4 | 8, scales: Float32Array, out: Uint8Array): void;
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
    int4BlockRow({ rows, len, bs, N, symmetric, scales, out }) {
      // layout: sc f64[N] | z, zlo, zhi i32[N] | ext (or lo) f32[N] | hi f32[N] | rows f32[len·N] | out u8[bs/2·N]
      const sc = 0;
      const z = N * 8;
      const zlo = N * 12;
      const zhi = N * 16;
      const e1 = N * 20;
      const e2 = N * 24;
      const src = N * 28;
      const dst = src + len * N * 4;
      const buf = withMemory(k, dst + (bs / 2) * N);
      new Float32Array(buf, src, len * N).set(rows.subarray(0, len * N));
      const a = new Float32Array(buf, e1, N).fill(0);
      const b = new Float32Array(buf, e2, N).fill(0);
      if (symmetric) k.absext(src, len, N, e1);
      else k.mmc(src, len, N, e1, e2);
      const scv = new Float64Array(buf, sc, N);
      const zv = new Int32Array(buf, z, N);
      scales(symmetric ? a : null, symmetric ? null : a, symmetric ? null : b, scv, zv);
      const lo = new Int32Array(buf, zlo, N);
      const hi = new Int32Array(buf, zhi, N);
      for (let n = 0; n < N; n++) {
        lo[n] = -zv[n];
        hi[n] = 15 - zv[n];
      }
      k.q4pack(src, len, bs, N, sc, z, zlo, zhi, dst);
      out.set(new Uint8Array(buf, dst, (bs / 2) * N));
    },
    rowBlocks(data, bs, bits, scales, out) {
      // chunks of whole blocks (CHUNK is a multiple of every power-of-two block size up to it)
      const step = Math.max(bs, CHUNK - (CHUNK % bs));
      for (let start = 0; start < data.length; start += step) {
        const n = Math.min(step, data.length - start);
        const nb = n / bs;
        const codes = bits === 8 ? n : n / 2;
        // layout: src f32[n] | scales f32[n / bs] | out u8[codes]
        const buf = withMemory(k, n * 4 + nb * 4 + codes);
        new Float32Array(buf, 0, n).set(data.subarray(start, start + n));
        k.rowsq(0, n, bs, bits, n * 4, n * 4 + nb * 4);
        scales.set(new Float32Array(buf, n * 4, nb), start / bs);
        out.set(new Uint8Array(buf, n * 4 + nb * 4, codes), bits === 8 ? start : start / 2);
      }
    },
    int8BlockRow({ rows, len, N, scales, out }) {
      // layout: inv f64[N] | z, lo, hi i32[N] | ext f32[N] | rows f32[len·N] | codes u8[len·N] | out u8[N·len]
      const e1 = N * 20;
      const src = N * 24;
      const dst = src + len * N * 4;
      const tr = dst + len * N;
      const buf = withMemory(k, tr + len * N);
      new Float32Array(buf, src, len * N).set(rows.subarray(0, len * N));
      const ext = new Float32Array(buf, e1, N).fill(0);
      k.absext(src, len, N, e1);
      scales(ext, new Float64Array(buf, 0, N));
      new Int32Array(buf, N * 8, N).fill(128);
      new Int32Array(buf, N * 12, N).fill(-128);
      new Int32Array(buf, N * 16, N).fill(127);
      k.q8c(src, dst, len, N, 0, N * 8, N * 12, N * 16);
      k.tr8(dst, len, N, tr);
      out.set(new Uint8Array(buf, tr, len * N));
    },
  };
}

function bytesOf(q: Int8Array | Uint8Array): Uint8Array {
  return q instanceof Uint8Array ? q : new Uint8Array(q.buffer, q.byteOffset, q.length);
}
