/**
 * prune — magnitude, N:M and channel (structured) pruning of MatMul / Gemm / Conv weights.
 *
 * Rewrites:
 *   - unstructured: zero the smallest-|w| weights until the requested sparsity; scope `global`
 *     uses one threshold across all prunable weights, scope `layer` prunes each weight to the
 *     sparsity on its own, scope `lamp` uses one threshold on LAMP scores (w² over the energy of
 *     the layer's weights at least as large; see math/sparsity.ts). Exactly round(s·n) elements
 *     become (or stay) zero.
 *   - N:M (e.g. 2:4): in every group of M consecutive weights along the input dimension (K of a
 *     MatMul/Gemm weight, input channels of a Conv filter) keep the N largest |w|. The sparsity is
 *     1 − N/M; --prune, if given, must agree.
 *   - channel: remove whole output neurons / filters and shrink their dependants (see
 *     prune/channel.ts); the model gets fewer parameters and runs faster.
 *   - with criterion `activation` and samples (unstructured, N:M): weights ranked by |w| times the
 *     RMS of the input they multiply (Wanda; see prune/criterion.ts) instead of |w|.
 *   - with reconstruct and samples: refit the kept MatMul / Gemm / Conv weights by least squares so each
 *     layer reproduces the original model's output (see prune/reconstruct.ts).
 *   - with a schedule (gradual pruning, Zhu & Gupta 2017): unstructured pruning in steps of rising
 *     sparsity (a list such as 0.5,0.8,0.9,0.95, or `cubic:<final>:<steps>`, s_i = s_f·(1 − (1 −
 *     i/n)³)), each step followed by a short distillation round (scheduleEpochs, src/passes/
 *     distill.ts with the pruned weights' zeros kept) against the original model, so that the
 *     network adapts before the next weights go; needs training data.
 *   - with sparseStorage: store pruned weights as ONNX sparse initializers where that is smaller
 *     (see prune/storage.ts); onnxruntime densifies them at load time.
 *
 * Prunable: constant float weights of MatMul, Gemm (transB honoured) and Conv in the main graph;
 * Gather embedding tables only with includeEmbeddings. Never biases or normalization parameters.
 * Left alone, with a Skip: excluded nodes / weights, weights shared with other kinds of readers,
 * embedding tables, first/last layers with keepFirstLast, weights whose input dimension is not a
 * multiple of M (N:M), and channel candidates whose removal cannot be followed (residual Add,
 * Concat, graph output, unknown consumer, shared constants).
 * Weights inside subgraphs (If / Loop bodies) are not pruned.
 */
import { MlcError } from '../core/errors.js';
import type { Model } from '../ir/model.js';
import { Tensor } from '../ir/tensor.js';
import { cloneModel } from '../ir/clone.js';
import { countParams } from '../ir/params.js';
import { applyMask, axisView, countZeros, lampScores, magnitudeMasks, nmMask, NumericArray, parseNM } from '../math/sparsity.js';
import { parseDistillOptions, runDistill } from './distill.js';
import { definePass, optionSchema, parseWithSchema } from './options.js';
import type { Pass, PassContext, PassResult, Skip } from './pass.js';
import { pruneChannels } from './prune/channel.js';
import { activationScores } from './prune/criterion.js';
import { recurrentSkips } from './recurrent.js';
import { Layer, markLegacyInitializers, materializeLayers, selectLayers, syncInitializerInputs } from './prune/layers.js';
import { refitLayers } from './prune/reconstruct.js';
import { toSparseInitializers } from './prune/storage.js';

/** The parameters the pass reports before and after: float constants of the main graph. */
const FLOAT_PARAMS = { floatOnly: true, subgraphs: false } as const;

export type PrunePattern = 'unstructured' | 'channel' | `${number}:${number}`;

export interface PruneOptions {
  /** fraction of weights (unstructured, N:M) or output channels (channel) to remove, 0 ≤ s < 1 */
  sparsity: number;
  /** global: one |w| threshold; layer: each weight on its own; lamp: one threshold on LAMP scores */
  scope: 'global' | 'layer' | 'lamp';
  pattern: PrunePattern;
  /** leave the first and the last prunable layer dense */
  keepFirstLast: boolean;
  /** also prune Gather embedding tables (unstructured / N:M) */
  includeEmbeddings: boolean;
  /** node or weight names (globs) to leave alone */
  exclude: string[];
  /** store pruned weights as sparse initializers when smaller */
  sparseStorage: boolean;
  /** refit the kept weights by least squares on calibration (or training) samples */
  reconstruct: boolean;
  /** samples used by reconstruct (default 1024) */
  reconstructSamples: number;
  /** gradual pruning: the sparsity of each step (ascending, the last one is `sparsity`) */
  schedule?: number[];
  /** distillation epochs after each step of the schedule */
  scheduleEpochs: number;
  /** magnitude: |w|; activation: |w| times the RMS of the input it multiplies on samples (prune/criterion.ts) */
  criterion: 'magnitude' | 'activation';
}

/** The prune options, declared once: parsing, flags, `mlc passes` and the recipe JSON Schema derive from it. */
export const PRUNE_SCHEMA = optionSchema<PruneOptions>()({
  pass: 'prune',
  options: [
    { key: 'sparsity', type: 'fraction', min: 0, max: 1, exclusiveMax: true, flag: '--prune <sparsity>', help: 'fraction to remove, 0 ≤ s < 1 (or a percentage): of weights (unstructured), of output channels (channel); implied by N:M' },
    { key: 'scope', type: 'enum', choices: ['global', 'layer', 'lamp'], caseInsensitive: true, flag: '--prune-scope <scope>', help: 'global: one magnitude threshold across layers (default); layer: each layer to the sparsity (default for channel); lamp: one threshold on layer-adaptive (LAMP) scores' },
    { key: 'pattern', type: 'string', default: 'unstructured', flag: '--prune-pattern <pattern>', help: 'unstructured, channel, or N:M such as 2:4 (N largest of every M along the input dimension)' },
    { key: 'keepFirstLast', type: 'boolean', default: false, flag: '--prune-keep-first-last', help: 'leave the first and the last prunable layer dense' },
    { key: 'includeEmbeddings', type: 'boolean', default: false, flag: '--prune-include-embeddings', help: 'also prune Gather embedding tables' },
    { key: 'exclude', type: 'list', default: [], flag: '--exclude <names...>', sharedFlag: true, help: 'node or weight names (globs) to leave alone' },
    { key: 'sparseStorage', type: 'boolean', default: false, flag: '--sparse-storage', help: 'store pruned weights as ONNX sparse initializers where smaller' },
    { key: 'reconstruct', type: 'boolean', default: false, flag: '--prune-reconstruct', help: 'refit the kept MatMul / Gemm / Conv weights by least squares against the original outputs on --calibration-data (or --train-data) samples' },
    { key: 'reconstructSamples', type: 'integer', min: 1, default: 1024, help: 'samples used by reconstruct' },
    { key: 'schedule', type: 'string', flag: '--prune-schedule <steps>', help: 'gradual pruning: sparsities of successive steps (0.5,0.8,0.9,0.95) or cubic:<final>:<steps>, each step followed by a distillation round (needs --train-data)' },
    { key: 'scheduleEpochs', type: 'integer', min: 1, default: 1, flag: '--prune-schedule-epochs <n>', help: 'distillation epochs after each step of --prune-schedule' },
    { key: 'criterion', type: 'enum', choices: ['magnitude', 'activation'], default: 'magnitude', flag: '--prune-criterion <c>', help: 'what a weight is ranked by (unstructured, N:M): magnitude |w|, or activation: |w| times the RMS of the input it multiplies on the first reconstructSamples samples of --calibration-data (or --train-data); weights on inputs that are always zero go first' },
  ],
  finish(v, fail) {
    const pattern = String(v.pattern).toLowerCase();
    const nm = parseNM(pattern);
    if (pattern !== 'unstructured' && pattern !== 'channel' && !nm) fail('pattern', `must be unstructured, channel or N:M with 0 < N < M (e.g. 2:4), got "${pattern}"`);
    if (v.criterion === 'activation' && pattern === 'channel') fail('criterion', 'activation ranks single weights: use it with unstructured or N:M pruning');
    let sparsity = v.sparsity as number | undefined;
    let schedule: number[] | undefined;
    if (v.schedule !== undefined) {
      schedule = parseSchedule(String(v.schedule), (problem) => fail('schedule', problem));
      if (pattern !== 'unstructured') fail('schedule', `works with unstructured pruning only (pattern ${pattern})`);
      const last = schedule[schedule.length - 1];
      if (sparsity !== undefined && Math.abs(sparsity - last) > 1e-9) fail('sparsity', `must be the schedule's last step (${last}) when both are given; got ${sparsity}`);
      sparsity = last;
    }
    if (sparsity === undefined) {
      if (nm) sparsity = 1 - nm.n / nm.m;
      else if (v.sparseStorage && pattern === 'unstructured') sparsity = 0;
      else fail('sparsity', `is required for the ${pattern} pattern (e.g. --prune 0.5)`);
    } else if (nm && Math.abs(sparsity - (1 - nm.n / nm.m)) > 1e-9) {
      fail('sparsity', `is fixed at ${1 - nm.n / nm.m} by the ${nm.n}:${nm.m} pattern; got ${sparsity} (omit --prune)`);
    }
    return {
      sparsity: sparsity!,
      // channel pruning defaults to per-layer: on the MNIST MLP, 50% of each layer's neurons costs
      // fewer accuracy points than the same number of neurons ranked across layers
      scope: (v.scope ?? (pattern === 'channel' ? 'layer' : 'global')) as PruneOptions['scope'],
      pattern: (nm ? `${nm.n}:${nm.m}` : pattern) as PrunePattern,
      keepFirstLast: v.keepFirstLast as boolean,
      includeEmbeddings: v.includeEmbeddings as boolean,
      exclude: v.exclude as string[],
      sparseStorage: v.sparseStorage as boolean,
      reconstruct: v.reconstruct as boolean,
      reconstructSamples: v.reconstructSamples as number,
      ...(schedule ? { schedule } : {}),
      scheduleEpochs: v.scheduleEpochs as number,
      criterion: v.criterion as PruneOptions['criterion'],
    };
  },
  cli: { triggers: ['prune', 'prunePattern', 'sparseStorage', 'pruneSchedule'], outputSuffix: () => '_pruned' },
});

/**
 * The sparsities of a gradual pruning schedule: a comma-separated ascending list in [0, 1) (each
 * a number or a percentage), or `cubic:<final>:<steps>` (Zhu & Gupta 2017 with s_0 = 0):
 * s_i = s_f·(1 − (1 − i/n)³), i = 1 … n.
 */
export function parseSchedule(spec: string, fail: (problem: string) => never): number[] {
  const t = spec.trim().toLowerCase();
  const frac = (x: string) => (x.trim().endsWith('%') ? Number(x.trim().slice(0, -1)) / 100 : Number(x));
  let steps: number[];
  const cubic = /^cubic:([^:]+):(\d+)$/.exec(t);
  if (cubic) {
    const sf = frac(cubic[1]);
    const n = Number(cubic[2]);
    if (!(sf > 0 && sf < 1) || !(n >= 1 && n <= 100)) fail(`cubic:<final>:<steps> needs 0 < final < 1 and 1 ≤ steps ≤ 100 (got "${spec}")`);
    steps = Array.from({ length: n }, (_, i) => Math.round(sf * (1 - (1 - (i + 1) / n) ** 3) * 1e6) / 1e6);
  } else {
    steps = t.split(',').map(frac);
    if (!steps.length || steps.some((x) => !(x >= 0 && x < 1))) fail(`must be sparsities in [0, 1) separated by commas, or cubic:<final>:<steps> (got "${spec}")`);
    if (steps.some((x, i) => i > 0 && x < steps[i - 1])) fail(`steps must not decrease (got "${spec}")`);
  }
  return steps;
}

export function parsePruneOptions(raw: unknown): PruneOptions {
  return parseWithSchema(PRUNE_SCHEMA, raw);
}

function zerosOf(t: Tensor): number {
  return countZeros(t.data as NumericArray);
}

interface Before {
  zeros: number;
  dims: string;
}

/** Zero weights in place, the lowest `scores` first (default |w|); returns the layers left alone (N:M shape mismatch). */
function unstructured(layers: Layer[], opts: PruneOptions, skipped: Skip[], scores?: readonly ArrayLike<number>[]): Set<Layer> {
  const scoreOf = (l: Layer, i: number) => scores?.[i] ?? l.tensor.readValues();
  const left = new Set<Layer>();
  const nm = parseNM(opts.pattern);
  if (nm) {
    for (const [i, l] of layers.entries()) {
      const view = axisView(l.tensor.dims, l.inputAxis);
      if (view.axisLen % nm.m !== 0) {
        skipped.push({ node: l.label, reason: `input dimension ${view.axisLen} of ${l.weightName} is not a multiple of ${nm.m}` });
        left.add(l);
        continue;
      }
      applyMask(l.tensor.data as NumericArray, nmMask(scoreOf(l, i), view, nm.n, nm.m));
    }
    return left;
  }
  if (opts.sparsity === 0) return left;
  if (opts.scope === 'global' || opts.scope === 'lamp') {
    const ranked = layers.map((l, i) => (opts.scope === 'lamp' ? lampScores(scoreOf(l, i)) : scoreOf(l, i)));
    const masks = magnitudeMasks(ranked, opts.sparsity);
    layers.forEach((l, i) => applyMask(l.tensor.data as NumericArray, masks[i]));
  } else {
    for (const [i, l] of layers.entries()) applyMask(l.tensor.data as NumericArray, magnitudeMasks([scoreOf(l, i)], opts.sparsity)[0]);
  }
  return left;
}

/** Gradual pruning: each step of the schedule, then a distillation round with the zeros kept. */
async function runSchedule(model: Model, opts: PruneOptions, ctx: PassContext | undefined): Promise<PassResult> {
  if (!ctx?.train) throw new MlcError('USAGE', 'prune: a schedule trains between steps and needs training data (--train-data)');
  const schedule = opts.schedule!;
  const skipped: Skip[] = [];
  const details: Record<string, unknown>[] = [];
  let first: PassResult | undefined;
  let last: PassResult | undefined;
  let modified = false;
  for (const [i, s] of schedule.entries()) {
    ctx.log.info(`prune: step ${i + 1}/${schedule.length}, sparsity ${s}`);
    const step = await runPrune(model, { ...opts, sparsity: s, schedule: undefined }, ctx);
    first ??= step;
    last = step;
    modified ||= step.modified;
    if (i === schedule.length - 1) skipped.push(...step.skipped);
    const round = await runDistill(model, parseDistillOptions({ epochs: opts.scheduleEpochs }), ctx);
    modified ||= round.modified;
    details.push({ step: i + 1, sparsity: step.stats.sparsity, valAfterStep: round.stats.studentValBefore, valAfterRound: round.stats.studentValAfter });
  }
  const stats = { ...last!.stats, schedule: schedule.join(','), scheduleEpochs: opts.scheduleEpochs, paramsBefore: first!.stats.paramsBefore, nonzeroParamsBefore: first!.stats.nonzeroParamsBefore };
  return { modified, stats, skipped, details: [...details, ...(last!.details ?? [])] };
}

export async function runPrune(model: Model, opts: PruneOptions, ctx?: PassContext): Promise<PassResult> {
  if (opts.schedule) return runSchedule(model, opts, ctx);
  const g = model.graph;
  const data = ctx?.calibration ?? ctx?.train;
  if (opts.reconstruct && (!data || !ctx?.run))
    throw new MlcError('USAGE', 'prune: reconstruct needs samples (--calibration-data or --train-data)');
  if (opts.criterion === 'activation' && (!data || !ctx?.run))
    throw new MlcError('USAGE', 'prune: the activation criterion needs samples (--calibration-data or --train-data)');
  markLegacyInitializers(g, model.irVersion);
  const { layers, skipped } = selectLayers(g, opts);
  // weights found behind Identity / Reshape / Transpose … get a stored initializer to edit in place
  const materialized = materializeLayers(g, layers);
  const original = opts.reconstruct ? cloneModel(model) : undefined;
  const modelBefore = countParams(g, FLOAT_PARAMS);
  const stats: Record<string, number | string> = {
    pattern: opts.pattern,
    scope: opts.pattern.includes(':') ? 'group' : opts.scope,
    requestedSparsity: opts.sparsity,
    prunableLayers: layers.length,
    paramsBefore: modelBefore.params,
    nonzeroParamsBefore: modelBefore.nonzeroParams,
  };
  let modified = materialized > 0;
  if (materialized) stats.materializedWeights = materialized;
  let details: Record<string, unknown>[] = [];
  let refit: { keepCols?: Map<string, number[]>; weights: Set<string>; masked: boolean } | undefined;

  if (opts.pattern === 'channel') {
    if (opts.sparsity > 0 && layers.length) {
      const r = pruneChannels(g, layers, { sparsity: opts.sparsity, scope: opts.scope === 'layer' ? 'layer' : 'global', exclude: opts.exclude });
      skipped.push(...r.skipped);
      details = r.details;
      modified = r.modified;
      stats.layersPruned = r.details.filter((d) => d.channelsAfter < d.channelsBefore).length;
      stats.channelsBefore = r.channelsBefore;
      stats.channelsRemoved = r.channelsRemoved;
      refit = { keepCols: r.keep, weights: r.changedWeights, masked: false };
    } else stats.layersPruned = 0;
  } else {
    const before = new Map<Layer, Before>();
    for (const l of layers) before.set(l, { zeros: zerosOf(l.tensor), dims: l.tensor.dims.join('x') });
    let scores: Float64Array[] | undefined;
    if (opts.criterion === 'activation' && data && ctx?.run && opts.sparsity > 0) {
      const r = await activationScores(model, layers, data, ctx.run, opts.reconstructSamples);
      scores = r.scores;
      stats.criterion = 'activation';
      stats.activationScoredLayers = r.measured;
    }
    const left = unstructured(layers, opts, skipped, scores);
    let total = 0;
    let zeros = 0;
    let pruned = 0;
    for (const l of layers) {
      if (left.has(l)) continue;
      const b = before.get(l)!;
      const z = zerosOf(l.tensor);
      total += l.tensor.size;
      zeros += z;
      if (z > b.zeros) {
        modified = true;
        pruned++;
      }
      details.push({
        node: l.label,
        op: l.op,
        weight: l.weightName,
        dims: b.dims,
        params: l.tensor.size,
        nonzeroBefore: l.tensor.size - b.zeros,
        nonzeroAfter: l.tensor.size - z,
        sparsityBefore: round4(b.zeros / l.tensor.size),
        sparsity: round4(z / l.tensor.size),
      });
    }
    stats.layersPruned = pruned;
    refit = { weights: new Set(layers.filter((l) => !left.has(l)).map((l) => l.weightName)), masked: true };
    stats.prunableParams = total;
    stats.sparsity = total ? round4(zeros / total) : 0;
  }

  if (opts.reconstruct && modified && refit && original && data && ctx?.run) {
    const r = await refitLayers(model, original, { data, run: ctx.run, samples: opts.reconstructSamples, keepCols: refit.keepCols, masked: refit.masked, only: refit.weights });
    skipped.push(...r.skipped);
    stats.refitLayers = r.layers;
    stats.refitSamples = r.samples;
    for (const d of r.details) {
      const det = details.find((x) => x.node === d.node);
      if (det) Object.assign(det, { refitErrorBefore: d.errorBefore, refitErrorAfter: d.errorAfter });
      else details.push({ node: d.node, refitErrorBefore: d.errorBefore, refitErrorAfter: d.errorAfter });
    }
  }

  if (opts.sparseStorage) {
    const names = layers.map((l) => l.weightName).filter((w) => g.initializers.has(w));
    const r = toSparseInitializers(g, names);
    skipped.push(...r.skipped);
    stats.sparseInitializers = r.converted.length;
    stats.sparseBytesSaved = r.converted.reduce((s, c) => s + c.denseBytes - c.sparseBytes, 0);
    if (r.converted.length) {
      modified = true;
      ctx?.log.warn(`prune: ${r.converted.length} weight(s) stored as sparse initializers; passes after prune (distill, quantize) do not see them as weights`);
    }
    for (const c of r.converted) {
      const d = details.find((x) => x.weight === c.name);
      if (d) d.storage = `sparse (${c.nnz} values, ${c.sparseBytes} B instead of ${c.denseBytes} B)`;
    }
  }

  const after = countParams(g, FLOAT_PARAMS);
  stats.paramsAfter = after.params;
  stats.nonzeroParamsAfter = after.nonzeroParams;
  if (modified) {
    syncInitializerInputs(g);
    g.removeUnusedInitializers();
    g.touch();
  }
  ctx?.log.debug(`prune: ${stats.layersPruned} layer(s) pruned (${opts.pattern})`);
  skipped.push(...recurrentSkips(model, 'pruned'));
  return { modified, stats, skipped, details };
}

function round4(x: number): number {
  return Math.round(x * 1e4) / 1e4;
}

export const prunePass: Pass<PruneOptions> = definePass(PRUNE_SCHEMA, {
  describe: 'Magnitude (global / per layer), N:M and channel pruning of MatMul, Gemm and Conv weights',
  run: (model, options, ctx) => runPrune(model, options, ctx),
});

export default prunePass;
