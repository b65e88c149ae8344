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
 *   - with reconstruct and samples: refit the kept MatMul / Gemm / Conv weights by least squares so each
 *     layer reproduces the original model's output (see prune/reconstruct.ts).
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
import { MlcError } from '../errors.js';
import type { Graph } from '../ir/graph.js';
import type { Model } from '../ir/model.js';
import { Tensor } from '../ir/tensor.js';
import { cloneModel } from '../ir/clone.js';
import { applyMask, axisView, countZeros, lampScores, magnitudeMasks, nmMask, NumericArray, parseNM } from '../math/sparsity.js';
import type { Pass, PassContext, PassResult, Skip } from './pass.js';
import { pruneChannels } from './prune/channel.js';
import { FLOAT_TYPES, Layer, markLegacyInitializers, materializeLayers, selectLayers, syncInitializerInputs } from './prune/layers.js';
import { refitLayers } from './prune/reconstruct.js';
import { toSparseInitializers } from './prune/storage.js';

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
}

function bool(v: unknown, name: string): boolean {
  if (v === undefined || v === null) return false;
  if (typeof v === 'boolean') return v;
  if (v === 'true') return true;
  if (v === 'false') return false;
  throw new MlcError('USAGE', `prune: ${name} must be a boolean, got ${JSON.stringify(v)}`);
}

export function parsePruneOptions(raw: unknown): PruneOptions {
  const r = (raw ?? {}) as Record<string, unknown>;
  if (typeof r !== 'object' || Array.isArray(r)) throw new MlcError('USAGE', 'prune: options must be an object');
  const known = new Set(['sparsity', 'scope', 'pattern', 'keepFirstLast', 'includeEmbeddings', 'exclude', 'sparseStorage', 'reconstruct', 'reconstructSamples']);
  for (const k of Object.keys(r)) if (!known.has(k)) throw new MlcError('USAGE', `prune: unknown option "${k}"`);

  const pattern = String(r.pattern ?? 'unstructured').trim().toLowerCase();
  const nm = parseNM(pattern);
  if (pattern !== 'unstructured' && pattern !== 'channel' && !nm)
    throw new MlcError('USAGE', `prune: pattern must be unstructured, channel or N:M with 0 < N < M (e.g. 2:4), got "${pattern}"`);

  let sparsity: number;
  if (r.sparsity === undefined || r.sparsity === null || r.sparsity === '') {
    if (nm) sparsity = 1 - nm.n / nm.m;
    else if (bool(r.sparseStorage, 'sparseStorage') && pattern === 'unstructured') sparsity = 0;
    else throw new MlcError('USAGE', `prune: a sparsity is required for the ${pattern} pattern (e.g. --prune 0.5)`);
  } else {
    sparsity = typeof r.sparsity === 'number' ? r.sparsity : Number(String(r.sparsity).trim().replace(/%$/, '')) / (String(r.sparsity).trim().endsWith('%') ? 100 : 1);
    if (!Number.isFinite(sparsity) || sparsity < 0 || sparsity >= 1)
      throw new MlcError('USAGE', `prune: sparsity must be a number in [0, 1), got ${JSON.stringify(r.sparsity)}`);
    if (nm && Math.abs(sparsity - (1 - nm.n / nm.m)) > 1e-9)
      throw new MlcError('USAGE', `prune: the ${nm.n}:${nm.m} pattern fixes the sparsity at ${1 - nm.n / nm.m}; got ${sparsity} (omit --prune)`);
  }

  // channel pruning defaults to per-layer: on the MNIST MLP, 50% of each layer's neurons costs
  // fewer accuracy points than the same number of neurons ranked across layers
  const scope = String(r.scope ?? (pattern === 'channel' ? 'layer' : 'global')).trim().toLowerCase();
  if (scope !== 'global' && scope !== 'layer' && scope !== 'lamp') throw new MlcError('USAGE', `prune: scope must be global, layer or lamp, got "${scope}"`);

  let exclude: string[] = [];
  if (r.exclude !== undefined && r.exclude !== null) {
    const e = Array.isArray(r.exclude) ? r.exclude : [r.exclude];
    if (!e.every((x) => typeof x === 'string')) throw new MlcError('USAGE', 'prune: exclude must be a list of names');
    exclude = (e as string[]).flatMap((x) => x.split(',')).map((x) => x.trim()).filter(Boolean);
  }
  return {
    sparsity,
    scope,
    pattern: (nm ? `${nm.n}:${nm.m}` : pattern) as PrunePattern,
    keepFirstLast: bool(r.keepFirstLast, 'keepFirstLast'),
    includeEmbeddings: bool(r.includeEmbeddings, 'includeEmbeddings'),
    exclude,
    sparseStorage: bool(r.sparseStorage, 'sparseStorage'),
    reconstruct: bool(r.reconstruct, 'reconstruct'),
    reconstructSamples: samples(r.reconstructSamples),
  };
}

function samples(v: unknown): number {
  if (v === undefined || v === null) return 1024;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new MlcError('USAGE', `prune: reconstructSamples must be a positive integer, got ${JSON.stringify(v)}`);
  return n;
}

/** Element count of all float constants of the main graph (initializers, sparse ones, Constant values). */
export function floatParams(g: Graph): { params: number; nonzero: number } {
  let params = 0;
  let nonzero = 0;
  const add = (t: Tensor) => {
    if (!FLOAT_TYPES.has(t.dtype) || Array.isArray(t.data)) return;
    params += t.size;
    nonzero += t.size - countZeros(t.data as NumericArray);
  };
  for (const t of g.initializers.values()) add(t);
  for (const s of g.sparseInitializers)
    if (FLOAT_TYPES.has(s.values.dtype)) {
      params += s.dims.reduce((a, b) => a * b, 1);
      nonzero += s.values.size - countZeros(s.values.data as NumericArray);
    }
  for (const n of g.nodes)
    if (n.opType === 'Constant') {
      const a = n.attributes.find((x) => x.name === 'value');
      if (a && a.value instanceof Tensor) add(a.value);
    }
  return { params, nonzero };
}

function zerosOf(t: Tensor): number {
  return countZeros(t.data as NumericArray);
}

interface Before {
  zeros: number;
  dims: string;
}

/** Zero weights in place; returns the layers left alone (N:M shape mismatch). */
function unstructured(layers: Layer[], opts: PruneOptions, skipped: Skip[]): Set<Layer> {
  const left = new Set<Layer>();
  const nm = parseNM(opts.pattern);
  if (nm) {
    for (const l of layers) {
      const view = axisView(l.tensor.dims, l.inputAxis);
      if (view.axisLen % nm.m !== 0) {
        skipped.push({ node: l.label, reason: `input dimension ${view.axisLen} of ${l.weightName} is not a multiple of ${nm.m}` });
        left.add(l);
        continue;
      }
      applyMask(l.tensor.data as NumericArray, nmMask(l.tensor.toNumbers(), view, nm.n, nm.m));
    }
    return left;
  }
  if (opts.sparsity === 0) return left;
  if (opts.scope === 'global' || opts.scope === 'lamp') {
    const scores = layers.map((l) => (opts.scope === 'lamp' ? lampScores(l.tensor.toNumbers()) : l.tensor.toNumbers()));
    const masks = magnitudeMasks(scores, opts.sparsity);
    layers.forEach((l, i) => applyMask(l.tensor.data as NumericArray, masks[i]));
  } else {
    for (const l of layers) applyMask(l.tensor.data as NumericArray, magnitudeMasks([l.tensor.toNumbers()], opts.sparsity)[0]);
  }
  return left;
}

export async function runPrune(model: Model, opts: PruneOptions, ctx?: PassContext): Promise<PassResult> {
  const g = model.graph;
  const data = ctx?.calibration ?? ctx?.train;
  if (opts.reconstruct && (!data || !ctx?.run))
    throw new MlcError('USAGE', 'prune: reconstruct needs samples (--calibration-data or --train-data)');
  markLegacyInitializers(g, model.irVersion);
  const { layers, skipped } = selectLayers(g, opts);
  // weights found behind Identity / Reshape / Transpose … get a stored initializer to edit in place
  const materialized = materializeLayers(g, layers);
  const original = opts.reconstruct ? cloneModel(model) : undefined;
  const modelBefore = floatParams(g);
  const stats: Record<string, number | string> = {
    pattern: opts.pattern,
    scope: opts.pattern.includes(':') ? 'group' : opts.scope,
    requestedSparsity: opts.sparsity,
    prunableLayers: layers.length,
    paramsBefore: modelBefore.params,
    nonzeroParamsBefore: modelBefore.nonzero,
  };
  let modified = materialized > 0;
  if (materialized) stats.materializedWeights = materialized;
  let details: Record<string, unknown>[] = [];
  let refit: { keepCols?: Map<string, number[]>; weights: Set<string>; masked: boolean } | undefined;

  if (opts.pattern === 'channel') {
    if (opts.sparsity > 0 && layers.length) {
      const r = pruneChannels(g, layers, { sparsity: opts.sparsity, scope: opts.scope === 'layer' ? 'layer' : 'global', exclude: opts.exclude });
      skipped.push(...r.skipped);
      details = r.details as unknown as Record<string, unknown>[];
      modified = r.modified;
      stats.layersPruned = r.details.filter((d) => d.channelsAfter < d.channelsBefore).length;
      stats.channelsBefore = r.channelsBefore;
      stats.channelsRemoved = r.channelsRemoved;
      refit = { keepCols: r.keep, weights: r.changedWeights, masked: false };
    } else stats.layersPruned = 0;
  } else {
    const before = new Map<Layer, Before>();
    for (const l of layers) before.set(l, { zeros: zerosOf(l.tensor), dims: l.tensor.dims.join('x') });
    const left = unstructured(layers, opts, skipped);
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

  const after = floatParams(g);
  stats.paramsAfter = after.params;
  stats.nonzeroParamsAfter = after.nonzero;
  if (modified) {
    syncInitializerInputs(g);
    g.removeUnusedInitializers();
    g.touch();
  }
  ctx?.log.debug(`prune: ${stats.layersPruned} layer(s) pruned (${opts.pattern})`);
  return { modified, stats, skipped, details };
}

function round4(x: number): number {
  return Math.round(x * 1e4) / 1e4;
}

export const prunePass: Pass<PruneOptions> = {
  name: 'prune',
  describe: 'Magnitude (global / per layer), N:M and channel pruning of MatMul, Gemm and Conv weights',
  options: {
    sparsity: 'fraction to remove, 0 ≤ s < 1: of weights (unstructured), of output channels (channel); implied by N:M',
    scope: 'global (one magnitude threshold across layers; default), layer (each layer to the sparsity; default for channel), or lamp (one threshold on layer-adaptive LAMP scores)',
    pattern: 'unstructured (default), channel, or N:M such as 2:4 (N largest of every M along the input dimension)',
    keepFirstLast: 'leave the first and the last prunable layer dense (default false)',
    includeEmbeddings: 'also prune Gather embedding tables (default false)',
    exclude: 'node or weight names (globs) to leave alone',
    sparseStorage: 'store pruned weights as ONNX sparse initializers where smaller (default false)',
    reconstruct: 'refit the kept MatMul / Gemm / Conv weights by least squares against the original outputs on calibration (or training) samples (default false)',
    reconstructSamples: 'samples used by reconstruct (default 1024)',
  },
  parseOptions: parsePruneOptions,
  run: (model, options, ctx) => runPrune(model, options, ctx),
  cli: {
    flags: [
      { flags: '--prune <sparsity>', description: 'prune to this sparsity (0..1): weights, or output channels with --prune-pattern channel' },
      { flags: '--prune-scope <scope>', description: 'global: one magnitude threshold across layers (default); layer: each layer to the sparsity (default for channel); lamp: one threshold on layer-adaptive (LAMP) scores', choices: ['global', 'layer', 'lamp'] },
      { flags: '--prune-pattern <pattern>', description: 'unstructured (default), channel, or N:M such as 2:4' },
      { flags: '--prune-keep-first-last', description: 'leave the first and last prunable layers dense' },
      { flags: '--prune-include-embeddings', description: 'also prune Gather embedding tables' },
      { flags: '--sparse-storage', description: 'store pruned weights as ONNX sparse initializers when smaller' },
      { flags: '--prune-reconstruct', description: 'refit the kept weights by least squares on --calibration-data (or --train-data) samples' },
    ],
    fromFlags(f) {
      if (f.prune === undefined && f.prunePattern === undefined && !f.sparseStorage) return undefined;
      return {
        sparsity: f.prune,
        scope: f.pruneScope,
        pattern: f.prunePattern,
        keepFirstLast: f.pruneKeepFirstLast,
        includeEmbeddings: f.pruneIncludeEmbeddings,
        exclude: f.exclude,
        sparseStorage: f.sparseStorage,
        reconstruct: f.pruneReconstruct,
      };
    },
    outputSuffix: () => '_pruned',
  },
};

export default prunePass;
