import { AttrType, DataType, Graph, Node, tensorType } from '../../src/ir/index.js';

/** A subgraph (If branch) holding `nodes`, outputting `outputs`, hung under `parent`. */
export function branch(parent: Graph, name: string, nodes: Node[], outputs: string[]): Graph {
  const g = new Graph(name);
  g.parent = parent;
  g.nodes = nodes;
  g.outputs = outputs.map((o) => ({ name: o, type: tensorType(DataType.FLOAT) }));
  return g;
}

export function node(opType: string, inputs: string[], outputs: string[], name = ''): Node {
  return { name, opType, domain: '', inputs, outputs, attributes: [] };
}

export function ifNode(name: string, cond: string, thenG: Graph, elseG: Graph, outputs: string[]): Node {
  return {
    name,
    opType: 'If',
    domain: '',
    inputs: [cond],
    outputs,
    attributes: [
      { name: 'then_branch', type: AttrType.GRAPH, value: thenG },
      { name: 'else_branch', type: AttrType.GRAPH, value: elseG },
    ],
  };
}
