import { describe, expect, it } from 'vitest';
import { batches, sliceDataset, takeDataset } from '../../src/data/batch.js';
import type { Dataset } from '../../src/passes/pass.js';

const ds: Dataset = {
  inputs: {
    x: { dtype: 'float', dims: [5, 2], data: Float32Array.from({ length: 10 }, (_, i) => i) },
    ids: { dtype: 'int64', dims: [5], data: BigInt64Array.from([10n, 11n, 12n, 13n, 14n]) },
  },
  labels: Int32Array.from([0, 1, 2, 3, 4]),
  count: 5,
};

describe('batching', () => {
  it('splits along axis 0 into batches of N, the last one smaller', () => {
    const bs = [...batches(ds, 2)];
    expect(bs.map((b) => b.count)).toEqual([2, 2, 1]);
    expect(bs[1].inputs.x.dims).toEqual([2, 2]);
    expect(Array.from(bs[1].inputs.x.data as Float32Array)).toEqual([4, 5, 6, 7]);
    expect(Array.from(bs[2].inputs.ids.data as BigInt64Array)).toEqual([14n]);
    expect(Array.from(bs[2].labels!)).toEqual([4]);
    expect([...batches(ds, 10)].length).toBe(1);
  });

  it('slices without copying and clamps the range', () => {
    const s = sliceDataset(ds, 3, 99);
    expect(s.count).toBe(2);
    expect((s.inputs.x.data as Float32Array).buffer).toBe((ds.inputs.x.data as Float32Array).buffer);
    expect(takeDataset(ds, 1).count).toBe(1);
    expect(takeDataset(ds, 9)).toBe(ds);
  });

  it('refuses a bad batch size and inputs without a batch axis', () => {
    expect(() => [...batches(ds, 0)]).toThrow(/positive integer/);
    const bad: Dataset = { inputs: { s: { dtype: 'float', dims: [3], data: [1, 2, 3] } }, count: 5 };
    expect(() => sliceDataset(bad, 0, 2)).toThrow(/input 's'.*first dimension is not the sample count 5/);
  });
});
