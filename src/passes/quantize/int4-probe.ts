/**
 * The int4 target's probe on large models in one onnxruntime session (int4.ts runInt4, above
 * int4ProbeMaxBytes of float weights): every MatMulNBits (and embedding GatherBlockQuantized) of
 * the all-4-bit rewrite becomes, for the probe only, an ONNX `If` on a bool of its own choosing
 * between its 4-bit node (else branch) and the same node on the weight's 8-bit blocks (then
 * branch); both sets of blocks are computed once, before anything runs. The bools are overridable
 * graph inputs of the probe's runs only (the data and the made-up inputs do not see them). Then
 * the reference (every bool true: the model in 8-bit blocks; its outputs and the MatMuls'
 * activations), the all-4-bit run and each step of int4-mixed.ts's reachTarget are `session.run`
 * calls on the same session with other bools: one serialization, one session, no weight
 * re-quantized between runs. The activations are fetched on the reference run only. Afterwards
 * every `If` gives its place back to the 4-bit node, and the caller moves the raised weights to
 * their 8-bit blocks.
 */
import { DataType } from '../../ir/dtype.js';
import { Graph } from '../../ir/graph.js';
import { AttrType, type Node } from '../../ir/node.js';
import { Tensor } from '../../ir/tensor.js';
import { tensorType } from '../../ir/types.js';
import type { Feeds, Outputs } from '../pass.js';
import { type QuantState, addConst, intAttr } from './common.js';
import type { NBitsSite } from './int4.js';
import { probeModel, reachTarget } from './int4-mixed.js';

/** A node of the 4-bit rewrite and its 8-bit twin (same inputs but the blocks, same output). */
export interface Switch {
  four: Node;
  eight: Node;
}

/**
 * The probe on the switched model (see the file comment). `sites` are the MatMul switches' sites,
 * in the order of `switches`; the embedding tables' switches follow, with their shares (int4-mixed.ts
 * TableCandidate) in `tableShares`. Returns the sites and the tables (their numbers) reachTarget
 * raised to 8 bits, or undefined when the probe could not run (warned); the graph is back to its
 * 4-bit nodes either way.
 */
export async function probeSwitched(
  st: QuantState,
  target: number,
  sites: NBitsSite[],
  switches: Switch[],
  tableShares: number[],
): Promise<{ sites: Set<NBitsSite>; tables: Set<number> } | undefined> {
  const g = st.graph;
  const conds: string[] = [];
  const ifs: Node[] = [];
  const savedInputs = g.inputs;
  const savedOutputs = g.outputs;
  for (const sw of switches) {
    const y = sw.four.outputs[0];
    const cond = g.uniqueName(`${y}_probe_8bit`);
    conds.push(cond);
    const branch = (node: Node, tag: string): Graph => {
      const b = new Graph(`${cond}_${tag}`);
      b.parent = g;
      const out = g.uniqueName(`${y}_probe_${tag}`);
      b.nodes = [{ ...node, outputs: [out] }];
      b.outputs = [{ name: out, type: tensorType(DataType.FLOAT) }];
      return b;
    };
    const node: Node = {
      name: g.uniqueName(`${sw.four.name}_probe_If`),
      opType: 'If',
      domain: '',
      inputs: [cond],
      outputs: [y],
      attributes: [
        { name: 'then_branch', type: AttrType.GRAPH, value: branch(sw.eight, '8bit') },
        { name: 'else_branch', type: AttrType.GRAPH, value: branch(sw.four, '4bit') },
      ],
    };
    g.replaceNode(sw.four, [node]);
    ifs.push(node);
  }
  // the energies the error estimate needs, reduced in the graph (a few floats fetched instead of
  // every activation): per MatMul input its per-column Σ a², per output Σ y²
  const compare = savedOutputs.map((o) => o.name);
  const sums = energyNodes(st, sites);
  g.nodes.push(...sums.nodes);
  g.outputs = [...savedOutputs, ...sums.outputs.map((name) => ({ name, type: tensorType(DataType.FLOAT) }))];
  g.touch();
  const on = new Set<number>();
  const bools = (all: boolean): Feeds =>
    Object.fromEntries(conds.map((c, i) => [c, { dtype: 'bool', dims: [], data: new Uint8Array([all || on.has(i) ? 1 : 0]) }]));
  const raised = new Set<NBitsSite>();
  const tables = new Set<number>();
  try {
    let fetched: Outputs = {};
    const probe = await probeModel(st, [], '8-bit blocks', 'int4 target', {
      feeds: bools(true),
      keepOutputs: true,
      inputs: conds.map((name) => ({ name, type: tensorType(DataType.BOOL, []) })),
      compare,
      onOutputs: (o) => {
        fetched = o;
      },
    });
    if (!probe) return undefined;
    for (const [a, name] of sums.columns) {
      const v = fetched[name]?.data;
      if (v instanceof Float32Array) probe.columnEnergy.set(a, Float64Array.from(v));
    }
    for (const [y, name] of sums.totals) {
      const v = fetched[name]?.data;
      if (v instanceof Float32Array) probe.energy.set(y, v[0]);
    }
    const run = st.ctx.run;
    if (!run) return undefined;
    const index = new Map(sites.map((s, i) => [s, i]));
    await reachTarget(
      st,
      probe,
      target,
      sites,
      (s) => {
        on.add(index.get(s) as number);
        raised.add(s);
      },
      (feeds) => run(st.model, { ...feeds, ...bools(false) }, probe.names, { unchanged: true }),
      tableShares.map((share, t) => ({
        share,
        raise: () => {
          on.add(sites.length + t);
          tables.add(t);
        },
      })),
    );
    return { sites: raised, tables };
  } finally {
    for (const n of sums.nodes) g.removeNode(n);
    for (const c of sums.consts) g.initializers.delete(c);
    for (let i = 0; i < ifs.length; i++) g.replaceNode(ifs[i], [switches[i].four]);
    g.inputs = savedInputs;
    g.outputs = savedOutputs;
    g.touch();
  }
}

/**
 * Reshape(a, [−1, K]) → ReduceSumSquare over axis 0 for each MatMul input (once per name), and
 * ReduceSumSquare of each output to a scalar (axes as an attribute before opset 18, an input from it).
 */
function energyNodes(st: QuantState, sites: NBitsSite[]) {
  const g = st.graph;
  const nodes: Node[] = [];
  const consts: string[] = [];
  const columns = new Map<string, string>();
  const totals = new Map<string, string>();
  const shapes = new Map<number, string>();
  const axesInput = st.opset >= 18;
  let axis0 = '';
  const reduce = (x: string, out: string, axes: number[] | undefined) => {
    const inputs = [x];
    const attributes: Node['attributes'] = [intAttr('keepdims', 0)];
    if (axes && axesInput) {
      if (!axis0) consts.push((axis0 = addConst(g, 'int4_probe_axis0', Tensor.int64('', [1], [0]))));
      inputs.push(axis0);
    } else if (axes) attributes.push({ name: 'axes', type: AttrType.INTS, value: axes });
    nodes.push({ name: g.uniqueName(`${out}_ReduceSumSquare`), opType: 'ReduceSumSquare', domain: '', inputs, outputs: [out], attributes });
  };
  for (const s of sites) {
    if (!columns.has(s.input)) {
      let shape = shapes.get(s.K);
      if (!shape) {
        shape = addConst(g, `int4_probe_rows_${s.K}`, Tensor.int64('', [2], [-1, s.K]));
        consts.push(shape);
        shapes.set(s.K, shape);
      }
      const flat = g.uniqueName(`${s.input}_probe_rows`);
      nodes.push({
        name: g.uniqueName(`${flat}_Reshape`),
        opType: 'Reshape',
        domain: '',
        inputs: [s.input, shape],
        outputs: [flat],
        attributes: [],
      });
      const out = g.uniqueName(`${s.input}_probe_column_energy`);
      reduce(flat, out, [0]);
      columns.set(s.input, out);
    }
    if (!totals.has(s.output)) {
      const out = g.uniqueName(`${s.output}_probe_energy`);
      reduce(s.output, out, undefined);
      totals.set(s.output, out);
    }
  }
  return { nodes, consts, columns, totals, outputs: [...columns.values(), ...totals.values()] };
}
