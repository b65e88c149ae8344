/**
 * Size measurements: bytes on disk (model file plus external data files), gzip -9 bytes (what a
 * web user downloads; zeros from pruning compress away here), parameter count, non-zero
 * parameters and bytes by dtype.
 *
 * Parameters are the elements of every numeric constant the model holds: initializers (in the
 * main graph and in subgraphs), sparse initializers (counted dense) and Constant-node tensors.
 * A parameter counts as zero when it encodes the real value 0: for a quantized weight read by a
 * DequantizeLinear whose zero point is a constant (per-tensor or per-axis), that is q == z
 * (r = s·(q − z)); for 4-bit types the packed nibbles are unpacked; for float16 / bfloat16 both
 * +0 and −0. The packed weight of a com.microsoft MatMulNBits counts as its K·N quantized values
 * (not its bytes), zero where q equals the block's zero point (default 2^(bits−1)).
 *
 * gzip runs in libuv's thread pool (zlib's async API), never on the main thread, so it overlaps
 * with whatever the caller does meanwhile (sessions, timing). It is level 9 throughout: on float
 * weights lower levels are barely faster (BERT-base weights: ~30 MB/s of CPU at -1, -6 and -9
 * alike, sizes within 0.04 %), so a faster level would buy little and change the figure. What
 * costs is the volume: a file larger than `sampleAbove` (default 64 MB) is not compressed whole
 * but estimated from a systematic sample — `GZIP_SAMPLE_BLOCKS` (24) blocks of 1 MiB spread evenly
 * over the file, each deflated at level 9 on its own — as the ratio estimate
 *   gzip ≈ S · Σcᵢ / Σbᵢ + 18   (S file bytes, bᵢ block bytes, cᵢ their deflated bytes, 18 B of
 *   gzip header and trailer), with relative standard error
 *   sqrt((1 − n/N) / n · Σ(cᵢ − R̂bᵢ)² / (n − 1)) / (R̂·b̄),  R̂ = Σcᵢ/Σbᵢ, n of N blocks.
 * (Blocks compressed apart lose up to 32 KiB of history at their start, a bias of under 0.1 % on
 * weight data.) `exact: true` always compresses whole files; the figure then is `gzip -9`'s.
 */
import { createReadStream } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';
import { promisify } from 'node:util';
import { createGzip, deflateRaw, gzip } from 'node:zlib';
import { MlcError } from '../errors.js';
import { DataType, dtypeName } from '../ir/dtype.js';
import type { Graph } from '../ir/graph.js';
import type { Model } from '../ir/model.js';
import { attrInt, subgraphsOf, type Node } from '../ir/node.js';
import { Tensor } from '../ir/tensor.js';

export interface SizeStats {
  sizeBytes: number;
  gzipBytes: number;
  /** null when gzipBytes is exact; else how it was estimated (see the file comment) */
  gzipSampled: GzipSample | null;
  params: number;
  nonzeroParams: number;
  bytesByDtype: Record<string, number>;
}

export interface ParamStats {
  params: number;
  nonzeroParams: number;
  bytesByDtype: Record<string, number>;
}

/** Integer values of a tensor, 4-bit types unpacked (low nibble first), as numbers. */
function intValues(t: Tensor): ArrayLike<number> | null {
  const n = t.size;
  switch (t.dtype) {
    case DataType.INT4:
    case DataType.UINT4: {
      const packed = t.data as Uint8Array;
      const out = new Int8Array(n);
      for (let i = 0; i < n; i++) {
        const nib = (packed[i >> 1] >> ((i & 1) * 4)) & 0xf;
        out[i] = t.dtype === DataType.INT4 && nib >= 8 ? nib - 16 : nib;
      }
      return out;
    }
    case DataType.INT8:
    case DataType.UINT8:
    case DataType.INT16:
    case DataType.UINT16:
    case DataType.INT32:
    case DataType.UINT32:
    case DataType.BOOL:
      return t.data as ArrayLike<number>;
    default:
      return null;
  }
}

/** Number of elements that do not encode zero (see the file comment). */
export function countNonzero(t: Tensor, zeroPoint?: { zp: Tensor; axis: number }): number {
  const n = t.size;
  if (n === 0) return 0;
  let nz = 0;
  switch (t.dtype) {
    case DataType.FLOAT:
    case DataType.DOUBLE:
    case DataType.COMPLEX64:
    case DataType.COMPLEX128: {
      const d = t.data as Float32Array | Float64Array;
      if (t.dtype === DataType.COMPLEX64 || t.dtype === DataType.COMPLEX128) {
        for (let i = 0; i < n; i++) if (d[2 * i] !== 0 || d[2 * i + 1] !== 0) nz++;
      } else {
        for (let i = 0; i < n; i++) if (d[i] !== 0) nz++;
      }
      return nz;
    }
    case DataType.FLOAT16:
    case DataType.BFLOAT16: {
      const d = t.data as Uint16Array;
      for (let i = 0; i < n; i++) if ((d[i] & 0x7fff) !== 0) nz++;
      return nz;
    }
    case DataType.INT64:
    case DataType.UINT64: {
      const d = t.data as BigInt64Array | BigUint64Array;
      for (let i = 0; i < n; i++) if (d[i] !== 0n) nz++;
      return nz;
    }
    case DataType.FLOAT8E4M3FN:
    case DataType.FLOAT8E4M3FNUZ:
    case DataType.FLOAT8E5M2:
    case DataType.FLOAT8E5M2FNUZ: {
      const d = t.data as Uint8Array;
      // FNUZ types have no negative zero (0x80 is NaN)
      const fnuz = t.dtype === DataType.FLOAT8E4M3FNUZ || t.dtype === DataType.FLOAT8E5M2FNUZ;
      for (let i = 0; i < n; i++) if (fnuz ? d[i] !== 0 : (d[i] & 0x7f) !== 0) nz++;
      return nz;
    }
    case DataType.FLOAT4E2M1: {
      const d = t.data as Uint8Array;
      for (let i = 0; i < n; i++) if (((d[i >> 1] >> ((i & 1) * 4)) & 0x7) !== 0) nz++;
      return nz;
    }
    case DataType.STRING:
      return (t.data as Uint8Array[]).filter((b) => b.length > 0).length;
    default: {
      const v = intValues(t);
      if (!v) return n;
      const zpv = zeroPoint ? intValues(zeroPoint.zp) : null;
      if (zeroPoint && zpv && zpv.length === 1) {
        const z = zpv[0];
        for (let i = 0; i < n; i++) if (v[i] !== z) nz++;
        return nz;
      }
      if (zeroPoint && zpv && zeroPoint.zp.dims.length === 1) {
        // per-axis zero point: element i belongs to channel (i / inner) % dims[axis]
        const rank = t.dims.length;
        const axis = zeroPoint.axis < 0 ? zeroPoint.axis + rank : zeroPoint.axis;
        if (axis >= 0 && axis < rank && t.dims[axis] === zpv.length) {
          let inner = 1;
          for (let k = axis + 1; k < rank; k++) inner *= t.dims[k];
          const ch = t.dims[axis];
          for (let i = 0; i < n; i++) if (v[i] !== zpv[Math.floor(i / inner) % ch]) nz++;
          return nz;
        }
      }
      for (let i = 0; i < n; i++) if (v[i] !== 0) nz++;
      return nz;
    }
  }
}

/** Zero point of the DequantizeLinear (if any) that reads initializer `name` as its input 0. */
function zeroPointFor(g: Graph, name: string): { zp: Tensor; axis: number } | undefined {
  for (const c of g.consumers(name)) {
    if (c.opType !== 'DequantizeLinear' || c.inputs[0] !== name) continue;
    if (c.domain !== '' && c.domain !== 'ai.onnx' && c.domain !== 'com.microsoft') continue;
    const zpName = c.inputs[2];
    if (!zpName) return undefined; // default zero point is 0
    const zp = g.constantValue(zpName);
    return zp ? { zp, axis: attrInt(c, 'axis', 1) } : undefined;
  }
  return undefined;
}

/**
 * The packed weight B [N, ⌈K/bs⌉, bs·bits/8] of a MatMulNBits reading `name` as input 1: its K·N
 * values and how many differ from their block's zero point (input 3, packed like B, or 2^(bits−1)).
 */
export function matMulNBitsCounts(g: Graph, name: string, t: Tensor): { params: number; nonzero: number } | undefined {
  const c = g.consumers(name).find((n) => n.opType === 'MatMulNBits' && n.inputs[1] === name);
  if (!c || t.dtype !== DataType.UINT8) return undefined;
  const bits = attrInt(c, 'bits', 4);
  const K = attrInt(c, 'K', 0);
  const N = attrInt(c, 'N', 0);
  const bs = attrInt(c, 'block_size', 0);
  if (![2, 4, 8].includes(bits) || !(K > 0) || !(N > 0) || !(bs > 0)) return undefined;
  const kBlocks = Math.ceil(K / bs);
  const blob = (bs * bits) / 8;
  if (!Number.isInteger(blob) || t.size !== N * kBlocks * blob) return undefined;
  const mask = (1 << bits) - 1;
  const zpT = c.inputs[3] ? g.constantValue(c.inputs[3]) : undefined;
  const zpData = zpT && zpT.dtype === DataType.UINT8 ? (zpT.data as Uint8Array) : undefined;
  const zpStride = Math.ceil((kBlocks * bits) / 8);
  const d = t.data as Uint8Array;
  let nonzero = 0;
  for (let n = 0; n < N; n++) {
    for (let b = 0; b < kBlocks; b++) {
      const zp = zpData ? (zpData[n * zpStride + Math.floor((b * bits) / 8)] >> ((b * bits) % 8)) & mask : 1 << (bits - 1);
      const base = (n * kBlocks + b) * blob;
      const end = Math.min(bs, K - b * bs);
      for (let i = 0; i < end; i++) {
        const q = (d[base + Math.floor((i * bits) / 8)] >> ((i * bits) % 8)) & mask;
        if (q !== zp) nonzero++;
      }
    }
  }
  return { params: K * N, nonzero };
}

/** Parameter count, non-zero parameters and initializer bytes by dtype, over all graphs. */
export function countParams(model: Model): ParamStats {
  const s: ParamStats = { params: 0, nonzeroParams: 0, bytesByDtype: {} };
  const addBytes = (t: Tensor) => {
    const k = dtypeName(t.dtype);
    s.bytesByDtype[k] = (s.bytesByDtype[k] ?? 0) + t.byteLength;
  };
  const addTensor = (t: Tensor, zp?: { zp: Tensor; axis: number }) => {
    addBytes(t);
    if (t.dtype === DataType.STRING) return;
    s.params += t.size;
    s.nonzeroParams += countNonzero(t, zp);
  };
  const visit = (g: Graph) => {
    for (const [name, t] of g.initializers) {
      const nb = matMulNBitsCounts(g, name, t);
      if (nb) {
        addBytes(t);
        s.params += nb.params;
        s.nonzeroParams += nb.nonzero;
      } else addTensor(t, zeroPointFor(g, name));
    }
    for (const sp of g.sparseInitializers) {
      addBytes(sp.values);
      addBytes(sp.indices);
      s.params += sp.dims.reduce((a, b) => a * b, 1);
      s.nonzeroParams += countNonzero(sp.values);
    }
    for (const n of g.nodes) {
      if (n.opType === 'Constant' && (n.domain === '' || n.domain === 'ai.onnx')) {
        const v = constantTensor(n);
        if (v) addTensor(v, n.outputs[0] ? zeroPointFor(g, n.outputs[0]) : undefined);
      }
      for (const sg of subgraphsOf(n)) visit(sg);
    }
  };
  visit(model.graph);
  return s;
}

function constantTensor(n: Node): Tensor | undefined {
  const a = n.attributes.find((x) => x.name === 'value');
  return a && a.value instanceof Tensor ? a.value : undefined;
}

export interface GzipSample {
  /** share of the bytes compressed (0..1] */
  fraction: number;
  /** relative standard error of the estimate */
  relStdErr: number;
}

export interface GzipOptions {
  /** compress every byte (the figure is then gzip -9's); default false */
  exact?: boolean;
  /** files (or in-memory models) larger than this are estimated from a sample; default 64 MB */
  sampleAbove?: number;
  /** blocks of an estimate's sample (default GZIP_SAMPLE_BLOCKS) and their bytes (default 1 MiB) */
  sample?: { blocks?: number; blockBytes?: number };
}

/** Files above this many bytes get a sampled gzip estimate unless `exact`. */
export const GZIP_SAMPLE_ABOVE = 64_000_000;
/** Blocks of 1 MiB deflated for an estimate. */
export const GZIP_SAMPLE_BLOCKS = 24;
const GZIP_SAMPLE_BLOCK = 1 << 20;
/** gzip header (10 B) and trailer (CRC-32 and length, 8 B) around the deflate stream */
const GZIP_FRAME = 18;

const gzipAsync = promisify(gzip);
const deflateRawAsync = promisify(deflateRaw);

/** gzip -9 size of bytes in memory (compressed in the thread pool). */
export async function gzipSize(bytes: Uint8Array): Promise<number> {
  return (await gzipAsync(bytes, { level: 9 })).length;
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
        return [block.length, (await deflateRawAsync(block, { level: 9 })).length];
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

/** Estimated gzip -9 size of a file from a sample of its blocks (see gzipEstimate). */
async function gzipFileEstimate(path: string, size: number, opts: GzipOptions['sample']): Promise<{ gzipBytes: number; sample: GzipSample }> {
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    throw new MlcError('INPUT', `cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { cause: e });
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
        throw new MlcError('INPUT', `cannot read ${p}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { cause: e });
      }
      if (size > limit) {
        const e = await gzipFileEstimate(p, size, opts.sample);
        return { size, gz: e.gzipBytes, sample: e.sample };
      }
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
