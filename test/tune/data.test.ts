import { describe, expect, it } from 'vitest';
import type { Dataset } from '../../src/core/types.js';
import { pickRows, sampleDataset, shuffledIndices, splitDataset } from '../../src/tune/data.js';

/** n samples of 2 features: sample i holds [i, -i], label i % 3 */
function numbered(n: number): Dataset {
  const x = new Float32Array(n * 2);
  for (let i = 0; i < n; i++) {
    x[2 * i] = i;
    x[2 * i + 1] = -i;
  }
  return { inputs: { x: { dtype: 'float', dims: [n, 2], data: x } }, labels: Int32Array.from({ length: n }, (_, i) => i % 3), count: n };
}

const firstColumn = (d: Dataset) => Array.from(d.inputs.x.data as Float32Array).filter((_, i) => i % 2 === 0);

describe('tune data', () => {
  it('shuffledIndices is a seeded permutation', () => {
    const a = shuffledIndices(50, 7);
    expect([...a].sort((x, y) => x - y)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(shuffledIndices(50, 7)).toEqual(a);
    expect(shuffledIndices(50, 8)).not.toEqual(a);
  });

  it('pickRows copies the rows and their labels', () => {
    const d = pickRows(numbered(10), Int32Array.from([4, 1]));
    expect(d.count).toBe(2);
    expect(Array.from(d.inputs.x.data as Float32Array)).toEqual([4, -4, 1, -1]);
    expect(Array.from(d.labels!)).toEqual([1, 1]);
    expect(d.inputs.x.dims).toEqual([2, 2]);
  });

  it('sampleDataset picks at most n distinct samples', () => {
    const d = sampleDataset(numbered(100), 30, 1);
    expect(d.count).toBe(30);
    expect(new Set(firstColumn(d)).size).toBe(30);
    expect(sampleDataset(numbered(10), 30, 1).count).toBe(10);
  });

  it('splitDataset holds out the last share and tunes on a pick of the rest', () => {
    const s = splitDataset(numbered(100), { heldOutShare: 0.3, maxTuning: 50, maxHeldOut: 1000, seed: 3 });
    expect(s.tuningRange).toBe(70);
    expect(firstColumn(s.heldOut)).toEqual(Array.from({ length: 30 }, (_, i) => 70 + i));
    expect(s.tuning.count).toBe(50);
    expect(firstColumn(s.tuning).every((v) => v < 70)).toBe(true);
    const capped = splitDataset(numbered(100), { heldOutShare: 0.5, maxTuning: 1000, maxHeldOut: 10, seed: 3 });
    expect(capped.heldOut.count).toBe(10);
    expect(capped.tuning.count).toBe(90);
    expect(() => splitDataset(numbered(1), { heldOutShare: 0.3, maxTuning: 10, maxHeldOut: 10, seed: 1 })).toThrow(/at least 2 samples/);
  });
});
