/**
 * Model statistics for `mlc inspect`: operator histogram, constant tensors by dtype, the largest
 * ones, parameter count and fraction of zero weights.
 *
 * Parameters and zeros are counted exactly as `mlc bench` counts them (src/ir/params.ts
 * countParams): every numeric constant (initializers, sparse initializers counted dense,
 * Constant-node values, in all graphs); a quantized weight is zero where q equals its zero point,
 * packed 4-bit MatMulNBits weights are unpacked.
 */
import { dtypeName, numElements } from '../ir/dtype.js';
import type { Model } from '../ir/model.js';
import { constantTensors, countParams } from '../ir/params.js';

export interface InitializerInfo {
  name: string;
  dtype: string;
  dims: number[];
  /** stored elements (for a sparse initializer: its dense size) */
  elements: number;
  bytes: number;
}

export interface ParamStats {
  /** parameters, counted as src/bench counts them (quantized and packed weights by their real values) */
  params: number;
  /** parameters that do not encode zero */
  nonzeroParams: number;
  /** 1 − nonzero / params (0 when there are no parameters) */
  zeroFraction: number;
  /** bytes of all constant tensors */
  bytes: number;
  byDtype: Record<string, { tensors: number; elements: number; bytes: number }>;
  /** the largest constant tensors by bytes, largest first */
  largest: InitializerInfo[];
}

/** Every constant tensor of the model: initializers, sparse initializers, Constant-node values (all graphs). */
function constants(model: Model): InitializerInfo[] {
  return [...constantTensors(model)].map(({ name, tensor: t, sparse }) => ({
    name,
    dtype: dtypeName(t.dtype),
    dims: [...(sparse?.dims ?? t.dims)],
    elements: sparse ? numElements(sparse.dims) : t.size,
    bytes: t.byteLength + (sparse?.indices.byteLength ?? 0),
  }));
}

export function paramStats(model: Model, top = 10): ParamStats {
  const byDtype: ParamStats['byDtype'] = {};
  const all = constants(model);
  let bytes = 0;
  for (const t of all) {
    const e = (byDtype[t.dtype] ??= { tensors: 0, elements: 0, bytes: 0 });
    e.tensors++;
    e.elements += t.elements;
    e.bytes += t.bytes;
    bytes += t.bytes;
  }
  all.sort((a, b) => b.bytes - a.bytes || a.name.localeCompare(b.name));
  const { params, nonzeroParams } = countParams(model);
  return {
    params,
    nonzeroParams,
    zeroFraction: params ? 1 - nonzeroParams / params : 0,
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
