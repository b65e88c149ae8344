import { describe, expect, it } from 'vitest';
import { beyondHalfRange, float32ToHalfArray, floatToHalf, halfArrayToFloat32, halfToFloat } from '../../src/math/float16.js';
import { useWasmKernels } from '../../src/math/wasm.js';

describe('float32ToHalfArray', () => {
  it('gives floatToHalf bit for bit: normals, ties, zeros, subnormals, overflow, Inf, NaN', () => {
    const edges = [0, -0, 1, -1, 1 / 3, 65504, 65519, 65520, 65535, 65536, -65520, 1e6, 2 ** -14, 2 ** -14 * 0.9999, 6e-5, 5.96e-8, 2.98e-8, 1e-10, Infinity, -Infinity, NaN];
    // ties: 1 + k·2^-11 sits halfway between two halves; even k rounds down, odd k rounds up
    for (let k = 1; k < 16; k++) edges.push(1 + (2 * k + 1) * 2 ** -11, -(2048 + 2 * k + 1) * 2 ** -11);
    const bits = new Uint32Array(4096);
    for (let i = 0; i < bits.length; i++) bits[i] = Math.imul(i + 1, 0x9e3779b1) >>> 0; // spread over all exponents
    const all = Float32Array.from([...edges, ...new Float32Array(bits.buffer)]);
    const want = Array.from(all, (v) => floatToHalf(v));
    // the WebAssembly kernel (arrays of 1024 and more) and the JavaScript loop
    useWasmKernels(false);
    expect(Array.from(float32ToHalfArray(all))).toEqual(want);
    useWasmKernels(true);
    const got = float32ToHalfArray(all);
    expect(Array.from(got)).toEqual(want);
    expect(halfToFloat(got[edges.indexOf(65519)])).toBe(65504);
    expect(halfToFloat(got[edges.indexOf(65520)])).toBe(Infinity);
    expect(got[1]).toBe(0x8000);
  });
  it('reads an offset view of a larger buffer', () => {
    const buf = new Float32Array([7, 1.5, -2, 9]);
    expect(Array.from(float32ToHalfArray(buf.subarray(1, 3))).map(halfToFloat)).toEqual([1.5, -2]);
  });
});

describe('beyondHalfRange', () => {
  it('finds finite values beyond ±65504 and ignores Inf and NaN', () => {
    expect(beyondHalfRange(Float32Array.of(1, 65504, -65504, Infinity, -Infinity, NaN))).toBeUndefined();
    expect(beyondHalfRange(Float32Array.of(1, -65505, 70000))).toBe(-65505);
    // long arrays (the WebAssembly kernel): body and tail
    for (const n of [4096, 4099]) {
      const a = new Float32Array(n).fill(65504);
      a[7] = Infinity;
      a[8] = NaN;
      expect(beyondHalfRange(a)).toBeUndefined();
      for (const at of [0, 1000, n - 1]) {
        a[at] = -70000;
        expect(beyondHalfRange(a)).toBe(-70000);
        a[at] = 1;
      }
    }
  });
});

describe('halfArrayToFloat32', () => {
  it('decodes every float16 bit pattern as halfToFloat does', () => {
    const all = new Uint16Array(65536).map((_, i) => i);
    const out = halfArrayToFloat32(all);
    for (let h = 0; h < 65536; h++) {
      const want = halfToFloat(h);
      if (Number.isNaN(want)) expect(Number.isNaN(out[h])).toBe(true);
      else if (out[h] !== want || Object.is(out[h], -0) !== Object.is(want, -0)) throw new Error(`0x${h.toString(16)}: ${out[h]} != ${want}`);
    }
  });
});
