/**
 * Per-layer sensitivity: for every layer (a node with a weight, src/tune/layers.ts) and every
 * probe (a pass with one setting), apply the pass to that layer alone — every other layer in the
 * pass's `exclude` option — and measure what it costs and what it saves:
 *
 *   cost:   drop of the metric in points (accuracy with labels, agreement without), mean output
 *           cosine with the original, SQNR of the layer's own output (dB);
 *   saving: serialized bytes and gzip -9 bytes, and the layer's share of the original's batch-1
 *           time from onnxruntime's per-node profile.
 *
 * A layer the pass leaves alone (the pass reports no change) gets no row. The original runs once
 * (src/tune/evaluate.ts caches its outputs); each variant is one session over the samples.
 */
import type { Dataset } from '../core/types.js';
import type { Model } from '../ir/model.js';
import { diskSize } from '../bench/size.js';
import type { SensitivityReport, SensitivityRow } from '../bench/types.js';
import { datasetFeeds, inputSpecs } from '../bench/inputs.js';
import { modelToBytes } from '../onnx/index.js';
import type { RecipeStep } from '../passes/registry.js';
import { profileNodes } from '../runtime/profile.js';
import { makeApplier } from './apply.js';
import { Evaluator } from './evaluate.js';
import { excludeAllBut, weightLayers, type WeightLayer } from './layers.js';

/** One pass with one setting, applied layer by layer. */
export interface Probe {
  /** as a user would write it: "quantize int8 dynamic", "prune 0.5" */
  label: string;
  step: RecipeStep;
}

export interface SensitivityOptions {
  probes: readonly Probe[];
  /** measure gzip savings (default true) */
  gzip?: boolean;
  /** profile the original for latency shares (default true) */
  profile?: boolean;
  /** score agreement even when the data has labels */
  agreement?: boolean;
  calibration?: Dataset;
  seed?: number;
  /** stop (with the rows so far) after this time, ms */
  deadline?: number;
  onProgress?: (msg: string) => void;
  /** an evaluator on `data` already made (the tuner's) */
  evaluator?: Evaluator;
}

export interface LayerSensitivity extends SensitivityRow {
  layer: WeightLayer;
  probe: Probe;
}

/** The default setting of each pass the analysis knows. */
export function defaultProbe(pass: string, opts: { quantize?: string; quantizeMode?: string; sparsity?: number; energy?: number } = {}): Probe {
  switch (pass) {
    case 'quantize': {
      const type = opts.quantize ?? 'int8';
      const format = type === 'fp16' || type === 'int4';
      const mode = format ? undefined : (opts.quantizeMode ?? 'dynamic');
      // int4: what 4 bits cost the layer (the int4 target, on by default, could keep it at 8 bits)
      const options = { type: type as 'int8', ...(mode ? { mode: mode as 'dynamic' } : {}), ...(type === 'int4' ? { int4Target: 0 } : {}) };
      return { label: `quantize ${type}${mode ? ` ${mode}` : ''}`, step: { pass: 'quantize', options } };
    }
    case 'prune': {
      const s = opts.sparsity ?? 0.5;
      return { label: `prune ${s}`, step: { pass: 'prune', options: { sparsity: s, scope: 'layer' } } };
    }
    case 'lowrank': {
      const e = opts.energy ?? 0.9;
      return { label: `lowrank energy ${e}`, step: { pass: 'lowrank', options: { energy: e } } };
    }
    default:
      throw new Error(`no sensitivity probe for pass ${pass}`);
  }
}

/** The step with `exclude` patterns added to its options. */
export function withExclude(step: RecipeStep, exclude: readonly string[]): RecipeStep {
  const options = { ...(step.options ?? {}) } as Record<string, unknown>;
  const had = (options.exclude as string[] | undefined) ?? [];
  if (exclude.length || had.length) options.exclude = [...had, ...exclude];
  return { pass: step.pass, options } as RecipeStep;
}

export async function analyseSensitivity(
  original: Model,
  data: Dataset,
  opts: SensitivityOptions,
): Promise<{ report: SensitivityReport; rows: LayerSensitivity[] }> {
  const t0 = performance.now();
  const progress = opts.onProgress ?? (() => {});
  const layers = weightLayers(original);
  const ev = opts.evaluator ?? (await Evaluator.create(original, data, { agreement: opts.agreement, layerOutputs: layers.map((l) => l.output) }));
  const applier = makeApplier(original, { calibration: opts.calibration ?? data, seed: opts.seed });
  const rows: LayerSensitivity[] = [];
  try {
    let share: ((l: WeightLayer) => number | null) | undefined;
    if (opts.profile !== false) {
      progress('profiling the original');
      const specs = inputSpecs(original);
      const fixed = specs[0]?.shape?.[0];
      const p = await profileNodes(original, datasetFeeds(data, specs, 0, typeof fixed === 'number' ? fixed : 1));
      share = (l) => {
        const t = p.nodes.get(l.name);
        return t !== undefined && p.totalUs > 0 ? t / p.totalUs : null;
      };
    }
    const baseBytes = modelToBytes(original);
    const gzip = opts.gzip !== false;
    const base = await diskSize(undefined, { bytes: baseBytes });
    let i = 0;
    const total = layers.length * opts.probes.length;
    outer: for (const probe of opts.probes) {
      for (const layer of layers) {
        i++;
        if (opts.deadline !== undefined && performance.now() > opts.deadline) break outer;
        progress(`${probe.label}: layer ${i}/${total} ${layer.name}`);
        const { model, passes } = await applier.apply([withExclude(probe.step, excludeAllBut(layers, layer))]);
        if (!passes.some((p) => p.modified)) continue;
        const s = await ev.score(model, layer.output);
        const bytes = modelToBytes(model);
        const size = gzip ? await diskSize(undefined, { bytes }) : undefined;
        rows.push({
          layer,
          probe,
          node: layer.name,
          op: layer.op,
          pass: probe.label,
          drop: s.drop,
          cosine: s.cosine,
          sqnrDb: s.sqnrDb,
          bytesSaved: baseBytes.length - bytes.length,
          gzipBytesSaved: size ? base.gzipBytes - size.gzipBytes : null,
          latencyShare: share ? share(layer) : null,
        });
      }
    }
  } finally {
    await applier.release();
  }
  const report: SensitivityReport = {
    metric: ev.metric,
    baseline: ev.baseline,
    rows: rows.map(({ layer: _l, probe: _p, ...r }) => r),
    seconds: (performance.now() - t0) / 1000,
  };
  return { report, rows };
}

/** Rows most costly first: larger drop, then lower cosine, then lower SQNR. */
export function bySensitivity(a: SensitivityRow, b: SensitivityRow): number {
  return (b.drop ?? 0) - (a.drop ?? 0) || (a.cosine ?? 1) - (b.cosine ?? 1) || (a.sqnrDb ?? Infinity) - (b.sqnrDb ?? Infinity);
}
