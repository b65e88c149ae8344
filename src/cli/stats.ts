/**
 * Model statistics for `mlc inspect` and the compress summary: operator histogram, parameter
 * counts and bytes by dtype, largest initializers, fraction of zero weights.
 *
 * "Parameters" are the elements of every initializer (root graph and subgraphs) plus the stored
 * values of sparse initializers; a sparse initializer's implicit elements count as zeros.
 * "Zero" means the stored element is exactly zero (±0 for floats; raw zero for integer and
 * packed 4-bit types), so for quantized weights it counts zero codes, not dequantized zeros.
 */
import { DataType, dtypeName, numElements } from '../ir/dtype.js';
import type { Graph } from '../ir/graph.js';
import type { Model } from '../ir/model.js';
import { subgraphsOf } from '../ir/node.js';
import type { Tensor } from '../ir/tensor.js';

export interface InitializerInfo {
  name: string;
  dtype: string;
  dims: number[];
  params: number;
  bytes: number;
}

export interface ParamStats {
  params: number;
  /** parameters whose stored value is not zero */
  nonzeroParams: number;
  /** zeros / params over the numeric parameters (0 when there are none) */
  zeroFraction: number;
  bytes: number;
  byDtype: Record<string, { tensors: number; params: number; bytes: number }>;
  /** the largest initializers by bytes, largest first */
  largest: InitializerInfo[];
}

/** Count the exactly-zero elements of a tensor's storage (undefined for strings / complex). */
export function countZeros(t: Tensor): number | undefined {
  const d = t.data;
  const n = t.size;
  let z = 0;
  switch (t.dtype) {
    case DataType.STRING:
    case DataType.COMPLEX64:
    case DataType.COMPLEX128:
    case DataType.UNDEFINED:
      return undefined;
    case DataType.FLOAT16:
    case DataType.BFLOAT16: {
      const a = d as Uint16Array;
      for (let i = 0; i < n; i++) if ((a[i] & 0x7fff) === 0) z++;
      return z;
    }
    case DataType.FLOAT8E4M3FN:
    case DataType.FLOAT8E5M2: {
      const a = d as Uint8Array;
      for (let i = 0; i < n; i++) if ((a[i] & 0x7f) === 0) z++;
      return z;
    }
    case DataType.UINT4:
    case DataType.INT4:
    case DataType.FLOAT4E2M1: {
      const a = d as Uint8Array;
      const mask = t.dtype === DataType.FLOAT4E2M1 ? 0x7 : 0xf;
      for (let i = 0; i < n; i++) {
        const nib = i & 1 ? a[i >> 1] >> 4 : a[i >> 1] & 0xf;
        if ((nib & mask) === 0) z++;
      }
      return z;
    }
    case DataType.INT64:
    case DataType.UINT64: {
      const a = d as BigInt64Array;
      for (let i = 0; i < n; i++) if (a[i] === 0n) z++;
      return z;
    }
    default: {
      const a = d as ArrayLike<number>;
      for (let i = 0; i < n; i++) if (a[i] === 0) z++;
      return z;
    }
  }
}

function* allGraphs(g: Graph): Generator<Graph> {
  yield g;
  for (const n of g.nodes) for (const s of subgraphsOf(n)) yield* allGraphs(s);
}

export function paramStats(model: Model, top = 10): ParamStats {
  const byDtype: ParamStats['byDtype'] = {};
  const all: InitializerInfo[] = [];
  let params = 0;
  let bytes = 0;
  let numeric = 0;
  let zeros = 0;
  const add = (dtype: DataType, count: number, b: number) => {
    const k = dtypeName(dtype);
    const e = (byDtype[k] ??= { tensors: 0, params: 0, bytes: 0 });
    e.tensors++;
    e.params += count;
    e.bytes += b;
    params += count;
    bytes += b;
  };
  for (const g of allGraphs(model.graph)) {
    for (const t of g.initializers.values()) {
      const info: InitializerInfo = { name: t.name, dtype: dtypeName(t.dtype), dims: [...t.dims], params: t.size, bytes: t.byteLength };
      all.push(info);
      add(t.dtype, t.size, t.byteLength);
      const z = countZeros(t);
      if (z !== undefined) {
        numeric += t.size;
        zeros += z;
      }
    }
    for (const sp of g.sparseInitializers) {
      const dense = numElements(sp.dims);
      const b = sp.values.byteLength + sp.indices.byteLength;
      all.push({ name: sp.values.name, dtype: dtypeName(sp.values.dtype), dims: [...sp.dims], params: dense, bytes: b });
      add(sp.values.dtype, dense, b);
      const z = countZeros(sp.values);
      if (z !== undefined) {
        numeric += dense;
        zeros += z + (dense - sp.values.size);
      }
    }
  }
  all.sort((a, b) => b.bytes - a.bytes || a.name.localeCompare(b.name));
  return {
    params,
    nonzeroParams: params - zeros,
    zeroFraction: numeric ? zeros / numeric : 0,
    bytes,
    byDtype,
    largest: all.slice(0, top),
  };
}

/** Node counts by op type (domain-qualified outside ai.onnx), subgraphs included; most frequent first. */
export function opHistogram(model: Model): { op: string; count: number }[] {
  const h = new Map<string, number>();
  for (const { node } of model.graph.allNodes()) {
    const k = node.domain && node.domain !== 'ai.onnx' ? `${node.domain}.${node.opType}` : node.opType;
    h.set(k, (h.get(k) ?? 0) + 1);
  }
  return [...h].map(([op, count]) => ({ op, count })).sort((a, b) => b.count - a.count || a.op.localeCompare(b.op));
}
