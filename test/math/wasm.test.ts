import { afterEach, describe, expect, it } from 'vitest';
import { allFinite, minMax, minMaxPerChannel, quantizeTensor } from '../../src/math/quant.js';
import { useWasmKernels, wasmKernels } from '../../src/math/wasm.js';
import { seededRng } from '../../src/core/rng.js';

afterEach(() => useWasmKernels(true));

/** Values of every kind: normal, ties after scaling, zeros, NaN, ±Inf, huge, tiny. */
function awkward(n: number, seed: number): Float32Array {
  const rng = seededRng(seed);
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const k = i % 17;
    a[i] =
      k === 0 ? 0 : k === 1 ? -0 : k === 2 ? NaN : k === 3 ? Infinity : k === 4 ? -Infinity : k === 5 ? 3e38 : k === 6 ? 1e-30
      : k === 7 ? (Math.floor(rng() * 200) - 100) / 2 // halves: ties when the scale is 1
      : (rng() - 0.5) * 4;
  }
  return a;
}

function both(data: Float32Array, dims: number[], opts: Parameters<typeof quantizeTensor>[2]) {
  useWasmKernels(true);
  const w = quantizeTensor(data, dims, opts);
  useWasmKernels(false);
  const j = quantizeTensor(data, dims, opts);
  useWasmKernels(true);
  return { w, j };
}

describe('WebAssembly quantization kernels', () => {
  it('are available on this Node', () => {
    expect(wasmKernels()).not.toBeNull();
  });
  it('give the JavaScript loops byte for byte: per tensor and per channel on every axis, int8 and uint8, tails', () => {
    const shapes: number[][] = [[4099], [37, 129], [3, 1031], [1027, 2], [2, 5, 300], [1100, 3]];
    let seed = 1;
    for (const dims of shapes) {
      const n = dims.reduce((a, b) => a * b, 1);
      for (const finite of [false, true]) {
        const data = finite ? Float32Array.from(awkward(n, seed), (v) => (Number.isFinite(v) && Math.abs(v) < 1e6 ? v : 0.25)) : awkward(n, seed);
        seed++;
        for (const axis of [undefined, ...dims.map((_, i) => i)]) {
          for (const [qtype, symmetric, reduceRange] of [['int8', true, false], ['int8', false, false], ['uint8', false, false], ['int8', true, true], ['uint8', false, true]] as const) {
            const { w, j } = both(data, dims, { qtype, symmetric, axis, reduceRange });
            expect(Array.from(w.q), `${dims} axis ${axis} ${qtype} sym ${symmetric} rr ${reduceRange}`).toEqual(Array.from(j.q));
            expect(Array.from(w.scale)).toEqual(Array.from(j.scale));
            expect(Array.from(w.zeroPoint)).toEqual(Array.from(j.zeroPoint));
          }
        }
      }
    }
  });
  it('min / max per tensor and per channel as the JavaScript loops (NaN ignored, all-NaN channels)', () => {
    for (const [rows, c] of [[300, 7], [64, 16], [1025, 1], [5, 1031]]) {
      const data = awkward(rows * c, rows + c);
      for (let r = 0; r < rows; r++) data[r * c] = NaN; // channel 0 holds no number
      for (const on of [true, false]) {
        useWasmKernels(on);
        const pc = minMaxPerChannel(data, [rows, c], 1);
        const pt = minMax(data);
        useWasmKernels(!on);
        const pc2 = minMaxPerChannel(data, [rows, c], 1);
        const pt2 = minMax(data);
        expect(Array.from(pc.min)).toEqual(Array.from(pc2.min));
        expect(Array.from(pc.max)).toEqual(Array.from(pc2.max));
        expect(pt).toEqual(pt2);
      }
      useWasmKernels(true);
      expect(minMaxPerChannel(data, [rows, c], 1).min[0]).toBe(0); // no number: [0, 0]
    }
  });
  it('allFinite finds one Inf or NaN anywhere (vector body, tail, later chunks)', () => {
    for (const n of [1024, 1027, (1 << 20) + 5]) {
      const a = new Float32Array(n).fill(1.5);
      expect(allFinite(a)).toBe(true);
      for (const bad of [Infinity, -Infinity, NaN]) {
        for (const at of [0, 5, n - 1, n >> 1]) {
          a[at] = bad;
          expect(allFinite(a), `${bad} at ${at} of ${n}`).toBe(false);
          a[at] = 3e38; // finite, however large
        }
      }
      expect(allFinite(a)).toBe(true);
    }
  });
  it('round half to even after scaling, like ONNX QuantizeLinear', () => {
    // scale 1 (range [-127, 127] symmetric): 0.5 → 0, 1.5 → 2, 2.5 → 2, -0.5 → 0, -1.5 → -2
    const data = new Float32Array(2048);
    data[0] = 127;
    data.set([0.5, 1.5, 2.5, -0.5, -1.5, -2.5], 1);
    const q = quantizeTensor(data, [2048], { qtype: 'int8', symmetric: true });
    expect(q.scale[0]).toBe(1);
    expect(Array.from(q.q.subarray(0, 7))).toEqual([127, 0, 2, 2, 0, -2, -2]);
  });
});

describe('kernels-wasm.ts', () => {
  it('is the assembly of kernels.wat (npm run wasm after editing the .wat)', async () => {
    const { spawnSync } = await import('node:child_process');
    const r = spawnSync(process.execPath, ['scripts/build-wasm.mjs', '--check'], { encoding: 'utf8' });
    expect(r.stdout.trim()).toBe('kernels-wasm.ts is up to date');
    expect(r.status).toBe(0);
  });
});

describe('fingerprint lanes in WebAssembly', () => {
  it('hash a large tensor to the same fingerprint as the JavaScript lanes', async () => {
    const { fingerprintModel } = await import('../../src/ir/fingerprint.js');
    const { buildEncoder } = await import('../../src/models/encoder.js');
    // a 512 × 768 embedding (over the fast-path threshold), odd word counts elsewhere
    const m = buildEncoder({ hidden: 48, heads: 2, ffn: 96, layers: 1, seq: 8, vocab: 8193 });
    useWasmKernels(true);
    const w = fingerprintModel(m);
    useWasmKernels(false);
    const j = fingerprintModel(m);
    useWasmKernels(true);
    expect(w).toBe(j);
  });
});

describe('non-zero counts in WebAssembly', () => {
  it('count as the JavaScript loops: float ±0, bytes against a zero point, tails and chunks', async () => {
    const { countNonzero } = await import('../../src/ir/params.js');
    const { Tensor } = await import('../../src/ir/tensor.js');
    const { DataType } = await import('../../src/ir/dtype.js');
    const rng = seededRng(7);
    for (const n of [1024, 1043, (1 << 20) + 17]) {
      const f = Float32Array.from({ length: n }, (_, i) => (i % 3 === 0 ? 0 : i % 7 === 0 ? -0 : i % 11 === 0 ? NaN : rng() - 0.5));
      const b = Uint8Array.from({ length: n }, (_, i) => (i % 5 === 0 ? 128 : (rng() * 256) | 0));
      const s8 = new Int8Array(b.buffer);
      const cases = [
        () => countNonzero(new Tensor('f', DataType.FLOAT, [n], f)),
        () => countNonzero(new Tensor('u', DataType.UINT8, [n], b), { zp: new Tensor('z', DataType.UINT8, [], Uint8Array.of(128)), axis: 0 }),
        () => countNonzero(new Tensor('s', DataType.INT8, [n], s8), { zp: new Tensor('z', DataType.INT8, [], Int8Array.of(-128)), axis: 0 }),
        () => countNonzero(new Tensor('s', DataType.INT8, [n], s8)),
        () => countNonzero(new Tensor('h', DataType.FLOAT16, [n >> 1], new Uint16Array(b.buffer, 0, n >> 1))),
        () => countNonzero(new Tensor('h', DataType.FLOAT16, [n], Uint16Array.from(b, (x, i) => (i % 3 ? x * 131 : i % 2 ? 0x8000 : 0)))),
      ];
      for (const c of cases) {
        useWasmKernels(true);
        const w = c();
        useWasmKernels(false);
        const j = c();
        useWasmKernels(true);
        expect(w).toBe(j);
      }
      expect(countNonzero(new Tensor('f', DataType.FLOAT, [n], f))).toBe(f.filter((v) => v !== 0).length);
    }
  });
});

describe('4-bit blocks in WebAssembly', () => {
  it('pack the same bytes, scales and zero points as the JavaScript loops', async () => {
    const { quantizeInt4Blocks } = await import('../../src/math/quant.js');
    for (const [K, N, bs] of [[64, 32, 32], [100, 37, 32], [33, 6, 16], [130, 17, 128], [256, 1024, 32]]) {
      for (const seed of [1, 2]) {
        const w = seed === 1 ? awkward(K * N, K + N) : Float32Array.from(awkward(K * N, K), (v) => (Number.isFinite(v) && Math.abs(v) < 100 ? v : 0));
        for (const symmetric of [true, false]) {
          useWasmKernels(true);
          const a = quantizeInt4Blocks(w, K, N, bs, symmetric);
          useWasmKernels(false);
          const b = quantizeInt4Blocks(w, K, N, bs, symmetric);
          useWasmKernels(true);
          const label = `${K}×${N} bs ${bs} sym ${symmetric} seed ${seed}`;
          expect(Array.from(a.packed), label).toEqual(Array.from(b.packed));
          expect(Array.from(a.scales), label).toEqual(Array.from(b.scales));
          expect(a.zeroPoints && Array.from(a.zeroPoints), label).toEqual(b.zeroPoints && Array.from(b.zeroPoints));
        }
      }
    }
  });
});
