/**
 * Sparse storage: move a mostly-zero initializer into graph.sparseInitializers (ONNX
 * SparseTensorProto: values [NNZ] of the same dtype + linear int64 indices [NNZ], ascending) when
 * that takes fewer bytes than the dense tensor. onnxruntime turns sparse initializers back into
 * dense ones when it loads the model, so the model runs as before; only the file shrinks.
 *
 * Refused: initializers that are graph inputs, non-float tensors, tensors with no non-zero (ORT
 * cannot restore an empty sparse initializer of every type), and tensors where sparse is not
 * smaller (density ≥ elemBytes / (elemBytes + 8), e.g. 1/3 for float32).
 */
import { dtypeInfo } from '../../ir/dtype.js';
import type { Graph } from '../../ir/graph.js';
import { Tensor } from '../../ir/tensor.js';
import type { NumericArray } from '../../math/sparsity.js';
import type { Skip } from '../pass.js';
import { FLOAT_TYPES } from './layers.js';

export interface SparseStorageResult {
  converted: { name: string; denseBytes: number; sparseBytes: number; nnz: number }[];
  skipped: Skip[];
}

/** Dense and sparse (values + int64 linear indices) byte sizes of a tensor with `nnz` non-zeros. */
export function storageBytes(size: number, nnz: number, elemBytes: number): { dense: number; sparse: number } {
  return { dense: size * elemBytes, sparse: nnz * (elemBytes + 8) };
}

export function toSparseInitializers(g: Graph, names: readonly string[]): SparseStorageResult {
  const out: SparseStorageResult = { converted: [], skipped: [] };
  for (const name of names) {
    const t = g.initializers.get(name);
    if (!t) continue; // a Constant node's value: stays dense
    if (g.isGraphInput(name)) {
      out.skipped.push({ node: name, reason: 'initializer is also a graph input; kept dense' });
      continue;
    }
    if (!FLOAT_TYPES.has(t.dtype) || Array.isArray(t.data)) continue;
    const d = t.data as NumericArray;
    let nnz = 0;
    for (let i = 0; i < d.length; i++) if (d[i] !== 0) nnz++;
    const eb = dtypeInfo(t.dtype).bytes;
    const { dense, sparse } = storageBytes(t.size, nnz, eb);
    if (nnz === 0 || sparse >= dense) {
      out.skipped.push({ node: name, reason: nnz === 0 ? 'all zeros; kept dense' : `sparse storage not smaller (${sparse} ≥ ${dense} B); kept dense` });
      continue;
    }
    const Ctor = d.constructor as new (n: number) => NumericArray;
    const vals = new Ctor(nnz);
    const idx = new BigInt64Array(nnz);
    for (let i = 0, j = 0; i < d.length; i++)
      if (d[i] !== 0) {
        vals[j] = d[i];
        idx[j++] = BigInt(i);
      }
    const values = new Tensor(name, t.dtype, [nnz], vals);
    const indices = new Tensor(`${name}_indices`, 7 /* INT64 */, [nnz], idx);
    g.initializers.delete(name);
    g.sparseInitializers.push({ values, indices, dims: [...t.dims] });
    out.converted.push({ name, denseBytes: dense, sparseBytes: sparse, nnz });
  }
  if (out.converted.length) g.touch();
  return out;
}
