/**
 * Graph: nodes in a list, values named by strings (as in ONNX), initializers as typed arrays.
 *
 * Producer / consumer look-ups use an index that is rebuilt lazily after any mutation made through
 * the methods below. Code that edits `nodes` or a node's `inputs` / `outputs` directly must call
 * `touch()` afterwards.
 *
 * Names used inside subgraphs (If / Loop / Scan bodies) that are not defined there refer to the
 * enclosing graph: for the index, the node holding the subgraph counts as their consumer.
 */
import { MlcError } from '../core/errors.js';
import { isOnnxDomain, Node, SparseTensor, subgraphsOf } from './node.js';
import { Tensor } from './tensor.js';
import { ValueInfo } from './types.js';

interface Index {
  producer: Map<string, Node>;
  consumers: Map<string, Node[]>;
}

export class Graph {
  name: string;
  docString = '';
  nodes: Node[] = [];
  inputs: ValueInfo[] = [];
  outputs: ValueInfo[] = [];
  valueInfo: ValueInfo[] = [];
  initializers = new Map<string, Tensor>();
  sparseInitializers: SparseTensor[] = [];
  /** Fields of GraphProto the IR does not model (quantization_annotation, metadata_props, ...). */
  extra?: Record<string, unknown>;
  /** The graph that holds this one as a node attribute, if any. */
  parent?: Graph;

  private index?: Index;

  constructor(name = 'graph') {
    this.name = name;
  }

  /** Invalidate cached indices (producers / consumers, and the name cache) after direct edits. */
  touch(): void {
    this.index = undefined;
    this.root().namesStale = true;
  }

  /** Invalidate the producer / consumer index after an edit made through this class's methods. */
  private reindex(): void {
    this.index = undefined;
  }

  /** Reserve the names a node brings (name, inputs, outputs, its subgraphs' names) in the name cache. */
  private noteNames(node: Node): void {
    const used = this.root().nameCache;
    if (!used) return;
    if (node.name) used.add(node.name);
    for (const x of node.inputs) used.add(x);
    for (const x of node.outputs) used.add(x);
    for (const g of subgraphsOf(node)) g.allNames(used);
  }

  private getIndex(): Index {
    if (this.index) return this.index;
    const producer = new Map<string, Node>();
    const consumers = new Map<string, Node[]>();
    for (const n of this.nodes) {
      for (const o of n.outputs) if (o) producer.set(o, n);
      const used = new Set(n.inputs.filter((x) => x));
      for (const g of subgraphsOf(n)) for (const f of g.freeNames()) used.add(f);
      for (const u of used) {
        let l = consumers.get(u);
        if (!l) consumers.set(u, (l = []));
        l.push(n);
      }
    }
    this.index = { producer, consumers };
    return this.index;
  }

  producer(name: string): Node | undefined {
    return this.getIndex().producer.get(name);
  }

  /** Nodes that read `name` (directly, or inside one of their subgraphs). */
  consumers(name: string): Node[] {
    return this.getIndex().consumers.get(name) ?? [];
  }

  isGraphOutput(name: string): boolean {
    return this.outputs.some((o) => o.name === name);
  }

  isGraphInput(name: string): boolean {
    return this.inputs.some((i) => i.name === name);
  }

  /** Graph inputs that are not also initializers (what a caller must feed). */
  realInputs(): ValueInfo[] {
    return this.inputs.filter((i) => !this.initializers.has(i.name));
  }

  /** The constant tensor behind `name`: an initializer (not overridable by an input) or a Constant node's value. */
  constantValue(name: string): Tensor | undefined {
    const init = this.initializers.get(name);
    if (init) return this.isGraphInput(name) ? undefined : init;
    const p = this.producer(name);
    if (p && p.opType === 'Constant' && isOnnxDomain(p)) {
      const a = p.attributes.find((x) => x.name === 'value');
      if (a && a.value instanceof Tensor) return a.value;
    }
    if (!p && this.parent && !this.isGraphInput(name)) return this.parent.constantValue(name);
    return undefined;
  }

  valueInfoOf(name: string): ValueInfo | undefined {
    return (
      this.inputs.find((v) => v.name === name) ??
      this.outputs.find((v) => v.name === name) ??
      this.valueInfo.find((v) => v.name === name)
    );
  }

  /** Names defined in this graph: inputs, initializers, node outputs. */
  definedNames(): Set<string> {
    const s = new Set<string>();
    for (const i of this.inputs) s.add(i.name);
    for (const k of this.initializers.keys()) s.add(k);
    for (const sp of this.sparseInitializers) s.add(sp.values.name);
    for (const n of this.nodes) for (const o of n.outputs) if (o) s.add(o);
    return s;
  }

  /** Names this graph reads from an enclosing scope. */
  freeNames(): Set<string> {
    const defined = this.definedNames();
    const free = new Set<string>();
    const visit = (name: string) => {
      if (name && !defined.has(name)) free.add(name);
    };
    for (const n of this.nodes) {
      n.inputs.forEach(visit);
      for (const g of subgraphsOf(n)) g.freeNames().forEach(visit);
    }
    for (const o of this.outputs) visit(o.name);
    return free;
  }

  /** Every name used anywhere in this graph and its subgraphs (values and node names). */
  private allNames(into = new Set<string>()): Set<string> {
    for (const n of this.inputs) into.add(n.name);
    for (const n of this.outputs) into.add(n.name);
    for (const n of this.valueInfo) into.add(n.name);
    for (const k of this.initializers.keys()) into.add(k);
    for (const sp of this.sparseInitializers) into.add(sp.values.name);
    for (const n of this.nodes) {
      if (n.name) into.add(n.name);
      for (const x of n.inputs) into.add(x);
      for (const x of n.outputs) into.add(x);
      for (const g of subgraphsOf(n)) g.allNames(into);
    }
    return into;
  }

  /** The root graph (subgraphs share their root's namespace). */
  root(): Graph {
    let g: Graph = this;
    while (g.parent) g = g.parent;
    return g;
  }

  private nameCache?: Set<string>;
  /** set by touch(): direct edits may have added names the cache does not know */
  private namesStale = false;

  /**
   * A name not used anywhere in the model (root graph and all subgraphs): `base` itself if free,
   * else `base_1`, `base_2`, .... The returned name is reserved.
   */
  uniqueName(base: string): string {
    const root = this.root();
    if (!root.nameCache || root.namesStale) {
      // rescan, keeping earlier reservations
      root.nameCache = root.allNames(root.nameCache ?? new Set());
      root.namesStale = false;
    }
    const used = root.nameCache;
    let name = base;
    for (let i = 1; used.has(name); i++) name = `${base}_${i}`;
    used.add(name);
    return name;
  }

  /** Add an initializer under a unique name derived from `tensor.name`; returns the name. */
  addInitializer(tensor: Tensor): string {
    const name = this.uniqueName(tensor.name || 'const');
    tensor.name = name;
    this.initializers.set(name, tensor);
    return name;
  }

  /** Add a node (given a unique name if it has none or a taken one), before `before` or at the end. */
  addNode(node: Node, opts: { before?: Node; after?: Node } = {}): Node {
    if (!node.name) node.name = this.uniqueName(node.opType);
    else if (this.nodeNameTaken(node.name)) node.name = this.uniqueName(node.name);
    if (opts.before) {
      const i = this.nodes.indexOf(opts.before);
      if (i < 0) throw new MlcError('INTERNAL', `addNode: ${opts.before.name} is not in graph ${this.name}`);
      this.nodes.splice(i, 0, node);
    } else if (opts.after) {
      const i = this.nodes.indexOf(opts.after);
      if (i < 0) throw new MlcError('INTERNAL', `addNode: ${opts.after.name} is not in graph ${this.name}`);
      this.nodes.splice(i + 1, 0, node);
    } else {
      this.nodes.push(node);
    }
    this.reindex();
    this.noteNames(node);
    return node;
  }

  /** Convenience: create and add a node. */
  makeNode(
    opType: string,
    inputs: string[],
    outputs: string[],
    attributes: Node['attributes'] = [],
    opts: { name?: string; domain?: string; before?: Node; after?: Node } = {},
  ): Node {
    const node: Node = {
      name: opts.name ? this.uniqueName(opts.name) : '',
      opType,
      domain: opts.domain ?? '',
      inputs,
      outputs,
      attributes,
    };
    return this.addNode(node, opts);
  }

  /** Whether a node anywhere in the model (root graph and subgraphs) is called `name`. */
  private nodeNameTaken(name: string): boolean {
    for (const { node } of this.root().allNodes()) if (node.name === name) return true;
    return false;
  }

  removeNode(node: Node): void {
    const i = this.nodes.indexOf(node);
    if (i >= 0) {
      this.nodes.splice(i, 1);
      this.reindex();
    }
  }

  /** Replace `oldNode` by `newNodes` at its position. */
  replaceNode(oldNode: Node, newNodes: Node[]): void {
    const i = this.nodes.indexOf(oldNode);
    if (i < 0) throw new MlcError('INTERNAL', `replaceNode: ${oldNode.name} is not in graph ${this.name}`);
    for (const n of newNodes) {
      if (!n.name) n.name = this.uniqueName(n.opType);
      else if (n.name !== oldNode.name && this.nodeNameTaken(n.name)) n.name = this.uniqueName(n.name);
    }
    this.nodes.splice(i, 1, ...newNodes);
    this.reindex();
    for (const n of newNodes) this.noteNames(n);
  }

  /**
   * Make every reader of `oldName` (nodes here and in subgraphs, graph outputs) read `newName`.
   * Graph outputs are renamed only with `includeOutputs` (renaming an output changes the model's
   * interface).
   */
  replaceAllUses(oldName: string, newName: string, includeOutputs = false): void {
    const rename = (g: Graph) => {
      for (const n of g.nodes) {
        for (let k = 0; k < n.inputs.length; k++) if (n.inputs[k] === oldName) n.inputs[k] = newName;
        for (const sg of subgraphsOf(n)) {
          if (sg.definedNames().has(oldName)) continue;
          rename(sg);
          // a subgraph output that is the outer value itself follows it (subgraph outputs are positional)
          for (const o of sg.outputs) if (o.name === oldName) o.name = newName;
        }
      }
      g.reindex();
    };
    this.root().nameCache?.add(newName);
    rename(this);
    if (includeOutputs) for (const o of this.outputs) if (o.name === oldName) o.name = newName;
  }

  /**
   * Sort nodes topologically (stable: keeps the current order where it is valid).
   * Throws if the graph has a cycle.
   */
  topoSort(): void {
    const available = new Set<string>(['']);
    for (const i of this.inputs) available.add(i.name);
    for (const k of this.initializers.keys()) available.add(k);
    for (const sp of this.sparseInitializers) available.add(sp.values.name);
    // names from enclosing scopes are available too
    if (this.parent) for (const f of this.freeNames()) available.add(f);
    const needs = (n: Node): string[] => {
      const s = new Set(n.inputs);
      for (const g of subgraphsOf(n)) for (const f of g.freeNames()) s.add(f);
      return [...s];
    };
    const producers = new Map<string, Node>();
    for (const n of this.nodes) for (const o of n.outputs) if (o) producers.set(o, n);
    const pending = new Map<Node, number>();
    const waiters = new Map<string, Node[]>();
    const ready: Node[] = [];
    const order = new Map(this.nodes.map((n, i) => [n, i]));
    for (const n of this.nodes) {
      const missing = needs(n).filter((x) => !available.has(x) && producers.has(x));
      pending.set(n, missing.length);
      for (const m of missing) {
        let l = waiters.get(m);
        if (!l) waiters.set(m, (l = []));
        l.push(n);
      }
      if (missing.length === 0) ready.push(n);
    }
    // a binary heap would be faster; graphs are small enough for a sorted insert
    const out: Node[] = [];
    ready.sort((a, b) => order.get(a)! - order.get(b)!);
    while (ready.length) {
      const n = ready.shift()!;
      out.push(n);
      for (const o of n.outputs) {
        for (const w of waiters.get(o) ?? []) {
          const left = pending.get(w)! - 1;
          pending.set(w, left);
          if (left === 0) {
            const pos = order.get(w)!;
            let lo = 0;
            let hi = ready.length;
            while (lo < hi) {
              const mid = (lo + hi) >> 1;
              if (order.get(ready[mid])! < pos) lo = mid + 1;
              else hi = mid;
            }
            ready.splice(lo, 0, w);
          }
        }
        waiters.delete(o);
      }
    }
    if (out.length !== this.nodes.length) {
      const stuck = this.nodes.filter((n) => !out.includes(n)).map((n) => n.name || n.opType);
      throw new MlcError('INPUT', `graph ${this.name} has a cycle or undefined inputs at: ${stuck.slice(0, 5).join(', ')}`);
    }
    this.nodes = out;
    this.reindex();
  }

  /**
   * Remove nodes whose outputs nobody reads (not graph outputs, no consumers), repeatedly.
   * Returns how many were removed.
   */
  removeDeadNodes(): number {
    let removed = 0;
    for (;;) {
      const live = new Set<string>(this.outputs.map((o) => o.name));
      for (const n of this.nodes) {
        for (const i of n.inputs) live.add(i);
        for (const g of subgraphsOf(n)) for (const f of g.freeNames()) live.add(f);
      }
      const keep = this.nodes.filter((n) => n.outputs.some((o) => o && live.has(o)));
      if (keep.length === this.nodes.length) break;
      removed += this.nodes.length - keep.length;
      this.nodes = keep;
    }
    if (removed) this.reindex();
    return removed;
  }

  /**
   * Remove initializers nothing reads. An unused initializer that is also listed as a graph input
   * (old exporters list every weight there) is removed together with that input entry; graph inputs
   * that are not initializers are kept. Returns how many initializers were removed.
   */
  removeUnusedInitializers(): number {
    const used = new Set<string>(this.outputs.map((o) => o.name));
    for (const n of this.nodes) {
      for (const i of n.inputs) used.add(i);
      for (const g of subgraphsOf(n)) for (const f of g.freeNames()) used.add(f);
    }
    let removed = 0;
    for (const k of [...this.initializers.keys()]) {
      if (!used.has(k)) {
        this.initializers.delete(k);
        this.inputs = this.inputs.filter((i) => i.name !== k);
        removed++;
      }
    }
    return removed;
  }

  /** Every node of this graph and of its subgraphs, depth first, with the graph that holds it. */
  *allNodes(): Generator<{ node: Node; graph: Graph }> {
    for (const node of this.nodes) {
      yield { node, graph: this };
      for (const g of subgraphsOf(node)) yield* g.allNodes();
    }
  }

  /** Drop the name reservation cache (after bulk renames). */
  resetNames(): void {
    this.root().nameCache = undefined;
  }
}
