/**
 * How `tune` decides: which candidates are within the budget, which miss it by a little (and get
 * distilled), and which one is chosen.
 *
 * Within the budget, with a margin. A candidate's loss, in points, counts its standard error
 * (src/tune/evaluate.ts) `margin` times on top of what the tuning split measured:
 *   accuracy:  loss = 100·(baseline − score) + margin·100·se,  budget = --max-accuracy-drop;
 *   agreement: loss = 100·(1 − score) + margin·100·se,         budget = 100·(1 − --min-agreement).
 * It is within the budget when loss ≤ budget. The default margin is 0, the plain rule: the
 * held-out re-check below is the guard by default, and a margin costs reach (on the MNIST MLP's
 * 1,400 tuning samples one standard error is about 0.3 of a 0.5-point budget). With a margin of 1,
 * a candidate whose true loss sits exactly on the budget passes about 16% of the time instead of
 * 50%, so that the figure on other samples (the held-out split, the user's data) holds more often,
 * and the held-out split is less often drawn into the choice; the margin shrinks as the tuning
 * split grows (se ∝ 1/√n).
 *
 * A near miss: budget < loss ≤ NEAR_MISS·budget (a budget of 0 has no near misses).
 *
 * The choice (`pickWinner`): candidates within the budget that beat the original, best objective
 * first; for latency every candidate within the budget — those the screening timing called at
 * least FASTER_BY faster first, then the others, each group fastest first — first gets the
 * confident timing (src/tune/latency.ts, at most MAX_CONFIRMS of them) and stays in the race only
 * when it says `faster`; the first one is scored on the held-out split, and chosen when
 * its held-out loss (without margin) is within the budget. When it is not, it is set aside and the
 * next one is scored, at most MAX_HELD_OUT_CHECKS in all (a candidate whose model is the same as
 * one that failed is set aside without a check): from the second check on, the held-out
 * split has taken part in the choice, and the report says so (`choice.rule`).
 */
import type { RecipeStep } from '../passes/registry.js';

/** How many times its budget a candidate may miss by and still be distilled. */
export const NEAR_MISS = 2;

/** Candidates scored on the held-out split at most before the original is kept. */
export const MAX_HELD_OUT_CHECKS = 3;

/** Latency candidates given the confident timing at most. */
export const MAX_CONFIRMS = 5;

export interface Budget {
  /** points of accuracy, or 100·(1 − min agreement) */
  points: number;
  byAgreement: boolean;
  /** standard errors counted on top of the measured loss */
  margin: number;
}

/** The loss in points of a score (fraction) with standard error `se`; `baseline` is the original's (1 for agreement). */
export function lossPoints(b: Budget, score: number, se: number, baseline: number, margin = b.margin): number {
  return 100 * ((b.byAgreement ? 1 : baseline) - score) + margin * 100 * se;
}

export function withinBudget(b: Budget, loss: number): boolean {
  return loss <= b.points + 1e-9;
}

export function nearMiss(b: Budget, loss: number): boolean {
  return !withinBudget(b, loss) && loss <= NEAR_MISS * b.points + 1e-9;
}

/**
 * The recipe with a distill step after its last prune / lowrank step (and so before quantize: the
 * order `mlc compress` runs its flags in; distillation trains float weights only). Undefined when
 * the recipe has no such step, or already distills: training does not undo a quantization, and the
 * original's own weights have nothing to learn from it.
 */
export function withDistill(steps: readonly RecipeStep[], distill: RecipeStep): RecipeStep[] | undefined {
  if (steps.some((s) => s.pass === 'distill')) return undefined;
  let last = -1;
  steps.forEach((s, i) => {
    if (s.pass === 'prune' || s.pass === 'lowrank') last = i;
  });
  if (last < 0) return undefined;
  return [...steps.slice(0, last + 1), distill, ...steps.slice(last + 1)];
}

export interface Pick<C> {
  chosen?: C;
  /** the candidates scored on the held-out split, in order */
  checked: C[];
  /** set when a cap stopped the choice */
  capped?: 'held-out checks' | 'timings';
}

/**
 * The choice (see the file comment). `next(setAside)`: the best candidate still in the race, not in
 * `setAside` (asked again after each step, as a timing may change the ranking); `needsTiming` /
 * `time`: the confident timing (latency); `holds`: scores it on the held-out split.
 */
export async function pickWinner<C>(
  next: (setAside: ReadonlySet<C>) => C | undefined,
  o: {
    holds: (c: C) => Promise<boolean>;
    needsTiming?: (c: C) => boolean;
    time?: (c: C) => Promise<void>;
    /** a content key of the candidate's model: a candidate whose model equals one that failed is set aside unscored */
    modelKey?: (c: C) => Promise<string>;
    maxChecks?: number;
    maxTimings?: number;
  },
): Promise<Pick<C>> {
  const setAside = new Set<C>();
  const failed = new Set<string>();
  const checked: C[] = [];
  let timings = 0;
  for (let c = next(setAside); c !== undefined; c = next(setAside)) {
    if (o.needsTiming?.(c)) {
      if (timings >= (o.maxTimings ?? MAX_CONFIRMS)) return { checked, capped: 'timings' };
      timings++;
      await o.time!(c);
      continue;
    }
    // recipes that differ can give the same model (a step that changes nothing): its held-out
    // verdict is known, and it must not use up a check
    const key = o.modelKey ? await o.modelKey(c) : undefined;
    if (key !== undefined && failed.has(key)) {
      setAside.add(c);
      continue;
    }
    if (checked.length >= (o.maxChecks ?? MAX_HELD_OUT_CHECKS)) return { checked, capped: 'held-out checks' };
    checked.push(c);
    if (await o.holds(c)) return { chosen: c, checked };
    setAside.add(c);
    if (key !== undefined) failed.add(key);
  }
  return { checked };
}
