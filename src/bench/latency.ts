/**
 * Latency (online prediction, batch 1) and throughput (batch prediction) of onnxruntime sessions.
 *
 * Several models are timed in the same process, interleaved in blocks (A-block, B-block, B-block,
 * A-block, ...: the order alternates so a slow drift of the machine hits each model alike). Each
 * model first gets its warm-up runs, then timed runs until every model has at least `runs` samples
 * and `minTimeMs` of wall time has passed (capped at `maxRuns` samples per model). Giving an
 * explicit run count with `minTimeMs: 0` makes the count exact (tests use 5). For slow (big)
 * models a time box (`maxTimeMs`, `warmupMaxMs`) stops earlier, with at least `minRuns` samples.
 *
 * Percentiles use linear interpolation between closest ranks (numpy's default):
 *   q(p) = x[⌊h⌋] + (h − ⌊h⌋)·(x[⌊h⌋+1] − x[⌊h⌋]),  h = (n − 1)·p/100, x sorted ascending.
 *
 * Confidence intervals: the unit is the block (a round's consecutive runs of one model), whose
 * median shrugs off a preempted run; the blocks of one round are close in time, so a round gives a
 * paired ratio base / other for the speedup. `medianCi` is the distribution-free interval of the
 * median of these values (order statistics, binomial): no assumption about the shape of the noise.
 * With `narrow`, timing goes on until the interval the caller watches is narrow enough or the time
 * box (`maxTimeMs`) ends.
 *
 * Sequential gates (`extend`): when timing would stop and an interval still straddles a gate's
 * limit, rounds go on, for at most `extend.maxMs` more, and the caller looks again each time the
 * rounds have grown by half (look 1, 2, …), until no interval straddles its limit. Looking again
 * and again at a 95% interval until it clears the limit would decide wrongly far more often than
 * 2.5% of the time, so look k judges a wider interval, of level `ciLevelAt(k)` = 1 − 0.05·2⁻ᵏ
 * (95%, 97.5%, 98.75%, …): the error rates of all looks add up to at most 0.05 + 0.05 = 0.1, so a
 * gate whose true value sits on its limit passes wrongly (or fails wrongly) at most 5% of the time,
 * however many looks were made. The intervals reported are those of the last look, at its level.
 */
import { MlcError } from '../core/errors.js';

export interface LatencyStats {
  p50: number;
  p90: number;
  p99: number;
  mean: number;
  /** coefficient of variation: sample standard deviation / mean */
  cv: number;
  min: number;
  max: number;
  runs: number;
}

/** Percentile `p` (0..100) of ascending-sorted samples, linear interpolation. */
export function percentile(sorted: readonly number[], p: number): number {
  const n = sorted.length;
  if (n === 0) throw new MlcError('INTERNAL', 'percentile of no samples');
  if (!(p >= 0 && p <= 100)) throw new MlcError('INTERNAL', `percentile ${p} is outside 0..100`);
  const h = ((n - 1) * p) / 100;
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, n - 1);
  return sorted[lo] + (h - lo) * (sorted[hi] - sorted[lo]);
}

/** Summary statistics of timing samples (milliseconds). */
export function summarize(samples: readonly number[]): LatencyStats {
  const n = samples.length;
  if (n === 0) throw new MlcError('INTERNAL', 'no timing samples');
  const s = [...samples].sort((a, b) => a - b);
  let sum = 0;
  for (const x of s) sum += x;
  const mean = sum / n;
  let ss = 0;
  for (const x of s) ss += (x - mean) ** 2;
  const sd = n > 1 ? Math.sqrt(ss / (n - 1)) : 0;
  return {
    p50: percentile(s, 50),
    p90: percentile(s, 90),
    p99: percentile(s, 99),
    mean,
    cv: mean > 0 ? sd / mean : 0,
    min: s[0],
    max: s[n - 1],
    runs: n,
  };
}

export interface TimingOptions {
  /** untimed runs per model first (default 10) */
  warmup?: number;
  /**
   * time box of each model's warm-up, ms: a model whose warm-up runs took this long stops
   * warming up (after at least 2 runs) (default: no limit)
   */
  warmupMaxMs?: number;
  /**
   * per job, the warm-up runs the caller already made (e.g. 1: a first run that checked the model
   * runs); they count towards `warmup`, and with a `warmupMaxMs` box towards `warmupMinRuns` too
   */
  warmedUp?: number[];
  /** the fewest warm-up runs before `warmupMaxMs` may stop a job's warm-up (default 2) */
  warmupMinRuns?: number;
  /** minimum timed runs per model (default 50) */
  runs?: number;
  /** minimum total wall time of the timed phase, ms (default 2000; 0 = exactly `runs`) */
  minTimeMs?: number;
  /** cap on timed runs per model (default 10,000) */
  maxRuns?: number;
  /**
   * time box of the timed phase, ms: once it has passed, timing stops as soon as every model has
   * `minRuns` samples, even short of `runs` (default: no limit)
   */
  maxTimeMs?: number;
  /** the fewest timed runs per model a time box may stop at (default 10) */
  minRuns?: number;
  /** runs per block before switching model (default 10) */
  blockSize?: number;
  /**
   * keep timing (past `runs` and `minTimeMs`, within `maxTimeMs` and `maxRuns`) until this says the
   * block medians (per job, per round) give intervals narrow enough
   */
  narrow?: (blockMedians: number[][]) => boolean;
  /**
   * sequential extension (see the file comment): once timing would stop (not at `maxRuns`), while
   * `undecided(blockMedians, look)` says an interval at level `ciLevelAt(look)` straddles a limit,
   * more rounds, looked at each time the rounds have grown by half, for at most `maxMs` more
   */
  extend?: { maxMs: number; undecided: (blockMedians: number[][], look: number) => boolean };
  /** the clock, ms (default: process.hrtime; tests give a fake one) */
  clock?: () => number;
  /**
   * awaited after the warm-up, before the first timed run: work that may share the machine with
   * the warm-up runs but not with the timed ones (the measurement's gzip sizes)
   */
  beforeTimed?: () => Promise<unknown>;
}

/** The level of the interval judged at look `look` of a sequential gate (0: the ordinary 95%). */
export function ciLevelAt(look: number): number {
  return 1 - 0.05 * 2 ** -look;
}

/** log C(n, k) */
function logChoose(n: number, k: number): number {
  let s = 0;
  for (let i = 1; i <= k; i++) s += Math.log((n - k + i) / i);
  return s;
}

/**
 * Distribution-free confidence interval of the median (default 95%): [x(k), x(n+1−k)] of the sorted
 * values, k the largest rank with P(Binomial(n, ½) < k) ≤ (1 − level)/2. Null when there are too
 * few values for the level (fewer than 6 at 95%).
 */
export function medianCi(values: readonly number[], level = 0.95): [number, number] | null {
  const n = values.length;
  const alpha = (1 - level) / 2;
  let k = 0; // 1-based rank; P(B < k) = sum_{i<k} C(n,i) / 2^n
  let cdf = 0;
  const ln2n = n * Math.log(2);
  for (let i = 0; i < n / 2; i++) {
    cdf += Math.exp(logChoose(n, i) - ln2n);
    if (cdf > alpha) break;
    k = i + 1;
  }
  if (k < 1) return null;
  const s = [...values].sort((a, b) => a - b);
  return [s[k - 1], s[n - k]];
}

/** Latency samples a report keeps per model (the HTML report's distributions). */
export const MAX_KEPT_SAMPLES = 2000;

/** The samples a report keeps: all of them, or `max` evenly spaced ones (in run order). */
export function keptSamples(samples: readonly number[], max = MAX_KEPT_SAMPLES): number[] {
  if (samples.length <= max) return [...samples];
  return Array.from({ length: max }, (_, i) => samples[Math.floor((i * samples.length) / max)]);
}

/** Median of the values (the 50th percentile). */
export function median(values: readonly number[]): number {
  return percentile([...values].sort((a, b) => a - b), 50);
}

/** Per round, the first job's block median over the second's (the speedup of the second), finite ones only. */
export function roundRatios(blockMedians: number[][]): number[] {
  const n = Math.min(blockMedians[0].length, blockMedians[1].length);
  return Array.from({ length: n }, (_, i) => blockMedians[0][i] / blockMedians[1][i]).filter((r) => Number.isFinite(r) && r > 0);
}

const hrNow = (): number => Number(process.hrtime.bigint()) / 1e6;

/**
 * Time several async jobs interleaved in blocks. Returns, per job, the duration of each timed run
 * in milliseconds: the job's own figure when it resolves to a number (a runtime that times the run
 * where it happens, e.g. a browser page), else the wall time of the call.
 */
export async function timeInterleaved(jobs: (() => Promise<unknown>)[], opts: TimingOptions = {}): Promise<number[][]> {
  return (await timeRounds(jobs, opts)).samples;
}

/**
 * `timeInterleaved`, also giving the median of each block (per job, one per round in which the job
 * ran) for confidence intervals.
 */
export async function timeRounds(
  jobs: (() => Promise<unknown>)[],
  opts: TimingOptions = {},
): Promise<{ samples: number[][]; blockMedians: number[][]; look: number }> {
  const now = opts.clock ?? hrNow;
  const warmup = opts.warmup ?? 10;
  const runs = Math.max(1, opts.runs ?? 50);
  const minTime = opts.minTimeMs ?? 2000;
  const maxRuns = Math.max(runs, opts.maxRuns ?? 10_000);
  const block = Math.max(1, Math.min(opts.blockSize ?? 10, runs));
  const maxTime = opts.maxTimeMs ?? Infinity;
  const minRuns = Math.max(1, Math.min(runs, opts.minRuns ?? 10));
  const warmupMax = opts.warmupMaxMs ?? Infinity;
  // with a time box, a slow job's blocks shrink so that one block takes about an eighth of the
  // box (estimated from its last warm-up run), lest a single round overrun it
  const blocks = jobs.map(() => block);
  const warmupMin = Math.max(1, opts.warmupMinRuns ?? 2);
  for (let j = 0; j < jobs.length; j++) {
    const t0 = now();
    let last = 0;
    const done = Math.min(warmup, opts.warmedUp?.[j] ?? 0);
    const enough = done >= warmupMin && Number.isFinite(warmupMax);
    for (let i = done; i < warmup && !enough; i++) {
      const t1 = now();
      const own = await jobs[j]();
      last = typeof own === 'number' ? own : now() - t1;
      if (i >= warmupMin - 1 && now() - t0 >= warmupMax) break;
    }
    if (Number.isFinite(maxTime) && warmup > done && !enough) blocks[j] = Math.max(1, Math.min(block, Math.floor(maxTime / 8 / Math.max(last, 1e-3))));
    else if (Number.isFinite(maxTime) && enough) blocks[j] = 1; // a job too slow to warm up again
  }
  await opts.beforeTimed?.();
  const samples: number[][] = jobs.map(() => []);
  const blockMedians: number[][] = jobs.map(() => []);
  const start = now();
  // the sequential extension: when it began (-1: not begun), its look and the rounds of the next
  let extendStart = -1;
  let look = 0;
  let nextLook = 0;
  for (let round = 0; ; round++) {
    const elapsed = now() - start;
    const full = samples.every((s) => s.length >= maxRuns);
    const enough = samples.every((s) => s.length >= runs) && (elapsed >= minTime || full);
    const done =
      extendStart >= 0 ||
      (enough && (full || !opts.narrow || opts.narrow(blockMedians))) ||
      (elapsed >= maxTime && samples.every((s) => s.length >= minRuns));
    if (done) {
      const ext = opts.extend;
      const rounds = Math.min(...blockMedians.map((b) => b.length));
      if (!ext) break;
      if (extendStart < 0) {
        if (full || !ext.undecided(blockMedians, 0)) break;
        extendStart = now();
        nextLook = Math.max(rounds + 1, Math.ceil(rounds * 1.5));
      } else if (full || now() - extendStart >= ext.maxMs) {
        look++; // the last look: its interval is the one reported, at its level
        break;
      } else if (rounds >= nextLook) {
        look++;
        if (!ext.undecided(blockMedians, look)) break;
        nextLook = Math.max(rounds + 1, Math.ceil(rounds * 1.5));
      }
    }
    // ABBA order: even rounds forward, odd rounds backward
    const order = jobs.map((_, i) => i);
    if (round % 2 === 1) order.reverse();
    for (const j of order) {
      const b = blocks[j];
      // an exact count (minTimeMs 0, no interval to narrow, no extension) stops each job at `runs`
      const open = minTime > 0 || opts.narrow || extendStart >= 0;
      const want = open ? Math.min(b, maxRuns - samples[j].length) : Math.min(b, runs - samples[j].length);
      const from = samples[j].length;
      for (let k = 0; k < want; k++) {
        const t0 = now();
        const own = await jobs[j]();
        samples[j].push(typeof own === 'number' ? own : now() - t0);
      }
      if (want > 0) blockMedians[j].push(median(samples[j].slice(from)));
    }
  }
  return { samples, blockMedians, look };
}
