/**
 * onnxruntime-node sessions. The only module that imports onnxruntime-node.
 *
 * Sessions run on the CPU with 1 intra-op thread unless told otherwise (mlc shares machines with
 * other jobs and measures latency per thread). Feeds and outputs use mlc's dtype names ('float',
 * 'int64', ... as in src/ir/dtype.ts).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { MlcError } from '../core/errors.js';
import type { Model } from '../ir/model.js';
import { weightsAsInputs } from '../ir/skeleton.js';
import { modelToBytes, saveModel, tensorBytesTotal } from '../onnx/index.js';
import type { ModelRunner as Runner, RunOptions } from '../core/types.js';
import { errorMessage, type Feed, fromOrt, type Output, type OrtTensorCtor, toOrtTensor } from './feeds.js';
import { configEntries, type Session, type SessionOptions } from './options.js';

type ModelRunner = Runner<Model>;

export type { Feed, Output, OutputData } from './feeds.js';
export { feedFromTensor } from './feeds.js';

export { configEntries, DEFAULT_DISABLED_OPTIMIZERS, type Session, type SessionOptions } from './options.js';
export function ortOptions(opts: SessionOptions): ort.InferenceSession.SessionOptions {
  return {
    intraOpNumThreads: opts.intraOpThreads ?? 1,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: opts.optimization ?? 'all',
    executionProviders: ['cpu'],
    logSeverityLevel: 4,
    ...(opts.optimizedModelFilePath ? { optimizedModelFilePath: opts.optimizedModelFilePath } : {}),
    ...configEntries(opts),
  };
}

const ortMessage = errorMessage;
const toTensor = (name: string, f: Feed): ort.Tensor => toOrtTensor(ort.Tensor as unknown as OrtTensorCtor<ort.Tensor>, name, f);

class OrtSession implements Session {
  constructor(private s: ort.InferenceSession) {}
  get inputNames(): readonly string[] {
    return this.s.inputNames;
  }
  get outputNames(): readonly string[] {
    return this.s.outputNames;
  }
  async run(feeds: Record<string, Feed>, outputNames?: string[]): Promise<Record<string, Output>> {
    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const [k, f] of Object.entries(feeds)) {
      try {
        ortFeeds[k] = toTensor(k, f);
      } catch (e) {
        if (e instanceof MlcError) throw e;
        throw new MlcError('INPUT', `input ${k}: ${ortMessage(e)}`, { cause: e });
      }
    }
    let res: ort.InferenceSession.ReturnType;
    try {
      res = outputNames ? await this.s.run(ortFeeds, outputNames) : await this.s.run(ortFeeds);
    } catch (e) {
      throw new MlcError('INPUT', `onnxruntime failed to run the model: ${ortMessage(e)}`, { cause: e });
    }
    const out: Record<string, Output> = {};
    for (const [k, t] of Object.entries(res)) out[k] = fromOrt(t as ort.Tensor);
    return out;
  }
  async release(): Promise<void> {
    await this.s.release();
  }
}

const MAX_PROTO = 2 ** 31 - 1;

/** Create a session from an IR model, serialized model bytes, or a model path. */
export async function createSession(model: Model | Uint8Array | string, opts: SessionOptions = {}): Promise<Session> {
  const o = ortOptions(opts);
  try {
    if (typeof model === 'string') return new OrtSession(await ort.InferenceSession.create(model, o));
    if (model instanceof Uint8Array) return new OrtSession(await ort.InferenceSession.create(model, o));
    if (tensorBytesTotal(model) > MAX_PROTO - (64 << 20)) {
      // too big for one protobuf: go through a temporary file with external data
      const dir = await mkdtemp(join(tmpdir(), 'mlc-session-'));
      try {
        const p = join(dir, 'model.onnx');
        await saveModel(model, p, { externalData: true });
        return new OrtSession(await ort.InferenceSession.create(p, o));
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    }
    return new OrtSession(await ort.InferenceSession.create(modelToBytes(model), o));
  } catch (e) {
    if (e instanceof MlcError) throw e;
    const where = typeof model === 'string' ? `${model}: ` : '';
    throw new MlcError('INPUT', `${where}onnxruntime cannot load the model: ${ortMessage(e)}`, { cause: e });
  }
}

/** Throws MlcError with onnxruntime's message if it cannot create a session for `model`. */
export async function checkModelLoads(model: Model | Uint8Array | string): Promise<void> {
  const s = await createSession(model, CHECK_OPTIONS);
  await s.release();
}

/**
 * `checkModelLoads` at the cost of the graph alone: onnxruntime loads the model with its large
 * weights turned into graph inputs of the same type and shape (src/ir/skeleton.ts), so that it
 * checks every node, attribute, type and shape without reading, parsing and copying the weights
 * (BERT-base size: 0.13 s of CPU instead of 1.1 s). mlc's loader has already checked each
 * weight's byte count against its type and shape; the values are what onnxruntime never judges.
 * Kernels that want a constant where the skeleton has an input could refuse the skeleton only:
 * when onnxruntime refuses it, the whole model (`full`: its file, or the model) decides, with
 * onnxruntime's own message.
 */
export async function checkGraphLoads(model: Model, full: Model | string = model): Promise<void> {
  const bytes = modelToBytes(weightsAsInputs(model));
  try {
    const s = await createSession(bytes, CHECK_OPTIONS);
    await s.release();
    return;
  } catch (err) {
    if (!(err instanceof MlcError) || err.code !== 'INPUT') throw err;
  }
  await checkModelLoads(full);
}

/**
 * Options of a session that only checks that a model loads: no graph optimizations, no prepacking.
 * onnxruntime still parses the model, checks every node against its schema (attributes, types),
 * runs type and shape inference and finds a kernel for every node at any optimization level; what
 * the levels add is rewriting, which costs without checking more: constant folding of an fp16
 * model's Casts took 1.2 s of a 1.4 s check on BERT-base (0.2 s disabled).
 */
export const CHECK_OPTIONS: SessionOptions = { optimization: 'disabled', prepack: false };

/**
 * One onnxruntime session per model, created by a load check and handed on to whoever measures
 * the model next, so that a model is never loaded into onnxruntime twice (a BERT-base-size model
 * costs about a second of CPU and its size in memory per session).
 *
 * `check(model)` creates a session for the model as it is now (with `opts`: the options the
 * measurement will use), keeping it in place of any earlier session of the same Model object (a
 * pass mutates the model in place, so an earlier session is stale); it throws MlcError INPUT with
 * onnxruntime's message if the model does not load. `check(model, path)` creates it from the
 * model's file instead (onnxruntime reads it, with no serialized copy in memory) — for a model
 * loaded from that file and not changed since. `take(model)` hands the latest session of that
 * model to the caller, who then releases it; `release()` frees every session not taken.
 */
export interface SessionKeeper {
  readonly options: SessionOptions;
  check(model: Model, path?: string): Promise<void>;
  take(model: Model): Session | undefined;
  release(): Promise<void>;
}

export function sessionKeeper(opts: SessionOptions = {}): SessionKeeper {
  const kept = new Map<Model, Session>();
  const drop = async (model: Model) => {
    const old = kept.get(model);
    kept.delete(model);
    await old?.release();
  };
  return {
    options: opts,
    async check(model, path) {
      await drop(model); // free the stale session before creating the new one (memory)
      kept.set(model, await createSession(path ?? model, opts));
    },
    take(model) {
      const s = kept.get(model);
      kept.delete(model);
      return s;
    },
    async release() {
      const all = [...kept.values()];
      kept.clear();
      for (const s of all) await s.release();
    },
  };
}

/**
 * A ModelRunner for passes: reuses a session while the model serializes to the same bytes
 * (a pass may call it many times on the same model), or, without serializing it, when the caller
 * says the model is `unchanged`. Call `release()` when done. Its sessions do not spin (unless
 * `opts.spinning`): a pass wants its runs done with the least CPU, not each run's lowest latency.
 */
export function makeRunner(options: SessionOptions = {}): ModelRunner & { release(): Promise<void> } {
  const opts: SessionOptions = { spinning: false, ...options };
  const cache = new Map<Model, { bytes: Uint8Array; session: Session }>();
  const MAX = 4;
  const runner = async (
    model: Model,
    feeds: Record<string, { dtype: string; dims: number[]; data: ArrayLike<number> | ArrayLike<bigint> }>,
    outputNames?: string[],
    runOpts?: RunOptions,
  ) => {
    let entry = cache.get(model);
    if (entry && runOpts?.unchanged) return (await entry.session.run(feeds, outputNames)) as unknown as Awaited<ReturnType<ModelRunner>>;
    const bytes = modelToBytes(model);
    if (entry && !Buffer.from(entry.bytes.buffer, entry.bytes.byteOffset, entry.bytes.length).equals(bytes)) {
      cache.delete(model);
      await entry.session.release();
      entry = undefined;
    }
    if (!entry) {
      entry = { bytes, session: await createSession(bytes, opts) };
      cache.set(model, entry);
      while (cache.size > MAX) {
        const [k, v] = cache.entries().next().value!;
        cache.delete(k);
        await v.session.release();
      }
    }
    // string outputs come back as string[]; passes only use numeric models
    return (await entry.session.run(feeds, outputNames)) as unknown as Awaited<ReturnType<ModelRunner>>;
  };
  return Object.assign(runner, {
    async release() {
      for (const v of cache.values()) await v.session.release();
      cache.clear();
    },
  });
}
