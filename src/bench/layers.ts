/**
 * Per-layer statistics of a model, from the IR alone (no session): for every node that reads
 * weights, the bytes of those weights by dtype, their parameter count and sparsity (counted by
 * src/ir/params.ts), and, for a compressed model matched to its original, the relative error of
 * its weight and what the passes recorded for it (their `details`: rank, energy, refit error, …).
 * The HTML report (src/bench/html.ts) draws them; they are not in the --json document (one entry
 * per layer: large for big models; `mlc inspect` lists weights).
 *
 * A layer's weights are the constants it reads directly or through nodes whose inputs are all
 * constant (DequantizeLinear, Cast, Mul by a scale, Transpose of a weight…): each constant
 * belongs to the first node in graph order that reads it that way. A node holding subgraphs (If,
 * Loop, Scan) owns their constants. Nodes whose weights are under 64 bytes and not floating point
 * (shapes, axes, indices) are left out.
 *
 * Layers of the two models are matched by node name, else by their first output (a rewritten node
 * keeps writing the tensor its consumers read), and a fused chain by the original nodes between its
 * inputs and output; a new layer whose output only a matched layer reads, or that only reads what a
 * matched layer writes, is counted in it (a layer rewritten into a chain: low-rank factors, a
 * Gather of an int8 table and its DequantizeLinear). The weight error is ‖Ŵ − W‖ / ‖W‖ of the layer's
 * largest weight, each evaluated through the constant nodes in front of it when they are among
 * Identity, Cast, Mul, DequantizeLinear and Transpose (plus the weight of com.microsoft's
 * DynamicQuantizeMatMul), compared as is or, for a matrix, transposed; null when the weights
 * cannot be evaluated, their sizes differ, or a weight has more than `MAX_ERROR_ELEMENTS`.
 */
import { DataType, dtypeInfo } from '../ir/dtype.js';
import type { Graph } from '../ir/graph.js';
import type { Model } from '../ir/model.js';
import { attrInt, subgraphsOf, type Node } from '../ir/node.js';
import { addParamStats, type ConstantRef, constantTensors, countConstant, countParams, type ParamStats } from '../ir/params.js';
import type { PassReport } from './types.js';

export interface LayerStat {
  /** the node's name (its op type and index when it has none) */
  node: string;
  op: string;
  /** its first output (how a rewritten layer is matched to the original) */
  output: string;
  params: number;
  nonzeroParams: number;
  bytes: number;
  bytesByDtype: Record<string, number>;
  /** share of the parameters that are zero (0..1) */
  sparsity: number;
  /** after only: the original's layers it replaces (node names; several for a fused chain, [] for a new layer) */
  matches?: string[];
  /** after only: relative error of the layer's largest weight against the original's; null when not comparable */
  weightError?: number | null;
  /** after only: the nodes the layer became when a pass rewrote it into a chain (low-rank factors) */
  parts?: string[];
  /** what the passes recorded for the layer: `pass.field` → value (numbers and short strings) */
  notes?: Record<string, number | string>;
}

export interface LayerStats {
  before: LayerStat[];
  after: LayerStat[] | null;
}

/** Weights over this many elements get no weight error (the evaluation holds them as float64). */
export const MAX_ERROR_ELEMENTS = 1 << 24;

interface Owned {
  node: Node;
  index: number;
  refs: ConstantRef[];
  stats: ParamStats;
}

/** The constants of the main graph by the name nodes read them by. */
function constantsByName(g: Graph): Map<string, ConstantRef> {
  const m = new Map<string, ConstantRef>();
  for (const c of constantTensors(g, { subgraphs: false })) m.set(c.name, c);
  return m;
}

const isConstantNode = (n: Node) => n.opType === 'Constant' && (n.domain === '' || n.domain === 'ai.onnx');

/** Names of the values computed from constants only (outputs of nodes all of whose inputs are constant). */
function constantValues(g: Graph, consts: Map<string, ConstantRef>): Set<string> {
  const out = new Set<string>(consts.keys());
  let changed = true;
  // graph order is topological for valid models; the loop also covers an unsorted graph
  while (changed) {
    changed = false;
    for (const n of g.nodes) {
      if (isConstantNode(n) || subgraphsOf(n).length) continue;
      const ins = n.inputs.filter(Boolean);
      if (!ins.length || !ins.every((i) => out.has(i))) continue;
      for (const o of n.outputs) {
        if (o && !out.has(o)) {
          out.add(o);
          changed = true;
        }
      }
    }
  }
  return out;
}

function layersOf(model: Model): { layers: Owned[]; consts: Map<string, ConstantRef>; derived: Set<string> } {
  const g = model.graph;
  const consts = constantsByName(g);
  const derived = constantValues(g, consts);
  const taken = new Set<string>();
  const owned: Owned[] = [];
  g.nodes.forEach((node, index) => {
    if (isConstantNode(node)) return;
    const prep = node.outputs.length > 0 && node.outputs.every((o) => !o || derived.has(o)) && !subgraphsOf(node).length;
    if (prep) return;
    const refs: ConstantRef[] = [];
    const seen = new Set<string>();
    const visit = (name: string) => {
      if (!name || seen.has(name)) return;
      seen.add(name);
      const c = consts.get(name);
      if (c) {
        if (!taken.has(name)) {
          taken.add(name);
          refs.push(c);
        }
        return;
      }
      if (!derived.has(name)) return;
      const p = g.producer(name);
      if (p) for (const i of p.inputs) visit(i);
    };
    for (const i of node.inputs) visit(i);
    const stats: ParamStats = { params: 0, nonzeroParams: 0, bytesByDtype: {} };
    for (const c of refs) addParamStats(stats, countConstant(c));
    for (const sg of subgraphsOf(node)) addParamStats(stats, countParams(sg));
    owned.push({ node, index, refs, stats });
  });
  return { layers: owned, consts, derived };
}

function keep(o: Owned): boolean {
  const bytes = Object.values(o.stats.bytesByDtype).reduce((a, b) => a + b, 0);
  return bytes >= 64 || o.refs.some((r) => dtypeInfo(r.tensor.dtype).isFloat && r.tensor.size > 0) || (subgraphsOf(o.node).length > 0 && o.stats.params > 0);
}

function toStat(o: Owned): LayerStat {
  const s = o.stats;
  const bytes = Object.values(s.bytesByDtype).reduce((a, b) => a + b, 0);
  return {
    node: o.node.name || `${o.node.opType}#${o.index}`,
    op: o.node.opType,
    output: o.node.outputs[0] ?? '',
    params: s.params,
    nonzeroParams: s.nonzeroParams,
    bytes,
    bytesByDtype: s.bytesByDtype,
    sparsity: s.params > 0 ? 1 - s.nonzeroParams / s.params : 0,
  };
}

// --------------------------------------------------------------------------------------------
// the effective value of a layer's weight, through the constant nodes in front of it

interface Value {
  dims: number[];
  /** float32: enough for an error of a few per cent, and half the memory */
  data: Float32Array;
  /** real values (a float constant, or integers dequantized); false for raw integers */
  real: boolean;
}

function broadcastMul(a: Value, b: Value): Value | null {
  const rank = Math.max(a.dims.length, b.dims.length);
  const pad = (d: number[]) => [...Array(rank - d.length).fill(1), ...d];
  const da = pad(a.dims);
  const db = pad(b.dims);
  const dims: number[] = [];
  for (let i = 0; i < rank; i++) {
    if (da[i] !== db[i] && da[i] !== 1 && db[i] !== 1) return null;
    dims.push(Math.max(da[i], db[i]));
  }
  const n = dims.reduce((x, y) => x * y, 1);
  const strides = (d: number[]) => {
    const s = new Array(rank).fill(0);
    let acc = 1;
    for (let i = rank - 1; i >= 0; i--) {
      s[i] = d[i] === 1 ? 0 : acc;
      acc *= d[i];
    }
    return s;
  };
  const sa = strides(da);
  const sb = strides(db);
  const out = new Float32Array(n);
  const idx = new Array(rank).fill(0);
  for (let k = 0; k < n; k++) {
    let ia = 0;
    let ib = 0;
    for (let i = 0; i < rank; i++) {
      ia += idx[i] * sa[i];
      ib += idx[i] * sb[i];
    }
    out[k] = a.data[ia] * b.data[ib];
    for (let i = rank - 1; i >= 0; i--) {
      if (++idx[i] < dims[i]) break;
      idx[i] = 0;
    }
  }
  return { dims, data: out, real: a.real || b.real };
}

/** (q − zp) · scale, per tensor or along `axis`. */
function dequantize(q: Value, scale: Value, zp: Value | null, axis: number): Value | null {
  const n = q.data.length;
  const out = new Float32Array(n);
  if (scale.data.length === 1) {
    const z = zp ? zp.data[0] : 0;
    for (let i = 0; i < n; i++) out[i] = (q.data[i] - z) * scale.data[0];
    return { dims: q.dims, data: out, real: true };
  }
  const ax = axis < 0 ? axis + q.dims.length : axis;
  if (ax < 0 || ax >= q.dims.length || q.dims[ax] !== scale.data.length) return null;
  let inner = 1;
  for (let k = ax + 1; k < q.dims.length; k++) inner *= q.dims[k];
  const ch = q.dims[ax];
  const qd = q.data;
  for (let i = 0; i < n; ) {
    for (let c = 0; c < ch; c++) {
      const z = zp ? zp.data[c] : 0;
      const sc = scale.data[c];
      for (const end = i + inner; i < end; i++) out[i] = (qd[i] - z) * sc;
    }
  }
  return { dims: q.dims, data: out, real: true };
}

function transpose2d(v: Value): Value {
  const [r, c] = v.dims;
  const out = new Float32Array(r * c);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[j * r + i] = v.data[i * c + j];
  return { dims: [c, r], data: out, real: v.real };
}

function evaluate(g: Graph, consts: Map<string, ConstantRef>, derived: Set<string>, name: string, depth = 0): Value | null {
  if (!name || depth > 8) return null;
  const c = consts.get(name);
  if (c) {
    if (c.sparse || c.tensor.size > MAX_ERROR_ELEMENTS) return null;
    try {
      // a float32 weight is read in place (nothing here writes to it)
      const data = c.tensor.dtype === DataType.FLOAT ? (c.tensor.data as Float32Array) : Float32Array.from(c.tensor.toNumbers());
      return { dims: [...c.tensor.dims], data, real: dtypeInfo(c.tensor.dtype).isFloat };
    } catch {
      return null; // a dtype toNumbers does not read (4-bit, float8, strings)
    }
  }
  if (!derived.has(name)) return null;
  const p = g.producer(name);
  if (!p || (p.domain !== '' && p.domain !== 'ai.onnx')) return null;
  const arg = (i: number) => evaluate(g, consts, derived, p.inputs[i], depth + 1);
  switch (p.opType) {
    case 'Identity':
    case 'Cast':
      return arg(0);
    case 'Mul': {
      const a = arg(0);
      const b = arg(1);
      return a && b ? broadcastMul(a, b) : null;
    }
    case 'DequantizeLinear': {
      const q = arg(0);
      const s = arg(1);
      if (!q || !s) return null;
      return dequantize(q, s, p.inputs[2] ? arg(2) : null, attrInt(p, 'axis', 1));
    }
    case 'Transpose': {
      const a = arg(0);
      return a && a.dims.length === 2 ? transpose2d(a) : null;
    }
    default:
      return null;
  }
}

/**
 * The original's nodes that `node` (of the compressed model) replaces: those between the inputs it
 * shares with the original and the value it writes (its first output); one node when a rewrite
 * kept the interface, several when it fused a chain (MatMul + Add → one node). Only the node that
 * wrote the output when an input is new or the region is over 16 nodes; null for a new output.
 */
function replacedRegion(g: Graph, ga: Graph, node: Node, derivedBefore: Set<string>, derivedAfter: Set<string>): Node[] | null {
  const out = node.outputs[0];
  const writer = out ? g.producer(out) : undefined;
  if (!writer) return null;
  const stops = new Set<string>();
  for (const i of node.inputs) {
    if (!i || derivedAfter.has(i) || ga.constantValue(i)) continue;
    if (!g.producer(i) && !g.isGraphInput(i)) return [writer]; // a value the rewrite made: the walk would not stop
    stops.add(i);
  }
  const found: Node[] = [];
  const seen = new Set<string>();
  const stack = [out];
  while (stack.length) {
    const v = stack.pop()!;
    if (stops.has(v) || seen.has(v) || derivedBefore.has(v)) continue;
    seen.add(v);
    const p = g.producer(v);
    if (!p) return [writer];
    if (!found.includes(p)) found.push(p);
    if (found.length > 16) return [writer];
    for (const i of p.inputs) if (i) stack.push(i);
  }
  return found;
}

/** The effective value of a layer's largest weight. */
function layerWeight(model: Model, o: Owned, consts: Map<string, ConstantRef>, derived: Set<string>): Value | null {
  const g = model.graph;
  const n = o.node;
  if (n.opType === 'DynamicQuantizeMatMul' && n.domain === 'com.microsoft') {
    const q = evaluate(g, consts, derived, n.inputs[1]);
    const s = evaluate(g, consts, derived, n.inputs[2]);
    if (!q || !s || q.dims.length !== 2) return null;
    return dequantize(q, s, n.inputs[3] ? evaluate(g, consts, derived, n.inputs[3]) : null, 1);
  }
  if (n.domain !== '' && n.domain !== 'ai.onnx') return null;
  // the input whose constants are the largest
  let best: { input: string; size: number } | null = null;
  for (const input of n.inputs) {
    if (!input || !derived.has(input)) continue;
    const size = o.refs.filter((r) => feeds(g, consts, derived, r.name, input)).reduce((a, r) => a + r.tensor.size, 0);
    if (!best || size > best.size) best = { input, size };
  }
  const v = best ? evaluate(g, consts, derived, best.input) : null;
  return v?.real ? v : null;
}

/** Whether constant `c` flows into value `to` through constant nodes. */
function feeds(g: Graph, consts: Map<string, ConstantRef>, derived: Set<string>, c: string, to: string, depth = 0): boolean {
  if (c === to) return true;
  if (depth > 8 || consts.has(to) || !derived.has(to)) return false;
  const p = g.producer(to);
  return !!p && p.inputs.some((i) => i && feeds(g, consts, derived, c, i, depth + 1));
}

/** ‖b − a‖ / ‖a‖ (null when a is all zeros and b is not) */
function relativeError(a: Float32Array, b: Float32Array): number | null {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i];
    const d = b[i] - x;
    num += d * d;
    den += x * x;
  }
  return den > 0 ? Math.sqrt(num / den) : num === 0 ? 0 : null;
}

function relError(w: Value, q: Value): number | null {
  if (w.data.length !== q.data.length || w.data.length === 0) return null;
  const err = (b: Value) => relativeError(w.data, b.data);
  const same = w.dims.length === q.dims.length && w.dims.every((d, i) => d === q.dims[i]);
  if (same) return err(q);
  if (w.dims.length === 2 && q.dims.length === 2 && w.dims[0] === q.dims[1] && w.dims[1] === q.dims[0]) return err(transpose2d(q));
  // same element count, another shape (a reshaped weight): element order is kept
  return w.data.length === q.data.length && w.dims.length !== 2 ? err(q) : null;
}

const NOTE_SKIP = new Set(['node', 'nodes', 'weight', 'dims', 'shape', 'op', 'ms']);

/**
 * Attach the scalar fields of the passes' per-layer details to the layers they name: the
 * compressed model's layer (by name, or matched to the named original), else the original's.
 */
function attachNotes(before: LayerStat[], after: LayerStat[] | null, passes: readonly PassReport[]): void {
  const b = new Map(before.map((l) => [l.node, l]));
  const a = new Map((after ?? []).map((l) => [l.node, l]));
  for (const l of after ?? []) for (const m of l.matches ?? []) if (!a.has(m)) a.set(m, l);
  for (const p of passes) {
    for (const d of p.details ?? []) {
      const names = typeof d.node === 'string' ? [d.node] : Array.isArray(d.nodes) ? d.nodes.filter((x): x is string => typeof x === 'string') : [];
      for (const name of names) {
        const l = a.get(name) ?? b.get(name);
        if (!l) continue;
        for (const [k, v] of Object.entries(d)) {
          if (NOTE_SKIP.has(k)) continue;
          if (typeof v !== 'number' && !(typeof v === 'string' && v.length <= 40)) continue;
          l.notes ??= {};
          l.notes[`${p.name}.${k}`] = v;
        }
      }
    }
  }
}

/**
 * The per-layer statistics of a model, or of an original and its compressed version (matched,
 * with weight errors and the passes' notes on the compressed model's layers).
 */
export function layerStats(before: Model, after?: Model | null, passes: readonly PassReport[] = []): LayerStats {
  const b = layersOf(before);
  const bStats = b.layers.filter(keep).map(toStat);
  if (!after) {
    attachNotes(bStats, null, passes);
    return { before: bStats, after: null };
  }
  const a = layersOf(after);
  const kept = a.layers.filter(keep);
  const aStats = kept.map(toStat);
  const bKept = b.layers.filter(keep);
  const statOfBefore = new Map(bKept.map((o, i) => [o.node, { o, stat: bStats[i] }]));
  const byName = new Map(bKept.map((o) => [o.node.name, o.node]));
  kept.forEach((o, k) => {
    const stat = aStats[k];
    const found: Node[] = [];
    const named = o.node.name ? byName.get(o.node.name) : undefined;
    if (named) found.push(named);
    // the original nodes between the layer's inputs and its output (one node, or a fused chain)
    for (const n of replacedRegion(before.graph, after.graph, o.node, b.derived, a.derived) ?? []) if (statOfBefore.has(n) && !found.includes(n)) found.push(n);
    stat.matches = found.map((n) => statOfBefore.get(n)!.stat.node);
    // the weight error against the original layer whose weight has as many elements
    stat.weightError = null;
    const q = found.length ? layerWeight(after, o, a.consts, a.derived) : null;
    if (!q) return;
    for (const n of found) {
      const w = layerWeight(before, statOfBefore.get(n)!.o, b.consts, b.derived);
      const e = w && w.data.length === q.data.length ? relError(w, q) : null;
      if (e !== null) {
        stat.weightError = Number(e.toPrecision(4));
        break;
      }
    }
  });
  // a layer rewritten into a chain (low-rank: x·A then ·B, the last writing the original output):
  // an unmatched layer whose output only a matched layer reads is counted in that layer
  const statOf = new Map(kept.map((o, k) => [o.node, aStats[k]]));
  const merged = new Set<LayerStat>();
  kept.forEach((o, k) => {
    if (aStats[k].matches?.length) return;
    const g = after.graph;
    const readers = o.node.outputs.flatMap((out) => (out ? g.consumers(out) : []));
    let into = readers.length === 1 && !g.isGraphOutput(o.node.outputs[0]) ? statOf.get(readers[0]) : undefined;
    if (!into?.matches?.length) {
      // or the other way round: a new layer that only reads what one matched layer alone writes
      // (a DequantizeLinear after a Gather of an int8 table)
      const ins = o.node.inputs.filter((i) => i && !a.derived.has(i));
      const from = ins.length ? g.producer(ins[0]) : undefined;
      const only = from && ins.every((i) => g.producer(i) === from) && from.outputs.every((x) => !x || g.consumers(x).every((c) => c === o.node));
      into = only ? statOf.get(from) : undefined;
    }
    if (!into?.matches?.length) return;
    into.params += aStats[k].params;
    into.nonzeroParams += aStats[k].nonzeroParams;
    into.bytes += aStats[k].bytes;
    for (const [d, v] of Object.entries(aStats[k].bytesByDtype)) into.bytesByDtype[d] = (into.bytesByDtype[d] ?? 0) + v;
    into.sparsity = into.params > 0 ? 1 - into.nonzeroParams / into.params : 0;
    into.parts = [...(into.parts ?? [into.node]), aStats[k].node];
    if (into.weightError === null && aStats[k].weightError != null) into.weightError = aStats[k].weightError;
    merged.add(aStats[k]);
  });
  const afterStats = aStats.filter((l) => !merged.has(l));
  attachNotes(bStats, afterStats, passes);
  return { before: bStats, after: afterStats };
}

/** One row of the per-layer charts: original layers and the compressed layers that replace them. */
export interface LayerRow {
  /** the original's layers of the row, as one (sums; names joined with " + "); null for a new layer */
  before: LayerStat | null;
  /** the compressed model's layers of the row, as one; null when the layer is gone (or one model) */
  after: LayerStat | null;
}

function combine(list: LayerStat[]): LayerStat | null {
  if (!list.length) return null;
  if (list.length === 1) return list[0];
  const c: LayerStat = { node: list.map((l) => l.node).join(' + '), op: [...new Set(list.map((l) => l.op))].join(' + '), output: list[list.length - 1].output, params: 0, nonzeroParams: 0, bytes: 0, bytesByDtype: {}, sparsity: 0 };
  for (const l of list) {
    c.params += l.params;
    c.nonzeroParams += l.nonzeroParams;
    c.bytes += l.bytes;
    for (const [d, v] of Object.entries(l.bytesByDtype)) c.bytesByDtype[d] = (c.bytesByDtype[d] ?? 0) + v;
    if (l.notes) c.notes = { ...c.notes, ...l.notes };
  }
  c.sparsity = c.params > 0 ? 1 - c.nonzeroParams / c.params : 0;
  const errors = list.map((l) => l.weightError).filter((e): e is number => e != null);
  if (list.some((l) => l.weightError !== undefined)) c.weightError = errors.length ? Math.max(...errors) : null;
  const parts = list.flatMap((l) => l.parts ?? []);
  if (parts.length) c.parts = parts;
  return c;
}

/**
 * The rows of the per-layer charts and table: the layers joined by their matches (a compressed
 * layer with the originals it replaces; a fused chain is one row, and so is an original split in
 * several), in the original's order, then the new layers.
 */
export function layerRows(s: LayerStats): LayerRow[] {
  const parent = new Map<string, string>();
  const find = (x: string): string => {
    let r = x;
    while (parent.has(r) && parent.get(r) !== r) r = parent.get(r)!;
    parent.set(x, r);
    return r;
  };
  const key = { b: (l: LayerStat) => `b:${l.node}`, a: (l: LayerStat, i: number) => `a:${i}:${l.node}` };
  for (const l of s.before) parent.set(key.b(l), key.b(l));
  (s.after ?? []).forEach((l, i) => {
    const k = key.a(l, i);
    parent.set(k, k);
    for (const m of l.matches ?? []) if (parent.has(`b:${m}`)) parent.set(find(k), find(`b:${m}`));
  });
  const groups = new Map<string, { before: LayerStat[]; after: LayerStat[] }>();
  const group = (root: string) => {
    let g = groups.get(root);
    if (!g) groups.set(root, (g = { before: [], after: [] }));
    return g;
  };
  for (const l of s.before) group(find(key.b(l))).before.push(l);
  (s.after ?? []).forEach((l, i) => {
    group(find(key.a(l, i))).after.push(l);
  });
  const rows = [...groups.values()].map((g) => ({ before: combine(g.before), after: combine(g.after) }));
  return [...rows.filter((r) => r.before), ...rows.filter((r) => !r.before)];
}

/** Float dtypes first, then by name: the stacking order of the charts. */
export function dtypeOrder(names: Iterable<string>): string[] {
  const isFloat = (n: string) => /float|double|bfloat/.test(n);
  return [...new Set(names)].sort((x, y) => Number(isFloat(y)) - Number(isFloat(x)) || x.localeCompare(y));
}
