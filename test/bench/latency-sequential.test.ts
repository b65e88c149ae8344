/**
 * Sequential latency gates (src/bench/latency.ts, `extend`): more rounds while an interval straddles
 * the limit, later looks at wider intervals. A fake clock and fake runners: nothing is timed.
 */
import { describe, expect, it } from 'vitest';
import { ciName, evaluateGates, gateInconclusiveLines } from '../../src/bench/gates.js';
import { ciLevelAt, medianCi, timeRounds } from '../../src/bench/latency.js';
import { seededRng } from '../../src/passes/pass.js';
import { metrics } from '../helpers/metrics.js';

/** Jobs whose runs "take" `ms[j]` times lognormal noise, on a fake clock each run advances. */
function fakeJobs(ms: number[], seed: number, sigma = 0.1) {
  const rng = seededRng(seed);
  let t = 0;
  const gauss = () => Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng());
  const jobs = ms.map((m) => async () => {
    const d = m * Math.exp(sigma * gauss());
    t += d;
    return d; // the job's own figure: the sample
  });
  return { jobs, clock: () => t };
}

const ratios = (bm: number[][]) => bm[0].slice(0, Math.min(bm[0].length, bm[1].length)).map((a, i) => a / bm[1][i]);
const base = { warmup: 0, runs: 8, minTimeMs: 0, blockSize: 1 };

describe('ciLevelAt', () => {
  it('95% first, then each look spends half the error rate of the one before', () => {
    expect(ciLevelAt(0)).toBeCloseTo(0.95, 12);
    expect(ciLevelAt(1)).toBeCloseTo(0.975, 12);
    expect(ciLevelAt(2)).toBeCloseTo(0.9875, 12);
    let spent = 0;
    for (let k = 0; k < 60; k++) spent += 1 - ciLevelAt(k);
    expect(spent).toBeLessThanOrEqual(0.1 + 1e-12);
    expect(ciName(ciLevelAt(0))).toBe('95%');
    expect(ciName(ciLevelAt(2))).toBe('98.75%');
  });
});

describe('timeRounds with extend (fake clock and runners)', () => {
  it('a gate decided at the first look adds no round', async () => {
    const f = fakeJobs([1.6, 1], 1);
    const looks: number[] = [];
    const r = await timeRounds(f.jobs, { ...base, clock: f.clock, extend: { maxMs: 1000, undecided: (_bm, k) => (looks.push(k), false) } });
    expect(looks).toEqual([0]);
    expect(r.look).toBe(0);
    expect(r.blockMedians[0]).toHaveLength(8);
  });

  it('goes on while undecided, looking each time the rounds have grown by half, and stops once decided', async () => {
    const f = fakeJobs([1.6, 1], 2);
    const seen: { look: number; rounds: number }[] = [];
    const r = await timeRounds(f.jobs, {
      ...base,
      clock: f.clock,
      extend: { maxMs: 10_000, undecided: (bm, look) => (seen.push({ look, rounds: bm[0].length }), bm[0].length < 40) },
    });
    expect(seen.map((s) => s.look)).toEqual(seen.map((_, i) => i));
    for (let i = 1; i < seen.length; i++) expect(seen[i].rounds).toBeGreaterThanOrEqual(Math.ceil(seen[i - 1].rounds * 1.5));
    expect(seen[0].rounds).toBe(8);
    expect(seen.at(-1)!.rounds).toBeGreaterThanOrEqual(40);
    expect(r.look).toBe(seen.length - 1);
    expect(r.blockMedians[0]).toHaveLength(seen.at(-1)!.rounds);
  });

  it('is bounded: at most maxMs more (plus one round), then a last look', async () => {
    const f = fakeJobs([1.6, 1], 3);
    let first = -1;
    const r = await timeRounds(f.jobs, {
      ...base,
      clock: f.clock,
      extend: { maxMs: 200, undecided: (_bm, k) => (k === 0 && (first = f.clock()), true) },
    });
    expect(f.clock() - first).toBeGreaterThanOrEqual(200);
    expect(f.clock() - first).toBeLessThan(200 + 10);
    expect(r.look).toBeGreaterThan(1);
    // and by maxRuns
    const g = fakeJobs([1.6, 1], 4);
    const capped = await timeRounds(g.jobs, { ...base, maxRuns: 30, clock: g.clock, extend: { maxMs: 1e9, undecided: () => true } });
    expect(capped.samples[0]).toHaveLength(30);
  });

  it('an exact run count (no extend) is unchanged', async () => {
    const f = fakeJobs([1.6, 1], 5);
    const r = await timeRounds(f.jobs, { ...base, clock: f.clock });
    expect(r.samples.map((s) => s.length)).toEqual([8, 8]);
    expect(r.look).toBe(0);
  });
});

describe('the sequential gate keeps its error rate', () => {
  /** One min-speedup gate decided sequentially on fake runs (noise `sigma` per block): pass (the whole final interval at or above the limit), fail or inconclusive. */
  async function passes(trueRatio: number, limit: number, seed: number, level: (look: number) => number, sigma = 0.15): Promise<'pass' | 'fail' | 'inconclusive'> {
    const f = fakeJobs([trueRatio, 1], seed, sigma);
    const across = (bm: number[][], k: number) => {
      const ci = medianCi(ratios(bm), level(k));
      return !ci || (ci[0] < limit && ci[1] >= limit);
    };
    const r = await timeRounds(f.jobs, { ...base, runs: 12, clock: f.clock, extend: { maxMs: 600, undecided: across } });
    const ci = medianCi(ratios(r.blockMedians), level(r.look))!;
    return ci[0] >= limit ? 'pass' : ci[1] < limit ? 'fail' : 'inconclusive';
  }

  it('on the limit: passes wrongly at most ~5% with widening looks (a fixed 95% at every look passes wrongly far more)', async () => {
    const trials = 300;
    let honest = 0;
    let naive = 0;
    for (let s = 0; s < trials; s++) {
      if ((await passes(1.5, 1.5, 100 + s, ciLevelAt)) === 'pass') honest++;
      if ((await passes(1.5, 1.5, 100 + s, () => 0.95)) === 'pass') naive++;
    }
    expect(honest / trials).toBeLessThan(0.07);
    expect(naive).toBeGreaterThan(honest);
  });

  it('a true 1.6x decides "pass" at 1.5 and "fail" at 2.0, every time (block medians with 5% noise)', async () => {
    for (let s = 0; s < 40; s++) {
      expect(await passes(1.6, 1.5, 500 + s, ciLevelAt, 0.05)).toBe('pass');
      expect(await passes(1.6, 2.0, 900 + s, ciLevelAt, 0.05)).toBe('fail');
    }
  });
});

describe('gates judged at a later look say its level', () => {
  it('evaluateGates carries the level; the lines name it', () => {
    const before = metrics({ latencyMs: { p50: 3.2, p90: 4, p99: 5, mean: 3.3, cv: 0.1 } });
    const [g] = evaluateGates({ minSpeedup: 1.5 }, metrics(), before, 1.52, [1.47, 1.58], ciLevelAt(1));
    expect(g.level).toBe(0.975);
    expect(g.inconclusive).toBe(true);
    expect(gateInconclusiveLines([g])[0]).toMatch(/97\.5% interval/);
    const [h] = evaluateGates({ minSpeedup: 1.5 }, metrics(), before, 1.52, [1.47, 1.58]);
    expect(h.level).toBeUndefined();
  });
});
