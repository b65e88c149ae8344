/**
 * Scoring compressed variants of one model against it, fast: the original runs once over the
 * samples and its outputs (and, within a memory budget, the layer outputs asked for) are kept;
 * every variant then runs once, and the comparison is bench/accuracy.ts's `evaluate` fed the
 * cached outputs in place of the original's session.
 *
 *   metric: top-1 accuracy with labels, else agreement with the original's top-1;
 *   drop (points) = 100 · (baseline − score); with agreement the baseline is 1;
 *   SQNR of a layer output y (original) against ŷ (variant) = 10·log10(Σ y² / Σ (y − ŷ)²) dB.
 *
 * The standard error `se` of a score's difference from the baseline (fraction), on n predictions:
 *   accuracy (paired: both models scored on the same samples): with `lost` predictions the
 *     original gets right and the variant wrong and `gained` the other way round, the per-sample
 *     difference is +1, −1 or 0, so se = √(lost + gained − (lost − gained)²/n) / n;
 *   agreement a (a proportion, the original's own is 1 exactly): se = √(a·(1 − a) / n).
 * n counts predictions: with several per sample (a token classifier's per-position outputs) they
 * are taken as independent, which they are not quite, so se is then on the small side.
 */
import { MlcError } from '../core/errors.js';
import type { Dataset } from '../core/types.js';
import type { Model } from '../ir/model.js';
import { evaluate, type OutputLike, type Runnable } from '../bench/accuracy.js';
import { hasDynamicBatch, inputSpecs, type Feeds, type InputSpec } from '../bench/inputs.js';
import { probeModel } from '../passes/activations.js';
import { createSession, type Session } from '../runtime/index.js';

export type Metric = 'accuracy' | 'agreement';

export interface Score {
  /** the metric (fraction) */
  score: number;
  /** 100 · (baseline − score) */
  drop: number;
  agreement: number;
  cosine: number;
  /** SQNR of the asked layer output, dB; null when not measured */
  sqnrDb: number | null;
  /** standard error of `baseline − score` (fraction), see the file comment */
  se: number;
}

/** Standard error of a paired accuracy difference (fraction) from its discordant counts. */
export function pairedDiffSe(lost: number, gained: number, n: number): number {
  if (!(n > 0)) return 0;
  return Math.sqrt(Math.max(0, lost + gained - (lost - gained) ** 2 / n)) / n;
}

/** Standard error of a proportion `p` measured on n trials. */
export function proportionSe(p: number, n: number): number {
  return n > 0 ? Math.sqrt(Math.max(0, p * (1 - p)) / n) : 0;
}

export interface EvaluatorOptions {
  /** the output scored (default: the first) */
  outputName?: string;
  /** score agreement even when the data has labels */
  agreement?: boolean;
  /** samples per batch (default 64) */
  batchSize?: number;
  /** layer outputs whose SQNR may be asked for (cached from the original) */
  layerOutputs?: readonly string[];
  /** bytes of layer outputs kept (default 256 MB); batches past it are not used for SQNR */
  cacheBytes?: number;
}

function floatData(o: OutputLike | undefined): Float32Array | undefined {
  return o && o.data instanceof Float32Array ? o.data : undefined;
}

/** 10·log10(signal / noise), +∞ for no noise, null without signal. */
export function sqnrDb(signal: number, noise: number): number | null {
  if (!(signal > 0)) return null;
  if (noise === 0) return Infinity;
  return 10 * Math.log10(signal / noise);
}

export class Evaluator {
  readonly metric: Metric;
  /** the original's metric (fraction); 1 for agreement */
  baseline = 1;
  private outputs: Record<string, OutputLike>[] = [];
  private layerCache: Map<string, Float32Array>[] = [];
  private readonly specs: InputSpec[];
  private readonly fixedBatch: number | undefined;
  readonly outputName: string;

  private constructor(
    readonly original: Model,
    readonly data: Dataset,
    private readonly opts: EvaluatorOptions,
  ) {
    this.metric = data.labels && !opts.agreement ? 'accuracy' : 'agreement';
    this.specs = inputSpecs(original);
    const d = this.specs[0]?.shape?.[0];
    this.fixedBatch = hasDynamicBatch(this.specs) || typeof d !== 'number' ? undefined : d;
    const outs = original.graph.outputs.map((o) => o.name);
    const name = opts.outputName ?? outs[0];
    if (name === undefined || !outs.includes(name)) throw new MlcError('USAGE', `the model has no output "${name}" (outputs: ${outs.join(', ')})`);
    this.outputName = name;
  }

  /** Run the original once over `data`, keeping its outputs (and layer outputs within the budget). */
  static async create(original: Model, data: Dataset, opts: EvaluatorOptions = {}): Promise<Evaluator> {
    const ev = new Evaluator(original, data, opts);
    await ev.init();
    return ev;
  }

  private evalOptions() {
    return { batchSize: this.opts.batchSize ?? 64, fixedBatch: this.fixedBatch };
  }

  private async init(): Promise<void> {
    const defined = this.original.graph.definedNames();
    const layers = [...new Set(this.opts.layerOutputs ?? [])].filter((n) => defined.has(n));
    const probe = layers.length ? probeModel(this.original, layers) : this.original;
    const session = await createSession(probe);
    let budget = this.opts.cacheBytes ?? 256e6;
    try {
      const recorder: Runnable = {
        run: async (feeds: Feeds) => {
          const res = await session.run(feeds, [...new Set(budget > 0 ? [this.outputName, ...layers] : [this.outputName])]);
          const kept = new Map<string, Float32Array>();
          for (const l of layers) {
            const d = floatData(res[l] as OutputLike);
            if (d && budget > 0) {
              kept.set(l, d);
              budget -= d.byteLength;
            }
          }
          this.layerCache.push(kept);
          const out = { [this.outputName]: res[this.outputName] as OutputLike };
          this.outputs.push(out);
          return out;
        },
      };
      const r = await evaluate([recorder], this.data, this.specs, this.outputName, this.evalOptions());
      this.baseline = this.metric === 'accuracy' ? (r.accuracy[0] ?? 0) : 1;
    } finally {
      await session.release();
    }
  }

  /** Score a variant of the original (a session made here, released after), SQNR of `layerOutput` if given. */
  async score(model: Model, layerOutput?: string): Promise<Score> {
    const hasLayer = !!layerOutput && this.layerCache.some((c) => c.has(layerOutput)) && model.graph.definedNames().has(layerOutput);
    const probe = hasLayer && !model.graph.outputs.some((o) => o.name === layerOutput) ? probeModel(model, [layerOutput!]) : model;
    const session = await createSession(probe);
    try {
      return await this.scoreSession(session, hasLayer ? layerOutput : undefined);
    } finally {
      await session.release();
    }
  }

  private async scoreSession(session: Session, layerOutput: string | undefined): Promise<Score> {
    let batch = 0;
    const replay: Runnable = {
      run: async () => this.outputs[batch],
    };
    let signal = 0;
    let noise = 0;
    const variant: Runnable = {
      run: async (feeds: Feeds) => {
        const ref = layerOutput ? this.layerCache[batch]?.get(layerOutput) : undefined;
        const res = await session.run(feeds, ref ? [...new Set([this.outputName, layerOutput!])] : [this.outputName]);
        const got = ref ? floatData(res[layerOutput!] as OutputLike) : undefined;
        if (ref && got && got.length === ref.length) {
          for (let i = 0; i < ref.length; i++) {
            signal += ref[i] * ref[i];
            const e = ref[i] - got[i];
            noise += e * e;
          }
        }
        batch++;
        return { [this.outputName]: res[this.outputName] as OutputLike };
      },
    };
    const r = await evaluate([replay, variant], this.data, this.specs, this.outputName, this.evalOptions());
    const score = this.metric === 'accuracy' ? (r.accuracy[1] ?? 0) : r.agreement[0];
    return {
      se: this.metric === 'accuracy' ? pairedDiffSe(r.lost[0], r.gained[0], r.predictions) : proportionSe(score, r.predictions),
      score,
      drop: 100 * (this.baseline - score),
      agreement: r.agreement[0],
      cosine: r.cosine[0],
      sqnrDb: layerOutput ? sqnrDb(signal, noise) : null,
    };
  }
}
