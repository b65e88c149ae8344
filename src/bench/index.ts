/**
 * Benchmarking one model, or an original and a compressed model side by side: size, latency
 * (batch 1), throughput (batch N), accuracy and fidelity, then the report with its gates.
 *
 * Both models are measured in the same process: their sessions are open together, timed runs are
 * interleaved in blocks, and accuracy batches run through both models in turn.
 */
import { MlcError } from '../core/errors.js';
import type { Model } from '../ir/model.js';
import type { Dataset } from '../core/types.js';
import { numElements } from '../ir/dtype.js';
import type { Session } from '../runtime/index.js';
import { gpuWebgpu, openSession, type RuntimeName } from '../runtime/runtimes.js';
import { evaluate, type Runnable } from './accuracy.js';
import { evaluateGates, type GateLimits } from './gates.js';
import {
  canSynthesize,
  datasetFeeds,
  hasDynamicBatch,
  inputSpecs,
  planShapes,
  SEQUENCE_LENGTH,
  synthesizeFeeds,
  unknownShapeMessage,
  type Feeds,
  type InputSpec,
  type ShapeOverrides,
  type ShapePlan,
} from './inputs.js';
import { ciLevelAt, keptSamples, median, medianCi, roundRatios, summarize, timeInterleaved, timeRounds } from './latency.js';
import type { BenchSettings, Metrics, PassReport, Report, RuntimeResult } from './report.js';
import { paramsOf } from '../ir/params.js';
import { brotliSizeOf, diskSize, type DiskSize } from './size.js';

export * from './accuracy.js';
export * from './gates.js';
export * from './inputs.js';
export * from './latency.js';
export * from './report.js';
export * from './size.js';

/**
 * The fewest timed runs per model a time-boxed latency phase stops at: 6 is the fewest samples
 * (per-round ratios, for a slow model timed one run per round) that give a 95% interval of the
 * median (src/bench/latency.ts medianCi). A BERT-base-size encoder (0.5 s a run) is then timed in
 * about 5 s, not 8.
 */
export const BOXED_MIN_RUNS = 6;

/**
 * A model whose first run takes at least half the time box (a 1024×1024 segmentation network in
 * fp16: about 10 s a run on this CPU) is timed with 3 runs per model and one warm-up (none for the
 * first model, whose first run was one): about 8 runs in all instead of 17. Three samples give a
 * median but no 95% interval, which the report then leaves out; `--runs` asks for more.
 */
export const SLOW_MIN_RUNS = 3;

export interface BenchModel {
  model: Model;
  /** the model file, for bytes on disk; without it the model is serialized in memory */
  path?: string;
  /** external data files beside `path` (e.g. saveModel's externalDataFile) */
  externalFiles?: string[];
  /**
   * an onnxruntime session of this model made with the measurement's options (threads,
   * disabledOptimizers), e.g. compress()'s checked session: measureModels uses it instead of
   * creating one, and releases it
   */
  session?: Session;
  /** bytes and gzip bytes already being measured (e.g. started before the passes ran) */
  disk?: Promise<DiskSize>;
}

export interface MeasureOptions {
  /** data for accuracy / agreement, and the inputs used for timing */
  data?: Dataset;
  /** intra-op threads (default 1, so figures are comparable) */
  threads?: number;
  /** timed runs per model; when given, exactly this many (unless minTimeMs is given too) */
  runs?: number;
  /** warm-up runs per model (default 10) */
  warmup?: number;
  /** minimum timed phase, ms (default 2000 when runs is not given, else 0) */
  minTimeMs?: number;
  /** batch size for throughput and evaluation where the batch dimension is dynamic (default 64) */
  batchSize?: number;
  /** shapes for inputs with dynamic dimensions other than the batch */
  shapes?: ShapeOverrides;
  /** output accuracy / agreement are computed on (default: the first output) */
  outputName?: string;
  /**
   * where the models run for latency, throughput, accuracy and fidelity (default 'node'):
   * sessions handed in with the models (`BenchModel.session`) are onnxruntime-node sessions and
   * are only used for 'node' (and released otherwise)
   */
  runtime?: RuntimeName;
  /** onnxruntime graph transformers to turn off in every session (e.g. SkipLayerNormFusion) */
  disabledOptimizers?: string[];
  /** measure latency and throughput (default true) */
  latency?: boolean;
  /**
   * Measurements that run the model and fail (onnxruntime cannot load or run it, the data does not
   * fit) leave their figures null with a warning instead of throwing (mlc compress, whose output is
   * already written). Default false: they throw. Either way, inputs mlc cannot synthesize (unknown
   * dims, made-up values onnxruntime rejects) skip those measurements with a warning.
   */
  bestEffort?: boolean;
  /** gzip every byte of large files instead of estimating from a sample (src/bench/size.ts) */
  exactGzip?: boolean;
  /** also measure the brotli -q 11 size (models up to 64 MB; src/bench/size.ts) */
  brotli?: boolean;
  /**
   * time box of the latency phase when `runs` is not given, ms (default 4000): a slow model gets
   * fewer than 50 timed runs (at least BOXED_MIN_RUNS), warm-up stops after a second (at least 2 runs), and
   * the throughput batch is made small enough for a batch to take about half a second
   */
  timeBoxMs?: number;
  /**
   * keep timing until the 95% interval of the speedup (two models) or of the latency (one model)
   * is within ± this fraction of its median, or until `ciTimeBoxMs` (default 15000) has passed;
   * the CLI sets 0.03 when a latency gate is asked for. Not with `runs` (an exact count).
   */
  ciTarget?: number;
  ciTimeBoxMs?: number;
  /**
   * latency gates to decide (src/bench/latency.ts, "Sequential gates"): when an interval straddles
   * a limit once timing would stop, timing goes on for at most `maxMs` more (default 20000) until
   * it does not, each later look judging a wider interval (`ciLevelAt`); the intervals reported are
   * then at that level (`settings.ciLevel`). Not with `runs`.
   */
  settle?: { minSpeedup?: number; maxLatencyMs?: number; maxMs?: number };
  /** progress messages (the CLI shows them on a TTY) */
  onProgress?: (msg: string) => void;
}

export interface Measured {
  before: Metrics;
  after: Metrics | null;
  speedup: number | null;
  /** 95% interval of the speedup (per-round ratios of block medians); null without enough rounds */
  speedupCi: [number, number] | null;
  settings: BenchSettings;
  /** why figures are missing (one line each; the CLI prints them as warnings) */
  warnings: string[];
  /** how the dynamic dimensions of made-up inputs were chosen (the CLI shows them with --verbose) */
  shapeNotes: string[];
  /** every runtime's figures (measureRuntimes), the first being `before` / `after`'s */
  runtimes?: RuntimeResult[];
}

function batchDim(specs: InputSpec[], shapes: ShapeOverrides): number | undefined {
  // a fixed first dimension, if the model declares one (the batch is then not ours to choose)
  for (const s of specs) {
    const d = s.shape?.[0];
    if (typeof d === 'number' && d >= 0) return d;
    if (!s.shape && shapes[s.name]) return undefined;
  }
  return undefined;
}

function feedsFor(specs: InputSpec[], batch: number, opts: MeasureOptions, plan: ShapePlan | undefined): Feeds {
  if (opts.data) return datasetFeeds(opts.data, specs, 0, batch);
  return synthesizeFeeds(specs, plan!.at(batch));
}

/** One timed run: the runtime's own figure where it has one (a browser page), else the call's wall time. */
function timedJob(s: Session, feeds: Feeds): () => Promise<unknown> {
  const f = feeds as Parameters<Session['run']>[0];
  return s.time ? () => s.time!(f) : () => s.run(f);
}

/** Largest input (elements, at batch 1) measurements make up values for. */
const MAX_MADE_UP_ELEMENTS = 1 << 27;

/** A measurement that could not be made: an MlcError other than INTERNAL (a bug). */
function measurementError(err: unknown): err is MlcError {
  return err instanceof MlcError && err.code !== 'INTERNAL';
}

function checkSameInputs(a: InputSpec[], b: InputSpec[]): void {
  for (const s of a) {
    const o = b.find((x) => x.name === s.name);
    if (!o) throw new MlcError('INPUT', `the compared model has no input "${s.name}" (it has: ${b.map((x) => x.name).join(', ')})`);
    if (o.dtype !== s.dtype) throw new MlcError('INPUT', `input "${s.name}" is ${s.dtype} in the first model but ${o.dtype} in the compared model`);
  }
  if (b.length !== a.length) {
    const extra = b.filter((x) => !a.some((y) => y.name === x.name)).map((x) => x.name);
    throw new MlcError('INPUT', `the compared model has inputs the first does not: ${extra.join(', ')}`);
  }
}

function resolveOutputName(models: Model[], wanted?: string): string {
  const outs = models[0].graph.outputs.map((o) => o.name);
  const name = wanted ?? outs[0];
  if (name === undefined) throw new MlcError('INPUT', 'the model has no outputs');
  models.forEach((m, i) => {
    const names = m.graph.outputs.map((o) => o.name);
    if (!names.includes(name)) {
      throw new MlcError(
        wanted ? 'USAGE' : 'INPUT',
        `${i === 0 ? 'the model' : 'the compared model'} has no output "${name}" (outputs: ${names.join(', ')})${wanted ? '' : '; choose one with --output-name'}`,
      );
    }
  });
  return name;
}

/** Measure one model, or `base` and `other` side by side. */
export async function measureModels(base: BenchModel, other: BenchModel | undefined, opts: MeasureOptions = {}): Promise<Measured> {
  const threads = opts.threads ?? 1;
  const warmup = opts.warmup ?? 10;
  const runs = opts.runs ?? 50;
  const minTimeMs = opts.minTimeMs ?? (opts.runs !== undefined ? 0 : 2000);
  const batchSize = opts.batchSize ?? 64;
  const doLatency = opts.latency ?? true;
  const runtime = opts.runtime ?? 'node';
  if (!Number.isInteger(threads) || threads < 1) throw new MlcError('USAGE', `--threads must be a positive integer, got ${threads}`);
  if (!Number.isInteger(runs) || runs < 1) throw new MlcError('USAGE', `--runs must be a positive integer, got ${runs}`);
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new MlcError('USAGE', `--batch-size must be a positive integer, got ${batchSize}`);

  const models = other ? [base.model, other.model] : [base.model];
  const warnings: string[] = [];
  // `skip`: why the measurements that run the model are not made (sizes are measured regardless)
  let skip: string | undefined;
  let specs: InputSpec[] = [];
  try {
    specs = inputSpecs(base.model);
  } catch (err) {
    if (!(err instanceof MlcError && err.code === 'UNSUPPORTED') || opts.data) throw err;
    skip = err.message;
  }
  if (other && !skip) {
    try {
      checkSameInputs(specs, inputSpecs(other.model));
    } catch (err) {
      if (!opts.bestEffort || !measurementError(err)) throw err;
      skip = err.message;
    }
  }
  const shapes = opts.shapes ?? {};
  const dynamic = hasDynamicBatch(specs);
  const fixed = dynamic ? undefined : batchDim(specs, shapes);
  let plan: ShapePlan | undefined;
  if (!opts.data && !skip) {
    const cannot = specs.find((s) => !canSynthesize(s));
    plan = planShapes(specs, shapes); // throws USAGE on a --shape that does not fit
    if (cannot) skip = `input "${cannot.name}" is ${cannot.dtype}, which mlc cannot make up values for; pass --data`;
    else if (plan.unknown.length) skip = unknownShapeMessage(plan.unknown);
    else {
      // a made-up input must fit in memory (a mutated or odd model can declare 10⁹ elements)
      const big = Object.entries(plan.at(fixed ?? 1)).find(([, d]) => numElements(d) > MAX_MADE_UP_ELEMENTS);
      if (big) skip = `input "${big[0]}" [${big[1].join(', ')}] is too large to make up (more than ${MAX_MADE_UP_ELEMENTS} elements); pass --data or a smaller --shape`;
    }
  }
  const outputName = opts.data ? resolveOutputName(models, opts.outputName) : opts.outputName ?? null;
  if (!opts.data && opts.outputName) resolveOutputName(models, opts.outputName);

  const progress = opts.onProgress ?? (() => {});
  // sizes: the gzip work runs in the thread pool while the sessions are created; it is awaited
  // before any timing so that it does not disturb the timed runs
  progress('measuring size');
  const benchModels = other ? [base, other] : [base];
  const disks = benchModels.map(async (b) => {
    const [d, brotliBytes] = await Promise.all([b.disk ?? diskSize(b.model, b, { exact: opts.exactGzip }), opts.brotli ? brotliSizeOf(b.model, b) : null]);
    return { ...d, brotliBytes };
  });
  for (const d of disks) d.catch(() => {}); // awaited below
  const params = models.map((m) => paramsOf(m));

  const sessions: Session[] = [];
  // sessions handed in are ours to release, whatever happens
  const given = benchModels.map((b) => b.session);
  try {
    const disabledOptimizers = opts.disabledOptimizers ?? [];
    let latency: Metrics['latencyMs'][] = models.map(() => null);
    let throughput: (number | null)[] = models.map(() => null);
    let timedRuns: number | null = null;
    let speedupCi: [number, number] | null = null;
    // the median of the per-round ratios: the point of the interval above (the ratio of the two
    // overall p50s can fall outside it when the machine's speed drifts between rounds)
    let roundSpeedup: number | null = null;
    let ciLevel = 0.95;
    let tpBatch: number | null = null;
    let timeBoxed = false;
    let accuracy: (number | null)[] = models.map(() => null);
    let agreement: number | null = null;
    let cos: number | null = null;
    let maxAbs: number | null = null;
    let samples = 0;
    let inputShapes: Record<string, number[]> | null = null;
    const runsModel = !skip && (doLatency || !!opts.data);
    let feeds1: Feeds | undefined; // the latency feeds (batch 1, or the fixed batch)
    let firstMs: number | undefined; // the first model's first run, ms (a warm-up run)
    try {
      if (runsModel) {
        for (let i = 0; i < benchModels.length; i++) {
          // from the file when there is one: onnxruntime reads it (and its external data) itself,
          // with no serialized copy in memory (and none at all for models over protobuf's 2 GB limit)
          const b = benchModels[i];
          const mine = runtime === 'node' ? given[i] : undefined;
          if (!mine) progress(`opening a session of model ${i + 1}`);
          sessions.push(mine ?? (await openSession(runtime, b.model, { intraOpThreads: threads, disabledOptimizers }, b.path)));
          if (mine) given[i] = undefined;
        }
        const b1 = fixed ?? 1;
        feeds1 = feedsFor(specs, b1, opts, plan);
        progress('a first run');
        const t0 = performance.now();
        if (opts.data) {
          // the first model's first run: a warm-up run, and how slow the model is
          if (doLatency) {
            await sessions[0].run(feeds1);
            firstMs = performance.now() - t0;
          }
        } else {
          // made-up inputs may not suit the model (a shape guessed wrong, values it rejects); a
          // sequence length mlc chose is halved until the model runs (fewer positions than 128)
          let first: { err: MlcError; shapes: Feeds } | undefined;
          for (let len = SEQUENCE_LENGTH; ; ) {
            try {
              const t1 = performance.now();
              await sessions[0].run(feeds1);
              firstMs = performance.now() - t1;
              break;
            } catch (err) {
              if (!measurementError(err)) throw err;
              first ??= { err, shapes: feeds1 };
              if (!plan!.sequenceGuessed || len <= 1) {
                const msg = first.err.message.replace(/^onnxruntime failed to run the model: /, '').split('\n')[0];
                const used = Object.entries(first.shapes).map(([k, f]) => `${k} [${f.dims.join(', ')}]`).join(', ');
                throw new MlcError('INPUT', `onnxruntime cannot run the model on made-up inputs (${used}): ${msg}; give the shapes with --shape name=dims, or pass --data`, {
                  cause: err,
                });
              }
              len = Math.floor(len / 2);
              plan = planShapes(specs, shapes, len);
              feeds1 = feedsFor(specs, b1, opts, plan);
            }
          }
        }
        inputShapes = Object.fromEntries(Object.entries(feeds1).map(([k, f]) => [k, [...f.dims]]));
      }
      if (runsModel && doLatency) {
        // a time box only when the run count is ours to choose
        const box = opts.runs === undefined ? (opts.timeBoxMs ?? 4000) : undefined;
        const b1 = fixed ?? 1;
        const f1 = feeds1!;
        const slow = box !== undefined && firstMs !== undefined && firstMs >= box / 2;
        if (slow) progress(`a run takes ${(firstMs! / 1000).toFixed(1)} s: ${SLOW_MIN_RUNS} timed runs per model`);
        progress(`latency: ${warmup} warm-up and ${minTimeMs ? `at least ${runs} runs / ${minTimeMs} ms` : `${runs} runs`} per model`);
        // with a target width, timing goes on (up to its own time box) until the interval is narrow
        const ci = box && opts.ciTarget ? { target: opts.ciTarget, box: Math.max(box, opts.ciTimeBoxMs ?? 15_000) } : undefined;
        const settle = box ? opts.settle : undefined;
        const { samples: lat, blockMedians, look } = await timeRounds(
          sessions.map((s) => timedJob(s, f1)),
          {
            warmup,
            runs,
            minTimeMs,
            blockSize: 10,
            // the gzip work (thread pool) may overlap the warm-up, never the timed runs
            beforeTimed: async () => {
              progress('waiting for the sizes');
              await Promise.all(disks).catch(() => {});
              progress('timed runs');
            },
            ...(firstMs !== undefined ? { warmedUp: [1] } : {}),
            ...(box ? { maxTimeMs: ci?.box ?? box, warmupMaxMs: box / 4, minRuns: slow ? SLOW_MIN_RUNS : BOXED_MIN_RUNS } : {}),
            ...(slow ? { warmupMinRuns: 1 } : {}),
            ...(ci ? { narrow: (bm: number[][]) => narrowEnough(bm, ci.target) } : {}),
            ...(settle && (settle.minSpeedup !== undefined || settle.maxLatencyMs !== undefined)
              ? { extend: { maxMs: settle.maxMs ?? 20_000, undecided: (bm: number[][], k: number) => straddles(bm, settle, ciLevelAt(k)) } }
              : {}),
          },
        );
        ciLevel = ciLevelAt(look);
        const stats = lat.map(summarize);
        latency = stats.map(({ p50, p90, p99, mean, cv }, i) => ({ p50, p90, p99, mean, cv, p50Ci: medianCi(blockMedians[i], ciLevel), samples: keptSamples(lat[i]) }));
        if (blockMedians.length === 2) {
          const ratios = roundRatios(blockMedians);
          speedupCi = medianCi(ratios, ciLevel);
          if (ratios.length) roundSpeedup = median(ratios);
        }
        timedRuns = Math.min(...stats.map((s) => s.runs));
        timeBoxed = timedRuns < runs;

        // with a time box and a dynamic batch, a batch should take about box / 8 (0.5 s) for the
        // slowest model, estimated from its batch-1 latency (batching only makes a sample cheaper)
        tpBatch = fixed ?? batchSize;
        if (box && fixed === undefined) {
          const slowest = Math.max(...stats.map((x) => x.p50));
          const fit = Math.max(1, Math.floor(box / 8 / Math.max(slowest, 1e-6)));
          if (fit < tpBatch) {
            tpBatch = fit;
            timeBoxed = true;
          }
        }
        const feedsN = feedsFor(specs, tpBatch, opts, plan);
        const tpRuns = Math.max(3, Math.ceil(runs / 5));
        progress(`throughput at batch ${tpBatch}`);
        try {
          if (tpBatch === b1 && timeBoxed) {
            // so slow a model that the batch fitting the box is the latency's batch: the latency
            // runs already are the throughput runs (batch / median time, as below)
            throughput = stats.map((x) => (x.p50 > 0 ? tpBatch! / (x.p50 / 1000) : null));
          } else {
            const tp = await timeInterleaved(
              sessions.map((s) => timedJob(s, feedsN)),
              {
                warmup: box && fixed === undefined && tpBatch < batchSize ? Math.min(warmup, 1) : Math.min(warmup, 3),
                runs: tpRuns,
                minTimeMs: minTimeMs / 2,
                blockSize: 3,
                ...(box ? { maxTimeMs: box / 2, warmupMaxMs: box / 8, minRuns: 3 } : {}),
              },
            );
            // batch size / median batch time: robust to the preemptions of a shared machine
            throughput = tp.map((samples) => {
              const med = summarize(samples).p50;
              return med > 0 ? tpBatch! / (med / 1000) : null;
            });
          }
        } catch (err) {
          // a model that runs at batch 1 but not at this batch (a Reshape to a fixed batch, ...)
          if (opts.data || !measurementError(err)) throw err;
          warnings.push(`throughput not measured: onnxruntime cannot run the model on made-up inputs at batch ${tpBatch}: ${err.message.split('\n')[0]}`);
          tpBatch = null;
        }
      }

      if (runsModel && opts.data) {
        const runners: Runnable[] = sessions.map((s) => ({ run: (f, names) => s.run(f, names) }));
        const res = await evaluate(runners, opts.data, specs, outputName!, {
          batchSize,
          fixedBatch: fixed,
          onProgress: (done, total) => progress(`evaluating ${done}/${total}`),
        });
        accuracy = res.accuracy;
        samples = res.samples;
        if (other) {
          agreement = res.agreement[0];
          cos = res.cosine[0];
          maxAbs = res.maxAbsError[0];
        }
      }
    } catch (err) {
      // made-up inputs that do not fit are not the user's error; with data, only in best-effort mode
      const madeUp = !opts.data && err instanceof MlcError && err.code === 'INPUT' && /made-up inputs/.test(err.message);
      if (!measurementError(err) || !(opts.bestEffort || madeUp)) throw err;
      skip = err.message;
    }
    if (skip) {
      const missing = [doLatency && latency[0] === null ? 'latency' : '', opts.data && samples === 0 ? 'accuracy and fidelity' : ''].filter(Boolean);
      if (missing.length) warnings.push(`${missing.join(' and ')} not measured: ${skip}`);
      else skip = undefined;
    }

    const sizes = await Promise.all(disks);
    const metrics = (i: number): Metrics => ({
      sizeBytes: sizes[i].sizeBytes,
      gzipBytes: sizes[i].gzipBytes,
      ...(sizes[i].gzipSampled ? { gzipSampled: sizes[i].gzipSampled } : {}),
      ...(sizes[i].brotliBytes !== null ? { brotliBytes: sizes[i].brotliBytes } : {}),
      params: params[i].params,
      nonzeroParams: params[i].nonzeroParams,
      latencyMs: latency[i],
      throughputPerSec: throughput[i],
      accuracy: accuracy[i],
      ...(i > 0 ? { agreement, cosine: cos, maxAbsError: maxAbs } : {}),
      bytesByDtype: params[i].bytesByDtype,
    });
    const before = metrics(0);
    const after = other ? metrics(1) : null;
    const speedup = after?.latencyMs && before.latencyMs && after.latencyMs.p50 > 0 ? (roundSpeedup ?? before.latencyMs.p50 / after.latencyMs.p50) : null;
    return {
      before,
      after,
      speedup,
      speedupCi: speedup === null ? null : speedupCi,
      settings: {
        runtime,
        threads,
        batchSize: tpBatch,
        warmup,
        runs: timedRuns,
        samples,
        outputName,
        disabledOptimizers: opts.disabledOptimizers ?? [],
        inputShapes,
        notMeasured: skip ?? null,
        ...(timeBoxed ? { timeBoxMs: opts.timeBoxMs ?? 4000 } : {}),
        ...(ciLevel !== 0.95 ? { ciLevel } : {}),
      },
      warnings,
      shapeNotes: plan && inputShapes ? plan.chosen : [],
    };
  } finally {
    for (const s of [...sessions, ...given]) {
      if (!s) continue;
      try {
        await s.release();
      } catch {
        // a failed release must not hide the measurement's own error
      }
    }
  }
}

/** Per round, the first job's block median over the second's: the speedup that round. */

/**
 * Does an interval at `level` straddle a latency gate's limit (or is there none yet)? The speedup's
 * (two jobs) against `minSpeedup`, the last job's p50 (the result, or the single model) against
 * `maxLatencyMs`; the same sides as evaluateGates.
 */
function straddles(blockMedians: number[][], limits: { minSpeedup?: number; maxLatencyMs?: number }, level: number): boolean {
  const across = (ci: [number, number] | null, limit: number, kind: 'min' | 'max') => {
    if (!ci) return true;
    const within = (v: number) => (kind === 'max' ? v <= limit : v >= limit);
    return within(ci[0]) !== within(ci[1]);
  };
  if (limits.minSpeedup !== undefined && blockMedians.length === 2 && across(medianCi(roundRatios(blockMedians), level), limits.minSpeedup, 'min')) return true;
  return limits.maxLatencyMs !== undefined && across(medianCi(blockMedians[blockMedians.length - 1], level), limits.maxLatencyMs, 'max');
}

/** Is the interval watched (the speedup's with two jobs, else the latency's) within ± `target` of its median? */
function narrowEnough(blockMedians: number[][], target: number): boolean {
  const values = blockMedians.length === 2 ? roundRatios(blockMedians) : blockMedians[0];
  const ci = medianCi(values);
  return !!ci && (ci[1] - ci[0]) / 2 <= target * median(values);
}

/** Put measurements, pass results and gates together. */
export function buildReport(args: {
  input: string;
  output: string | null;
  passes?: PassReport[];
  measured: Pick<Measured, 'before' | 'after' | 'speedup' | 'settings' | 'runtimes'> & { speedupCi?: [number, number] | null };
  gates?: GateLimits;
}): Report {
  const m = args.measured;
  const target = m.after ?? m.before;
  const base = m.after ? m.before : null;
  const gates = evaluateGates(args.gates ?? {}, target, base, m.speedup, m.speedupCi ?? null, m.settings.ciLevel);
  return {
    input: args.input,
    output: args.output,
    passes: args.passes ?? [],
    before: m.before,
    after: m.after,
    speedup: m.speedup,
    speedupCi: m.speedupCi ?? null,
    settings: m.settings,
    ...(m.runtimes ? { runtimes: m.runtimes } : {}),
    gates,
    passed: gates.every((g) => g.passed),
  };
}

function runtimeResult(runtime: string, m: Measured): RuntimeResult {
  const pick = (x: Metrics) => ({ latencyMs: x.latencyMs, throughputPerSec: x.throughputPerSec, accuracy: x.accuracy });
  return {
    runtime,
    before: pick(m.before),
    after: m.after ? { ...pick(m.after), agreement: m.after.agreement ?? null, cosine: m.after.cosine ?? null, maxAbsError: m.after.maxAbsError ?? null } : null,
    speedup: m.speedup,
    batchSize: m.settings.batchSize,
    notMeasured: m.settings.notMeasured ?? null,
  };
}

/**
 * Measure in several runtimes side by side (`--runtime node,browser`): sizes once, then latency,
 * throughput, accuracy and fidelity in each runtime, one after the other (each runtime's two
 * models interleaved as in `measureModels`). The first runtime's figures are `before` / `after`
 * (the gates read them); `runtimes` holds every runtime's. A runtime after the first that cannot
 * load or run the models gets its reason in `notMeasured` (that is a finding, not an error). With
 * `browser` listed and `webgpu` not, WebGPU is measured too when Chromium offers it on a GPU, and
 * otherwise its row says why not.
 */
export async function measureRuntimes(base: BenchModel, other: BenchModel | undefined, runtimes: readonly RuntimeName[], opts: MeasureOptions = {}): Promise<Measured> {
  // one runtime: as measureModels (but `browser` still gets its webgpu row)
  if (runtimes.length <= 1 && runtimes[0] !== 'browser') return measureModels(base, other, { ...opts, runtime: runtimes[0] ?? opts.runtime });
  const disk = (b: BenchModel) => b.disk ?? diskSize(b.model, b, { exact: opts.exactGzip });
  const withDisk = (b: BenchModel): BenchModel => ({ ...b, disk: disk(b) });
  const b0 = withDisk(base);
  const o0 = other && withDisk(other);
  b0.disk!.catch(() => {});
  o0?.disk?.catch(() => {});
  const all = [...runtimes];
  const results: RuntimeResult[] = [];
  // the node sessions handed in are used (node first) or released by the first measurement
  const first = await measureModels(b0, o0, { ...opts, runtime: all[0] });
  results.push(runtimeResult(all[0], first));
  const strip = (b: BenchModel): BenchModel => ({ ...b, session: undefined });
  let gpuNote: string | undefined;
  if (all.includes('browser') && !all.includes('webgpu')) {
    try {
      const g = await gpuWebgpu();
      if (g.available) all.push('webgpu');
      else gpuNote = g.reason;
    } catch (err) {
      if (!measurementError(err)) throw err;
      gpuNote = err.message;
    }
  }
  for (const rt of all.slice(1)) {
    try {
      const m = await measureModels(strip(b0), o0 && strip(o0), { ...opts, runtime: rt, bestEffort: true });
      results.push(runtimeResult(rt, m));
      for (const w of m.warnings) first.warnings.push(`${rt}: ${w}`);
    } catch (err) {
      if (!measurementError(err)) throw err;
      results.push({ runtime: rt, before: { latencyMs: null, throughputPerSec: null, accuracy: null }, after: null, speedup: null, batchSize: null, notMeasured: err.message });
      first.warnings.push(`${rt}: not measured: ${err.message}`);
    }
  }
  if (gpuNote) {
    results.push({ runtime: 'webgpu', before: { latencyMs: null, throughputPerSec: null, accuracy: null }, after: null, speedup: null, batchSize: null, notMeasured: `not available: ${gpuNote}` });
  }
  return { ...first, runtimes: results };
}

/** The programmatic `benchmark`: measure, then report with gates. */
export async function benchmark(
  base: BenchModel & { name?: string },
  other: (BenchModel & { name?: string }) | undefined,
  opts: MeasureOptions & { gates?: GateLimits; passes?: PassReport[] } = {},
): Promise<Report> {
  const measured = await measureModels(base, other, opts);
  return buildReport({
    input: base.name ?? base.path ?? 'model',
    output: other ? other.name ?? other.path ?? 'compared model' : null,
    passes: opts.passes,
    measured,
    gates: opts.gates,
  });
}
