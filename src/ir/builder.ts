/**
 * A small graph builder for tests, fixtures and benchmarks.
 *
 *   const b = new ModelBuilder({ opset: 17 });
 *   const x = b.input('input', DataType.FLOAT, ['N', 784]);
 *   const h = b.op('Relu', [b.op('Gemm', [x, b.init('w', [784, 10], w), b.init('b', [10], bias)], { transB: 0 })]);
 *   b.output(h, DataType.FLOAT, ['N', 10]);
 *   const model = b.build();
 */
import { DataType, TensorData } from './dtype.js';
import { Graph } from './graph.js';
import { Model, OpsetImport } from './model.js';
import { AttrType, AttrValue, setAttr } from './node.js';
import { Tensor } from './tensor.js';
import { Dim, tensorType } from './types.js';

export interface OpOptions {
  /** output names, or how many outputs to create */
  outputs?: string[] | number;
  domain?: string;
  name?: string;
  /** explicit attribute types, for values whose type cannot be inferred (e.g. float 1.0) */
  types?: Record<string, AttrType>;
}

export class ModelBuilder {
  readonly graph: Graph;
  readonly opsets: OpsetImport[];

  constructor(opts: { opset?: number; name?: string; opsets?: OpsetImport[] } = {}) {
    this.graph = new Graph(opts.name ?? 'graph');
    this.opsets = opts.opsets ?? [{ domain: '', version: opts.opset ?? 17 }];
  }

  input(name: string, elemType: DataType, shape: Dim[]): string {
    this.graph.inputs.push({ name, type: tensorType(elemType, shape) });
    this.graph.uniqueName(name);
    return name;
  }

  /** Add an initializer; float32 unless `dtype` says otherwise. Returns its (unique) name. */
  init(name: string, dims: readonly number[], values: ArrayLike<number> | TensorData, dtype = DataType.FLOAT): string {
    let t: Tensor;
    if (dtype === DataType.FLOAT) t = Tensor.float32(name, dims, values as ArrayLike<number>);
    else if (dtype === DataType.INT64 && !(values instanceof BigInt64Array)) t = Tensor.int64(name, dims, values as ArrayLike<number>);
    else t = new Tensor(name, dtype, dims, values as TensorData);
    return this.graph.addInitializer(t);
  }

  /** int64 1-D constant (shapes, axes). */
  ints(name: string, values: number[]): string {
    return this.init(name, [values.length], values, DataType.INT64);
  }

  /** Add a node; returns its first output name. */
  op(opType: string, inputs: string[], attrs: Record<string, AttrValue> = {}, opts: OpOptions = {}): string {
    return this.opN(opType, inputs, attrs, opts)[0];
  }

  /** Add a node; returns all its output names. */
  opN(opType: string, inputs: string[], attrs: Record<string, AttrValue> = {}, opts: OpOptions = {}): string[] {
    const g = this.graph;
    const name = g.uniqueName(opts.name ?? opType);
    const outs =
      typeof opts.outputs === 'object'
        ? opts.outputs.map((o) => g.uniqueName(o))
        : Array.from({ length: opts.outputs ?? 1 }, (_, i) => g.uniqueName(`${name}_out${i === 0 ? '' : i}`));
    const node = g.makeNode(opType, inputs, outs, [], { domain: opts.domain });
    node.name = name;
    for (const [k, v] of Object.entries(attrs)) if (v !== undefined) setAttr(node, k, v, opts.types?.[k]);
    return outs;
  }

  /** Mark `value` as a graph output; renames it to `name` when given. */
  output(value: string, elemType: DataType, shape?: Dim[], name?: string): string {
    let v = value;
    if (name && name !== value) {
      const p = this.graph.producer(value);
      if (!p) throw new Error(`output: ${value} has no producer`);
      p.outputs = p.outputs.map((o) => (o === value ? name : o));
      this.graph.replaceAllUses(value, name);
      this.graph.uniqueName(name);
      v = name;
    }
    this.graph.outputs.push({ name: v, type: tensorType(elemType, shape) });
    return v;
  }

  build(): Model {
    const m = new Model(this.graph);
    m.opsetImports = this.opsets.map((o) => ({ ...o }));
    m.producerName = 'mlc';
    return m;
  }
}
