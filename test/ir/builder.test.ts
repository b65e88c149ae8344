import { describe, expect, it } from 'vitest';
import { AttrType, DataType, ModelBuilder, Tensor, attrFloat, attrInt, attrInts, getAttr, shapeOf } from '../../src/ir/index.js';

describe('ModelBuilder', () => {
  it('builds a small MLP graph with inputs, initializers, nodes, attributes and a renamed output', () => {
    const b = new ModelBuilder({ opset: 13, name: 'mlp' });
    const x = b.input('input', DataType.FLOAT, ['N', 4]);
    const w = b.init('w', [4, 3], new Float32Array(12).fill(0.5));
    const bias = b.init('b', [3], [1, 2, 3]);
    const g1 = b.op('Gemm', [x, w, bias], { transB: 0, alpha: 1.5 });
    const r = b.op('Relu', [g1]);
    const out = b.output(r, DataType.FLOAT, ['N', 3], 'logits');
    const m = b.build();

    expect(out).toBe('logits');
    expect(m.opsetImports).toEqual([{ domain: '', version: 13 }]);
    expect(m.opsetVersion()).toBe(13);
    expect(m.graph.name).toBe('mlp');
    expect(m.graph.inputs.map((i) => i.name)).toEqual(['input']);
    expect(shapeOf(m.graph.inputs[0])).toEqual(['N', 4]);
    expect(m.graph.outputs.map((o) => o.name)).toEqual(['logits']);
    expect(m.graph.nodes.map((n) => n.opType)).toEqual(['Gemm', 'Relu']);
    const gemm = m.graph.nodes[0];
    expect(gemm.inputs).toEqual(['input', 'w', 'b']);
    expect(getAttr(gemm, 'transB')!.type).toBe(AttrType.INT);
    expect(attrInt(gemm, 'transB', 1)).toBe(0);
    expect(getAttr(gemm, 'alpha')!.type).toBe(AttrType.FLOAT);
    expect(attrFloat(gemm, 'alpha', 1)).toBe(1.5);
    expect(m.graph.producer('logits')).toBe(m.graph.nodes[1]);
    expect(m.graph.consumers(g1)).toEqual([m.graph.nodes[1]]);
    expect(m.graph.initializers.get('w')!.dtype).toBe(DataType.FLOAT);
    expect(m.graph.initializers.get('b')!.data).toEqual(new Float32Array([1, 2, 3]));
    // node names are unique
    const names = m.graph.nodes.map((n) => n.name);
    expect(new Set(names).size).toBe(names.length);
  });

  it('makes unique names for repeated ops and initializers', () => {
    const b = new ModelBuilder();
    const x = b.input('x', DataType.FLOAT, [2]);
    const w1 = b.init('w', [2], [1, 2]);
    const w2 = b.init('w', [2], [3, 4]);
    expect(w1).toBe('w');
    expect(w2).toBe('w_1');
    const a = b.op('Add', [x, w1]);
    const c = b.op('Add', [a, w2]);
    expect(a).not.toBe(c);
    const m = b.build();
    expect(new Set(m.graph.nodes.map((n) => n.name)).size).toBe(2);
  });

  it('supports int64 constants, explicit attribute types, several outputs and domains', () => {
    const b = new ModelBuilder({ opsets: [{ domain: '', version: 17 }, { domain: 'com.microsoft', version: 1 }] });
    const x = b.input('x', DataType.FLOAT, [2, 3]);
    const shape = b.ints('shape', [3, 2]);
    expect(b.graph.initializers.get(shape)!.data).toEqual(new BigInt64Array([3n, 2n]));
    const r = b.op('Reshape', [x, shape]);
    const [s1, s2] = b.opN('Split', [r], { axis: 0 }, { outputs: 2 });
    expect(s1).not.toBe(s2);
    const named = b.opN('Split', [r], { axis: 1 }, { outputs: ['left', 'right'] });
    expect(named).toEqual(['left', 'right']);
    const f = b.op('LeakyRelu', [s1], { alpha: 1 }, { types: { alpha: AttrType.FLOAT } });
    const custom = b.op('FusedThing', [f], { perm: [1, 0] }, { domain: 'com.microsoft' });
    b.output(custom, DataType.FLOAT);
    const m = b.build();
    const leaky = m.graph.nodes.find((n) => n.opType === 'LeakyRelu')!;
    expect(getAttr(leaky, 'alpha')!.type).toBe(AttrType.FLOAT);
    const fused = m.graph.nodes.find((n) => n.opType === 'FusedThing')!;
    expect(fused.domain).toBe('com.microsoft');
    expect(attrInts(fused, 'perm')).toEqual([1, 0]);
    expect(m.opsetVersion('com.microsoft')).toBe(1);
    const i8 = b.init('q', [2], new Int8Array([-1, 1]), DataType.INT8);
    expect(b.graph.initializers.get(i8)).toBeInstanceOf(Tensor);
    expect(b.graph.initializers.get(i8)!.dtype).toBe(DataType.INT8);
  });

  it('throws when renaming an output that has no producer', () => {
    const b = new ModelBuilder();
    const x = b.input('x', DataType.FLOAT, [2]);
    expect(() => b.output(x, DataType.FLOAT, [2], 'y')).toThrow(/no producer/);
  });
});
