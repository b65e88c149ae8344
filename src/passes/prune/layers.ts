/**
 * Finding prunable weights: constant float weights of MatMul, Gemm and Conv in the main graph
 * (and, when asked, of Gather embeddings), with the axes that matter for pruning.
 */
import { DataType } from '../../ir/dtype.js';
import type { Graph } from '../../ir/graph.js';
import { attrInt, Node } from '../../ir/node.js';
import type { Tensor } from '../../ir/tensor.js';
import { isExcluded, Skip } from '../pass.js';

export const FLOAT_TYPES = new Set([DataType.FLOAT, DataType.FLOAT16, DataType.DOUBLE, DataType.BFLOAT16]);

export interface Layer {
  node: Node;
  /** node name, or op type + index when it has none */
  label: string;
  op: 'MatMul' | 'Gemm' | 'Conv' | 'Gather';
  /** index of the weight among node.inputs */
  inputIndex: number;
  weightName: string;
  tensor: Tensor;
  /** axis of the weight along which the layer reads its input (N:M groups run along it) */
  inputAxis: number;
  /** axis of the weight that indexes output channels (-1 when not meaningful, e.g. embeddings) */
  outputAxis: number;
  isEmbedding: boolean;
}

export function isOnnxDomain(n: Node): boolean {
  return n.domain === '' || n.domain === 'ai.onnx';
}

export function nodeLabel(n: Node, i: number): string {
  return n.name || `${n.opType}#${i}`;
}

/**
 * Graphs of models with IR version < 4, where every initializer must also be listed as a graph
 * input: there such an initializer is a weight, not an overridable input.
 */
const legacyGraphs = new WeakSet<Graph>();

export function markLegacyInitializers(g: Graph, irVersion: number): void {
  if (irVersion < 4) legacyGraphs.add(g);
  else legacyGraphs.delete(g);
}

/** A constant initializer (or Constant node value) not overridable by a graph input. */
export function constTensor(g: Graph, name: string): Tensor | undefined {
  if (!name) return undefined;
  return g.constantValue(name) ?? (legacyGraphs.has(g) ? g.initializers.get(name) : undefined);
}

/** After tensors changed shape: graph inputs that mirror an initializer get its dims. */
export function syncInitializerInputs(g: Graph): void {
  for (const i of g.inputs) {
    const t = g.initializers.get(i.name);
    if (t && i.type && i.type.kind === 'tensor' && i.type.shape && i.type.shape.length === t.dims.length) i.type.shape = [...t.dims];
  }
}

/** Weight candidates of one node (before any filtering), or a reason it has none. */
function layerOf(g: Graph, n: Node, i: number, includeEmbeddings: boolean): Layer | undefined {
  if (!isOnnxDomain(n)) return undefined;
  const label = nodeLabel(n, i);
  const mk = (op: Layer['op'], inputIndex: number, inputAxis: number, outputAxis: number, isEmbedding = false): Layer | undefined => {
    const name = n.inputs[inputIndex];
    const t = constTensor(g, name);
    if (!t || !FLOAT_TYPES.has(t.dtype)) return undefined;
    const r = t.dims.length;
    return { node: n, label, op, inputIndex, weightName: name, tensor: t, inputAxis: inputAxis < 0 ? inputAxis + r : inputAxis, outputAxis: outputAxis < 0 ? outputAxis + r : outputAxis, isEmbedding };
  };
  switch (n.opType) {
    case 'MatMul': {
      const b = constTensor(g, n.inputs[1]);
      if (b && b.dims.length >= 2) return mk('MatMul', 1, -2, -1);
      const a = constTensor(g, n.inputs[0]);
      // W·X: the weight is A [.., M, K]; it reads X along K
      if (a && !b && a.dims.length >= 2) return mk('MatMul', 0, -1, -2);
      return undefined;
    }
    case 'Gemm': {
      const b = constTensor(g, n.inputs[1]);
      if (!b || b.dims.length !== 2) return undefined;
      return attrInt(n, 'transB', 0) ? mk('Gemm', 1, 1, 0) : mk('Gemm', 1, 0, 1);
    }
    case 'Conv': {
      const w = constTensor(g, n.inputs[1]);
      if (!w || w.dims.length < 3) return undefined;
      return mk('Conv', 1, 1, 0);
    }
    case 'Gather': {
      if (!includeEmbeddings) return undefined;
      const d = constTensor(g, n.inputs[0]);
      if (!d || d.dims.length !== 2 || attrInt(n, 'axis', 0) !== 0) return undefined;
      return mk('Gather', 0, 1, -1, true);
    }
    default:
      return undefined;
  }
}

export interface LayerSelection {
  /** weights to prune, one entry per distinct weight (its first reader) */
  layers: Layer[];
  skipped: Skip[];
}

/**
 * The prunable weights of the main graph, in node order, after --exclude, embedding and sharing
 * rules, and keep-first-last (first and last prunable layer left dense).
 */
export function selectLayers(
  g: Graph,
  opts: { exclude: readonly string[]; includeEmbeddings: boolean; keepFirstLast: boolean },
): LayerSelection {
  const skipped: Skip[] = [];
  const byWeight = new Map<string, Layer[]>();
  const order: string[] = [];
  g.nodes.forEach((n, i) => {
    const l = layerOf(g, n, i, opts.includeEmbeddings);
    if (!l) return;
    let list = byWeight.get(l.weightName);
    if (!list) {
      byWeight.set(l.weightName, (list = []));
      order.push(l.weightName);
    }
    list.push(l);
  });
  // a weight that is also an embedding table (tied weights) counts as an embedding
  const embeddingTables = new Set<string>();
  for (const n of g.nodes) if (n.opType === 'Gather' && isOnnxDomain(n) && constTensor(g, n.inputs[0])) embeddingTables.add(n.inputs[0]);

  let layers: Layer[] = [];
  for (const w of order) {
    const readers = byWeight.get(w)!;
    const first = readers[0];
    const ex = readers.find((l) => isExcluded(l.node.name, opts.exclude) || isExcluded(w, opts.exclude));
    if (ex) {
      skipped.push({ node: ex.label, reason: `excluded (weight ${w})` });
      continue;
    }
    if (!opts.includeEmbeddings && embeddingTables.has(w)) {
      skipped.push({ node: first.label, reason: `weight ${w} is an embedding table (use --prune-include-embeddings)` });
      continue;
    }
    const readerNodes = new Set(readers.map((l) => l.node));
    const other = g.consumers(w).find((c) => !readerNodes.has(c));
    if (other || g.isGraphOutput(w)) {
      skipped.push({ node: first.label, reason: `weight ${w} is also read by ${other ? `${other.opType} ${other.name}` : 'a graph output'}` });
      continue;
    }
    if (first.tensor.size === 0) continue;
    layers.push(first);
  }
  if (opts.keepFirstLast) {
    const dense = layers.filter((l) => !l.isEmbedding);
    const keep = new Set<Layer>();
    if (dense.length) keep.add(dense[0]);
    if (dense.length > 1) keep.add(dense[dense.length - 1]);
    for (const l of keep) skipped.push({ node: l.label, reason: 'kept dense (first/last layer)' });
    layers = layers.filter((l) => !keep.has(l));
  }
  return { layers, skipped };
}
