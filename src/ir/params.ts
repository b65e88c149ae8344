/**
 * The one parameter counter of mlc (bench, inspect, and the passes' before / after statistics).
 *
 * Parameters are the elements of every numeric constant the model holds: initializers (in the
 * main graph and in subgraphs), sparse initializers (counted dense) and Constant-node tensors.
 * A parameter counts as zero when it encodes the real value 0: for a quantized weight read by a
 * DequantizeLinear whose zero point is a constant (per-tensor or per-axis), that is q == z
 * (r = s·(q − z)); for 4-bit types the packed nibbles are unpacked; for float16 / bfloat16 both
 * +0 and −0. The packed weight of a com.microsoft MatMulNBits counts as its K·N quantized values
 * (not its bytes), zero where q equals the block's zero point (default 2^(bits−1)).
 */
import { DataType, dtypeInfo, dtypeName } from './dtype.js';
import { Graph } from './graph.js';
import type { Model } from './model.js';
import { attrInt, isOnnxDomain, subgraphsOf, type SparseTensor } from './node.js';
import { Tensor } from './tensor.js';
import { WASM_MIN, wasmKernels } from '../math/wasm.js';

export interface ParamStats {
  params: number;
  nonzeroParams: number;
  bytesByDtype: Record<string, number>;
}

/** One constant tensor of a model and where it lives. */
export interface ConstantRef {
  graph: Graph;
  /** initializer name, sparse initializer values name, or the Constant node's output */
  name: string;
  kind: 'initializer' | 'sparse' | 'constant';
  /** the tensor (for a sparse initializer: its values) */
  tensor: Tensor;
  /** set for kind 'sparse' */
  sparse?: SparseTensor;
}

/**
 * Every constant tensor: initializers, sparse initializers and ai.onnx Constant-node `value`
 * tensors, of the graph and (unless `subgraphs: false`) of every subgraph, in graph order.
 */
export function* constantTensors(of: Model | Graph, opts: { subgraphs?: boolean } = {}): Generator<ConstantRef> {
  const visit = function* (graph: Graph): Generator<ConstantRef> {
    for (const [name, tensor] of graph.initializers) yield { graph, name, kind: 'initializer', tensor };
    for (const sp of graph.sparseInitializers) yield { graph, name: sp.values.name, kind: 'sparse', tensor: sp.values, sparse: sp };
    for (const n of graph.nodes) {
      if (n.opType === 'Constant' && isOnnxDomain(n)) {
        const a = n.attributes.find((x) => x.name === 'value');
        if (a && a.value instanceof Tensor) yield { graph, name: n.outputs[0] || n.name, kind: 'constant', tensor: a.value };
      }
      if (opts.subgraphs !== false) for (const sg of subgraphsOf(n)) yield* visit(sg);
    }
  };
  yield* visit(of instanceof Graph ? of : of.graph);
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
      const wasm = d instanceof Float32Array && t.dtype === DataType.FLOAT && n >= WASM_MIN ? wasmKernels() : null;
      if (wasm) return n - wasm.countZeros(d as Float32Array);
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
      const wasm = n >= WASM_MIN ? wasmKernels() : null;
      if (wasm) return n - wasm.countZeros16(d);
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
      // one zero point (per tensor, or per axis with every channel's the same: symmetric weights)
      const single = zpv && zpv.length > 0 && allEqual(zpv) ? zpv[0] : undefined;
      if (zeroPoint && zpv && single === undefined && zeroPoint.zp.dims.length === 1) {
        // per-axis zero point: element i belongs to channel (i / inner) % dims[axis]
        const rank = t.dims.length;
        const axis = zeroPoint.axis < 0 ? zeroPoint.axis + rank : zeroPoint.axis;
        if (axis >= 0 && axis < rank && t.dims[axis] === zpv.length) {
          let inner = 1;
          for (let k = axis + 1; k < rank; k++) inner *= t.dims[k];
          const ch = t.dims[axis];
          for (let i = 0; i < n; ) {
            for (let c = 0; c < ch; c++) {
              const z = zpv[c];
              for (const end = i + inner; i < end; i++) if (v[i] !== z) nz++;
            }
          }
          return nz;
        }
      }
      return countNotEqual(v, zeroPoint && zpv ? (single ?? 0) : 0);
    }
  }
}

function allEqual(v: ArrayLike<number>): boolean {
  for (let i = 1; i < v.length; i++) if (v[i] !== v[0]) return false;
  return true;
}

/** Elements of `v` other than `z`; 8-bit data is read as bytes (one loop for int8 and uint8). */
function countNotEqual(v: ArrayLike<number>, z: number): number {
  let nz = 0;
  if (v instanceof Int8Array || v instanceof Uint8Array) {
    const b = new Uint8Array(v.buffer, v.byteOffset, v.length);
    const zb = z & 0xff;
    const wasm = b.length >= WASM_MIN ? wasmKernels() : null;
    if (wasm) return b.length - wasm.countEqualBytes(b, zb);
    for (let i = 0; i < b.length; i++) if (b[i] !== zb) nz++;
    return nz;
  }
  for (let i = 0; i < v.length; i++) if (v[i] !== z) nz++;
  return nz;
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

let nibbles: Uint8Array | undefined;
/** [zp · 256 + byte]: how many of the byte's two 4-bit values differ from zp */
function nibbleLut(): Uint8Array {
  if (nibbles) return nibbles;
  nibbles = new Uint8Array(16 * 256);
  for (let zp = 0; zp < 16; zp++) for (let v = 0; v < 256; v++) nibbles[(zp << 8) | v] = ((v & 15) !== zp ? 1 : 0) + (v >> 4 !== zp ? 1 : 0);
  return nibbles;
}

/**
 * How many of the 4-bit values packed in `d` (two a byte) are not 8, 32 bits at a time: x ^ 0x88888888
 * has a zero nibble exactly where a value is 8; OR-folding each nibble's bits into its low bit
 * leaves one bit per value that is not 8, and those bits are counted (popcount).
 */
export function nibblesNot8(d: Uint8Array): number {
  const words = d.length >> 2;
  const w = new Uint32Array(d.buffer, d.byteOffset, words);
  let n = 0;
  for (let i = 0; i < words; i++) {
    const y = w[i] ^ 0x88888888;
    let f = (y | (y >>> 1) | (y >>> 2) | (y >>> 3)) & 0x11111111;
    // popcount of at most 8 bits spread one per nibble: sum the nibbles
    f = (f + (f >>> 4)) & 0x0f0f0f0f;
    n += Math.imul(f, 0x01010101) >>> 24;
  }
  for (let i = words << 2; i < d.length; i++) n += ((d[i] & 15) !== 8 ? 1 : 0) + (d[i] >> 4 !== 8 ? 1 : 0);
  return n;
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
  const lut = bits === 4 ? nibbleLut() : undefined;
  // 8 bits, one zero point for all, no padding: every byte is a value
  const wasm = bits === 8 && !zpData && K % bs === 0 && t.size >= WASM_MIN ? wasmKernels() : null;
  if (wasm) return { params: K * N, nonzero: t.size - wasm.countEqualBytes(d, 128) };
  // 4 bits, the default zero point 8, no padding: every nibble is a value, counted a word at a time
  if (bits === 4 && !zpData && K % bs === 0 && d.byteOffset % 4 === 0) return { params: K * N, nonzero: nibblesNot8(d) };
  for (let n = 0; n < N; n++) {
    for (let b = 0; b < kBlocks; b++) {
      const zp = zpData ? (zpData[n * zpStride + Math.floor((b * bits) / 8)] >> ((b * bits) % 8)) & mask : 1 << (bits - 1);
      const base = (n * kBlocks + b) * blob;
      const end = Math.min(bs, K - b * bs);
      if (lut) {
        // two values a byte, element 2j in the low nibble: the table counts a byte's two at once
        const pairs = end >> 1;
        const row = zp << 8;
        for (let j = 0; j < pairs; j++) nonzero += lut[row | d[base + j]];
        if (end & 1 && (d[base + pairs] & 15) !== zp) nonzero++;
        continue;
      }
      if (bits === 8) {
        for (let i = base; i < base + end; i++) if (d[i] !== zp) nonzero++;
        continue;
      }
      for (let i = 0; i < end; i++) {
        const q = (d[base + Math.floor((i * bits) / 8)] >> ((i * bits) % 8)) & mask;
        if (q !== zp) nonzero++;
      }
    }
  }
  return { params: K * N, nonzero };
}

/**
 * Parameter count, non-zero parameters and bytes by dtype of one constant (`countParams` sums
 * these; the per-layer statistics of src/bench/layers.ts group them by the node that reads them).
 * `floatOnly` counts only floating-point constants (bytesByDtype still lists the constant).
 */
export function countConstant(c: ConstantRef, opts: { floatOnly?: boolean } = {}): ParamStats {
  const s: ParamStats = { params: 0, nonzeroParams: 0, bytesByDtype: {} };
  const addBytes = (t: Tensor) => {
    const k = dtypeName(t.dtype);
    s.bytesByDtype[k] = (s.bytesByDtype[k] ?? 0) + t.byteLength;
  };
  const counted = (t: Tensor) => t.dtype !== DataType.STRING && (!opts.floatOnly || dtypeInfo(t.dtype).isFloat);
  const t = c.tensor;
  addBytes(t);
  if (c.sparse) {
    addBytes(c.sparse.indices);
    if (!counted(t)) return s;
    s.params += c.sparse.dims.reduce((a, b) => a * b, 1);
    s.nonzeroParams += countNonzero(t);
    return s;
  }
  const nb = c.kind === 'initializer' ? matMulNBitsCounts(c.graph, c.name, t) : undefined;
  if (nb) {
    if (opts.floatOnly) return s;
    s.params += nb.params;
    s.nonzeroParams += nb.nonzero;
  } else if (counted(t)) {
    s.params += t.size;
    s.nonzeroParams += countNonzero(t, zeroPointFor(c.graph, c.name));
  }
  return s;
}

/** Add `b` into `a` (parameters, non-zero parameters, bytes by dtype). */
export function addParamStats(a: ParamStats, b: ParamStats): ParamStats {
  a.params += b.params;
  a.nonzeroParams += b.nonzeroParams;
  for (const [k, v] of Object.entries(b.bytesByDtype)) a.bytesByDtype[k] = (a.bytesByDtype[k] ?? 0) + v;
  return a;
}

/** Counts taken from an equal copy of a read-only model (compress()'s original, read lazily). */
const known = new WeakMap<Model, ParamStats>();

/**
 * Remember `stats` as `model`'s counts: compress() counts the input once it holds its weights in
 * memory, so that the measurement need not read the lazily loaded original from disk again. The
 * model must not change afterwards.
 */
export function rememberParams(model: Model, stats: ParamStats): void {
  known.set(model, stats);
}

/** `countParams(model)` of the whole model, or the counts remembered for it. */
export function paramsOf(model: Model): ParamStats {
  const k = known.get(model);
  return k ? { ...k, bytesByDtype: { ...k.bytesByDtype } } : countParams(model);
}

/**
 * Parameter count, non-zero parameters and constant bytes by dtype, over all graphs.
 * `floatOnly` counts only floating-point constants (the weights the passes change; bytesByDtype
 * still lists every constant); `subgraphs: false` stays in the main graph.
 */
export function countParams(of: Model | Graph, opts: { floatOnly?: boolean; subgraphs?: boolean } = {}): ParamStats {
  const s: ParamStats = { params: 0, nonzeroParams: 0, bytesByDtype: {} };
  for (const c of constantTensors(of, opts)) addParamStats(s, countConstant(c, opts));
  return s;
}
