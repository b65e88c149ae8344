/**
 * Size measurements: bytes on disk (model file plus external data files), gzip -9 bytes (what a
 * web user downloads; zeros from pruning compress away here), parameter count, non-zero
 * parameters and bytes by dtype.
 *
 * Parameters are counted by src/ir/params.ts (countParams).
 *
 * gzip runs in libuv's thread pool (zlib's async API), never on the main thread, so it overlaps
 * with whatever the caller does meanwhile (sessions, timing). A fleet worker process (many models,
 * one per core) wants the opposite: `compressInline(true)` makes every gzip and brotli figure of
 * the process run on the calling thread (zlib's sync API), so that the worker uses one core and
 * `--jobs N` workers use N; files over 64 MB compressed whole (`exact`) still stream through the
 * thread pool, lest a whole file be held in memory. The figures are the same bytes. Files up to
 * 64 MB are read whole and deflated in one piece (gzipSize), with no call back to the main thread
 * until the end: onnxruntime-node runs a session on the main thread, and a stream, which needs the
 * main thread for every 16 KiB, stalled while a pass's calibration ran beside it.
 *
 * It is level 9 throughout: on float weights lower levels are barely faster (BERT-base weights:
 * ~30 MB/s of CPU at -1, -6 and -9 alike, sizes within 0.04 %), so a faster level would buy little
 * and change the figure (on pruned int8 weights -9 is ~5x slower than -6, ~3 MB/s, for 0.3 %
 * smaller: the figure users compare with `gzip -9` wins; fleet workers run it inline). What
 * costs is the volume: a file larger than `sampleAbove` (default 64 MB) is not compressed whole
 * but estimated from a systematic sample — `GZIP_SAMPLE_BLOCKS` (32) blocks of 256 KiB spread
 * evenly over the file, each deflated at level 9 on its own — as the ratio estimate
 *   gzip ≈ S · Σcᵢ / Σbᵢ + 18   (S file bytes, bᵢ block bytes, cᵢ their deflated bytes, 18 B of
 *   gzip header and trailer), with relative standard error
 *   sqrt((1 − n/N) / n · Σ(cᵢ − R̂bᵢ)² / (n − 1)) / (R̂·b̄),  R̂ = Σcᵢ/Σbᵢ, n of N blocks.
 * (Blocks compressed apart lose up to 32 KiB of history at their start, a bias of under 0.1 % on
 * weight data.) The sample was 24 blocks of 1 MiB: 24 MiB at level 9 is 0.5–1 s of CPU per file
 * (input and output both), which on a 2-core machine took that much from the pass and its
 * onnxruntime runs beside it; 8 MiB costs a third and the estimates stayed within 0.8 % of
 * gzip -9 on BERT-base (fp32, int8, int4) and ISNet files (benchmarks: `node
 * benchmarks/io.bench.mjs gzip`). `exact: true` always compresses whole files; the figure then
 * is `gzip -9`'s.
 *
 * brotli (quality 11, 16 MiB window: what a CDN serves pre-compressed; brotliSizeOf) is measured
 * only when asked (`--brotli`), in the thread pool, for models up to `BROTLI_MAX` bytes in all:
 * quality 11 takes seconds per MB of float weights (gzip -9: ~0.1 s), too slow to run beside every
 * measurement; on indices and sparse weights it is fast and ~15 % smaller than gzip.
 */
import { createReadStream, readFileSync } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';
import { promisify } from 'node:util';
import { readFile } from 'node:fs/promises';
import { brotliCompress, brotliCompressSync, constants as zlibConstants, createGzip, deflateRaw, deflateRawSync, gzip, gzipSync } from 'node:zlib';
import { MlcError } from '../core/errors.js';
import type { Model } from '../ir/model.js';
import { countParams } from '../ir/params.js';
import type { GzipSample } from './types.js';

export type { GzipSample } from './types.js';

export interface SizeStats {
  sizeBytes: number;
  gzipBytes: number;
  /** null when gzipBytes is exact; else how it was estimated (see the file comment) */
  gzipSampled: GzipSample | null;
  params: number;
  nonzeroParams: number;
  bytesByDtype: Record<string, number>;
}

export interface GzipOptions {
  /** compress every byte (the figure is then gzip -9's); default false */
  exact?: boolean;
  /** files (or in-memory models) larger than this are estimated from a sample; default 64 MB */
  sampleAbove?: number;
  /** blocks of an estimate's sample (default GZIP_SAMPLE_BLOCKS) and their bytes (default GZIP_SAMPLE_BLOCK) */
  sample?: { blocks?: number; blockBytes?: number };
}

/** Files above this many bytes get a sampled gzip estimate unless `exact`. */
export const GZIP_SAMPLE_ABOVE = 64_000_000;
/** Blocks of GZIP_SAMPLE_BLOCK bytes deflated for an estimate. */
export const GZIP_SAMPLE_BLOCKS = 32;
/** 256 KiB */
export const GZIP_SAMPLE_BLOCK = 1 << 18;
/** gzip header (10 B) and trailer (CRC-32 and length, 8 B) around the deflate stream */
const GZIP_FRAME = 18;

/** brotli is measured for models up to this many bytes (files together); above, it is null. */
export const BROTLI_MAX = 64_000_000;

/** Compress on the calling thread (see the file comment); off by default. */
let inline = false;

/** Make this process's gzip and brotli figures run on the calling thread (fleet workers) or in the thread pool (default). */
export function compressInline(on: boolean): void {
  inline = on;
}

const gzipAsync = (b: Uint8Array, o: { level: number; chunkSize?: number }) => (inline ? Promise.resolve(gzipSync(b, o)) : promisify(gzip)(b, o));
const brotliAsync = (b: Uint8Array, o: { params: Record<number, number> }) =>
  inline ? Promise.resolve(brotliCompressSync(b, o)) : promisify(brotliCompress)(b, o);
const deflateRawAsync = (b: Uint8Array, o: { level: number; chunkSize?: number }) => (inline ? Promise.resolve(deflateRawSync(b, o)) : promisify(deflateRaw)(b, o));

/** brotli (quality 11, window 2^24) size of bytes in memory (compressed in the thread pool). */
export async function brotliSize(bytes: Uint8Array): Promise<number> {
  const params = { [zlibConstants.BROTLI_PARAM_QUALITY]: 11, [zlibConstants.BROTLI_PARAM_LGWIN]: 24, [zlibConstants.BROTLI_PARAM_SIZE_HINT]: bytes.length };
  return (await brotliAsync(bytes, { params })).length;
}

/**
 * Files up to this size are brotli-compressed at quality 11 (what a CDN serves static files with),
 * larger ones at 9: on float and int8 weights 11 runs at 0.3–1 MB/s against 4–20 MB/s for 9 and
 * gives files 1–4 % smaller (a 2-layer decoder's 13.6 MB fp32 file: 54 s against 1.8 s, 1.1 %).
 */
export const BROTLI_11_UP_TO = 2_000_000;

/**
 * brotli size of files (compressed in the thread pool, one file at a time): quality 11 when their
 * total is at most BROTLI_11_UP_TO bytes, else 9.
 * (`brotliSizeOf` below, for --brotli, measures quality 11 only and gives up above BROTLI_MAX.)
 */
export async function brotliFilesSize(paths: string[]): Promise<{ bytes: number; quality: number }> {
  let total = 0;
  for (const p of paths) total += (await stat(p)).size;
  const quality = total <= BROTLI_11_UP_TO ? 11 : 9;
  let bytes = 0;
  for (const p of paths) {
    const data = await readFile(p);
    const out = await brotliAsync(data, {
      params: { [zlibConstants.BROTLI_PARAM_QUALITY]: quality, [zlibConstants.BROTLI_PARAM_SIZE_HINT]: data.length },
    });
    bytes += out.length;
  }
  return { bytes, quality };
}

/**
 * gzip -9 size of bytes in memory, compressed in the thread pool in one piece: one output chunk
 * for the whole input, so that zlib calls back to the main thread once at the end instead of once
 * per 16 KiB. A stream needs the main thread for every chunk, and it is not free while a pass
 * runs onnxruntime (whose runs take the main thread): a model's gzip streamed beside static
 * quantization's calibration made no progress until the calibration was done.
 */
export async function gzipSize(bytes: Uint8Array): Promise<number> {
  return (await gzipAsync(bytes, { level: 9, chunkSize: bytes.length + (1 << 16) })).length;
}

/**
 * Estimated gzip -9 size of `total` bytes from a systematic sample of blocks that `readBlock`
 * returns (offset, length → bytes). See the file comment for the estimator.
 */
export async function gzipEstimate(
  total: number,
  readBlock: (offset: number, length: number) => Promise<Uint8Array>,
  opts: GzipOptions['sample'] = {},
): Promise<{ gzipBytes: number; sample: GzipSample }> {
  const B = opts.blockBytes ?? GZIP_SAMPLE_BLOCK;
  const N = Math.ceil(total / B);
  const n = Math.min(N, opts.blocks ?? GZIP_SAMPLE_BLOCKS);
  const picks = Array.from({ length: n }, (_, i) => Math.floor(((i + 0.5) * N) / n));
  const b: number[] = [];
  const c: number[] = [];
  // two blocks at a time: the thread pool works while the next block is read
  for (let i = 0; i < n; i += 2) {
    const pair = picks.slice(i, i + 2);
    const out = await Promise.all(
      pair.map(async (k) => {
        const off = k * B;
        const block = await readBlock(off, Math.min(B, total - off));
        // one output chunk for the whole block: one callback on the main thread instead of one per
        // 16 KiB (a quarter less CPU for the estimate; the same bytes)
        return [block.length, (await deflateRawAsync(block, { level: 9, chunkSize: block.length + (1 << 16) })).length];
      }),
    );
    for (const [bi, ci] of out) {
      b.push(bi);
      c.push(ci);
    }
  }
  const sb = b.reduce((x, y) => x + y, 0);
  const sc = c.reduce((x, y) => x + y, 0);
  const R = sb > 0 ? sc / sb : 0;
  let se2 = 0;
  for (let i = 0; i < n; i++) se2 += (c[i] - R * b[i]) ** 2;
  const bMean = sb / n;
  const rel = n > 1 && R > 0 ? Math.sqrt(((1 - n / N) / n) * (se2 / (n - 1))) / (R * bMean) : 0;
  return { gzipBytes: Math.round(R * total) + GZIP_FRAME, sample: { fraction: sb / total, relStdErr: rel } };
}

/** gzip -9 size of a file, streamed (external data files can be large). */
export async function gzipFileSize(path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    let n = 0;
    const gz = createGzip({ level: 9 });
    gz.on('data', (c: Buffer) => (n += c.length));
    gz.on('end', () => resolve(n));
    gz.on('error', reject);
    const rs = createReadStream(path);
    rs.on('error', (e) => reject(new MlcError('INPUT', `cannot read ${path}: ${(e as Error).message}`, { cause: e })));
    rs.pipe(gz);
  });
}

const cannotRead = (path: string, e: unknown) =>
  new MlcError('INPUT', `cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { cause: e });

function readWhole(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw cannotRead(path, e);
  }
}

async function readWholeAsync(path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (e) {
    throw cannotRead(path, e);
  }
}

/** Estimated gzip -9 size of a file from a sample of its blocks (see gzipEstimate). */
async function gzipFileEstimate(path: string, size: number, opts: GzipOptions['sample']): Promise<{ gzipBytes: number; sample: GzipSample }> {
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    throw cannotRead(path, e);
  }
  try {
    return await gzipEstimate(size, async (offset, length) => {
      const buf = Buffer.allocUnsafe(length);
      const { bytesRead } = await fh.read(buf, 0, length, offset);
      return buf.subarray(0, bytesRead);
    }, opts);
  } finally {
    await fh.close();
  }
}

export type DiskSize = { sizeBytes: number; gzipBytes: number; gzipSampled: GzipSample | null };

/**
 * Bytes on disk and gzip -9 bytes of a set of files (each file compressed on its own, in the
 * thread pool, all files at once); files over `sampleAbove` are estimated unless `exact`.
 */
export async function filesSize(paths: string[], opts: GzipOptions = {}): Promise<DiskSize> {
  const limit = opts.exact ? Infinity : (opts.sampleAbove ?? GZIP_SAMPLE_ABOVE);
  const each = await Promise.all(
    [...new Set(paths)].map(async (p) => {
      let size: number;
      try {
        size = (await stat(p)).size;
      } catch (e) {
        throw cannotRead(p, e);
      }
      if (size > limit) {
        const e = await gzipFileEstimate(p, size, opts.sample);
        return { size, gz: e.gzipBytes, sample: e.sample };
      }
      // a file of at most `limit` bytes (or 64 MB with `exact`) is read whole: compressed inline (a
      // fleet worker) or in one piece in the thread pool
      if (size <= Math.min(limit, GZIP_SAMPLE_ABOVE)) return { size, gz: inline ? gzipSync(readWhole(p), { level: 9 }).length : await gzipSize(await readWholeAsync(p)), sample: null };
      return { size, gz: await gzipFileSize(p), sample: null };
    }),
  );
  return combine(each);
}

function combine(each: { size: number; gz: number; sample: GzipSample | null }[]): DiskSize {
  let sizeBytes = 0;
  let gzipBytes = 0;
  let sampled = 0;
  let var_ = 0;
  let sampledBytes = 0;
  for (const e of each) {
    sizeBytes += e.size;
    gzipBytes += e.gz;
    if (e.sample) {
      sampled++;
      sampledBytes += e.sample.fraction * e.size;
      var_ += (e.sample.relStdErr * e.gz) ** 2;
    } else sampledBytes += e.size;
  }
  const gzipSampled = sampled
    ? { fraction: sizeBytes > 0 ? sampledBytes / sizeBytes : 1, relStdErr: gzipBytes > 0 ? Math.sqrt(var_) / gzipBytes : 0 }
    : null;
  return { sizeBytes, gzipBytes, gzipSampled };
}

/** External data files the model file at `path` references (absolute paths; [] if none). */
export async function externalFilesOf(path: string): Promise<string[]> {
  const { externalDataFiles } = await import('../onnx/index.js');
  return externalDataFiles(path);
}

/**
 * Size of a model: on disk when `path` is given (plus `externalFiles`, or those the file references),
 * else of `bytes`, else of the model serialized in memory.
 */
export async function measureSize(
  model: Model,
  where: { path?: string; externalFiles?: string[]; bytes?: Uint8Array } = {},
  opts: GzipOptions = {},
): Promise<SizeStats> {
  // the gzip work starts first and runs in the thread pool while countParams runs here
  const disk = diskSize(model, where, opts);
  disk.catch(() => {}); // awaited below; do not let a rejection go unhandled meanwhile
  const params = countParams(model);
  return { ...(await disk), ...params };
}

/** Bytes and gzip bytes of a model: its files when `path` is given, else its serialization. */
export async function diskSize(
  model: Model | undefined,
  where: { path?: string; externalFiles?: string[]; bytes?: Uint8Array } = {},
  opts: GzipOptions = {},
): Promise<DiskSize> {
  if (where.path) {
    const ext = where.externalFiles ?? (await externalFilesOf(where.path));
    return filesSize([where.path, ...ext], opts);
  }
  if (!where.bytes && !model) throw new MlcError('INTERNAL', 'diskSize needs a model, its bytes or its path');
  const bytes = where.bytes ?? (await import('../onnx/index.js')).modelToBytes(model!);
  const limit = opts.exact ? Infinity : (opts.sampleAbove ?? GZIP_SAMPLE_ABOVE);
  if (bytes.length > limit) {
    const e = await gzipEstimate(bytes.length, async (o, l) => bytes.subarray(o, o + l), opts.sample);
    return { sizeBytes: bytes.length, gzipBytes: e.gzipBytes, gzipSampled: e.sample };
  }
  return { sizeBytes: bytes.length, gzipBytes: await gzipSize(bytes), gzipSampled: null };
}

/**
 * brotli -q 11 bytes of a model: of its files (each on its own) when `path` is given, else of its
 * serialization; null above BROTLI_MAX bytes.
 */
export async function brotliSizeOf(model: Model | undefined, where: { path?: string; externalFiles?: string[]; bytes?: Uint8Array } = {}): Promise<number | null> {
  if (where.path) {
    const files = [...new Set([where.path, ...(where.externalFiles ?? (await externalFilesOf(where.path)))])];
    const sizes = await Promise.all(files.map((f) => stat(f).then((s) => s.size)));
    if (sizes.reduce((t, x) => t + x, 0) > BROTLI_MAX) return null;
    const each = await Promise.all(files.map(async (f) => brotliSize(await readFile(f))));
    return each.reduce((t, x) => t + x, 0);
  }
  if (!where.bytes && !model) throw new MlcError('INTERNAL', 'brotliSizeOf needs a model, its bytes or its path');
  const bytes = where.bytes ?? (await import('../onnx/index.js')).modelToBytes(model!);
  return bytes.length > BROTLI_MAX ? null : brotliSize(bytes);
}
