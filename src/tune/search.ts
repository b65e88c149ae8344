/**
 * `tune`: search recipes for the smallest (size, gzip) or fastest (latency) model whose metric on
 * a tuning split stays within a budget, then score the chosen recipe on a held-out split.
 *
 * The search, in stages, each bounded by the time budget (it stops with the best so far):
 *   1. quantize (when allowed): every type / mode the objective can gain from (size and gzip:
 *      int4, int4 with int8 for the layers int4 leaves, int8, fp16, and for gzip weight sharing
 *      (the cluster pass) at 4 and 3 bits per index; latency: int8 dynamic, int8 static, int4) on
 *      every layer. Then each mode that missed the budget, smallest first, falls
 *      back the layers most sensitive to it (per-layer sensitivity on at most SENSITIVITY_SAMPLES
 *      samples, src/tune/sensitivity.ts) to float: 1, 2, 4, … layers until the budget holds, then
 *      bisection on the count; for size and gzip a fallback stops once it is no smaller than the
 *      best candidate so far (more float layers only grow it).
 *   2. prune (when allowed): bisection on the sparsity in front of the best recipe so far and,
 *      for gzip with quantize allowed, in front of the smallest weight-sharing recipe within the
 *      budget (a bisection of its own: a pruned weight shared at b bits is stored as the gaps and
 *      indices of its non-zeros, much less than int4's half byte per weight, zeros included) —
 *      unstructured with LAMP's per-layer allocation for gzip, weights ranked by |w| times the RMS
 *      of the input they multiply on the tuning samples (prune's activation criterion: weights on
 *      inputs that are always zero go first), channels for size and latency —
 *      once with every layer and once with the layers that alone cost more than half the budget
 *      left dense (per-layer sensitivity to pruning); with the kept weights refit to the
 *      original's layer outputs on the tuning samples (prune's reconstruct), and without when no
 *      refit sparsity meets the budget.
 *   3. lowrank (when allowed): bisection on the energy (on the log of the energy left out, 0.5 …
 *      0.0003: factors fit to the data need 0.99 and more) in front of the best recipe so far and
 *      of the weight-sharing tail, factored against the tuning samples' activations (dataAware);
 *      then the next lower energy the bisection tried (which missed the budget) with the layers
 *      most sensitive to it left unfactored, 1, 2, … (at most MAX_UNFACTORED) until the budget
 *      holds or the candidate can no longer beat the best so far. Last (gzip, prune allowed), the
 *      factors pruned: for FACTOR_ENERGIES energies around the lowest that met the budget alone in
 *      front of a tail (ENERGY_STEP apart on the bisection's scale), a bisection on the sparsity of
 *      the factors (LAMP, activation-ranked, refit), the tail after.
 *   4. distill (when allowed, with prune or lowrank): the candidates that missed the budget by a
 *      little (src/tune/choose.ts: at most NEAR_MISS times it) and would beat the best so far,
 *      smallest first, at most MAX_DISTILLED: each recipe with a distill step after its prune /
 *      lowrank steps (and before quantize), trained against the original on the tuning samples
 *      only (its `trainSamples` option caps the training data at the tuning split, as static
 *      calibration is capped), a candidate of its own. A distillation still running at the time
 *      budget is stopped (the search ends there).
 * Bisection assumes the metric falls as the setting rises; candidates off that line are still
 * scored and kept in the report. "Within the budget" counts the tuning split's standard error
 * `margin` times on top of the measured loss (src/tune/choose.ts).
 *
 * The objective: serialized bytes (size), gzip -9 bytes (gzip), or batch-1 p50 ms at 1 thread
 * (latency), each candidate timed interleaved with the original and given as the original's p50
 * times the measured ratio (src/tune/latency.ts). The choice (choose.ts `pickWinner`): the best
 * candidate within the budget that beats the original — smaller, or, for latency, confidently at
 * least FASTER_BY faster in the sequential timing of the latency gates — and whose held-out loss is
 * within the budget; else the next (at most MAX_HELD_OUT_CHECKS), else the original is the answer
 * and the report says why.
 */
import { MlcError } from '../core/errors.js';
import type { Dataset } from '../core/types.js';
import { fingerprintModel } from '../ir/fingerprint.js';
import type { Model } from '../ir/model.js';
import { diskSize } from '../bench/size.js';
import type { TuneCandidate, TuneReport } from '../bench/types.js';
import { modelToBytes } from '../onnx/index.js';
import type { RecipeStep } from '../passes/registry.js';
import { DISTILL_DEFAULTS } from '../passes/distill.js';
import { makeApplier } from './apply.js';
import { type Budget, lossPoints, nearMiss, type Pick, pickWinner, withDistill, withinBudget } from './choose.js';
import { FASTER_BY, LatencyMeter } from './latency.js';
import { sliceDataset } from '../data/batch.js';
import { sampleDataset, splitDataset } from './data.js';
import { Evaluator, type Score } from './evaluate.js';
import { excludeOf, weightLayers } from './layers.js';
import { analyseSensitivity, bySensitivity, withExclude, type LayerSensitivity, type Probe } from './sensitivity.js';

export type Objective = 'size' | 'gzip' | 'latency';
export const TUNE_PASSES = ['quantize', 'prune', 'lowrank', 'distill'] as const;

/** Near-miss candidates distilled at most. */
export const MAX_DISTILLED = 3;

/** Layers a low-rank candidate leaves unfactored at most (the most sensitive first). */
export const MAX_UNFACTORED = 3;

/**
 * The energies the low-rank × prune grid tries per tail, in steps of ENERGY_STEP on the energy
 * bisection's scale (energyAt; + is a lower energy) from the lowest that met the budget alone, in
 * this order: that one, one step lower (prune's refit also repairs some of what the factors lost),
 * one step higher (more room for pruning), two steps lower.
 */
export const FACTOR_ENERGIES = [0, 1, -1, 2] as const;
export const ENERGY_STEP = 0.07;

/** Samples the per-layer sensitivities that order the fallbacks are measured on at most (a seeded pick of the tuning split). */
export const SENSITIVITY_SAMPLES = 256;

export { FASTER_BY };

export interface TuneOptions {
  objective: Objective;
  /** points of accuracy the tuned model may lose (needs labels) */
  maxAccuracyDrop?: number;
  /** agreement with the original's top-1 the tuned model must keep */
  minAgreement?: number;
  passes: readonly string[];
  /** standard errors of the tuning split counted on top of a candidate's loss (default 0: the plain rule) */
  margin?: number;
  /** epochs of a distilled candidate (default: the distill pass's, 10) */
  distillEpochs?: number;
  /** stop searching after this long, ms (default 10 minutes) */
  timeBudgetMs?: number;
  seed?: number;
  /** share of the samples held out, the last ones (default 0.3), at most maxHeldOut (default 2000) */
  heldOutShare?: number;
  maxHeldOut?: number;
  /** tuning samples scored at most (default 2000) */
  maxTuning?: number;
  onProgress?: (msg: string) => void;
}

export interface TuneResult {
  report: TuneReport;
  /** the chosen recipe and model; undefined when the original is kept */
  recipe?: RecipeStep[];
  model?: Model;
  /** why the original is kept, when it is */
  keptOriginal?: string;
  /** false when no candidate met the budget (on the tuning split, or then on the held-out split) */
  budgetReached: boolean;
  /** the split sizes */
  tuningSamples: number;
  heldOutSamples: number;
}

/** Pareto front of (objective ↓, score ↑): indices of the candidates no other beats on both. */
export function paretoFront(points: readonly { objective: number; score: number }[]): Set<number> {
  const front = new Set<number>();
  points.forEach((p, i) => {
    const dominated = points.some((q, j) => j !== i && q.objective <= p.objective && q.score >= p.score && (q.objective < p.objective || q.score > p.score));
    if (!dominated) front.add(i);
  });
  return front;
}

/** The quantize steps to try for an objective, best-first guesses. */
export function quantizeModes(objective: Objective, calibrationSamples: number): { label: string; steps: RecipeStep[] }[] {
  if (objective === 'latency') {
    return [
      { label: 'int8 dynamic', steps: [{ pass: 'quantize', options: { type: 'int8', mode: 'dynamic' } }] },
      { label: 'int8 static', steps: [{ pass: 'quantize', options: { type: 'int8', mode: 'static', calibrationSamples: Math.min(1000, calibrationSamples) } }] },
      { label: 'int4', steps: [{ pass: 'quantize', options: { type: 'int4' } }] },
    ];
  }
  return [
    { label: 'int4', steps: [{ pass: 'quantize', options: { type: 'int4' } }] },
    { label: 'int4 + int8', steps: [{ pass: 'quantize', options: { type: 'int4' } }, { pass: 'quantize', options: { type: 'int8', mode: 'weight-only' } }] },
    { label: 'int8', steps: [{ pass: 'quantize', options: { type: 'int8', mode: 'dynamic' } }] },
    { label: 'fp16', steps: [{ pass: 'quantize', options: { type: 'fp16' } }] },
    // weight sharing stores a dense weight as one byte per index: smaller than int4 under gzip
    // only (3 bits of entropy per weight); its sparse form after pruning is in clusterTails
    ...(objective === 'gzip' ? clusterModes() : []),
  ];
}

/** Weight sharing (the cluster pass) at CLUSTER_BITS bits per index, joint storage, float16 codebooks and biases. */
export function clusterModes(): { label: string; steps: RecipeStep[] }[] {
  return CLUSTER_BITS.map((bits) => ({ label: `cluster ${bits} bits`, steps: [{ pass: 'cluster', options: { bits, joint: true, half: true } } as RecipeStep] }));
}

/** Index bits the tuner tries weight sharing at (2^b − 1 shared values per weight and the zero). */
export const CLUSTER_BITS = [4, 3] as const;

interface Evaluated extends TuneCandidate {
  /** index in the report */
  index: number;
}

class OutOfTime extends Error {}

export async function tune(original: Model, data: Dataset, opts: TuneOptions): Promise<TuneResult> {
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const deadline = t0 + (opts.timeBudgetMs ?? 600_000);
  const progress = opts.onProgress ?? (() => {});
  const byAgreement = opts.minAgreement !== undefined;
  if (byAgreement === (opts.maxAccuracyDrop !== undefined)) throw new MlcError('USAGE', 'give exactly one budget: --max-accuracy-drop <points> or --min-agreement <fraction>');
  if (!byAgreement && !data.labels) throw new MlcError('USAGE', '--max-accuracy-drop needs labels in the data (a "labels" array); without labels use --min-agreement');
  const unknown = opts.passes.filter((p) => !(TUNE_PASSES as readonly string[]).includes(p));
  if (unknown.length) throw new MlcError('USAGE', `--passes: ${unknown.join(', ')} cannot be tuned (choose from ${TUNE_PASSES.join(', ')})`);
  if (opts.passes.includes('distill') && !opts.passes.some((p) => p === 'prune' || p === 'lowrank')) {
    throw new MlcError('USAGE', '--passes distill: distillation recovers what pruning or low-rank lost; add prune or lowrank');
  }
  const margin = opts.margin ?? 0;
  if (!(margin >= 0)) throw new MlcError('USAGE', `--margin: must be a number of standard errors ≥ 0, got ${margin}`);
  const seed = opts.seed ?? 42;
  const split = splitDataset(data, { heldOutShare: opts.heldOutShare ?? 0.3, maxTuning: opts.maxTuning ?? 2000, maxHeldOut: opts.maxHeldOut ?? 2000, seed });
  // passes that read data (static calibration, prune's refit) read the first N samples of the
  // calibration data: N is capped at the tuning split's size in every step, so that they never
  // see a held-out sample and `mlc compress --recipe --calibration-data <the file>` reads the same
  const T = split.tuningRange;
  const calibration = sliceDataset(data, 0, T);
  const layers = weightLayers(original);
  progress('scoring the original');
  const ev = await Evaluator.create(original, split.tuning, { agreement: byAgreement, layerOutputs: layers.map((l) => l.output) });
  const held = await Evaluator.create(original, split.heldOut, { agreement: byAgreement });
  const budget: Budget = { points: byAgreement ? 100 * (1 - opts.minAgreement!) : opts.maxAccuracyDrop!, byAgreement, margin };
  const lossOf = (s: { score: number; se?: number }) => lossPoints(budget, s.score, s.se ?? 0, ev.baseline);
  // the tuning samples are distillation's training data too (its own validation is a share of them)
  const applier = makeApplier(original, { calibration, train: calibration, seed });
  const latency = opts.objective === 'latency' ? await LatencyMeter.create(original, split.tuning) : undefined;
  const baseBytes = modelToBytes(original);
  const objectiveOf = async (m: Model): Promise<number> => {
    if (latency) return latency.measure(m);
    const bytes = modelToBytes(m);
    return opts.objective === 'size' ? bytes.length : (await diskSize(undefined, { bytes })).gzipBytes;
  };
  const baseObjective = latency ? latency.baselineMs : opts.objective === 'size' ? baseBytes.length : (await diskSize(undefined, { bytes: baseBytes })).gzipBytes;
  // latency: the screening figure until the confident timing has spoken
  const faster = (c: TuneCandidate) => (c.speedup ? c.speedup.verdict === 'faster' : c.objective <= baseObjective * (1 - FASTER_BY));
  const beatsOriginal = (c: TuneCandidate) => c.meetsBudget && (latency ? faster(c) : c.objective < baseObjective);

  const candidates: Evaluated[] = [];
  const seen = new Map<string, Evaluated>();
  // a candidate is not started when the last one's time would take the search past the deadline,
  // with as much again left for the choice (the winner is built again and scored on the held-out
  // split), so that search and choice together fit in the time budget
  let lastSeconds = 0;
  const timeLeft = () => performance.now() + 2 * lastSeconds * 1000 < deadline;
  /** build, score and measure a recipe (once per distinct recipe) */
  const tryRecipe = async (steps: RecipeStep[], why: string, signal?: AbortSignal): Promise<Evaluated | undefined> => {
    const key = JSON.stringify(steps);
    const had = seen.get(key);
    if (had) return had;
    if (!timeLeft()) throw new OutOfTime();
    progress(`candidate ${candidates.length + 1}: ${why}`);
    const c0 = performance.now();
    let model: Model;
    let score: Score;
    try {
      const r = await applier.apply(steps, signal);
      // a distillation that changed nothing gives its source's model again
      if (!r.passes.some((p) => p.modified) || r.passes.some((p) => p.name === 'distill' && !p.modified)) return undefined;
      model = r.model;
      score = await ev.score(model);
    } catch (err) {
      if (signal?.aborted) throw new OutOfTime();
      // a recipe the passes or onnxruntime refuse for this model is not a candidate
      if (err instanceof MlcError && err.code !== 'INTERNAL') return undefined;
      throw err;
    }
    const c: Evaluated = {
      index: candidates.length,
      recipe: steps as unknown as Record<string, unknown>[],
      objective: await objectiveOf(model),
      score: score.score,
      heldOutScore: null,
      se: score.se,
      meetsBudget: withinBudget(budget, lossOf(score)),
      pareto: false,
      chosen: false,
      seconds: (performance.now() - c0) / 1000,
    };
    lastSeconds = c.seconds;
    candidates.push(c);
    seen.set(key, c);
    return c;
  };
  /** the best candidate that beats the original (and is not set aside) */
  const best = (aside?: ReadonlySet<Evaluated>): Evaluated | undefined =>
    candidates.filter((c) => beatsOriginal(c) && !aside?.has(c)).sort((a, b) => a.objective - b.objective || b.score - a.score)[0];
  const ranked = new Map<string, LayerSensitivity[]>();
  let sensEv: Evaluator | undefined;
  /** layers most sensitive to a probe first (once per probe) */
  const sensitivities = async (probe: Probe): Promise<LayerSensitivity[]> => {
    const key = JSON.stringify(probe.step);
    const had = ranked.get(key);
    if (had) return had;
    progress(`sensitivity: ${probe.label}`);
    sensEv ??= split.tuning.count > SENSITIVITY_SAMPLES ? await Evaluator.create(original, sampleDataset(split.tuning, SENSITIVITY_SAMPLES, seed), { agreement: byAgreement, layerOutputs: layers.map((l) => l.output) }) : ev;
    const { rows } = await analyseSensitivity(original, sensEv.data, { probes: [probe], evaluator: sensEv, profile: false, gzip: false, calibration, seed, deadline });
    if (performance.now() > deadline) throw new OutOfTime();
    rows.sort(bySensitivity);
    ranked.set(key, rows);
    return rows;
  };

  let timedOut = false;
  const distilled: NonNullable<TuneReport['distilled']> = [];
  try {
    if (opts.passes.includes('quantize')) {
      // every mode on every layer first; then fallbacks, the most promising mode first
      const full: { mode: ReturnType<typeof quantizeModes>[number]; c: Evaluated }[] = [];
      for (const mode of quantizeModes(opts.objective, T)) {
        const c = await tryRecipe(mode.steps, `quantize ${mode.label}`);
        if (c) full.push({ mode, c });
      }
      // size and gzip only grow as layers fall back: a fallback that is no smaller than the best
      // candidate so far cannot win, and neither can one with more layers kept float
      const hopeless = (c: Evaluated | undefined) => !latency && !!c && !!best() && c.objective >= best()!.objective;
      for (const { mode, c } of full.sort((a, b) => a.c.objective - b.c.objective)) {
        if (c.meetsBudget || hopeless(c)) continue;
        // fall back the layers most sensitive to this mode (its first step) to float
        const order = (await sensitivities({ label: `quantize ${mode.label}`, step: mode.steps[0] })).map((r) => r.layer);
        const withFallback = (k: number) => mode.steps.map((s) => withExclude(s, excludeOf(order.slice(0, k))));
        let lo = 0;
        let hi = -1;
        for (let k = 1; k <= order.length; k = Math.min(order.length, k * 2)) {
          const ck = await tryRecipe(withFallback(k), `quantize ${mode.label}, ${k} layer(s) kept float`);
          if (ck?.meetsBudget) {
            hi = k;
            break;
          }
          lo = k;
          if (k === order.length || hopeless(ck)) break;
        }
        while (hi > 0 && hi - lo > 1) {
          const mid = (lo + hi) >> 1;
          const cm = await tryRecipe(withFallback(mid), `quantize ${mode.label}, ${mid} layer(s) kept float`);
          if (cm?.meetsBudget) hi = mid;
          else lo = mid;
        }
      }
    }
    const tailOf = () => (best()?.recipe as unknown as RecipeStep[] | undefined) ?? [];
    // gzip: the smallest weight-sharing recipe within the budget (the quantize stage's, its
    // fallbacks included), a tail of its own for prune and lowrank beside the best recipe: a
    // pruned weight shared at b bits is stored as its non-zeros' gaps and indices (a fraction of
    // int4's half byte per weight, zeros included), and low-rank factors shared at b bits are
    // dense b-bit codes; one that misses the budget alone is no tail (more loss in front of it)
    // (gzip only: for size, weight sharing stores an index per weight in a byte, int4 half a byte,
    // and the size search prunes channels, which leaves no zeros to skip)
    const sharing = (): RecipeStep[][] => {
      if (opts.objective !== 'gzip' || !opts.passes.includes('quantize')) return [];
      const c = candidates.filter((x) => x.meetsBudget && x.recipe.length && x.recipe.every((st) => st.pass === 'cluster')).sort((a, b) => a.objective - b.objective)[0];
      return c ? [c.recipe as unknown as RecipeStep[]] : [];
    };
    const quantizeTails = sharing();
    const pattern = opts.objective === 'gzip' ? 'unstructured' : 'channel';
    // with reconstruct, the kept weights are refit by least squares to the original's layer
    // outputs on the tuning samples (prune/reconstruct.ts); without it as a fallback. Unstructured
    // weights are ranked by |w| times the RMS of the input they multiply on the tuning samples
    // (prune's activation criterion, Wanda): a weight on an input that is (near) constant zero on
    // the data — a blank border pixel, a dead unit — goes first at no cost, whatever its magnitude
    // (a model trained without weight decay keeps its random initial values there)
    const pruneStep = (s: number, exclude: string[], refit: boolean): RecipeStep =>
      withExclude(
        {
          pass: 'prune',
          options: {
            sparsity: s,
            ...(pattern === 'unstructured' ? { scope: 'lamp', criterion: 'activation' } : { pattern: 'channel' }),
            ...(refit ? { reconstruct: true } : {}),
            // the samples the refit and the activation criterion read: the first of the tuning split
            ...(refit || pattern === 'unstructured' ? { reconstructSamples: Math.min(1024, T) } : {}),
          },
        } as RecipeStep,
        exclude,
      );
    if (opts.passes.includes('prune')) {
      const tails = uniqueRecipes([tailOf().filter((s) => s.pass !== 'prune' && s.pass !== 'lowrank'), ...quantizeTails]);
      const step = pruneStep;
      const pruneRanked = await sensitivities({ label: `prune ${pattern} 0.5`, step: step(0.5, [], false) });
      const costly = pruneRanked.filter((r) => (r.drop ?? 0) > budget.points / 2).map((r) => r.layer);
      for (const tail of tails) {
        const then = tail.length ? `, then ${tail.map((t) => recipeLabel(t)).join(' + ')}` : '';
        for (const refit of [true, false]) {
          let found = false;
          for (const exclude of costly.length ? [[], excludeOf(costly)] : [[]]) {
            const label = (s: number) => `prune ${round2(s)}${refit ? ' refit' : ''}${exclude.length ? `, ${costly.length} sensitive layer(s) dense` : ''}${then}`;
            const s = await bisect(0, 0.95, 0.02, async (x) => (await tryRecipe([step(round2(x), exclude, refit), ...tail], label(x)))?.meetsBudget ?? false);
            if (s !== undefined) found = true;
          }
          if (found) break;
        }
      }
    }
    if (opts.passes.includes('lowrank')) {
      // in front of the best recipe so far and of the weight-sharing tail; factored against the
      // tuning samples' activations (lowrank's dataAware: the error on the data, not on the
      // weights, is minimized; an input that is always zero costs no rank)
      const tails = uniqueRecipes([tailOf().filter((s) => s.pass !== 'lowrank'), ...quantizeTails]);
      const step = (e: number, exclude: string[]): RecipeStep => withExclude({ pass: 'lowrank', options: { energy: e, dataAware: true, dataSamples: Math.min(1024, T) } }, exclude);
      const then = (tail: readonly RecipeStep[]) => (tail.length ? `, then ${tail.map((t) => recipeLabel(t)).join(' + ')}` : '');
      const label = (e: number, k: number, tail: readonly RecipeStep[]) => `lowrank energy ${e} (data-aware)${k ? `, ${k} layer(s) unfactored` : ''}${then(tail)}`;
      // lower energy = smaller: the lowest energy that meets the budget in front of a tail, by
      // bisection on the log of the energy left out (energyAt), as data-aware factors need 0.99
      // and more; `good` and the points that missed, on the bisection's scale
      const lowest = new Map<string, number | undefined>();
      const lowestEnergy = async (tail: RecipeStep[]) => {
        const failed: number[] = [];
        const good = await bisect(0, 1, 0.04, async (x) => {
          const ok = (await tryRecipe([step(energyAt(x), []), ...tail], label(energyAt(x), 0, tail)))?.meetsBudget ?? false;
          if (!ok) failed.push(x);
          return ok;
        });
        lowest.set(JSON.stringify(tail), good);
        return { good, failed };
      };
      for (const tail of tails) {
        const { good, failed } = await lowestEnergy(tail);
        // then the next lower energy tried, with the layers most sensitive to it left unfactored,
        // 1, 2, … until the budget holds (a classifier's last layer, typically), as long as that
        // can still beat the best so far
        const next = failed.filter((x) => good === undefined || x > good).sort((a, b) => a - b)[0];
        if (next === undefined) continue;
        const e = energyAt(next);
        const order = (await sensitivities({ label: `lowrank energy ${e} (data-aware)`, step: step(e, []) })).map((r) => r.layer);
        for (let k = 1; k <= Math.min(order.length - 1, MAX_UNFACTORED); k++) {
          const c = await tryRecipe([step(e, excludeOf(order.slice(0, k))), ...tail], label(e, k, tail));
          if (!c || c.meetsBudget || (best() && c.objective >= best()!.objective)) break;
        }
      }
      // factors pruned (gzip, with prune allowed): the two settings searched together. For the
      // FACTOR_ENERGIES energies around the lowest that met the budget alone in front of a tail
      // without a prune step (ENERGY_STEP apart on the bisection's scale: more energy kept leaves
      // more room for pruning, less can be repaired by the refit), a bisection on the sparsity of
      // the factors (LAMP, ranked by activation, refit; 0 … 0.8, to 0.05), the tail after. A factor pair holds r·(m + n) weights of an m×n
      // weight's m·n; pruning them too stores a fraction of those: on an MLP trained without
      // weight decay the pair of settings found this way is much smaller than either alone.
      if (pattern === 'unstructured' && opts.passes.includes('prune')) {
        for (const tail of uniqueRecipes(tails.map((t) => t.filter((s) => s.pass !== 'prune')))) {
          const x0 = lowest.has(JSON.stringify(tail)) ? lowest.get(JSON.stringify(tail)) : (await lowestEnergy(tail)).good;
          if (x0 === undefined) continue;
          for (const k of FACTOR_ENERGIES) {
            const x = x0 + k * ENERGY_STEP;
            if (x < 0 || x > 1) continue;
            const e = energyAt(x);
            await bisect(0, 0.8, 0.05, async (x) => (await tryRecipe([step(e, []), pruneStep(round2(x), [], true), ...tail], `lowrank energy ${e} (data-aware), prune ${round2(x)} of the factors${then(tail)}`))?.meetsBudget ?? false);
          }
        }
      }
    }
    if (opts.passes.includes('distill')) {
      // near misses that would beat the best so far (or the original), smallest first
      const bar = () => best()?.objective ?? (latency ? baseObjective * (1 - FASTER_BY) : baseObjective);
      const step: RecipeStep = { pass: 'distill', options: { epochs: opts.distillEpochs ?? DISTILL_DEFAULTS.epochs, trainSamples: T } };
      const near = candidates
        .filter((c) => nearMiss(budget, lossOf(c)) && c.objective < bar())
        .map((c) => ({ c, steps: withDistill(c.recipe as unknown as RecipeStep[], step) }))
        .filter((x) => x.steps)
        .sort((a, b) => a.c.objective - b.c.objective)
        .slice(0, MAX_DISTILLED);
      for (const { c, steps } of near) {
        if (c.objective >= bar()) continue;
        // the distillation is stopped at the deadline (it checks each epoch)
        const t1 = performance.now();
        const d = await tryRecipe(steps!, `distill candidate ${c.index + 1}`, AbortSignal.timeout(Math.max(1, Math.ceil(deadline - performance.now()))));
        if (d) d.distilledFrom = c.index;
        distilled.push({ from: c.index, candidate: d ? d.index : null, seconds: (performance.now() - t1) / 1000 });
      }
    }
  } catch (err) {
    if (err instanceof OutOfTime) timedOut = true;
    else {
      await applier.release();
      await latency?.release();
      throw err;
    }
  }

  // the choice (choose.ts): the best within the budget that beats the original — for latency once
  // the confident timing says faster — and holds on the held-out split (without the margin)
  const heldBudget: Budget = { ...budget, margin: 0 };
  const recipeOf = (c: Evaluated) => c.recipe as unknown as RecipeStep[];
  let model: Model | undefined;
  let pick: Pick<Evaluated>;
  try {
    // latency: every candidate within the budget is in the race until the confident timing has
    // spoken, not only those the short screening called faster (a noisy call either way): those
    // first, then the others, each group fastest by screening first (at most MAX_CONFIRMS timed)
    const screened = (c: Evaluated) => (c.objective <= baseObjective * (1 - FASTER_BY) ? 0 : 1);
    const race = (aside: ReadonlySet<Evaluated>) =>
      latency
        ? candidates
            .filter((c) => c.meetsBudget && !aside.has(c) && (!c.speedup || c.speedup.verdict === 'faster'))
            .sort((a, b) => (a.speedup ? 0 : screened(a)) - (b.speedup ? 0 : screened(b)) || a.objective - b.objective || b.score - a.score)[0]
        : best(aside);
    // the model a candidate's key was taken from, for its held-out score
    const applied = new Map<Evaluated, Model>();
    pick = await pickWinner<Evaluated>(race, {
      needsTiming: (c) => !!latency && !c.speedup,
      time: async (c) => {
        progress(`timing candidate ${c.index + 1} against the original until the verdict is confident`);
        const sp = await latency!.confirm((await applier.apply(recipeOf(c))).model);
        c.speedup = sp;
        if (Number.isFinite(sp.median) && sp.median > 0) c.objective = baseObjective / sp.median;
      },
      modelKey: async (c) => {
        const m = (await applier.apply(recipeOf(c))).model;
        applied.clear();
        applied.set(c, m);
        return fingerprintModel(m);
      },
      holds: async (c) => {
        progress(`scoring candidate ${c.index + 1} on the held-out split`);
        const m = applied.get(c) ?? (await applier.apply(recipeOf(c))).model;
        const s = await held.score(m);
        c.heldOutScore = s.score;
        c.heldOutMeetsBudget = withinBudget(heldBudget, lossPoints(heldBudget, s.score, 0, held.baseline));
        if (c.heldOutMeetsBudget) model = m;
        return c.heldOutMeetsBudget;
      },
    });
  } finally {
    await latency?.release();
    await applier.release();
  }
  const chosen = pick.chosen;
  if (chosen) chosen.chosen = true;
  const front = paretoFront(candidates);
  for (const c of candidates) c.pareto = front.has(c.index);
  const what = latency ? `confidently at least ${FASTER_BY * 100}% faster than the original` : `${opts.objective === 'gzip' ? 'gzip-' : ''}smaller than the original`;
  const names = (cs: Evaluated[]) => cs.map((c) => `#${c.index + 1}`).join(', ');
  const withinRule = `within the budget on the tuning split${margin ? ` with a margin of ${margin} standard error(s)` : ''}`;
  const missed = pick.checked.filter((c) => c !== chosen);
  let rule: string;
  let keptOriginal: string | undefined;
  let budgetReached = true;
  if (chosen) {
    rule = missed.length
      ? `${names(missed)} missed the budget on the held-out split; #${chosen.index + 1}, the next best ${withinRule} and ${what}, holds on it (the held-out split took part in this choice)`
      : `the best candidate ${withinRule} and ${what}; its held-out figure is within the budget`;
  } else if (pick.checked.length) {
    budgetReached = false;
    rule = keptOriginal = `${pick.checked.length === 1 ? 'the best candidate' : `the ${pick.checked.length} best candidates`} ${withinRule} (${names(pick.checked)}) missed it on the held-out split`;
  } else if (candidates.some((c) => c.meetsBudget)) {
    const timed = candidates.filter((c) => c.speedup).sort((a, b) => b.speedup!.median - a.speedup!.median)[0]?.speedup;
    const interval = !latency
      ? ''
      : timed
        ? `; the best timed: ${timed.median.toFixed(3)}×${timed.ci ? ` (${(timed.level * 100).toFixed(2)}% interval ${timed.ci[0].toFixed(3)}–${timed.ci[1].toFixed(3)})` : ''}, ${timed.verdict}`
        : '';
    rule = keptOriginal = `no candidate within the budget is ${what}${interval}`;
  } else {
    budgetReached = false;
    rule = keptOriginal = `no candidate met the budget${timedOut ? ` (the time budget ran out after ${candidates.length} candidate(s))` : ''}`;
  }
  const report: TuneReport = {
    objective: opts.objective,
    metric: ev.metric,
    budget: { ...(byAgreement ? { minAgreement: opts.minAgreement } : { maxAccuracyDrop: opts.maxAccuracyDrop }), margin },
    baseline: { objective: baseObjective, score: ev.baseline, heldOutScore: held.baseline },
    candidates: candidates.map(({ index: _i, ...c }) => c),
    chosen: chosen ? chosen.index : null,
    seconds: (performance.now() - t0) / 1000,
    cpuSeconds: cpuSecondsSince(cpu0),
    ...(timedOut ? { timedOut } : {}),
    ...(opts.passes.includes('distill') ? { distilled } : {}),
    choice: { rule, heldOutChecks: pick.checked.length },
  };
  return {
    report,
    recipe: chosen ? recipeOf(chosen) : undefined,
    model,
    keptOriginal,
    budgetReached,
    tuningSamples: split.tuning.count,
    heldOutSamples: split.heldOut.count,
  };
}

const round2 = (x: number) => Math.round(x * 100) / 100;

function cpuSecondsSince(start: NodeJS.CpuUsage): number {
  const u = process.cpuUsage(start);
  return Math.round((u.user + u.system) / 1e4) / 100;
}

/**
 * The low-rank energy at bisection point x ∈ [0, 1] (higher x, smaller model): the energy left out,
 * 1 − e, runs from 10^-3.5 (x = 0) to 0.5 (x = 1) on a log scale, 4 decimals.
 */
export function energyAt(x: number): number {
  const left = 10 ** (-3.5 + x * (3.5 + Math.log10(0.5)));
  return Math.round((1 - left) * 1e4) / 1e4;
}

/** The recipes without repeats (same steps, same options). */
function uniqueRecipes(recipes: readonly RecipeStep[][]): RecipeStep[][] {
  const seen = new Set<string>();
  return recipes.filter((r) => {
    const k = JSON.stringify(r);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/** A step in a few words, for progress lines: `quantize int4`, `cluster 3 bits`. */
function recipeLabel(s: RecipeStep): string {
  const o = (s.options ?? {}) as { type?: string; mode?: string; bits?: number; exclude?: string[] };
  const what = s.pass === 'cluster' ? `${o.bits} bits` : [o.type, o.mode].filter(Boolean).join(' ');
  return `${s.pass}${what ? ` ${what}` : ''}${o.exclude?.length ? ' (some layers float)' : ''}`;
}

/**
 * The largest x in [lo, hi] for which `ok(x)` holds, assuming ok is true below some point: tries
 * hi first, then halves the interval until it is narrower than `tol`.
 */
export async function bisect(lo: number, hi: number, tol: number, ok: (x: number) => Promise<boolean>): Promise<number | undefined> {
  if (await ok(hi)) return hi;
  let good: number | undefined;
  let a = lo;
  let b = hi;
  while (b - a > tol) {
    const m = (a + b) / 2;
    if (await ok(m)) {
      good = m;
      a = m;
    } else b = m;
  }
  return good;
}
