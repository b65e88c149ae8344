/**
 * Weights inside subgraphs (If / Loop / Scan bodies).
 *
 * Exporters put whole networks in subgraphs: silero VAD (PyTorch's TorchScript exporter) is one
 * If on the sample rate whose two branches are the 16 kHz and the 8 kHz models, their Conv and
 * LSTM weights main-graph initializers read from the branches or Constant nodes inside them;
 * tf2onnx writes tf.cond / tf.while_loop bodies the same way. The weight-format modes (dynamic,
 * weight-only, int4) rewrite each subgraph as they rewrite the main graph, with a QuantState
 * scoped to it: its new initializers and nodes go into the subgraph, and its constants resolve
 * through the enclosing graphs.
 *
 * A weight read from an enclosing graph is first moved into the subgraph when nothing outside the
 * subgraph reads it (`localizeWeights`), so that the float tensor leaves the file once the
 * subgraph reads its 8-bit (or 4-bit) form. A weight that other graphs read too (both branches
 * of an If, say) stays float where it is and its readers are skipped with that reason: quantizing
 * it in one branch would store it twice. Static QDQ does not look into subgraphs (its
 * calibration would need every branch's activations); it records a skip for each node there.
 */
import type { Graph } from '../../ir/graph.js';
import { constantNodeValue } from '../../ir/constants.js';
import { isOnnxDomain, type Node, subgraphsOf } from '../../ir/node.js';
import type { Tensor } from '../../ir/tensor.js';
import type { QuantState } from './common.js';

/** Every subgraph of `g`, outer ones first (a body before the bodies nested in it). */
export function subgraphsDeep(g: Graph): Graph[] {
  // allNodes is depth first: a body's holder comes before the nodes of the body
  return [...g.allNodes()].flatMap(({ node }) => subgraphsOf(node));
}

/** Whether `g` is `scope` or nested in it. */
function within(g: Graph | undefined, scope: Graph): boolean {
  for (let x = g; x; x = x.parent) if (x === scope) return true;
  return false;
}

/**
 * Move into `sg` the float weights of enclosing graphs that only `sg` (and graphs nested in it)
 * reads — initializers, and Constant nodes holding a float tensor — when no graph on the way
 * lists them as an input or output. Returns the names moved and an undo that puts the model back
 * as it was (initializer and node order included).
 */
export function localizeWeights(sg: Graph): { moved: string[]; undo: () => void } {
  const root = sg.root();
  // the graphs that read each name: node inputs, and graph outputs (a body may output an outer value)
  const readers = new Map<string, Graph[]>();
  const read = (name: string, g: Graph) => {
    if (!name) return;
    let l = readers.get(name);
    if (!l) readers.set(name, (l = []));
    l.push(g);
  };
  for (const g of [root, ...subgraphsDeep(root)]) {
    for (const n of g.nodes) for (const i of n.inputs) read(i, g);
    for (const o of g.outputs) read(o.name, g);
  }
  const moved: string[] = [];
  // each touched graph's initializers and nodes as they were, in their order, for undo
  const before = new Map<Graph, { inits: Map<string, Tensor>; nodes: Node[] }>();
  const keep = (g: Graph) => {
    if (!before.has(g)) before.set(g, { inits: new Map(g.initializers), nodes: [...g.nodes] });
  };
  for (const name of sg.freeNames()) {
    let owner: Graph | undefined = sg.parent;
    let ok = true;
    for (; owner; owner = owner.parent) {
      if (owner.isGraphOutput(name) || owner.isGraphInput(name)) ok = false;
      if (!ok || owner.initializers.has(name) || owner.producer(name)) break;
    }
    if (!ok || !owner) continue;
    if (!(readers.get(name) ?? []).every((g) => within(g, sg))) continue;
    const init = owner.initializers.get(name);
    const node = init ? undefined : owner.producer(name);
    if (init) {
      if (!init.isFloat) continue;
      keep(owner);
      keep(sg);
      owner.initializers.delete(name);
      sg.initializers.set(name, init);
    } else if (node && node.opType === 'Constant' && isOnnxDomain(node) && constantNodeValue(node)?.isFloat) {
      keep(owner);
      keep(sg);
      owner.nodes.splice(owner.nodes.indexOf(node), 1);
      sg.nodes.unshift(node);
    } else {
      continue; // computed by a node: not moved
    }
    moved.push(name);
  }
  if (moved.length) touchUp(sg);
  const undo = () => {
    if (!moved.length) return;
    for (const [g, b] of before) {
      g.initializers = new Map(b.inits);
      g.nodes = [...b.nodes];
    }
    touchUp(sg);
  };
  return { moved, undo };
}

/** Invalidate the indices of `g` and of every graph enclosing it (their consumers see its free names). */
function touchUp(g: Graph): void {
  for (let x: Graph | undefined = g; x; x = x.parent) x.touch();
}

/**
 * Whether every stored float tensor behind the weight `name` lives in the state's own graph (so
 * the rewrite can drop it there); for the main graph always true.
 */
export function weightIsLocal(st: QuantState, name: string): boolean {
  if (!st.scope) return true;
  const g = st.graph;
  // the float data; integer operands of the chain (a Slice's starts and ends) may live outside
  const sources = (st.consts.info(name)?.sources ?? []).filter((s) => st.consts.get(s)?.isFloat);
  return sources.every((s) => g.initializers.has(s) || g.producer(s) !== undefined);
}

/**
 * Rewrite every subgraph of the model with `run` on a state scoped to it (weights localized
 * first), what each recorded taken over by `st`.
 */
export async function quantizeSubgraphs(st: QuantState, run: (sub: QuantState) => void | Promise<void>, opts = st.opts): Promise<void> {
  for (const sg of subgraphsDeep(st.model.graph)) {
    const { undo } = localizeWeights(sg);
    const sub = st.sub(sg, opts);
    await run(sub);
    if (sub.modified) {
      sg.topoSort();
      const defined = sg.definedNames();
      sg.valueInfo = sg.valueInfo.filter((v) => defined.has(v.name));
      touchUp(sg);
    } else {
      undo(); // nothing rewritten here: the weights go back where they were, the model unchanged
    }
    st.absorb(sub);
  }
}
