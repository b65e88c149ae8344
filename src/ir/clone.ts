/** Deep copies of IR objects (tensor storage copied; subgraph parents re-linked). */
import { Graph } from './graph.js';
import { Model } from './model.js';
import { AttrValue, Attribute, Node, SparseTensor } from './node.js';
import { Tensor } from './tensor.js';

function cloneSparse(s: SparseTensor): SparseTensor {
  return { values: s.values.clone(), indices: s.indices.clone(), dims: [...s.dims] };
}

function cloneValue(v: AttrValue, parent: Graph): AttrValue {
  if (v instanceof Tensor) return v.clone();
  if (v instanceof Graph) return cloneGraph(v, parent);
  if (Array.isArray(v)) return (v as unknown[]).map((x) => cloneValue(x as AttrValue, parent)) as AttrValue;
  if (v && typeof v === 'object') {
    if ('values' in v && 'indices' in v) return cloneSparse(v as SparseTensor);
    return structuredClone(v);
  }
  return v;
}

export function cloneAttribute(a: Attribute, parent: Graph): Attribute {
  return { ...a, value: cloneValue(a.value, parent) };
}

export function cloneNode(n: Node, parent: Graph): Node {
  const c: Node = {
    ...n,
    inputs: [...n.inputs],
    outputs: [...n.outputs],
    attributes: n.attributes.map((a) => cloneAttribute(a, parent)),
  };
  if (n.extra) c.extra = structuredClone(n.extra);
  return c;
}

export function cloneGraph(g: Graph, parent?: Graph): Graph {
  const c = new Graph(g.name);
  c.parent = parent;
  c.docString = g.docString;
  c.inputs = structuredClone(g.inputs);
  c.outputs = structuredClone(g.outputs);
  c.valueInfo = structuredClone(g.valueInfo);
  for (const [k, t] of g.initializers) c.initializers.set(k, t.clone());
  c.sparseInitializers = g.sparseInitializers.map(cloneSparse);
  if (g.extra) c.extra = structuredClone(g.extra);
  c.nodes = g.nodes.map((n) => cloneNode(n, c));
  return c;
}

export function cloneModel(m: Model): Model {
  const c = new Model(cloneGraph(m.graph));
  c.irVersion = m.irVersion;
  c.opsetImports = m.opsetImports.map((o) => ({ ...o }));
  c.producerName = m.producerName;
  c.producerVersion = m.producerVersion;
  c.domain = m.domain;
  c.modelVersion = m.modelVersion;
  c.docString = m.docString;
  c.metadataProps = m.metadataProps.map((p) => ({ ...p }));
  const scratch = new Graph('function');
  c.functions = m.functions.map((f) => ({
    ...f,
    inputs: [...f.inputs],
    outputs: [...f.outputs],
    attributeNames: [...f.attributeNames],
    attributeDefaults: f.attributeDefaults.map((a) => cloneAttribute(a, scratch)),
    nodes: f.nodes.map((n) => cloneNode(n, scratch)),
    opsetImports: f.opsetImports.map((o) => ({ ...o })),
    valueInfo: structuredClone(f.valueInfo),
    extra: f.extra ? structuredClone(f.extra) : undefined,
  }));
  if (m.extra) c.extra = structuredClone(m.extra);
  return c;
}

/**
 * A copy of `model` whose root graph has its own lists of nodes and outputs and its own index, and
 * shares everything else with `model`: the node objects, initializers (the map and its tensors),
 * inputs, value_info, subgraphs and model-level fields. For a throwaway variant that only adds
 * nodes and graph outputs (an activation probe): no tensor is copied.
 */
export function shallowCopyModel(m: Model): Model {
  const src = m.graph;
  const g = new Graph(src.name);
  g.docString = src.docString;
  g.nodes = [...src.nodes];
  g.inputs = src.inputs;
  g.outputs = [...src.outputs];
  g.valueInfo = src.valueInfo;
  g.initializers = src.initializers;
  g.sparseInitializers = src.sparseInitializers;
  if (src.extra) g.extra = src.extra;
  return Object.assign(new Model(g), m, { graph: g });
}
