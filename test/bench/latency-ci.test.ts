/** Confidence intervals of latency and speedup (src/bench/latency.ts) and the latency gates judged on them (src/bench/gates.ts). */
import { describe, expect, it } from 'vitest';
import { evaluateGates, gateFailureLines, gateInconclusiveLines } from '../../src/bench/gates.js';
import { medianCi, timeRounds } from '../../src/bench/latency.js';
import { reportDocument, reportToMarkdown, reportToText } from '../../src/bench/report.js';
import { buildReport } from '../../src/bench/index.js';
import { metrics } from '../helpers/metrics.js';

describe('medianCi (distribution-free, binomial order statistics)', () => {
  it('uses the ranks of the usual tables at 95%', () => {
    const v = (n: number) => Array.from({ length: n }, (_, i) => n - i); // n..1, unsorted on purpose
    expect(medianCi(v(5))).toBeNull(); // 2·0.5⁵ = 6.25% > 5%
    expect(medianCi(v(6))).toEqual([1, 6]); // ranks 1 and 6
    expect(medianCi(v(10))).toEqual([2, 9]); // ranks 2 and 9
    expect(medianCi(v(20))).toEqual([6, 15]); // ranks 6 and 15
    expect(medianCi(v(100))).toEqual([40, 61]); // ranks 40 and 61
  });

  it('covers the true median about 95% of the time (skewed noise, 2000 trials)', () => {
    let s = 12345;
    const rnd = () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    let covered = 0;
    const trials = 2000;
    // exponential with rate 1: median ln 2
    for (let t = 0; t < trials; t++) {
      const x = Array.from({ length: 25 }, () => -Math.log(1 - rnd()));
      const [lo, hi] = medianCi(x)!;
      if (lo <= Math.LN2 && Math.LN2 <= hi) covered++;
    }
    expect(covered / trials).toBeGreaterThan(0.93);
    expect(covered / trials).toBeLessThan(0.99);
  });
});

describe('timeRounds', () => {
  it('gives a block median per round and keeps timing until the interval is narrow (or the time box ends)', async () => {
    let calls = 0;
    const narrowAfter = 12;
    const r = await timeRounds([async () => calls++, async () => calls++], {
      warmup: 0,
      runs: 2,
      minTimeMs: 0,
      blockSize: 2,
      maxTimeMs: 5000,
      narrow: (bm) => bm[0].length >= narrowAfter,
    });
    expect(r.blockMedians[0]).toHaveLength(narrowAfter);
    expect(r.blockMedians[1]).toHaveLength(narrowAfter);
    expect(r.samples[0]).toHaveLength(2 * narrowAfter);
    const boxed = await timeRounds([() => new Promise((res) => setTimeout(res, 2))], { warmup: 0, runs: 2, minTimeMs: 0, blockSize: 2, maxTimeMs: 100, minRuns: 2, narrow: () => false });
    expect(boxed.blockMedians[0].length).toBeGreaterThan(1);
    expect(boxed.blockMedians[0].length).toBeLessThan(60);
  });
});

describe('latency gates on intervals', () => {
  const before = metrics({ latencyMs: { p50: 3.2, p90: 4, p99: 5, mean: 3.3, cv: 0.1 } });
  it('min-speedup: fails only when the whole interval is below the limit; a straddling interval is inconclusive (passed)', () => {
    const after = metrics();
    const at = (limit: number, ci: [number, number]) => evaluateGates({ minSpeedup: limit }, after, before, 1.6, ci)[0];
    expect(at(1.5, [1.52, 1.68])).toEqual({ name: 'min-speedup', limit: 1.5, actual: 1.6, passed: true, interval: [1.52, 1.68] });
    expect(at(2.0, [1.52, 1.68])).toMatchObject({ passed: false, interval: [1.52, 1.68] });
    expect(at(2.0, [1.52, 1.68]).inconclusive).toBeUndefined();
    // point estimate below the limit, interval across it: not shown to fail
    const straddle = evaluateGates({ minSpeedup: 1.65 }, after, before, 1.6, [1.52, 1.68])[0];
    expect(straddle).toMatchObject({ passed: true, inconclusive: true });
    expect(gateFailureLines([straddle])).toEqual([]);
    expect(gateInconclusiveLines([straddle])[0]).toMatch(/^gate min-speedup inconclusive: 95% interval 1.52x–1.68x straddles the limit 1.65x/);
    const failed = gateFailureLines([at(2.0, [1.52, 1.68])])[0];
    expect(failed).toBe('gate min-speedup failed: actual 1.6x (95% interval 1.52x–1.68x) < limit 2x');
    // without an interval: the point estimate decides, as before
    expect(evaluateGates({ minSpeedup: 1.65 }, after, before, 1.6)[0]).toMatchObject({ passed: false });
  });

  it('max-latency reads the p50 interval of the model', () => {
    const after = metrics({ latencyMs: { p50: 2, p90: 3, p99: 4, mean: 2.2, cv: 0.1, p50Ci: [1.9, 2.1] } });
    expect(evaluateGates({ maxLatency: 2.2 }, after, before, null)[0]).toMatchObject({ passed: true });
    expect(evaluateGates({ maxLatency: 2.05 }, after, before, null)[0]).toMatchObject({ passed: true, inconclusive: true });
    expect(evaluateGates({ maxLatency: 1.8 }, after, before, null)[0]).toMatchObject({ passed: false, interval: [1.9, 2.1] });
  });

  it('reports show the intervals: text, markdown and JSON', () => {
    const after = metrics({ latencyMs: { p50: 2, p90: 3, p99: 4, mean: 2.2, cv: 0.1, p50Ci: [1.9, 2.1] } });
    const settings = { threads: 1, batchSize: 64, warmup: 10, runs: 50, samples: 0, outputName: null, disabledOptimizers: [] };
    const r = buildReport({ input: 'a.onnx', output: 'b.onnx', measured: { before, after, speedup: 1.6, speedupCi: [1.52, 1.68], settings }, gates: { minSpeedup: 1.65 } });
    expect(reportToText(r)).toContain('speedup (p50): 1.60x (95% interval 1.52x–1.68x)');
    expect(reportToText(r)).toContain('min-speedup: inconclusive (1.6x, 95% interval 1.52x–1.68x vs 1.65x)');
    expect(reportToMarkdown(r)).toContain('⚠️ inconclusive');
    const doc = reportDocument(r) as { speedupCi: number[]; after: { latencyMs: { p50Ci: number[] } }; passed: boolean };
    expect(doc.speedupCi).toEqual([1.52, 1.68]);
    expect(doc.after.latencyMs.p50Ci).toEqual([1.9, 2.1]);
    expect(doc.passed).toBe(true);
  });
});
