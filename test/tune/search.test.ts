import { describe, expect, it } from 'vitest';
import { bisect, energyAt, paretoFront, quantizeModes } from '../../src/tune/search.js';
import { parsePass } from './helpers.js';

describe('tune search helpers', () => {
  it('paretoFront keeps the points no other beats on both objective (lower) and score (higher)', () => {
    const pts = [
      { objective: 10, score: 0.9 }, // front
      { objective: 5, score: 0.8 }, // front
      { objective: 12, score: 0.85 }, // dominated by #0
      { objective: 5, score: 0.7 }, // dominated by #1 (same objective, lower score)
      { objective: 20, score: 0.95 }, // front
      { objective: 10, score: 0.9 }, // a tie with #0: neither beats the other
    ];
    expect([...paretoFront(pts)].sort()).toEqual([0, 1, 4, 5]);
    expect(paretoFront([]).size).toBe(0);
  });

  it('bisect finds the largest x that holds, within the tolerance', async () => {
    const tried: number[] = [];
    const x = await bisect(0, 1, 0.01, async (v) => {
      tried.push(v);
      return v <= 0.63;
    });
    expect(x).toBeGreaterThan(0.62);
    expect(x).toBeLessThanOrEqual(0.63);
    expect(tried[0]).toBe(1);
    expect(tried.length).toBeLessThanOrEqual(9);
    expect(await bisect(0, 1, 0.01, async () => true)).toBe(1);
    expect(await bisect(0, 1, 0.01, async () => false)).toBeUndefined();
  });

  it('quantizeModes are valid quantize steps and cap static calibration at the tuning split', () => {
    for (const objective of ['size', 'gzip', 'latency'] as const) {
      const modes = quantizeModes(objective, 300);
      expect(modes.length).toBeGreaterThan(1);
      for (const m of modes) for (const s of m.steps) expect(() => parsePass(s)).not.toThrow();
    }
    const stat = quantizeModes('latency', 300).find((m) => m.label.includes('static'))!;
    expect((stat.steps[0].options as { calibrationSamples: number }).calibrationSamples).toBe(300);
  });

  it('energyAt: the low-rank energy falls from 0.9997 to 0.5 as the bisection point rises, on a log scale of what is left out', () => {
    expect(energyAt(0)).toBe(0.9997);
    expect(energyAt(1)).toBe(0.5);
    const xs = Array.from({ length: 11 }, (_, i) => i / 10);
    for (let i = 1; i < xs.length; i++) expect(energyAt(xs[i])).toBeLessThan(energyAt(xs[i - 1]));
    // half way: the energy left out is the geometric mean of its ends
    expect(1 - energyAt(0.5)).toBeCloseTo(Math.sqrt(10 ** -3.5 * 0.5), 4);
  });
});
