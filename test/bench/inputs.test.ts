import { describe, expect, it } from 'vitest';
import { DataType } from '../../src/ir/dtype.js';
import { ModelBuilder } from '../../src/ir/builder.js';
import { datasetFeeds, hasDynamicBatch, inputSpecs, parseShapeFlags, resolveShapes, synthesizeFeeds } from '../../src/bench/inputs.js';

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
