/**
 * mlc's public API.
 *
 *   import { load, save, compress, passes } from 'mlc-onnx';
 *   const model = await load('model.onnx');
 *   const r = await compress('model.onnx', [{ pass: 'quantize', options: { type: 'int8' } }],
 *                            { output: 'model_int8.onnx' });
 *
 * Everything throws MlcError (with a `code`) for bad input; nothing prints.
 */
import { constants as fsConstants } from 'node:fs';
import { access, realpath, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { availableParallelism } from 'node:os';
import { MlcError } from './core/errors.js';
import { cloneModel } from './ir/clone.js';
import { countParams, rememberParams } from './ir/params.js';
import type { Model } from './ir/model.js';
import { seededRng, silentLogger, type Dataset, type Logger, type ModelRunner, type PassContext } from './passes/pass.js';
import { blameCheck, runPipeline, type PassReport, type PipelineOptions, type PipelineStep } from './passes/pipeline.js';
import { getPass } from './passes/registry.js';
import { takeDataset } from './data/batch.js';
import type { Session, SessionKeeper, SessionOptions } from './runtime/index.js';
import { int8Saturates } from './runtime/cpu.js';

export * from './ir/index.js';
export { MlcError, exitCodeFor, type ErrorCode } from './core/errors.js';
export * from './passes/pass.js';
export { passes, getPass, type RecipeStep } from './passes/registry.js';
export { runPipeline, type PassReport, type PipelineOptions, type PipelineResult, type PipelineStep } from './passes/pipeline.js';

/**
 * Measure a model (size, latency, throughput, accuracy with labelled data), or an original and a
 * compressed model side by side, and evaluate gates. See src/bench. (onnxruntime loads lazily.)
 */
export async function benchmark(
  ...args: Parameters<typeof import('./bench/index.js').benchmark>
): ReturnType<typeof import('./bench/index.js').benchmark> {
  const { benchmark: run } = await import('./bench/index.js');
  return run(...args);
}

/** Load an ONNX model from a path or bytes (external data is resolved relative to the file). */
export async function load(source: string | Uint8Array, opts?: { warn?: (msg: string) => void; lazy?: boolean }): Promise<Model> {
  const { loadModel } = await import('./onnx/index.js');
  try {
    return await loadModel(source, opts);
  } catch (err) {
    // make sure an error about a file names it
    if (typeof source === 'string' && err instanceof MlcError && !err.message.includes(source)) {
      throw new MlcError(err.code, `${source}: ${err.message}`, { cause: err.cause ?? err });
    }
    throw err;
  }
}

let defaultPassThreads: number | undefined;

/**
 * The passes' onnxruntime intra-op threads when `compress()` is not given `passThreads` (default:
 * one per core). A fleet worker process sets 1, so that `--jobs N` workers keep N cores busy.
 */
export function setDefaultPassThreads(n: number | undefined): void {
  defaultPassThreads = n;
}

/** Save a model atomically; `externalData` stores tensors in a side file. */
export async function save(
  model: Model,
  path: string,
  opts?: { externalData?: boolean; force?: boolean; inputPath?: string; verify?: (tmpPath: string) => Promise<void> },
): Promise<{ bytes: number; externalDataFile?: string; removedDataFile?: string }> {
  const { saveModel } = await import('./onnx/index.js');
  return saveModel(model, path, opts);
}

export interface CompressOptions extends Pick<PipelineOptions, 'onPassStart' | 'onPassEnd'> {
  /**
   * How to check that onnxruntime loads a model: the input before any pass (MlcError INPUT when it
   * does not, nothing written), and the result after every pass that modified it (MlcError
   * PASS_BROKE_MODEL). Default: onnxruntime-node sessions (src/runtime, loaded only then; the input
   * is checked from its file when it came from one). `false` skips both checks and writes what the
   * passes produce.
   */
  check?: PipelineOptions['check'];
  /**
   * Keep the session of the result's last load check in `result.session` (the caller releases
   * it, e.g. by handing it to the measurement), created with these onnxruntime options — the
   * measurement's — so the result is loaded into onnxruntime once. Without it the check session
   * is released at once.
   */
  keepSession?: SessionOptions;
  /**
   * With `keepSession`, also keep the input check's session (`result.originalSession`). It then
   * lives through the passes: one session creation less, but the input model's weights are held
   * by onnxruntime meanwhile (BERT-base size: peak RSS 3.4× → 4.8× the file), so it is off by
   * default and the measurement creates the original's session from its file.
   */
  keepInputSession?: boolean;
  /** called as each stage outside the passes begins: progress lines (e.g. MLC_TRACE timings) */
  onStage?: (stage: 'load' | 'check input' | 'save and check' | 'done') => void;
  /**
   * Count the input's parameters (src/ir/params.ts) while its weights are in memory, for a caller
   * that measures `result.original` afterwards (`paramsOf`): the original, read lazily from its
   * file, is then not read again for the counts (BERT-base size: 435 MB less to read).
   */
  countInput?: boolean;
  /** called with the loaded (and checked) input before any pass runs; a throw stops before any write */
  beforePasses?: (original: Model) => Promise<void> | void;
  /** write the result here (atomically); nothing is written without it */
  output?: string;
  /** allow `output` to be the input file */
  force?: boolean;
  /** store tensors in a side file next to `output` */
  externalData?: boolean;
  /** data sets: a path (.npz / .npy / test_data_set folder) or a loaded Dataset */
  calibration?: string | Dataset;
  train?: string | Dataset;
  validation?: string | Dataset;
  /** use only the first N samples of the calibration data */
  calibrationSamples?: number;
  /**
   * onnxruntime intra-op threads of the sessions the passes run models in (static calibration,
   * data-aware low-rank, prune refit). Default: one per core, as onnxruntime's own tools do; a
   * pool of worker processes gives each worker 1.
   */
  passThreads?: number;
  /** seed of ctx.rng (default 42) */
  seed?: number;
  log?: Logger;
  signal?: AbortSignal;
  /** warnings while loading the input model */
  warn?: (msg: string) => void;
}

export interface CompressResult {
  /** the compressed model */
  model: Model;
  /** the model before any pass */
  original: Model;
  passes: PassReport[];
  /** the context the passes ran with (data sets, runner) */
  context: PassContext;
  /** with `keepSession`, and when a pass changed the model: its checked session (release it) */
  session?: Session;
  /** with `keepSession` and `keepInputSession`: the input's checked session (release it) */
  originalSession?: Session;
  /** data sets given (calibration, train, val) that no pass read: the option changed nothing */
  unusedData?: ('calibration' | 'train' | 'val')[];
  /** where the result was written, with its size in bytes (model file + external data) */
  /**
   * `removedDataFile`: the `<output>.data` of the replaced output (an earlier external-data run),
   * removed because the new model is self-contained
   */
  output?: { path: string; bytes: number; externalDataFile?: string; removedDataFile?: string };
}

/**
 * Check that `output` can be written and is not the input (unless `force`), before doing any work.
 * Throws MlcError('OUTPUT') / ('USAGE').
 */
export async function checkOutputPath(output: string, opts: { input?: string; force?: boolean } = {}): Promise<void> {
  const out = resolve(output);
  const dir = dirname(out);
  const dirStat = await stat(dir).catch(() => undefined);
  if (!dirStat) throw new MlcError('OUTPUT', `cannot write ${output}: folder ${dir} does not exist`);
  if (!dirStat.isDirectory()) throw new MlcError('OUTPUT', `cannot write ${output}: ${dir} is not a folder`);
  try {
    await access(dir, fsConstants.W_OK);
  } catch {
    throw new MlcError('OUTPUT', `cannot write ${output}: folder ${dir} is not writable`);
  }
  const outStat = await stat(out).catch(() => undefined);
  if (outStat?.isDirectory()) throw new MlcError('OUTPUT', `cannot write ${output}: it is a folder`);
  if (outStat) {
    try {
      await access(out, fsConstants.W_OK);
    } catch {
      throw new MlcError('OUTPUT', `cannot write ${output}: the file is not writable`);
    }
  }
  if (opts.input && !opts.force && outStat) {
    const [a, b] = await Promise.all([realpath(opts.input).catch(() => resolve(opts.input!)), realpath(out)]);
    if (a === b) {
      throw new MlcError('USAGE', `refusing to overwrite the input ${opts.input}; choose another -o or pass --force`);
    }
  }
}

async function dataset(src: string | Dataset | undefined, model: Model): Promise<Dataset | undefined> {
  if (src === undefined || typeof src !== 'string') return src;
  const { loadDataset } = await import('./data/index.js');
  return loadDataset(src, model);
}

/**
 * Run `steps` (passes by name or object, with raw options) over a model file or a Model.
 * A Model argument is not modified: the passes work on a copy. With `output`, the result is
 * written atomically — and only if every pass left a model onnxruntime-node can load.
 */
export async function compress(input: string | Model, steps: readonly PipelineStep[], opts: CompressOptions = {}): Promise<CompressResult> {
  // validate everything cheap before loading anything
  const resolved = steps.map((s) => {
    const pass = typeof s.pass === 'string' ? getPass(s.pass) : s.pass;
    pass.parseOptions(s.options ?? {});
    return { pass, options: s.options ?? {} };
  });
  const inputPath = typeof input === 'string' ? input : undefined;

  // onnxruntime checks (src/runtime loads only here). The input's session is created from its file
  // when there is one (no serialized copy), before mlc holds the weights, as a check-only session
  // (src/runtime CHECK_OPTIONS) released at once unless keepInputSession; with keepSession, the
  // result's last checked session is handed to the caller for the measurement
  let keeper: SessionKeeper | undefined;
  const keeperOf = async () => {
    const rt = await import('./runtime/index.js');
    return (keeper ??= rt.sessionKeeper(opts.keepSession ?? rt.CHECK_OPTIONS));
  };
  const keepInput = !!opts.keepSession && !!opts.keepInputSession;
  let originalSession: Session | undefined;
  let model: Model;
  let original: Model;
  try {
    opts.onStage?.('load');
    if (typeof input === 'string') {
      // the original reads its tensors from the file when used (src/onnx lazy load), instead of a
      // clone that would double the memory (a 2.5 GB model would need 5 GB before any pass); this
      // load validates the file and reads no tensor data
      original = await load(input, { warn: opts.warn, lazy: true });
      if (opts.output) await checkOutputPath(opts.output, { input: inputPath, force: opts.force });
      // onnxruntime checks the file itself before mlc holds the weights (both at once would be 2x)
      if (opts.check !== false) {
        opts.onStage?.('check input');
        if (opts.check) await checkInputLoads(original, opts.check, inputPath);
        else if (keepInput) {
          await checkInputLoads(original, async (m) => (await keeperOf()).check(m, inputPath), inputPath);
          originalSession = keeper?.take(original);
        } else await checkInputLoads(original, async (m) => (await import('./runtime/index.js')).checkGraphLoads(m, input), inputPath);
      }
      opts.onStage?.('load');
      model = await load(input);
      // counted while the weights are in memory: the lazily read original is not read again for it
      if (opts.countInput) rememberParams(original, countParams(model));
    } else {
      original = input;
      model = cloneModel(input);
      if (opts.output) await checkOutputPath(opts.output, { input: inputPath, force: opts.force });
      if (opts.check !== false) {
        await checkInputLoads(original, opts.check ?? (keepInput ? async (m) => (await keeperOf()).check(m) : undefined), inputPath);
        if (keepInput) originalSession = keeper?.take(original);
      }
    }
    await opts.beforePasses?.(original);
  } catch (err) {
    await keeper?.release();
    await originalSession?.release();
    throw err;
  }
  // onnxruntime is loaded only when a pass runs a model
  let runner: (ModelRunner & { release(): Promise<void> }) | undefined;
  const run: ModelRunner = async (m, feeds, outputNames, runOpts) => {
    if (!runner) runner = (await import('./runtime/index.js')).makeRunner({ intraOpThreads: opts.passThreads ?? defaultPassThreads ?? availableParallelism() });
    return runner(m, feeds, outputNames, runOpts);
  };
  const context: PassContext = {
    log: opts.log ?? silentLogger,
    rng: seededRng(opts.seed ?? 42),
    signal: opts.signal,
    original,
    run,
    loadModel: (path) => load(path, { warn: (m) => context.log.warn(m) }),
    madeUpData: async (m, tryRun, tryCount) => (await import('./bench/inputs.js')).madeUpData(m, {}, tryRun, undefined, tryCount),
    cpu: { int8Saturates: int8Saturates() },
  };
  // the load check after each modifying pass (the last session kept for the measurement when asked)
  const ownCheck = async (m: Model) => (await keeperOf()).check(m);
  const check = opts.check !== undefined ? opts.check : ownCheck;
  let passes: PassReport[];
  let session: Session | undefined;
  // the last modifying pass's output is checked on the file save writes (one serialization, and
  // no in-memory copy of the serialized model beside the model), when compress() owns the check
  let unchecked: string | undefined;
  const read = new Set<string>();
  try {
    context.calibration = firstSamples(await dataset(opts.calibration, model), opts.calibrationSamples);
    context.train = await dataset(opts.train, model);
    context.validation = await dataset(opts.validation, model);
    watchReads(context, ['calibration', 'train', 'validation'], read);
    ({ passes, unchecked } = await runPipeline(model, resolved, context, {
      check,
      deferLastCheck: opts.output !== undefined && opts.check === undefined,
      onPassStart: opts.onPassStart,
      onPassEnd: opts.onPassEnd,
    }));
    if (opts.keepSession && unchecked === undefined) session = keeper?.take(model);
  } catch (err) {
    await originalSession?.release();
    throw err;
  } finally {
    await runner?.release();
    if (unchecked === undefined) await keeper?.release();
  }
  const unusedData = (['calibration', 'train', 'validation'] as const).filter((k) => !read.has(k) && context[k]).map((k) => (k === 'validation' ? 'val' : k));
  const result: CompressResult = { model, original, passes, context, ...(unusedData.length ? { unusedData } : {}), ...(session ? { session } : {}), ...(originalSession ? { originalSession } : {}) };
  if (opts.output) {
    const last = unchecked;
    const verify =
      last === undefined
        ? undefined
        : async (tmp: string) => {
            try {
              await (await keeperOf()).check(model, tmp);
            } catch (err) {
              await blameCheck(err, last, context, ownCheck);
            }
          };
    try {
      opts.onStage?.('save and check');
      const saved = await save(model, opts.output, { externalData: opts.externalData, force: opts.force, inputPath, verify });
      result.output = { path: opts.output, bytes: saved.bytes, externalDataFile: saved.externalDataFile, removedDataFile: saved.removedDataFile };
      if (opts.keepSession && last !== undefined) {
        session = keeper?.take(model);
        if (session) result.session = session;
      }
    } catch (err) {
      await session?.release();
      await originalSession?.release();
      throw err;
    } finally {
      if (last !== undefined) await keeper?.release();
    }
  }
  opts.onStage?.('done');
  return result;
}

/** Record in `read` which of `keys` of `obj` a pass reads (a data set no pass reads was given for nothing). */
function watchReads(obj: object, keys: readonly string[], read: Set<string>): void {
  for (const k of keys) {
    let v = (obj as Record<string, unknown>)[k];
    Object.defineProperty(obj, k, {
      enumerable: true,
      configurable: true,
      get: () => {
        read.add(k);
        return v;
      },
      set: (x) => {
        v = x;
      },
    });
  }
}

/**
 * onnxruntime must load the input before any pass runs (a model it rejects is refused with
 * MlcError INPUT; `--no-check` / `check: false` skips this).
 */
async function checkInputLoads(model: Model | string, check: ((m: Model) => Promise<void>) | undefined, path: string | undefined): Promise<void> {
  try {
    if (check) await check(model as Model);
    else await (await import('./runtime/index.js')).checkModelLoads(model);
  } catch (err) {
    if (err instanceof MlcError && err.code === 'INTERNAL') throw err;
    const msg = (err instanceof Error ? err.message : String(err))
      .replace(/^.*?onnxruntime cannot load the model: /s, '')
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean)
      .join(' ');
    throw new MlcError('INPUT', `${path ? `${path}: ` : ''}onnxruntime cannot load the input model: ${msg} (--no-check skips this check)`, { cause: err });
  }
}

function firstSamples(ds: Dataset | undefined, n: number | undefined): Dataset | undefined {
  return ds && n !== undefined ? takeDataset(ds, n) : ds;
}
