/**
 * The skeleton of a model: the same graph with its large weights turned into graph inputs of the
 * same type and shape, for a load check that needs the graph and not the weights' values
 * (src/runtime checkGraphLoads). Small initializers stay: shapes, axes, pads, scales and zero
 * points are read by shape inference and by kernels as constants.
 */
import { Graph } from './graph.js';
import { Model } from './model.js';
import { tensorType } from './types.js';

/** Initializers with at least this many elements become inputs in a skeleton. */
export const SKELETON_MIN_ELEMENTS = 1024;

/**
 * A shallow copy of `model` (nodes, subgraphs and small tensors shared, nothing copied) whose
 * root-graph initializers of `minElements` elements or more are graph inputs instead. Reading it
 * reads none of those tensors' data (a lazily loaded model stays unread).
 */
export function weightsAsInputs(model: Model, minElements = SKELETON_MIN_ELEMENTS): Model {
  const src = model.graph;
  const g = new Graph(src.name);
  g.docString = src.docString;
  g.nodes = src.nodes;
  g.outputs = src.outputs;
  g.valueInfo = src.valueInfo;
  g.sparseInitializers = src.sparseInitializers;
  if (src.extra) g.extra = src.extra;
  g.inputs = [...src.inputs];
  const declared = new Set(src.inputs.map((i) => i.name));
  for (const [name, t] of src.initializers) {
    if (t.size < minElements) {
      g.initializers.set(name, t);
      continue;
    }
    if (!declared.has(name)) g.inputs.push({ name, type: tensorType(t.dtype, [...t.dims]) });
  }
  // every model-level field shared (opsets, metadata, functions, extra), the graph replaced
  return Object.assign(new Model(g), model, { graph: g });
}
