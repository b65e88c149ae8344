/** Model load / save: everything survives, unknown fields, subgraphs, int64 attributes. */
import { describe, expect, it } from 'vitest';
import { AttrType, DataType, Graph, Model, ModelBuilder, Tensor, tensorType } from '../../src/ir/index.js';
import { loadModel, modelToBytes, walkMessage } from '../../src/onnx/index.js';
import { decodeMessage, encodeMessage, encodeMessageChunks } from '../../src/onnx/proto.js';
import { modelToProto } from '../../src/onnx/save.js';
import { lengthDelimitedField } from '../../src/onnx/wire.js';
import { createSession } from '../../src/runtime/index.js';

const INT64_MAX = 9223372036854775807n;

/** A model touching most of ModelProto. */
function richModel(): Model {
  const b = new ModelBuilder({ opsets: [{ domain: '', version: 17 }, { domain: 'custom.fn', version: 1 }] });
  const x = b.input('x', DataType.FLOAT, ['N', 4]);
  const w = b.init('w', [4, 4], Float32Array.from({ length: 16 }, (_, i) => i / 7));
  const y = b.op('MatMul', [x, w], {}, { name: 'mm' });
  const g = b.graph;
  // If with two branches that read y from the enclosing scope
  const thenG = new Graph('then');
  thenG.parent = g;
  thenG.makeNode('Relu', [y], ['then_out']);
  thenG.outputs = [{ name: 'then_out', type: tensorType(DataType.FLOAT, ['N', 4]) }];
  const elseG = new Graph('else');
  elseG.parent = g;
  elseG.makeNode('Neg', [y], ['else_out']);
  elseG.outputs = [{ name: 'else_out', type: tensorType(DataType.FLOAT, ['N', 4]) }];
  const cond = b.init('cond', [], new Uint8Array([1]), DataType.BOOL);
  const z = b.op('If', [cond], { then_branch: thenG, else_branch: elseG }, { name: 'if' });
  const sq = b.op('Squeeze', [z], {}, { name: 'noop_axes' });
  void sq;
  const out = b.op('Clip', [z], {}, { name: 'clip' });
  b.output(out, DataType.FLOAT, ['N', 4], 'out');
  const m = b.build();
  const clip = g.nodes.find((n) => n.name === 'clip')!;
  clip.docString = 'clip doc';
  g.removeNode(g.nodes.find((n) => n.name === 'noop_axes')!);
  // attributes of every kind on a custom-domain node (not run)
  const custom = g.makeNode('Custom', [x], ['c_out'], [], { name: 'custom', domain: 'custom.fn' });
  custom.attributes = [
    { name: 'big', type: AttrType.INT, value: INT64_MAX },
    { name: 'small', type: AttrType.INT, value: -3 },
    { name: 'ints', type: AttrType.INTS, value: [1, -1n << 63n, 5] },
    { name: 'f', type: AttrType.FLOAT, value: 0.5 },
    { name: 'fs', type: AttrType.FLOATS, value: [0.25, -1] },
    { name: 's', type: AttrType.STRING, value: 'hé' },
    { name: 'ss', type: AttrType.STRINGS, value: ['a', ''] },
    { name: 't', type: AttrType.TENSOR, value: Tensor.int64('tv', [2], [1, 2]) },
    { name: 'ts', type: AttrType.TENSORS, value: [Tensor.float32('a', [1], [3])] },
    { name: 'tp', type: AttrType.TYPE_PROTO, value: { kind: 'sequence', elem: tensorType(DataType.INT8, [null, 'k', 3]) } },
    { name: 'sp', type: AttrType.SPARSE_TENSOR, value: { values: Tensor.float32('spv', [2], [1, 2]), indices: Tensor.int64('spi', [2], [0, 3]), dims: [4] } },
    { name: 'ref', type: AttrType.FLOAT, value: undefined, refAttrName: 'outer', docString: 'refers' },
  ];
  g.valueInfo.push({ name: y, type: tensorType(DataType.FLOAT, ['N', 4]), docString: 'mm out' });
  g.valueInfo.push({ name: 'map_v', type: { kind: 'map', keyType: DataType.INT64, value: tensorType(DataType.FLOAT) } });
  g.valueInfo.push({ name: 'opt_v', type: { kind: 'optional', elem: { kind: 'sequence', elem: tensorType(DataType.STRING, []) } } });
  g.sparseInitializers.push({ values: Tensor.float32('sparse_w', [2], [5, 6]), indices: Tensor.int64('sparse_w_idx', [2, 2], [0, 0, 1, 1]), dims: [2, 2] });
  g.docString = 'graph doc';
  g.extra = { quantizationAnnotation: [{ tensorName: 'w', quantParameterTensorNames: [{ key: 'SCALE_TENSOR', value: 's' }] }] };
  m.docString = 'model doc';
  m.domain = 'ai.mlc.test';
  m.modelVersion = 3;
  m.producerVersion = '9.9';
  m.metadataProps = [{ key: 'author', value: 'io' }];
  m.functions = [
    {
      name: 'Fn',
      domain: 'custom.fn',
      inputs: ['a'],
      outputs: ['b'],
      attributeNames: ['alpha'],
      attributeDefaults: [{ name: 'beta', type: AttrType.FLOAT, value: 2 }],
      nodes: [{ name: 'n0', opType: 'Relu', domain: '', inputs: ['a'], outputs: ['b'], attributes: [] }],
      opsetImports: [{ domain: '', version: 17 }],
      valueInfo: [{ name: 'b', type: tensorType(DataType.FLOAT) }],
      overload: 'v2',
      docString: 'fn doc',
    },
  ];
  return m;
}

describe('load → save', () => {
  it('is byte-stable and keeps every field', async () => {
    const bytes = modelToBytes(richModel());
    const m = await loadModel(bytes);
    const again = modelToBytes(m);
    if (!Buffer.from(again).equals(Buffer.from(bytes))) {
      expect(decodeMessage('ModelProto', again)).toEqual(decodeMessage('ModelProto', bytes));
    }
    expect(Buffer.from(again).equals(Buffer.from(bytes))).toBe(true);

    expect(m.irVersion).toBe(8);
    expect(m.opsetImports).toEqual([{ domain: '', version: 17 }, { domain: 'custom.fn', version: 1 }]);
    expect(m.docString).toBe('model doc');
    expect(m.domain).toBe('ai.mlc.test');
    expect(m.modelVersion).toBe(3);
    expect(m.producerVersion).toBe('9.9');
    expect(m.metadataProps).toEqual([{ key: 'author', value: 'io' }]);
    expect(m.graph.docString).toBe('graph doc');
    expect(m.graph.extra?.quantizationAnnotation).toEqual([{ tensorName: 'w', quantParameterTensorNames: [{ key: 'SCALE_TENSOR', value: 's' }] }]);
    expect(m.graph.inputs[0].type).toEqual(tensorType(DataType.FLOAT, ['N', 4]));
    expect(m.graph.valueInfo.map((v) => v.type?.kind)).toEqual(['tensor', 'map', 'optional']);
    expect(m.graph.valueInfo[0].docString).toBe('mm out');
    expect(m.graph.sparseInitializers[0].dims).toEqual([2, 2]);

    const ifNode = m.graph.nodes.find((n) => n.opType === 'If')!;
    const thenG = ifNode.attributes.find((a) => a.name === 'then_branch')!.value as Graph;
    expect(thenG).toBeInstanceOf(Graph);
    expect(thenG.parent).toBe(m.graph);
    expect(thenG.nodes[0].opType).toBe('Relu');
    expect(m.graph.nodes.find((n) => n.name === 'clip')!.docString).toBe('clip doc');

    const custom = m.graph.nodes.find((n) => n.name === 'custom')!;
    const attr = (name: string) => custom.attributes.find((a) => a.name === name)!;
    expect(attr('big').value).toBe(INT64_MAX);
    expect(attr('small').value).toBe(-3);
    expect(attr('ints').value).toEqual([1, -9223372036854775808n, 5]);
    expect(attr('f').value).toBe(0.5);
    expect(attr('s').value).toBe('hé');
    expect(attr('ss').value).toEqual(['a', '']);
    expect((attr('t').value as Tensor).data).toEqual(new BigInt64Array([1n, 2n]));
    expect(attr('tp').value).toEqual({ kind: 'sequence', elem: tensorType(DataType.INT8, [null, 'k', 3]) });
    expect(attr('ref')).toMatchObject({ refAttrName: 'outer', docString: 'refers', value: undefined });

    const f = m.functions[0];
    expect(f).toMatchObject({ name: 'Fn', domain: 'custom.fn', attributeNames: ['alpha'], overload: 'v2', docString: 'fn doc' });
    expect(f.attributeDefaults).toEqual([{ name: 'beta', type: AttrType.FLOAT, value: 2 }]);
    expect(f.valueInfo).toEqual([{ name: 'b', type: tensorType(DataType.FLOAT) }]);
  });

  it('chunked encoding (used when writing files) gives the same bytes', () => {
    const m = richModel();
    const chunks = encodeMessageChunks('ModelProto', modelToProto(m), 16);
    expect(chunks.length).toBeGreaterThan(2);
    expect(Buffer.concat(chunks).equals(Buffer.from(modelToBytes(m)))).toBe(true);
  });

  it('runs the same in onnxruntime before and after', async () => {
    const b = new ModelBuilder();
    const x = b.input('x', DataType.FLOAT, [2, 3]);
    const w = b.init('w', [3, 2], [1, 2, 3, 4, 5, 6]);
    b.output(b.op('Relu', [b.op('MatMul', [x, w])]), DataType.FLOAT, [2, 2], 'y');
    const m = b.build();
    const m2 = await loadModel(modelToBytes(m));
    const feeds = { x: { dtype: 'float', dims: [2, 3], data: [1, -1, 2, 0.5, 0.5, -3] } };
    const s1 = await createSession(m);
    const s2 = await createSession(m2);
    try {
      const a = await s1.run(feeds);
      const c = await s2.run(feeds);
      expect([...(a.y.data as Float32Array)]).toEqual([...(c.y.data as Float32Array)]);
      expect([...(a.y.data as Float32Array)]).toEqual([8, 10, 0, 0]);
    } finally {
      await s1.release();
      await s2.release();
    }
  });

  it('keeps training_info whole', async () => {
    const base = decodeMessage('ModelProto', modelToBytes(richModel()));
    const training = {
      initialization: { name: 'init', node: [{ opType: 'Constant', output: ['c'] }] },
      initializationBinding: [{ key: 'w', value: 'c' }],
    };
    const bytes = encodeMessage('ModelProto', { ...base, trainingInfo: [training] });
    const m = await loadModel(bytes);
    expect(m.extra?.trainingInfo).toHaveLength(1);
    const again = decodeMessage('ModelProto', modelToBytes(m));
    expect(again.trainingInfo).toHaveLength(1);
    expect(again.trainingInfo[0].initialization.name).toBe('init');
    expect(again.trainingInfo[0].initializationBinding[0]).toMatchObject({ key: 'w', value: 'c' });
  });

  it('keeps binary (non-UTF-8) string attributes byte for byte', async () => {
    const mp = decodeMessage('ModelProto', modelToBytes(richModel()));
    const node = mp.graph.node.find((n: { name: string }) => n.name === 'custom');
    const blob = new Uint8Array([0x00, 0xff, 0xfe, 0x80, 0x41]);
    node.attribute = [
      { name: 'blob', type: AttrType.STRING, s: blob },
      { name: 'blobs', type: AttrType.STRINGS, strings: [new TextEncoder().encode('ok'), blob] },
    ];
    const m = await loadModel(encodeMessage('ModelProto', mp));
    const again = decodeMessage('ModelProto', modelToBytes(m)).graph.node.find((n: { name: string }) => n.name === 'custom');
    expect([...again.attribute[0].s]).toEqual([...blob]);
    expect(again.attribute[1].strings.map((x: Uint8Array) => [...x])).toEqual([[0x6f, 0x6b], [...blob]]);
    // an edited value is written as UTF-8
    const n = m.graph.nodes.find((x) => x.name === 'custom')!;
    n.attributes[0].value = 'new';
    const edited = decodeMessage('ModelProto', modelToBytes(m)).graph.node.find((x: { name: string }) => x.name === 'custom');
    expect(new TextDecoder().decode(edited.attribute[0].s)).toBe('new');
  });

  it('infers the type of legacy attributes without a type field', async () => {
    const mp = decodeMessage('ModelProto', modelToBytes(richModel()));
    const node = mp.graph.node.find((n: { name: string }) => n.name === 'custom');
    node.attribute = [{ name: 'legacy_i', i: 4 }, { name: 'legacy_fs', floats: [1, 2] }];
    const m = await loadModel(encodeMessage('ModelProto', mp));
    const n = m.graph.nodes.find((x) => x.name === 'custom')!;
    expect(n.attributes).toEqual([
      { name: 'legacy_i', type: AttrType.INT, value: 4 },
      { name: 'legacy_fs', type: AttrType.FLOATS, value: [1, 2] },
    ]);
  });
});

describe('fields unknown to the ONNX schema', () => {
  /**
   * A model whose Relu node carries field 8 (overload: known, but the IR has no slot for it) and
   * field 50 (unknown), and whose ModelProto carries field 99 (unknown).
   */
  function modelWithUnknownFields(): Uint8Array {
    const b = new ModelBuilder();
    const x = b.input('x', DataType.FLOAT, [2]);
    b.output(b.op('Relu', [x], {}, { name: 'relu' }), DataType.FLOAT, [2], 'y');
    const mp = decodeMessage('ModelProto', modelToBytes(b.build()));
    // hand-assemble: node bytes + raw field 8, graph without nodes + the node, model + raw field 99
    const nodeBytes = Buffer.concat([
      encodeMessage('NodeProto', mp.graph.node[0]),
      lengthDelimitedField(8, new TextEncoder().encode('fast')),
      lengthDelimitedField(50, new TextEncoder().encode('later')),
    ]);
    const graph = { ...mp.graph, node: [] };
    const graphBytes = Buffer.concat([encodeMessage('GraphProto', graph), lengthDelimitedField(1, nodeBytes)]);
    const model = { ...mp, graph: undefined };
    delete model.graph;
    const field99 = new Uint8Array([0x98, 0x06, 0x2a]); // field 99, varint 42
    return Buffer.concat([encodeMessage('ModelProto', model), lengthDelimitedField(7, graphBytes), field99]);
  }

  it('warns naming them and writes them back unchanged', async () => {
    const bytes = modelWithUnknownFields();
    const warnings: string[] = [];
    const m = await loadModel(bytes, { warn: (w) => warnings.push(w), name: 'hand.onnx' });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('NodeProto field 50');
    expect(warnings[0]).not.toContain('field 8');
    expect(warnings[0]).toContain('ModelProto field 99');
    expect(warnings[0]).toContain('kept and written back');

    const saved = modelToBytes(m);
    const { unknown } = walkMessage(saved, 'ModelProto');
    expect([...unknown.keys()].sort()).toEqual(['ModelProto field 99', 'NodeProto field 50']);
    const again = decodeMessage('ModelProto', saved);
    expect([...again.$unknown[0]]).toEqual([0x98, 0x06, 0x2a]);
    expect(again.graph.node[0].overload).toBe('fast');
    expect(Buffer.from(again.graph.node[0].$unknown[0]).toString('latin1')).toContain('later');
    // and loading the saved bytes again is stable
    expect(Buffer.from(modelToBytes(await loadModel(saved))).equals(Buffer.from(saved))).toBe(true);
  });

  it('says so when an unknown field sits where mlc cannot keep it', async () => {
    const mp = decodeMessage('ModelProto', modelToBytes(richModel()));
    const vi = mp.graph.input[0];
    // an unknown field inside TypeProto.Tensor (the IR has no slot for it)
    const tensorType = Buffer.concat([encodeMessage('TypeProto.Tensor', vi.type.tensorType), new Uint8Array([0x38, 0x01])]); // field 7 varint
    const typeBytes = lengthDelimitedField(1, tensorType);
    const viBytes = Buffer.concat([encodeMessage('ValueInfoProto', { name: vi.name }), lengthDelimitedField(2, typeBytes)]);
    const graph = { ...mp.graph, input: [] };
    const graphBytes = Buffer.concat([encodeMessage('GraphProto', graph), lengthDelimitedField(11, viBytes)]);
    const model = { ...mp };
    delete model.graph;
    const bytes = Buffer.concat([encodeMessage('ModelProto', model), lengthDelimitedField(7, graphBytes)]);
    const warnings: string[] = [];
    const m = await loadModel(bytes, { warn: (w) => warnings.push(w) });
    expect(warnings[0]).toContain('TypeProto.Tensor field 7');
    expect(warnings[0]).toMatch(/cannot be kept/);
    expect(m.graph.inputs[0].type).toEqual({ kind: 'tensor', elemType: DataType.FLOAT, shape: ['N', 4] });
  });

  it('keeps the newer fields the IR has no slot for, without a warning', async () => {
    const mp = decodeMessage('ModelProto', modelToBytes(richModel()));
    const meta = [{ key: 'k', value: 'v' }];
    mp.configuration = [{ name: 'two', numDevices: 2, device: ['a', 'b'] }];
    mp.graph.metadataProps = meta;
    const node = mp.graph.node[0];
    node.overload = 'o1';
    node.metadataProps = meta;
    node.deviceConfigurations = [
      {
        configurationId: 'two',
        pipelineStage: 1,
        shardingSpec: [
          {
            tensorName: node.input[0],
            device: [0, 1],
            indexToDeviceGroupMap: [{ key: 0, value: [0, 1] }],
            shardedDim: [{ axis: -1, simpleSharding: [{ dimParam: 'N', numShards: 2 }] }],
          },
        ],
      },
    ];
    mp.graph.initializer[0].metadataProps = meta;
    mp.graph.input[0].metadataProps = meta;
    mp.functions[0].metadataProps = meta;
    const bytes = encodeMessage('ModelProto', mp);
    const warnings: string[] = [];
    const m = await loadModel(bytes, { warn: (w) => warnings.push(w) });
    expect(warnings).toEqual([]);
    const again = decodeMessage('ModelProto', modelToBytes(m));
    expect(again.configuration).toEqual(mp.configuration);
    expect(again.graph.metadataProps).toEqual(meta);
    const n0 = again.graph.node[0];
    expect([n0.overload, n0.metadataProps, n0.deviceConfigurations]).toEqual([node.overload, meta, node.deviceConfigurations]);
    expect(again.graph.initializer[0].metadataProps).toEqual(meta);
    expect(again.graph.input[0].metadataProps).toEqual(meta);
    expect(again.functions[0].metadataProps).toEqual(meta);
  });

  it('does not warn on a model without unknown fields', async () => {
    const warnings: string[] = [];
    await loadModel(modelToBytes(richModel()), { warn: (w) => warnings.push(w) });
    expect(warnings).toEqual([]);
  });
});
