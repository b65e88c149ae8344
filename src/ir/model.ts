/** Model: a root graph plus the model-level fields of ModelProto. */
import { Graph } from './graph.js';
import { Node } from './node.js';
import { ValueInfo } from './types.js';

export interface OpsetImport {
  domain: string; // '' = ai.onnx
  version: number;
}

/** A model-local function (FunctionProto). */
export interface FunctionDef {
  name: string;
  domain: string;
  overload?: string;
  inputs: string[];
  outputs: string[];
  /** Attribute names the function takes (FunctionProto.attribute). */
  attributeNames: string[];
  /** Attributes with defaults (FunctionProto.attribute_proto), kept as nodes' attribute form. */
  attributeDefaults: Node['attributes'];
  nodes: Node[];
  opsetImports: OpsetImport[];
  valueInfo: ValueInfo[];
  docString?: string;
  extra?: Record<string, unknown>;
}

export class Model {
  irVersion = 8;
  opsetImports: OpsetImport[] = [{ domain: '', version: 17 }];
  producerName = 'mlc';
  producerVersion = '';
  domain = '';
  modelVersion = 0;
  docString = '';
  metadataProps: { key: string; value: string }[] = [];
  functions: FunctionDef[] = [];
  graph: Graph;
  /** Fields of ModelProto the IR does not model (training_info, ...); kept by src/onnx. */
  extra?: Record<string, unknown>;

  constructor(graph: Graph = new Graph()) {
    this.graph = graph;
  }

  opsetVersion(domain = ''): number | undefined {
    const d = domain === 'ai.onnx' ? '' : domain;
    return this.opsetImports.find((o) => (o.domain === 'ai.onnx' ? '' : o.domain) === d)?.version;
  }

  /**
   * Become `other` in place (every field: graph, opsets, metadata, functions): for a pass that
   * replaces the whole model (distill's --student) while callers keep their reference.
   */
  replaceWith(other: Model): void {
    Object.assign(this, other);
  }

  /** Declare an opset import if it is missing (e.g. com.microsoft for contrib ops). */
  ensureOpset(domain: string, version: number): void {
    if (this.opsetVersion(domain) === undefined) this.opsetImports.push({ domain, version });
  }
}
