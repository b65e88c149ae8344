import { describe, expect, it } from 'vitest';
import { percentile, summarize, timeInterleaved } from '../../src/bench/latency.js';

describe('percentile (linear interpolation, as numpy.percentile)', () => {
  it('matches numpy on small samples', () => {
    const s = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    // numpy.percentile(range(1, 11), [0, 50, 90, 99, 100]) = [1, 5.5, 9.1, 9.91, 10]
    expect(percentile(s, 0)).toBe(1);
    expect(percentile(s, 50)).toBeCloseTo(5.5, 12);
    expect(percentile(s, 90)).toBeCloseTo(9.1, 12);
    expect(percentile(s, 99)).toBeCloseTo(9.91, 12);
    expect(percentile(s, 100)).toBe(10);
    expect(percentile([7], 99)).toBe(7);
    // numpy.percentile([1, 3], 50) = 2
    expect(percentile([1, 3], 50)).toBe(2);
  });
  it('rejects empty samples and p outside 0..100', () => {
    expect(() => percentile([], 50)).toThrow();
    expect(() => percentile([1], 101)).toThrow();
  });
});

describe('summarize', () => {
  it('sorts, and gives mean and coefficient of variation', () => {
    const s = summarize([4, 1, 3, 2]);
    expect(s.p50).toBeCloseTo(2.5, 12);
    expect(s.mean).toBe(2.5);
    // sample sd of 1..4 = sqrt(5/3)
    expect(s.cv).toBeCloseTo(Math.sqrt(5 / 3) / 2.5, 12);
    expect(s).toMatchObject({ min: 1, max: 4, runs: 4 });
    expect(summarize([5]).cv).toBe(0);
  });
});

describe('timeInterleaved', () => {
  it('runs warm-up, then exactly `runs` timed runs each, interleaved in alternating blocks', async () => {
    const log: string[] = [];
    const job = (name: string) => async () => void log.push(name);
    const samples = await timeInterleaved([job('a'), job('b')], { warmup: 2, runs: 6, minTimeMs: 0, blockSize: 3 });
    expect(samples.map((s) => s.length)).toEqual([6, 6]);
    expect(samples.flat().every((x) => x >= 0)).toBe(true);
    // warm-up a a b b, then blocks: a×3 b×3 (round 0), b×3 a×3 (round 1)
    expect(log.join('')).toBe('aabb' + 'aaabbb' + 'bbbaaa');
  });
  it('with a minimum time keeps going past `runs`, up to maxRuns', async () => {
    let n = 0;
    const samples = await timeInterleaved([async () => void n++], { warmup: 0, runs: 2, minTimeMs: 1e9, maxRuns: 25, blockSize: 10 });
    expect(samples[0].length).toBe(25);
    expect(n).toBe(25);
  });
  it('awaits beforeTimed after the warm-up and before the first timed run', async () => {
    const log: string[] = [];
    let n = 0;
    const job = async () => void log.push(`run ${n++}`);
    const samples = await timeInterleaved([job], {
      warmup: 2,
      runs: 2,
      minTimeMs: 0,
      beforeTimed: async () => {
        await new Promise((r) => setTimeout(r, 5));
        log.push('sizes');
      },
    });
    expect(samples[0].length).toBe(2);
    expect(log).toEqual(['run 0', 'run 1', 'sizes', 'run 2', 'run 3']);
  });
  it('a time box stops a slow job short of `runs` (never under minRuns) and cuts its warm-up', async () => {
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    const calls = [0, 0];
    const slow = async () => void (calls[0]++, await sleep(15));
    const fast = async () => void calls[1]++;
    const samples = await timeInterleaved([slow, fast], {
      warmup: 10,
      warmupMaxMs: 20,
      runs: 50,
      minTimeMs: 0,
      blockSize: 4,
      maxTimeMs: 1,
      minRuns: 6,
    });
    // warm-up: the slow job stops after 2 runs (≥ 20 ms), the fast one does all 10
    expect(calls[0] - samples[0].length).toBe(2);
    expect(calls[1] - samples[1].length).toBe(10);
    // the slow job's block shrinks to 1 (a 15 ms run against a box of 1 ms): rounds go on until
    // it has 6 samples, the fast job meanwhile runs blocks of up to 4
    expect(samples[0].length).toBe(6);
    expect(samples[1].length).toBeGreaterThanOrEqual(6);
    expect(samples[1].length).toBeLessThanOrEqual(24);
    // without a time box, the count is `runs`
    expect((await timeInterleaved([fast], { warmup: 0, runs: 30, minTimeMs: 0, minRuns: 6 }))[0].length).toBe(30);
  });
  it('a very slow model: the caller\'s first run counts as a warm-up, one warm-up at most, 3 timed runs', async () => {
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    const calls = [0, 0];
    const a = async () => void (calls[0]++, await sleep(12));
    const b = async () => void (calls[1]++, await sleep(12));
    const box = { warmup: 10, warmupMaxMs: 5, runs: 50, minTimeMs: 0, blockSize: 10, maxTimeMs: 1, minRuns: 3 };
    const samples = await timeInterleaved([a, b], { ...box, warmedUp: [1], warmupMinRuns: 1 });
    // a: run once by the caller, so no warm-up here; b: one warm-up run (12 ms ≥ the 5 ms box)
    expect(calls[0] - samples[0].length).toBe(0);
    expect(calls[1] - samples[1].length).toBe(1);
    expect(samples.map((s) => s.length)).toEqual([3, 3]);
    // without warmupMinRuns, two warm-up runs each (the caller's one counted for a)
    calls.fill(0);
    const two = await timeInterleaved([a, b], { ...box, warmedUp: [1] });
    expect(calls[0] - two[0].length).toBe(1);
    expect(calls[1] - two[1].length).toBe(2);
    // without a time box, warmedUp still counts towards `warmup`
    calls.fill(0);
    const exact = await timeInterleaved([a], { warmup: 3, runs: 2, minTimeMs: 0, warmedUp: [1] });
    expect(calls[0] - exact[0].length).toBe(2);
  });
});
