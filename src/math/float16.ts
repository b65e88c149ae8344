/** IEEE 754 half precision and bfloat16 conversions on raw 16-bit patterns. */
import { WASM_MIN, wasmKernels } from './wasm.js';

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** float32 → float16 bits, round to nearest even; overflow → ±Inf, NaN kept. */
export function floatToHalf(value: number): number {
  f32[0] = value;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 | (mant >>> 13) : 0);
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && half & 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && half & 1)) half++; // may carry into exponent: correct
  return sign | half;
}

/** float16 bits → float32 value. */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

let halfTable: Float32Array | undefined;

/**
 * Every float16 bit pattern's float32 value (65,536 entries, 256 kB, built on first use): array
 * conversions look values up instead of decoding each (about 50× faster on a 44 M-weight model).
 */
export function halfToFloatTable(): Float32Array {
  if (!halfTable) {
    halfTable = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) halfTable[h] = halfToFloat(h);
  }
  return halfTable;
}

/** bfloat16 bits → float32 value. */
export function bfloat16ToFloat(b: number): number {
  u32[0] = b << 16;
  return f32[0];
}

/** float32 → bfloat16 bits, round to nearest even. */
export function floatToBfloat16(value: number): number {
  f32[0] = value;
  const x = u32[0];
  if ((x & 0x7f800000) === 0x7f800000 && x & 0x7fffff) return (x >>> 16) | 0x40;
  const rounded = x + 0x7fff + ((x >>> 16) & 1);
  return (rounded >>> 16) & 0xffff;
}

export function halfArrayToFloat32(src: Uint16Array): Float32Array {
  const out = new Float32Array(src.length);
  const table = halfToFloatTable();
  for (let i = 0; i < src.length; i++) out[i] = table[src[i]];
  return out;
}

export function float32ToHalfArray(src: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(src.length);
  const wasm = src instanceof Float32Array && src.length >= WASM_MIN ? wasmKernels() : null;
  if (wasm) {
    wasm.toHalf(src as Float32Array, out);
    return out;
  }
  if (!(src instanceof Float32Array)) {
    for (let i = 0; i < src.length; i++) out[i] = floatToHalf(src[i]);
    return out;
  }
  // on the bits: values whose half is normal (2^-14 ≤ |x| < 65536; those from 65520 up round to
  // Inf, as in floatToHalf) are rebiased and rounded to nearest even in integer arithmetic; zeros
  // keep their sign; the rest (subnormal halves, Inf, NaN, overflow) go through floatToHalf
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  for (let i = 0; i < bits.length; i++) {
    const x = bits[i];
    const a = x & 0x7fffffff;
    if (a >= 0x38800000 && a < 0x47800000) {
      const m = a - 0x38000000;
      out[i] = ((x >>> 16) & 0x8000) | ((m + 0xfff + ((m >>> 13) & 1)) >>> 13);
    } else if (a === 0) out[i] = (x >>> 16) & 0x8000;
    else out[i] = floatToHalf(src[i]);
  }
  return out;
}

/** The first finite value of `src` with |x| > 65504, the largest float16 (it would become ±Inf), if any. */
export function beyondHalfRange(src: Float32Array): number | undefined {
  // the WebAssembly kernel says whether there is one; the loop below finds the first
  const wasm = src.length >= WASM_MIN ? wasmKernels() : null;
  if (wasm && !wasm.beyondHalf(src)) return undefined;
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  for (let i = 0; i < bits.length; i++) {
    const a = bits[i] & 0x7fffffff;
    // 0x477fe000 is 65504; from 0x7f800000 up: Inf and NaN
    if (a > 0x477fe000 && a < 0x7f800000) return src[i];
  }
  return undefined;
}
