import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { BROTLI_MAX, brotliSize, brotliSizeOf, compressInline, filesSize, gzipEstimate, measureSize } from '../../src/bench/size.js';
import { countNonzero, countParams, nibblesNot8, paramsOf, rememberParams } from '../../src/ir/params.js';
import { seededRng } from '../../src/passes/pass.js';
import { DataType } from '../../src/ir/dtype.js';
import { ModelBuilder } from '../../src/ir/builder.js';
import { Tensor } from '../../src/ir/tensor.js';
import { float32ToHalfArray } from '../../src/math/float16.js';
import { quantizeInt4Blocks } from '../../src/math/quant.js';
import { modelToBytes, saveModel } from '../../src/onnx/index.js';

const dir = mkdtempSync(join(tmpdir(), 'mlc-bench-size-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function mlp(zeroEvery = 0) {
  const b = new ModelBuilder();
  const x = b.input('x', DataType.FLOAT, ['N', 64]);
  const w = new Float32Array(64 * 32).map((_, i) => (zeroEvery && i % zeroEvery === 0 ? 0 : Math.sin(i) + 2));
  const h = b.op('Gemm', [x, b.init('w', [64, 32], w), b.init('b', [32], new Float32Array(32))]);
  b.output(b.op('Relu', [h]), DataType.FLOAT, ['N', 32]);
  return b.build();
}

describe('countNonzero', () => {
  it('float, float16 (both zeros), int64', () => {
    expect(countNonzero(Tensor.float32('a', [4], [0, -0, 1, -2]))).toBe(2);
    const h = new Tensor('h', DataType.FLOAT16, [4], float32ToHalfArray([0, -0, 0.5, 1e-3]));
    expect(countNonzero(h)).toBe(2);
    expect(countNonzero(Tensor.int64('i', [3], [0, 5, -1]))).toBe(2);
  });
  it('quantized weights count q != zero point (per tensor and per axis)', () => {
    const q = new Tensor('q', DataType.UINT8, [2, 3], Uint8Array.from([128, 128, 3, 7, 128, 7]));
    expect(countNonzero(q)).toBe(6);
    expect(countNonzero(q, { zp: new Tensor('z', DataType.UINT8, [], Uint8Array.from([128])), axis: 1 })).toBe(3);
    // per-axis along axis 0: row 0 zero point 128, row 1 zero point 7
    expect(countNonzero(q, { zp: new Tensor('z', DataType.UINT8, [2], Uint8Array.from([128, 7])), axis: 0 })).toBe(2);
  });
  it('int8 with a per-axis zero point: the same point for every channel, or differing, on any axis', () => {
    const q = new Tensor('q', DataType.INT8, [2, 3], Int8Array.from([0, -3, 0, -128, 5, -3]));
    const zp = (v: number[]) => new Tensor('z', DataType.INT8, [v.length], Int8Array.from(v));
    expect(countNonzero(q, { zp: zp([0, 0, 0]), axis: 1 })).toBe(4);
    expect(countNonzero(q, { zp: zp([-3, -3, -3]), axis: -1 })).toBe(4);
    // zero points -3, 5, 0 by column: [0,2] and [1,1] equal theirs
    expect(countNonzero(q, { zp: zp([-3, 5, 0]), axis: 1 })).toBe(4);
    // zero points -3, 5 by row: [0,1] and [1,1] equal theirs
    expect(countNonzero(q, { zp: zp([-3, 5]), axis: 0 })).toBe(4);
  });
  it('int4 nibbles are unpacked (low nibble first, signed)', () => {
    // values [0, -1, 3, 0, 0]: bytes 0xF0, 0x03, 0x00
    const t = new Tensor('q4', DataType.INT4, [5], Uint8Array.from([0xf0, 0x03, 0x00]));
    expect(countNonzero(t)).toBe(2);
    expect(countNonzero(t, { zp: new Tensor('z', DataType.INT4, [], Uint8Array.from([0x0f])), axis: 0 })).toBe(4);
  });
});

describe('countParams', () => {
  it('counts initializer elements, non-zeros and bytes by dtype', () => {
    const s = countParams(mlp(4));
    expect(s.params).toBe(64 * 32 + 32);
    expect(s.nonzeroParams).toBe(64 * 32 - 512); // bias all zero, every 4th weight zero
    expect(s.bytesByDtype).toEqual({ float: (64 * 32 + 32) * 4 });
  });
  it('uses the zero point of the DequantizeLinear that reads a weight', () => {
    const b = new ModelBuilder();
    const x = b.input('x', DataType.FLOAT, ['N', 2]);
    const q = b.init('wq', [2, 2], Uint8Array.from([128, 130, 128, 0]), DataType.UINT8);
    const s = b.init('ws', [], [0.1]);
    const z = b.init('wz', [], Uint8Array.from([128]), DataType.UINT8);
    const w = b.op('DequantizeLinear', [q, s, z]);
    b.output(b.op('MatMul', [x, w]), DataType.FLOAT, ['N', 2]);
    const st = countParams(b.build());
    expect(st.params).toBe(4 + 1 + 1);
    // wq: 2 non-zero (130, 0), scale 1, zero point 128 ≠ 0 → 1
    expect(st.nonzeroParams).toBe(4);
    expect(st.bytesByDtype).toEqual({ uint8: 5, float: 4 });
  });
  it('MatMulNBits weights count K·N values, zero where q equals the block zero point', () => {
    // K not a multiple of the block: the padded tail does not count (an odd K ends mid-byte)
    for (const [K, symmetric] of [[20, true], [20, false], [21, true], [21, false], [32, true], [48, false]] as const) {
      const N = 3;
      const bs = 16;
      // integers in [-5, 10] (asymmetric scale 1) or with max |w| = 8 (symmetric scale 1): exact
      const w = Float32Array.from({ length: K * N }, (_, i) => (i % 3 === 0 ? 0 : symmetric ? ((i % 8) + 1) * (i % 2 ? 1 : -1) : (i % 16) - 5 || 1));
      if (symmetric) w[1] = -8;
      else {
        w[1] = -5;
        w[2] = 10;
      }
      const blk = quantizeInt4Blocks(w, K, N, bs, symmetric);
      const b = new ModelBuilder({ opsets: [{ domain: '', version: 17 }, { domain: 'com.microsoft', version: 1 }] });
      const x = b.input('x', DataType.FLOAT, ['M', K]);
      const ins = [x, b.init('B', [N, blk.kBlocks, bs / 2], blk.packed, DataType.UINT8), b.init('S', [N * blk.kBlocks], blk.scales)];
      if (blk.zeroPoints) ins.push(b.init('Z', [blk.zeroPoints.length], blk.zeroPoints, DataType.UINT8));
      const y = b.op('MatMulNBits', ins, { K, N, bits: 4, block_size: bs }, { domain: 'com.microsoft' });
      b.output(y, DataType.FLOAT, ['M', N]);
      const st = countParams(b.build());
      const zeros = w.filter((v) => v === 0).length;
      const extra = N * blk.kBlocks + (blk.zeroPoints?.length ?? 0);
      expect(st.params).toBe(K * N + extra);
      const nzScales = blk.scales.filter((v) => v !== 0).length + (blk.zeroPoints ? blk.zeroPoints.filter((v) => v !== 0).length : 0);
      expect(st.nonzeroParams).toBe(K * N - zeros + nzScales);
    }
  });
  it('nibblesNot8 counts the 4-bit values other than 8, a word at a time, as value by value', () => {
    const rng = seededRng(5);
    for (const len of [0, 1, 3, 4, 7, 64, 1001]) {
      for (const offset of [0, 4]) {
        const buf = new Uint8Array(len + offset);
        // mostly 8s (the zero code), some of every other nibble
        for (let i = 0; i < buf.length; i++) buf[i] = rng() < 0.5 ? 0x88 : Math.floor(rng() * 256);
        const d = buf.subarray(offset);
        let want = 0;
        for (const v of d) want += ((v & 15) !== 8 ? 1 : 0) + (v >> 4 !== 8 ? 1 : 0);
        expect(nibblesNot8(d)).toBe(want);
      }
    }
  });

  it('MatMulNBits bits 8 (the blocks int4 keeps at 8 bits): zero where q is 128, the padded tail not counted', async () => {
    const { quantizeInt8Blocks } = await import('../../src/math/blockquant.js');
    // K = 64 (no padding: the bytes are counted at once) and K = 50 (a padded block, counted per block)
    for (const K of [64, 50]) {
      const N = 40;
      const bs = 32;
      const w = Float32Array.from({ length: K * N }, (_, i) => (i % 5 === 0 ? 0 : Math.sin(i) + 2));
      const blk = quantizeInt8Blocks(w, K, N, bs);
      const b = new ModelBuilder({ opsets: [{ domain: '', version: 17 }, { domain: 'com.microsoft', version: 1 }] });
      const x = b.input('x', DataType.FLOAT, ['M', K]);
      const ins = [x, b.init('B', [N, blk.kBlocks, bs], blk.packed, DataType.UINT8), b.init('S', [N * blk.kBlocks], blk.scales)];
      b.output(b.op('MatMulNBits', ins, { K, N, bits: 8, block_size: bs }, { domain: 'com.microsoft' }), DataType.FLOAT, ['M', N]);
      const st = countParams(b.build());
      expect(st.params).toBe(K * N + N * blk.kBlocks);
      expect(st.nonzeroParams).toBe(K * N - w.filter((v) => v === 0).length + N * blk.kBlocks);
    }
  });
  it('paramsOf: the counts remembered for a model (a copy), else counted', () => {
    const b = new ModelBuilder();
    const x = b.input('x', DataType.FLOAT, [2]);
    b.output(b.op('Mul', [x, b.init('w', [2], [0, 3])]), DataType.FLOAT, [2], 'y');
    const m = b.build();
    expect(paramsOf(m)).toEqual(countParams(m));
    const other = b.build();
    rememberParams(other, { params: 7, nonzeroParams: 5, bytesByDtype: { float: 28 } });
    const got = paramsOf(other);
    expect(got).toEqual({ params: 7, nonzeroParams: 5, bytesByDtype: { float: 28 } });
    got.bytesByDtype.float = 0; // a copy: the remembered counts stay
    expect(paramsOf(other).bytesByDtype.float).toBe(28);
  });
  it('includes Constant-node tensors and subgraph initializers', () => {
    const b = new ModelBuilder();
    const x = b.input('x', DataType.FLOAT, [2]);
    const c = b.op('Constant', [], { value: Tensor.float32('cv', [2], [1, 0]) });
    b.output(b.op('Add', [x, c]), DataType.FLOAT, [2]);
    const st = countParams(b.build());
    expect(st.params).toBe(2);
    expect(st.nonzeroParams).toBe(1);
  });
});

describe('measureSize', () => {
  it('on disk: file bytes and gzip -9 of the file', async () => {
    const m = mlp(2);
    const p = join(dir, 'm.onnx');
    await saveModel(m, p);
    const s = await measureSize(m, { path: p });
    expect(s.sizeBytes).toBe(statSync(p).size);
    expect(s.gzipBytes).toBe(gzipSync(readFileSync(p), { level: 9 }).length);
    expect(s.gzipBytes).toBeLessThan(s.sizeBytes);
    expect(s.params).toBe(64 * 32 + 32);
  });
  it('counts external data files given with the model', async () => {
    const m = mlp();
    const p = join(dir, 'ext.onnx');
    const r = await saveModel(m, p, { externalData: true });
    expect(r.externalDataFile).toBeTruthy();
    const s = await measureSize(m, { path: p, externalFiles: [r.externalDataFile!] });
    expect(s.sizeBytes).toBe(statSync(p).size + statSync(r.externalDataFile!).size);
    expect(s.sizeBytes).toBe(r.bytes);
    expect(s.gzipBytes).toBe(
      gzipSync(readFileSync(p), { level: 9 }).length + gzipSync(readFileSync(r.externalDataFile!), { level: 9 }).length,
    );
  });
  it('finds the external data files a model file references', async () => {
    const m = mlp();
    const p = join(dir, 'ext2.onnx');
    const r = await saveModel(m, p, { externalData: true });
    const s = await measureSize(m, { path: p });
    expect(s.sizeBytes).toBe(statSync(p).size + statSync(r.externalDataFile!).size);
    expect(s.sizeBytes).toBeGreaterThan(64 * 32 * 4);
  });
  it('in memory: the serialized model', async () => {
    const m = mlp();
    const s = await measureSize(m);
    expect(s.sizeBytes).toBeGreaterThan(64 * 32 * 4);
  });
  it('a missing file is an input error naming it', async () => {
    await expect(measureSize(mlp(), { path: join(dir, 'nope.onnx'), externalFiles: [] })).rejects.toThrow(/nope\.onnx/);
  });
});

describe('gzip size of large files: a sampled estimate', () => {
  // 3 MiB whose compressibility changes along the file (bands of 64 KiB): random bytes, text-like, zeros
  const sample = { blocks: 12, blockBytes: 16 << 10 };
  function mixed(seed: number): Uint8Array {
    const rng = seededRng(seed);
    const out = new Uint8Array(3 << 20);
    for (let i = 0; i < out.length; i++) {
      const part = Math.floor(i / (1 << 16)) % 3;
      out[i] = part === 0 ? Math.floor(rng() * 256) : part === 1 ? 97 + Math.floor(rng() * 4) : rng() < 0.02 ? 1 : 0;
    }
    return out;
  }
  it('is close to the exact gzip -9 size, says it is sampled, and is exact when asked', async () => {
    const p = join(dir, 'big.bin');
    const data = mixed(3);
    writeFileSync(p, data);
    const exact = gzipSync(data, { level: 9 }).length;
    const est = await filesSize([p], { sampleAbove: 1 << 20, sample });
    expect(est.sizeBytes).toBe(data.length);
    expect(est.gzipSampled).not.toBeNull();
    expect(est.gzipSampled!.fraction).toBeGreaterThan(0);
    expect(est.gzipSampled!.fraction).toBeLessThan(1);
    expect(Math.abs(est.gzipBytes - exact) / exact).toBeLessThan(0.03);
    expect(await filesSize([p], { sampleAbove: 1 << 20, sample, exact: true })).toEqual({ sizeBytes: data.length, gzipBytes: exact, gzipSampled: null });
    expect(await filesSize([p])).toEqual({ sizeBytes: data.length, gzipBytes: exact, gzipSampled: null }); // under the default limit
  });
  it('an estimate over bytes in memory equals the one over the same file', async () => {
    const data = mixed(4);
    const p = join(dir, 'big2.bin');
    writeFileSync(p, data);
    const fromFile = await filesSize([p], { sampleAbove: 1 << 20, sample });
    const fromBytes = await gzipEstimate(data.length, async (o, l) => data.subarray(o, o + l), sample);
    expect(fromBytes.gzipBytes).toBe(fromFile.gzipBytes);
    expect(fromBytes.sample).toEqual(fromFile.gzipSampled);
    // uniform data: the standard error is small and the estimate within a few of them, plus the
    // bias of blocks compressed apart (each starts without history: ~0.2 % for 32 KiB blocks)
    const rng = seededRng(9);
    const uni = Uint8Array.from({ length: 2 << 20 }, () => (rng() < 0.5 ? Math.floor(rng() * 256) : 0));
    const e = await gzipEstimate(uni.length, async (o, l) => uni.subarray(o, o + l), { blocks: 16, blockBytes: 32 << 10 });
    const exact = gzipSync(uni, { level: 9 }).length;
    expect(e.sample.relStdErr).toBeLessThan(0.01);
    expect(Math.abs(e.gzipBytes - exact) / exact).toBeLessThan(4 * e.sample.relStdErr + 0.005);
  });
});

describe('brotli size', () => {
  it('of a model in memory and of its file agree, round-trip, and beat gzip on sparse weights', async () => {
    const m = mlp(2);
    const bytes = modelToBytes(m);
    const p = join(dir, 'brotli.onnx');
    await saveModel(m, p);
    const mem = await brotliSizeOf(m);
    expect(mem).toBe(await brotliSize(bytes));
    expect(await brotliSizeOf(undefined, { path: p })).toBe(mem);
    expect(mem!).toBeLessThan(gzipSync(bytes, { level: 9 }).length);
    expect(BROTLI_MAX).toBeGreaterThan(bytes.length);
  });
});

describe('compressInline (fleet workers: every figure on the calling thread)', () => {
  it('gives the same gzip, estimate and brotli bytes as the thread pool', async () => {
    const m = mlp(3);
    const p = join(dir, 'inline.onnx');
    await saveModel(m, p, { externalData: true });
    const rng = seededRng(5);
    const big = join(dir, 'inline.bin');
    writeFileSync(big, Uint8Array.from({ length: 192 << 10 }, () => (rng() < 0.3 ? Math.floor(rng() * 256) : 0)));
    const sample = { blocks: 4, blockBytes: 8 << 10 };
    const figures = async () => [
      await measureSize(m, { path: p }),
      await filesSize([big], { sampleAbove: 64 << 10, sample }),
      await filesSize([big], { sampleAbove: 64 << 10, sample, exact: true }),
      await brotliSizeOf(m),
    ];
    const pooled = await figures();
    compressInline(true);
    try {
      expect(await figures()).toEqual(pooled);
      await expect(filesSize([join(dir, 'nope.bin')])).rejects.toThrow(/nope\.bin/);
    } finally {
      compressInline(false);
    }
    expect((pooled[2] as { gzipBytes: number }).gzipBytes).toBe(gzipSync(readFileSync(big), { level: 9 }).length);
  });
});
