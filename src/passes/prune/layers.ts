/**
 * Finding prunable weights: constant float weights of MatMul, Gemm and Conv in the main graph
 * (and, when asked, of Gather embeddings), with the axes that matter for pruning.
 *
 * Weights are found through src/ir/constants.ts, also behind Identity / Cast / Reshape /
 * Transpose … (an exporter's deduplicated or tied weights). Pruning edits tensors in place, so a
 * selected weight that is computed is first materialized: a fresh initializer that all readers of
 * that value read, the chain removed once nothing else reads it (materializeLayers).
 */
import { Constants, type ConstantInfo } from '../../ir/constants.js';
import { DataType } from '../../ir/dtype.js';
import type { Graph } from '../../ir/graph.js';
import { attrInt, isOnnxDomain, Node } from '../../ir/node.js';
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
  /** the weight is computed through a chain (not stored as it is): materialize before editing */
  computed?: ConstantInfo;
  /** every node reading the same weight value (this one first), filled by selectLayers */
  group?: Layer[];
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

function resolverOf(g: Graph): Constants {
  return new Constants(g, { legacyInitializers: legacyGraphs.has(g) });
}

/** Weight candidates of one node (before any filtering), or a reason it has none. */
function layerOf(g: Graph, c: Constants, n: Node, i: number, includeEmbeddings: boolean): Layer | undefined {
  if (!isOnnxDomain(n)) return undefined;
  const label = nodeLabel(n, i);
  const constTensor = (_: Graph, name: string) => c.get(name);
  const mk = (op: Layer['op'], inputIndex: number, inputAxis: number, outputAxis: number, isEmbedding = false): Layer | undefined => {
    const name = n.inputs[inputIndex];
    const info = c.info(name);
    const t = info?.tensor;
    if (!info || !t || !FLOAT_TYPES.has(t.dtype)) return undefined;
    const r = t.dims.length;
    const l: Layer = { node: n, label, op, inputIndex, weightName: name, tensor: t, inputAxis: inputAxis < 0 ? inputAxis + r : inputAxis, outputAxis: outputAxis < 0 ? outputAxis + r : outputAxis, isEmbedding };
    if (!info.direct) l.computed = info;
    return l;
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
  const c = resolverOf(g);
  const byWeight = new Map<string, Layer[]>();
  const order: string[] = [];
  g.nodes.forEach((n, i) => {
    const l = layerOf(g, c, n, i, opts.includeEmbeddings);
    if (!l) return;
    // one entry per weight value: readers through different Identity outputs share it
    const key = c.info(l.weightName)?.key ?? l.weightName;
    let list = byWeight.get(key);
    if (!list) {
      byWeight.set(key, (list = []));
      order.push(key);
    }
    list.push(l);
  });
  // a weight that is also an embedding table (tied weights, also through a Transpose) counts as an embedding
  const embeddingTables = new Set<string>();
  for (const n of g.nodes) {
    if (n.opType !== 'Gather' || !isOnnxDomain(n)) continue;
    const info = c.info(n.inputs[0]);
    if (info) for (const s of [n.inputs[0], ...info.sources]) embeddingTables.add(s);
  }

  let layers: Layer[] = [];
  for (const key of order) {
    const readers = byWeight.get(key)!;
    const first = readers[0];
    const w = first.weightName;
    const names = [...new Set(readers.map((l) => l.weightName))];
    const ex = readers.find((l) => isExcluded(l.node.name, opts.exclude) || isExcluded(l.weightName, opts.exclude));
    if (ex) {
      skipped.push({ node: ex.label, reason: `excluded (weight ${w})` });
      continue;
    }
    const sources = new Set(readers.flatMap((l) => [l.weightName, ...(l.computed?.sources ?? [])]));
    if (!opts.includeEmbeddings && [...sources].some((s) => embeddingTables.has(s))) {
      skipped.push({ node: first.label, reason: `weight ${w} is an embedding table (use --prune-include-embeddings)` });
      continue;
    }
    const other = c.outsideReaders(names, readers.map((l) => l.node));
    if (other.length) {
      const o = other[0];
      skipped.push({ node: first.label, reason: `weight ${w} is also read by ${o === 'graph output' ? 'a graph output' : `${o.opType} ${o.name}`}` });
      continue;
    }
    if (first.tensor.size === 0) continue;
    first.group = readers;
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

/**
 * Give every selected layer whose weight is computed (behind Identity / Reshape / Transpose …) a
 * stored initializer of that value, read by all the nodes of its group; the chain is removed
 * (nothing else reads it: selectLayers checked). The initializer takes the name the nodes read
 * when that name is free afterwards. Returns how many weights were materialized.
 */
export function materializeLayers(g: Graph, layers: Layer[]): number {
  const c = resolverOf(g);
  let n = 0;
  for (const l of layers) {
    if (!l.computed) continue;
    const group = l.group ?? [l];
    const old = [...new Set(group.map((r) => r.weightName))];
    const src = l.computed.tensor;
    const t = src.clone(); // a view may share its source's buffer
    const tmp = g.addInitializer(Object.assign(t, { name: `${l.weightName}_value` }));
    for (const r of group) r.node.inputs[r.inputIndex] = tmp;
    g.touch();
    for (const o of old) c.removeIfUnused(o);
    let name = tmp;
    if (!g.producer(l.weightName) && !g.initializers.has(l.weightName) && !g.isGraphInput(l.weightName)) {
      g.initializers.delete(tmp);
      t.name = l.weightName;
      g.initializers.set(l.weightName, t);
      for (const r of group) r.node.inputs[r.inputIndex] = l.weightName;
      g.touch();
      name = l.weightName;
    }
    for (const r of group) {
      r.weightName = name;
      r.tensor = t;
      r.computed = undefined;
    }
    n++;
  }
  return n;
}
