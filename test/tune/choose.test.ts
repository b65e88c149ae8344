import { describe, expect, it } from 'vitest';
import type { RecipeStep } from '../../src/passes/registry.js';
import { type Budget, lossPoints, nearMiss, pickWinner, withDistill, withinBudget } from '../../src/tune/choose.js';
import { pairedDiffSe, proportionSe } from '../../src/tune/evaluate.js';
import { speedupVerdict } from '../../src/tune/latency.js';

describe('the budget with a margin', () => {
  it('standard errors: paired accuracy difference from the discordant counts, agreement as a proportion', () => {
    // 1000 samples, 30 lost and 10 gained: d = 0.02, var = (40/1000 − 0.02²) / 1000
    expect(pairedDiffSe(30, 10, 1000)).toBeCloseTo(Math.sqrt((0.04 - 0.0004) / 1000), 12);
    expect(pairedDiffSe(0, 0, 1000)).toBe(0);
    expect(pairedDiffSe(5, 0, 0)).toBe(0);
    expect(proportionSe(0.99, 400)).toBeCloseTo(Math.sqrt((0.99 * 0.01) / 400), 12);
    expect(proportionSe(1, 400)).toBe(0);
  });

  it('counts the margin on top of the loss, for accuracy and for agreement', () => {
    const acc: Budget = { points: 0.5, byAgreement: false, margin: 1 };
    // a 0.3-point drop with a 0.25-point standard error: 0.55 > 0.5
    expect(lossPoints(acc, 0.957, 0.0025, 0.96)).toBeCloseTo(0.55, 9);
    expect(withinBudget(acc, lossPoints(acc, 0.957, 0.0025, 0.96))).toBe(false);
    expect(withinBudget(acc, lossPoints(acc, 0.957, 0.0025, 0.96, 0))).toBe(true);
    expect(nearMiss(acc, 0.55)).toBe(true);
    expect(nearMiss(acc, 1.0)).toBe(true);
    expect(nearMiss(acc, 1.01)).toBe(false);
    expect(nearMiss(acc, 0.5)).toBe(false); // within: not a miss
    const agr: Budget = { points: 1, byAgreement: true, margin: 2 };
    // agreement 0.995 ± 0.002: 0.5 + 2·0.2 = 0.9 points ≤ 1
    expect(lossPoints(agr, 0.995, 0.002, 1)).toBeCloseTo(0.9, 9);
    expect(nearMiss({ points: 0, byAgreement: false, margin: 0 }, 0.1)).toBe(false);
  });

  it('withDistill puts distill after the last prune / lowrank step, before quantize', () => {
    const d: RecipeStep = { pass: 'distill', options: { epochs: 3, trainSamples: 100 } };
    const q: RecipeStep = { pass: 'quantize', options: { type: 'int8' } };
    const p: RecipeStep = { pass: 'prune', options: { sparsity: 0.8 } };
    const l: RecipeStep = { pass: 'lowrank', options: { energy: 0.9 } };
    expect(withDistill([l, p, q], d)).toEqual([l, p, d, q]);
    expect(withDistill([p], d)).toEqual([p, d]);
    expect(withDistill([q], d)).toBeUndefined();
    expect(withDistill([p, d, q], d)).toBeUndefined();
  });
});

describe('pickWinner', () => {
  interface C {
    id: number;
    objective: number;
    held: boolean;
    timed?: boolean;
    fast?: boolean;
  }
  const race = (cs: C[]) => (aside: ReadonlySet<C>) => cs.filter((c) => !aside.has(c) && c.fast !== false).sort((a, b) => a.objective - b.objective)[0];

  it('sets aside, without using up a check, a candidate whose model is the same as one that failed', async () => {
    const cs: C[] = [
      { id: 1, objective: 1, held: false },
      { id: 2, objective: 2, held: false }, // the same model as #1
      { id: 3, objective: 3, held: false }, // the same model as #1
      { id: 4, objective: 4, held: false },
      { id: 5, objective: 5, held: false },
      { id: 6, objective: 6, held: true },
    ];
    const key = async (c: C) => (c.id <= 3 ? 'a' : `m${c.id}`);
    const p = await pickWinner(race(cs), { holds: async (c) => c.held, modelKey: key });
    expect(p.checked.map((c) => c.id)).toEqual([1, 4, 5]);
    expect(p.capped).toBe('held-out checks');
    const q = await pickWinner(race(cs.filter((c) => c.id !== 4)), { holds: async (c) => c.held, modelKey: key });
    expect(q.chosen?.id).toBe(6);
    expect(q.checked.map((c) => c.id)).toEqual([1, 5, 6]);
  });

  it('chooses the best that holds on the held-out split, falling back in objective order', async () => {
    const cs: C[] = [
      { id: 1, objective: 3, held: true },
      { id: 2, objective: 1, held: false },
      { id: 3, objective: 2, held: true },
    ];
    const p = await pickWinner(race(cs), { holds: async (c) => c.held });
    expect(p.chosen?.id).toBe(3);
    expect(p.checked.map((c) => c.id)).toEqual([2, 3]);
    const first = await pickWinner(race(cs.filter((c) => c.id !== 2)), { holds: async (c) => c.held });
    expect(first).toEqual({ chosen: cs[2], checked: [cs[2]] });
  });

  it('stops after maxChecks held-out checks, and with no candidate', async () => {
    const cs: C[] = [1, 2, 3, 4].map((id) => ({ id, objective: id, held: false }));
    const p = await pickWinner(race(cs), { holds: async (c) => c.held, maxChecks: 3 });
    expect(p.chosen).toBeUndefined();
    expect(p.checked.map((c) => c.id)).toEqual([1, 2, 3]);
    expect(p.capped).toBe('held-out checks');
    expect(await pickWinner(race([]), { holds: async () => true })).toEqual({ checked: [] });
  });

  it('times a candidate before its held-out check; one the timing calls not faster leaves the race', async () => {
    const cs: C[] = [
      { id: 1, objective: 1, held: true },
      { id: 2, objective: 2, held: true },
    ];
    const timed: number[] = [];
    const p = await pickWinner(race(cs), {
      holds: async (c) => c.held,
      needsTiming: (c) => !c.timed,
      time: async (c) => {
        timed.push(c.id);
        c.timed = true;
        c.fast = c.id === 2;
      },
    });
    expect(timed).toEqual([1, 2]);
    expect(p.chosen?.id).toBe(2);
    const slow = await pickWinner(race(cs.map((c) => ({ ...c, timed: false, fast: undefined }))), {
      holds: async () => true,
      needsTiming: (c) => !c.timed,
      time: async (c) => {
        c.timed = true;
        c.fast = false;
      },
      maxTimings: 1,
    });
    expect(slow).toEqual({ checked: [], capped: 'timings' });
  });
});

describe('speedupVerdict', () => {
  const around = (m: number, spread: number, n: number) => Array.from({ length: n }, (_, i) => m + spread * ((i % 7) / 6 - 0.5));
  it('is faster only when the whole interval clears the threshold, not faster when it is below, else undecided', () => {
    const threshold = 1 / 0.97;
    expect(speedupVerdict(around(1.3, 0.1, 30), 0.95, threshold).verdict).toBe('faster');
    expect(speedupVerdict(around(0.9, 0.1, 30), 0.95, threshold).verdict).toBe('not faster');
    // a median right on the threshold: the interval straddles it
    const on = speedupVerdict(around(threshold, 0.2, 30), 0.95, threshold);
    expect(on.verdict).toBe('undecided');
    expect(on.ci![0]).toBeLessThan(threshold);
    expect(on.ci![1]).toBeGreaterThan(threshold);
    // too few rounds for a 95% interval
    expect(speedupVerdict([2, 2, 2], 0.95, threshold)).toMatchObject({ verdict: 'undecided', ci: null, rounds: 3 });
    // a wider level (a later look) can turn faster into undecided
    const close = around(1.06, 0.06, 12);
    expect(speedupVerdict(close, 0.95, threshold).ci![0]).toBeGreaterThanOrEqual(speedupVerdict(close, 0.9975, threshold).ci![0]);
  });
});
