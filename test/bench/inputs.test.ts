import { describe, expect, it } from 'vitest';
import { DataType } from '../../src/ir/dtype.js';
import { ModelBuilder } from '../../src/ir/builder.js';
import {
  datasetFeeds,
  hasDynamicBatch,
  inputSpecs,
  isSequenceName,
  parseShapeFlags,
  planShapes,
  resolveShapes,
  synthesizeFeeds,
  unknownShapeMessage,
} from '../../src/bench/inputs.js';

function twoInputs() {
  const b = new ModelBuilder();
  const ids = b.input('ids', DataType.INT64, ['batch', 'seq']);
  const mask = b.input('mask', DataType.FLOAT, ['batch', 'seq']);
  const c = b.op('Cast', [ids], { to: DataType.FLOAT });
  b.output(b.op('Mul', [c, mask]), DataType.FLOAT, ['batch', 'seq']);
  return b.build();
}

describe('parseShapeFlags', () => {
  it('reads name=dims, repeatable', () => {
    expect(parseShapeFlags(['input=1,3,224,224', 'ids = 1x128'])).toEqual({ input: [1, 3, 224, 224], ids: [1, 128] });
    expect(parseShapeFlags(undefined)).toEqual({});
  });
  it('rejects malformed specs', () => {
    expect(() => parseShapeFlags(['input'])).toThrow(/--shape: cannot read "input"/);
    expect(() => parseShapeFlags(['input=1,a'])).toThrow(/--shape/);
  });
});

describe('resolveShapes', () => {
  it('a dynamic batch takes the batch size; fixed dims stay', () => {
    const b = new ModelBuilder();
    b.output(b.op('Relu', [b.input('x', DataType.FLOAT, ['N', 784])]), DataType.FLOAT, ['N', 784]);
    const specs = inputSpecs(b.build());
    expect(hasDynamicBatch(specs)).toBe(true);
    expect(resolveShapes(specs, 1)).toEqual({ x: [1, 784] });
    expect(resolveShapes(specs, 64)).toEqual({ x: [64, 784] });
  });
  it('other dynamic dims need --shape, with a clear error naming the input', () => {
    const specs = inputSpecs(twoInputs());
    expect(() => resolveShapes(specs, 1)).toThrow(/input "ids" \[batch, seq\] has dynamic "seq" \(dimension 1\); give the shape with --shape ids=1,N/);
  });
  it('a symbolic dim given once is shared; the batch dim is replaced', () => {
    const specs = inputSpecs(twoInputs());
    expect(resolveShapes(specs, 8, { ids: [1, 16] })).toEqual({ ids: [8, 16], mask: [8, 16] });
  });
  it('data dims resolve dynamic dims', () => {
    const specs = inputSpecs(twoInputs());
    expect(resolveShapes(specs, 2, {}, { ids: [100, 7], mask: [100, 7] })).toEqual({ ids: [2, 7], mask: [2, 7] });
  });
  it('rejects --shape for unknown inputs, wrong rank, or a clash with a fixed dim', () => {
    const b = new ModelBuilder();
    b.output(b.op('Relu', [b.input('x', DataType.FLOAT, ['N', 3, 'H', 'W'])]), DataType.FLOAT);
    const specs = inputSpecs(b.build());
    expect(() => resolveShapes(specs, 1, { y: [1] })).toThrow(/no input "y"/);
    expect(() => resolveShapes(specs, 1, { x: [1, 3, 4] })).toThrow(/rank 4/);
    expect(() => resolveShapes(specs, 1, { x: [1, 4, 8, 8] })).toThrow(/dimension 1 is fixed to 3/);
    expect(resolveShapes(specs, 1, { x: [1, 3, 8, 8] })).toEqual({ x: [1, 3, 8, 8] });
  });
});

describe('synthesizeFeeds', () => {
  it('seeded floats in [0, 1), zero integers', () => {
    const specs = inputSpecs(twoInputs());
    const f = synthesizeFeeds(specs, { ids: [2, 3], mask: [2, 3] });
    expect(f.ids.dtype).toBe('int64');
    expect(f.ids.data).toBeInstanceOf(BigInt64Array);
    expect([...(f.ids.data as BigInt64Array)]).toEqual([0n, 0n, 0n, 0n, 0n, 0n]);
    const m = f.mask.data as Float32Array;
    expect(m).toBeInstanceOf(Float32Array);
    expect(m.every((x) => x >= 0 && x < 1)).toBe(true);
    expect(new Set(m).size).toBeGreaterThan(1);
    const again = synthesizeFeeds(specs, { ids: [2, 3], mask: [2, 3] });
    expect([...(again.mask.data as Float32Array)]).toEqual([...m]);
  });
});

describe('datasetFeeds', () => {
  const b = new ModelBuilder();
  b.output(b.op('Relu', [b.input('x', DataType.FLOAT, ['N', 2])]), DataType.FLOAT, ['N', 2]);
  const specs = inputSpecs(b.build());
  const data = { inputs: { x: { dtype: 'float', dims: [3, 2], data: Float32Array.from([0, 1, 2, 3, 4, 5]) } }, count: 3 };
  it('slices rows without copying', () => {
    const f = datasetFeeds(data, specs, 1, 2);
    expect(f.x.dims).toEqual([2, 2]);
    expect([...(f.x.data as Float32Array)]).toEqual([2, 3, 4, 5]);
    expect((f.x.data as Float32Array).buffer).toBe(data.inputs.x.data.buffer);
  });
  it('wraps around to fill a batch larger than the data', () => {
    const f = datasetFeeds(data, specs, 2, 3);
    expect([...(f.x.data as Float32Array)]).toEqual([4, 5, 0, 1, 2, 3]);
    expect(f.x.data).toBeInstanceOf(Float32Array);
  });
  it('names a missing input', () => {
    expect(() => datasetFeeds({ inputs: {}, count: 1 }, specs, 0, 1)).toThrow(/no array for input "x"/);
  });
});

describe('planShapes (no --shape, no data: what the model says)', () => {
  const build = (inputs: [string, DataType, (string | number | null)[]][], wire?: (b: ModelBuilder, xs: string[]) => string) => {
    const b = new ModelBuilder();
    const xs = inputs.map(([n, t, s]) => b.input(n, t, s));
    const y = wire ? wire(b, xs) : b.op('Identity', [xs[0]]);
    b.output(y, DataType.FLOAT);
    return b.build();
  };

  it('token inputs share [batch, sequence]: batch 1, sequence 128; the throughput batch follows', () => {
    const specs = inputSpecs(twoInputs());
    const plan = planShapes(specs);
    expect(plan.unknown).toEqual([]);
    expect(plan.at(1)).toEqual({ ids: [1, 128], mask: [1, 128] });
    expect(plan.at(64)).toEqual({ ids: [64, 128], mask: [64, 128] });
    expect(plan.chosen.join('\n')).toMatch(/ids: "seq" = 128 \(sequence-like name\)/);
    expect(planShapes(specs, {}, 16).at(1)).toEqual({ ids: [1, 16], mask: [1, 16] });
  });

  it('an image keeps its height and width unknown, named with the --shape to give', () => {
    const specs = inputSpecs(build([['x', DataType.FLOAT, ['N', 3, 'height', 'width']]]));
    const plan = planShapes(specs);
    expect(plan.unknown.map((u) => u.name)).toEqual(['x']);
    expect(unknownShapeMessage(plan.unknown)).toBe(
      'input "x" [N, 3, height, width] has dynamic "height" (dimension 2), "width" (dimension 3); give it with --shape x=1,3,N,N or pass --data',
    );
    expect(() => plan.at(1)).toThrow(/--shape x=/);
    // unnamed dims of a float input stay unknown too
    expect(planShapes(inputSpecs(build([['x', DataType.FLOAT, [null, 3, null]]]))).unknown[0].missing).toEqual(['dimension 2']);
    // --shape settles them
    expect(planShapes(specs, { x: [4, 3, 32, 48] }).at(2)).toEqual({ x: [2, 3, 32, 48] });
    // an input without a declared shape
    const b = new ModelBuilder();
    const v = b.input('v', DataType.FLOAT, []);
    b.output(b.op('Relu', [v]), DataType.FLOAT);
    const m = b.build();
    delete (m.graph.inputs[0].type as { shape?: unknown }).shape;
    const none = planShapes(inputSpecs(m));
    expect(unknownShapeMessage(none.unknown)).toBe('input "v" declares no shape; give it with --shape v=1,... or pass --data');
    expect(planShapes(inputSpecs(m), { v: [3, 5] }).at(1)).toEqual({ v: [1, 5] });
  });

  it('a dim_param named by another input\'s batch dim is the batch, wherever it sits (a recurrent state)', () => {
    const specs = inputSpecs(build([['audio', DataType.FLOAT, ['batch', 'samples']], ['state', DataType.FLOAT, [2, 'batch', 64]]]));
    const plan = planShapes(specs, { audio: [1, 512] });
    expect(plan.at(1)).toEqual({ audio: [1, 512], state: [2, 1, 64] });
    expect(plan.at(8)).toEqual({ audio: [8, 512], state: [2, 8, 64] });
  });

  it('sequence-like names, batch-like names and expressions', () => {
    for (const name of ['seq', 'sequence_length', 'seqLen', 'T', 'time', 'num_tokens', 'n_frames', 'encoder_sequence_length', 'past_sequence_length']) {
      expect(isSequenceName(name), name).toBe(true);
    }
    for (const name of ['height', 'width', 'unk__12', 's0', 'channels', 'H', 'W', 'batch']) expect(isSequenceName(name), name).toBe(false);
    const specs = inputSpecs(
      build([
        ['x', DataType.FLOAT, ['s0', 'past_sequence_length', 8]],
        ['y', DataType.FLOAT, [1, 'batch_size', 'past_sequence_length + 1']],
        ['z', DataType.FLOAT, [1, '2*past_sequence_length', 'sequence-length']],
      ]),
    );
    const plan = planShapes(specs);
    expect(plan.unknown).toEqual([]);
    expect(plan.at(1)).toEqual({ x: [1, 128, 8], y: [1, 1, 129], z: [1, 256, 128] });
    // an expression of the batch is not the batch, and stays unknown
    const w = planShapes(inputSpecs(build([['w', DataType.FLOAT, ['batch', '2*batch']]])));
    expect(w.unknown[0].missing).toEqual(['"2*batch" (dimension 1)']);
  });

  it('integer inputs: their dims after the batch are sequences even when unnamed or oddly named', () => {
    const specs = inputSpecs(build([['ids', DataType.INT64, ['s0', 's1']], ['pos', DataType.INT64, [null, null]]]));
    expect(planShapes(specs).at(1)).toEqual({ ids: [1, 128], pos: [1, 128] });
  });

  it('takes fixed sizes the graph value_info gives for an input', () => {
    const m = build([['x', DataType.FLOAT, ['N', 3, 'H', 'W']]]);
    m.graph.valueInfo.push({ name: 'x', type: { kind: 'tensor', elemType: DataType.FLOAT, shape: ['N', 3, 32, 40] } });
    const plan = planShapes(inputSpecs(m));
    expect(plan.unknown).toEqual([]);
    expect(plan.at(1)).toEqual({ x: [1, 3, 32, 40] });
    expect(plan.chosen).toContain('x: dimension 2 = 32 (value_info)');
  });

  it('checks --shape like resolveShapes does', () => {
    const specs = inputSpecs(build([['x', DataType.FLOAT, ['N', 3, 'H', 'W']]]));
    expect(() => planShapes(specs, { y: [1] })).toThrow(/no input "y"/);
    expect(() => planShapes(specs, { x: [1, 3, 4] })).toThrow(/rank 4/);
    expect(() => planShapes(specs, { x: [1, 4, 8, 8] })).toThrow(/dimension 1 is fixed to 3/);
  });
});

describe('synthesized values that suit the model', () => {
  it('ids reaching an embedding Gather stay inside the table; masks are ones; positions count; sample rates are 16000', () => {
    const b = new ModelBuilder();
    const ids = b.input('input_ids', DataType.INT64, ['batch', 'sequence']);
    const mask = b.input('attention_mask', DataType.INT64, ['batch', 'sequence']);
    const pos = b.input('position_ids', DataType.INT64, ['batch', 'sequence']);
    const sr = b.input('sr', DataType.INT64, []);
    const other = b.input('flags', DataType.INT32, ['batch']);
    const bmask = b.input('key_padding_mask', DataType.BOOL, ['batch', 'sequence']);
    const table = b.init('emb', [7, 2], Float32Array.from({ length: 14 }, (_, i) => i));
    const e = b.op('Gather', [table, b.op('Cast', [ids], { to: DataType.INT32 })]);
    b.output(e, DataType.FLOAT);
    for (const x of [mask, pos, sr, other, bmask]) b.output(b.op('Identity', [x]), DataType.INT64);
    const specs = inputSpecs(b.build());
    expect(specs.find((s) => s.name === 'input_ids')!.fill).toEqual({ kind: 'ids', max: 7 });
    const f = synthesizeFeeds(specs, planShapes(specs).at(2));
    const idv = [...(f.input_ids.data as BigInt64Array)].map(Number);
    expect(idv).toHaveLength(256);
    expect(idv.every((v) => v >= 0 && v < 7)).toBe(true);
    expect(new Set(idv).size).toBeGreaterThan(3);
    expect([...(f.attention_mask.data as BigInt64Array)].every((v) => v === 1n)).toBe(true);
    expect([...(f.position_ids.data as BigInt64Array)].slice(126, 130)).toEqual([126n, 127n, 0n, 1n]);
    expect(f.sr.dims).toEqual([]);
    expect([...(f.sr.data as BigInt64Array)]).toEqual([16000n]);
    expect([...(f.flags.data as Int32Array)]).toEqual([0, 0]);
    expect([...(f.key_padding_mask.data as Uint8Array)].every((v) => v === 1)).toBe(true);
  });
});

describe('hasDynamicBatch', () => {
  it('scalars and a state with a fixed first dimension do not fix the batch; all-fixed inputs do', () => {
    const b = new ModelBuilder();
    const audio = b.input('input', DataType.FLOAT, ['batch', 512]);
    const sr = b.input('sr', DataType.INT64, []);
    const state = b.input('state', DataType.FLOAT, [2, 'batch', 64]);
    b.output(b.op('Identity', [audio]), DataType.FLOAT);
    b.output(b.op('Identity', [sr]), DataType.INT64);
    b.output(b.op('Identity', [state]), DataType.FLOAT);
    const specs = inputSpecs(b.build());
    expect(hasDynamicBatch(specs)).toBe(true);
    expect(planShapes(specs).at(1)).toEqual({ input: [1, 512], sr: [], state: [2, 1, 64] });
    const f = new ModelBuilder();
    f.output(f.op('Relu', [f.input('x', DataType.FLOAT, [1, 4])]), DataType.FLOAT);
    f.output(f.op('Identity', [f.input('k', DataType.INT64, [])]), DataType.INT64);
    expect(hasDynamicBatch(inputSpecs(f.build()))).toBe(false);
  });
});
