/** Nodes and attributes. */
import type { Graph } from './graph.js';
import type { Tensor } from './tensor.js';
import type { TypeInfo } from './types.js';

export enum AttrType {
  UNDEFINED = 0,
  FLOAT = 1,
  INT = 2,
  STRING = 3,
  TENSOR = 4,
  GRAPH = 5,
  SPARSE_TENSOR = 11,
  TYPE_PROTO = 13,
  FLOATS = 6,
  INTS = 7,
  STRINGS = 8,
  TENSORS = 9,
  GRAPHS = 10,
  SPARSE_TENSORS = 12,
  TYPE_PROTOS = 14,
}

/** int64 attribute values are numbers when they are safe integers, bigint otherwise (e.g. INT64_MAX). */
export type Int = number | bigint;

/** A sparse tensor (SparseTensorProto): values and indices as dense tensors. */
export interface SparseTensor {
  values: Tensor;
  indices: Tensor;
  dims: readonly number[];
}

export type AttrValue =
  | number
  | bigint
  | string
  | Tensor
  | Graph
  | SparseTensor
  | TypeInfo
  | number[]
  | Int[]
  | string[]
  | Tensor[]
  | Graph[]
  | SparseTensor[]
  | TypeInfo[]
  | undefined;

export interface Attribute {
  name: string;
  type: AttrType;
  value: AttrValue;
  docString?: string;
  /** A reference to an attribute of the enclosing function (ref_attr_name). */
  refAttrName?: string;
  /** Fields of AttributeProto the IR does not model; kept by src/onnx (plain data). */
  extra?: Record<string, unknown>;
}

export interface Node {
  name: string;
  opType: string;
  domain: string; // '' = ai.onnx
  inputs: string[]; // '' marks a missing optional input
  outputs: string[];
  attributes: Attribute[];
  docString?: string;
  /** Fields the IR does not model (overload, metadata_props of newer IR); kept by src/onnx. */
  extra?: Record<string, unknown>;
}

/** Is `n` an op of the default ONNX domain ('' or 'ai.onnx')? */
export function isOnnxDomain(n: Pick<Node, 'domain'>): boolean {
  return n.domain === '' || n.domain === 'ai.onnx';
}

export function getAttr(node: Node, name: string): Attribute | undefined {
  return node.attributes.find((a) => a.name === name);
}

export function attrInt(node: Node, name: string, dflt: number): number {
  const a = getAttr(node, name);
  if (!a || a.value === undefined) return dflt;
  return Number(a.value as Int);
}

export function attrFloat(node: Node, name: string, dflt: number): number {
  const a = getAttr(node, name);
  return a && typeof a.value === 'number' ? a.value : dflt;
}

export function attrInts(node: Node, name: string): number[] | undefined {
  const a = getAttr(node, name);
  return a && Array.isArray(a.value) ? (a.value as Int[]).map(Number) : undefined;
}

export function attrString(node: Node, name: string, dflt: string): string {
  const a = getAttr(node, name);
  return a && typeof a.value === 'string' ? a.value : dflt;
}

/** Set (or replace) an attribute, inferring its type from the JS value. */
export function setAttr(node: Node, name: string, value: AttrValue, type?: AttrType): void {
  const t = type ?? inferAttrType(value);
  const a: Attribute = { name, type: t, value };
  const i = node.attributes.findIndex((x) => x.name === name);
  if (i >= 0) node.attributes[i] = a;
  else node.attributes.push(a);
}

export function removeAttr(node: Node, name: string): void {
  node.attributes = node.attributes.filter((a) => a.name !== name);
}

function inferAttrType(v: AttrValue): AttrType {
  if (typeof v === 'number') return Number.isInteger(v) ? AttrType.INT : AttrType.FLOAT;
  if (typeof v === 'bigint') return AttrType.INT;
  if (typeof v === 'string') return AttrType.STRING;
  if (Array.isArray(v)) {
    if (v.length === 0) return AttrType.INTS;
    const f = v[0];
    if (typeof f === 'number' || typeof f === 'bigint') {
      return (v as Int[]).every((x) => typeof x === 'bigint' || Number.isInteger(x)) ? AttrType.INTS : AttrType.FLOATS;
    }
    if (typeof f === 'string') return AttrType.STRINGS;
    if (f && typeof f === 'object' && 'dtype' in f) return AttrType.TENSORS;
    if (f && typeof f === 'object' && 'nodes' in f) return AttrType.GRAPHS;
  }
  if (v && typeof v === 'object' && 'dtype' in v) return AttrType.TENSOR;
  if (v && typeof v === 'object' && 'nodes' in v) return AttrType.GRAPH;
  throw new Error('cannot infer attribute type; pass it explicitly');
}

/** Subgraphs held by a node's attributes (If branches, Loop/Scan bodies). */
export function subgraphsOf(node: Node): Graph[] {
  const out: Graph[] = [];
  for (const a of node.attributes) {
    if (a.type === AttrType.GRAPH && a.value) out.push(a.value as Graph);
    else if (a.type === AttrType.GRAPHS && Array.isArray(a.value)) out.push(...(a.value as Graph[]));
  }
  return out;
}
