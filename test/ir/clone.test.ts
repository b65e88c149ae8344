import { describe, expect, it } from 'vitest';
import { AttrType, DataType, Graph, ModelBuilder, Tensor, cloneModel, shallowCopyModel, subgraphsOf } from '../../src/ir/index.js';
import { modelToBytes } from '../../src/onnx/index.js';
import { branch, ifNode, node } from './helpers.js';

function modelWithSubgraph() {
  const b = new ModelBuilder();
  const c = b.input('c', DataType.BOOL, []);
  const x = b.input('x', DataType.FLOAT, [2]);
  const w = b.init('w', [2], [1, 2]);
  const g = b.graph;
  const k = Tensor.float32('k', [1], [3]);
  const thenG = branch(g, 'then', [node('Mul', [x, 'k'], ['t'], 'T')], ['t']);
  thenG.initializers.set('k', k);
  const a = b.op('Add', [x, w]);
  const iff = ifNode('If', c, thenG, branch(g, 'else', [], [a]), ['y']);
  g.addNode(iff);
  g.outputs.push({ name: 'y' });
  const m = b.build();
  m.metadataProps.push({ key: 'author', value: 'me' });
  m.graph.nodes[0].attributes.push({ name: 'ints', type: AttrType.INTS, value: [1, 9007199254740993n] });
  m.functions.push({
    name: 'F',
    domain: 'local',
    inputs: ['a'],
    outputs: ['b'],
    attributeNames: [],
    attributeDefaults: [],
    nodes: [node('Relu', ['a'], ['b'], 'FR')],
    opsetImports: [{ domain: '', version: 17 }],
    valueInfo: [],
  });
  m.extra = { trainingInfo: [{ a: 1 }] };
  return m;
}

describe('cloneModel', () => {
  it('copies every field and shares no mutable state with the original', () => {
    const m = modelWithSubgraph();
    const c = cloneModel(m);
    expect(c).not.toBe(m);
    expect(c.graph).not.toBe(m.graph);
    expect(c.irVersion).toBe(m.irVersion);
    expect(c.opsetImports).toEqual(m.opsetImports);
    expect(c.metadataProps).toEqual(m.metadataProps);
    expect(c.extra).toEqual(m.extra);
    expect(c.functions[0].nodes[0]).toEqual(m.functions[0].nodes[0]);
    expect(c.graph.nodes.map((n) => n.name)).toEqual(m.graph.nodes.map((n) => n.name));
    expect(c.graph.nodes[0].attributes.find((a) => a.name === 'ints')!.value).toEqual([1, 9007199254740993n]);

    // mutate the clone everywhere; the original must not change
    c.graph.initializers.get('w')!.data[0] = 100;
    c.graph.nodes[0].inputs[0] = 'zzz';
    c.graph.inputs[0].name = 'renamed';
    c.opsetImports[0].version = 1;
    c.metadataProps[0].value = 'you';
    c.functions[0].nodes[0].inputs[0] = 'q';
    (c.extra!.trainingInfo as { a: number }[])[0].a = 2;
    const cThen = subgraphsOf(c.graph.nodes[1])[0];
    cThen.initializers.get('k')!.data[0] = 42;
    cThen.nodes[0].opType = 'Add';

    expect(m.graph.initializers.get('w')!.data[0]).toBe(1);
    expect(m.graph.nodes[0].inputs[0]).toBe('x');
    expect(m.graph.inputs[0].name).toBe('c');
    expect(m.opsetImports[0].version).toBe(17);
    expect(m.metadataProps[0].value).toBe('me');
    expect(m.functions[0].nodes[0].inputs[0]).toBe('a');
    expect((m.extra!.trainingInfo as { a: number }[])[0].a).toBe(1);
    const mThen = subgraphsOf(m.graph.nodes[1])[0];
    expect(mThen.initializers.get('k')!.data[0]).toBe(3);
    expect(mThen.nodes[0].opType).toBe('Mul');
  });

  it('re-links cloned subgraphs to the cloned parent graph', () => {
    const m = modelWithSubgraph();
    const c = cloneModel(m);
    const [cThen, cElse] = subgraphsOf(c.graph.nodes[1]);
    expect(cThen).toBeInstanceOf(Graph);
    expect(cThen.parent).toBe(c.graph);
    expect(cElse.parent).toBe(c.graph);
    expect(cThen.root()).toBe(c.graph);
    // indices of the clone work and see the subgraph's outer reads
    expect(c.graph.consumers('x').map((n) => n.name)).toEqual(m.graph.consumers('x').map((n) => n.name));
    expect(c.graph.consumers('x')[1]).toBe(c.graph.nodes[1]);
  });

  it('copies tensors of every storage kind', () => {
    const strings = new Tensor('s', DataType.STRING, [2], [new Uint8Array([104]), new Uint8Array([105, 106])]);
    const i64 = Tensor.int64('i', [2], [1, -2]);
    const s2 = strings.clone();
    (s2.data as Uint8Array[])[0][0] = 0;
    expect((strings.data as Uint8Array[])[0][0]).toBe(104);
    const i2 = i64.clone('j');
    expect(i2.name).toBe('j');
    expect(i2.data).toEqual(new BigInt64Array([1n, -2n]));
    (i2.data as BigInt64Array)[0] = 5n;
    expect((i64.data as BigInt64Array)[0]).toBe(1n);
  });
});

describe('shallowCopyModel', () => {
  it('shares tensors, nodes and model fields; nodes and outputs added to the copy leave the original as it was', () => {
    const b = new ModelBuilder();
    const x = b.input('x', DataType.FLOAT, [2]);
    b.output(b.op('Relu', [b.op('Add', [x, b.init('w', [2], [1, 2])])]), DataType.FLOAT, [2], 'y');
    const m = b.build();
    m.metadataProps.push({ key: 'author', value: 'me' });
    const before = modelToBytes(m);
    const c = shallowCopyModel(m);
    expect(c.graph).not.toBe(m.graph);
    expect(c.graph.initializers.get('w')).toBe(m.graph.initializers.get('w'));
    expect(c.graph.nodes[0]).toBe(m.graph.nodes[0]);
    expect(c.metadataProps).toBe(m.metadataProps);
    expect(modelToBytes(c)).toEqual(before);
    const sum = c.graph.nodes[0].outputs[0];
    expect(c.graph.producer(sum)).toBe(m.graph.nodes[0]);
    c.graph.addNode({ name: 'probe_max', opType: 'ReduceMax', domain: '', inputs: [sum], outputs: ['probe_out'], attributes: [] });
    c.graph.outputs.push({ name: 'probe_out' });
    expect(c.graph.nodes.length).toBe(m.graph.nodes.length + 1);
    expect(m.graph.consumers(sum).map((n) => n.opType)).not.toContain('ReduceMax');
    expect(modelToBytes(m)).toEqual(before);
  });
});
