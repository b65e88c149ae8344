/**
 * Latency of tuning candidates: batch-1 p50 ms, each candidate timed interleaved with the original
 * in the same process, and given as the original's p50 times the measured ratio.
 *
 * Two kinds of timing:
 *   - `measure`: a short screening timing during the search (median ratio, no interval);
 *   - `confirm`: the decision "at least FASTER_BY faster" for a candidate about to be chosen, made
 *     as the latency gates of `mlc bench` make theirs (src/bench/latency.ts): rounds of blocks in
 *     ABBA order, one speedup per round (the original's block median over the candidate's), the
 *     distribution-free interval of their median; while that interval straddles the threshold
 *     1 / (1 − FASTER_BY) the rounds go on (at most CONFIRM_EXTEND_MS more), look k judging an
 *     interval of level ciLevelAt(k) = 1 − 0.05·2⁻ᵏ, so that however many looks were made a
 *     candidate whose true speedup sits on the threshold is called faster at most 2.5% of the time.
 *     The verdict: `faster` when the whole interval is at or above the threshold, `not faster` when
 *     it is below, else `undecided` (the time ran out) — only `faster` lets a candidate be chosen.
 */
import type { Dataset, Feed } from '../core/types.js';
import type { Model } from '../ir/model.js';
import { datasetFeeds, inputSpecs } from '../bench/inputs.js';
import { ciLevelAt, median, medianCi, roundRatios, timeInterleaved, timeRounds } from '../bench/latency.js';
import { createSession, type Session } from '../runtime/index.js';

/** A latency candidate must be at least this much faster than the original (timing noise). */
export const FASTER_BY = 0.03;

/** The longest a confirmation timing goes on past its minimum while its interval is undecided, ms. */
export const CONFIRM_EXTEND_MS = 20_000;

export type SpeedupVerdict = 'faster' | 'not faster' | 'undecided';

export interface Speedup {
  /** median of the per-round speedups (original ms / candidate ms) */
  median: number;
  /** the interval of that median at `level`; null with too few rounds */
  ci: [number, number] | null;
  level: number;
  /** the speedup the candidate must reach: 1 / (1 − FASTER_BY) */
  threshold: number;
  verdict: SpeedupVerdict;
  rounds: number;
}

/** The verdict on per-round speedups: is their median's interval (at `level`) above `threshold`? */
export function speedupVerdict(ratios: readonly number[], level: number, threshold = 1 / (1 - FASTER_BY)): Speedup {
  const ci = medianCi(ratios, level);
  const verdict: SpeedupVerdict = !ci ? 'undecided' : ci[0] >= threshold ? 'faster' : ci[1] < threshold ? 'not faster' : 'undecided';
  return { median: ratios.length ? median(ratios) : Number.NaN, ci, level, threshold, verdict, rounds: ratios.length };
}

export class LatencyMeter {
  private constructor(
    private readonly base: Session,
    private readonly feeds: Record<string, Feed>,
    readonly baselineMs: number,
  ) {}

  static async create(original: Model, data: Dataset): Promise<LatencyMeter> {
    const specs = inputSpecs(original);
    const d = specs[0]?.shape?.[0];
    const feeds = datasetFeeds(data, specs, 0, typeof d === 'number' ? d : 1);
    const base = await createSession(original);
    const [s] = await timeInterleaved([() => base.run(feeds)], { warmup: 10, runs: 50, minTimeMs: 1000 });
    return new LatencyMeter(base, feeds, median(s));
  }

  /** Screening: the candidate's p50 ms from a short interleaved timing. */
  async measure(model: Model): Promise<number> {
    return this.withSession(model, async (s) => {
      const [a, b] = await timeInterleaved([() => this.base.run(this.feeds), () => s.run(this.feeds)], { warmup: 5, runs: 30, minTimeMs: 600 });
      return (this.baselineMs * median(b)) / median(a);
    });
  }

  /** The sequential decision (see the file comment); `extendMs` caps the rounds past the minimum. */
  async confirm(model: Model, extendMs = CONFIRM_EXTEND_MS): Promise<Speedup> {
    return this.withSession(model, async (s) => {
      const { blockMedians, look } = await timeRounds([() => this.base.run(this.feeds), () => s.run(this.feeds)], {
        warmup: 10,
        runs: 100,
        minTimeMs: 3000,
        blockSize: 10,
        extend: { maxMs: extendMs, undecided: (bm, k) => speedupVerdict(roundRatios(bm), ciLevelAt(k)).verdict === 'undecided' },
      });
      return speedupVerdict(roundRatios(blockMedians), ciLevelAt(look));
    });
  }

  private async withSession<T>(model: Model, f: (s: Session) => Promise<T>): Promise<T> {
    const s = await createSession(model);
    try {
      return await f(s);
    } finally {
      await s.release();
    }
  }

  release(): Promise<void> {
    return this.base.release();
  }
}
