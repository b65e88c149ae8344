/** The seeded stream: Mulberry32 uniforms, normals one at a time or an array at once, from the same stream. */
import { describe, expect, it } from 'vitest';
import { fillNormal, normalRng, seededRng } from '../../src/core/rng.js';

describe('core/rng', () => {
  it('seededRng is deterministic per seed and uniform in [0, 1)', () => {
    const a = seededRng(7);
    const b = seededRng(7);
    const xs = Array.from({ length: 1000 }, () => a());
    expect(xs).toEqual(Array.from({ length: 1000 }, () => b()));
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...xs)).toBeLessThan(1);
    expect(seededRng(8)()).not.toBe(xs[0]);
  });

  it('fillNormal gives the values normalRng gives from a fresh start, scaled by std', () => {
    const one = normalRng(seededRng(3));
    const want = Array.from({ length: 10 }, () => one() * 0.5);
    expect([...fillNormal(new Float64Array(10), seededRng(3), 0.5)]).toEqual(want);
    // an odd length drops the second value of the last pair; the stream goes on after it
    const r = seededRng(3);
    const odd = fillNormal(new Float64Array(9), r, 0.5);
    expect([...odd]).toEqual(want.slice(0, 9));
    const more = fillNormal(new Float64Array(2), r, 0.5);
    const ref = normalRng(seededRng(3));
    for (let i = 0; i < 10; i++) ref();
    expect([...more]).toEqual([ref() * 0.5, ref() * 0.5]);
  });

  it('fillNormal draws normal(0, std): mean and spread of 200 000 samples', () => {
    const a = fillNormal(new Float32Array(200_000), seededRng(1), 0.02);
    let s = 0;
    let s2 = 0;
    for (const v of a) {
      s += v;
      s2 += v * v;
    }
    const mean = s / a.length;
    expect(Math.abs(mean)).toBeLessThan(0.0003);
    expect(Math.sqrt(s2 / a.length - mean * mean)).toBeCloseTo(0.02, 3);
  });
});
