/**
 * The `wasm` runtime: onnxruntime-web's WebAssembly backend inside Node, the same kernels a page
 * gets from onnxruntime-web (mlc's browser runtime, src/runtime/browser.ts, runs them in Chromium).
 *
 * onnxruntime-web is an optional peer dependency, imported on first use (`loadOrtWeb()`); without
 * it the first wasm session is a USAGE error that says what to install. Its WebAssembly module is
 * initialized once per process with the thread count of the first session (1 by default, as for
 * onnxruntime-node: latency is compared per thread); a later session asking for another count gets
 * the first one's (`wasmThreads()` says which).
 */
import { MlcError } from '../core/errors.js';
import type { Model } from '../ir/model.js';
import { modelToBytes } from '../onnx/index.js';
import { errorMessage, type Feed, fromOrt, type OrtTensorCtor, type Output, toOrtTensor } from './feeds.js';
import { configEntries, type Session, type SessionOptions } from './options.js';

type OrtWeb = typeof import('onnxruntime-web');
type WebTensor = import('onnxruntime-web').Tensor;

let ortPromise: Promise<OrtWeb> | undefined;
let threads: number | undefined;

/** Import onnxruntime-web (once); USAGE with the install line when it is missing. */
export function loadOrtWeb(): Promise<OrtWeb> {
  ortPromise ??= import('onnxruntime-web').then(
    (m) => m,
    (err) => {
      ortPromise = undefined;
      throw new MlcError('USAGE', 'the wasm runtime needs onnxruntime-web, an optional peer dependency: npm install onnxruntime-web', { cause: err });
    },
  );
  return ortPromise;
}

/** The thread count onnxruntime-web's WebAssembly module was initialized with (undefined before the first session). */
export function wasmThreads(): number | undefined {
  return threads;
}

/** The version of onnxruntime-web mlc runs (from its package.json), or undefined when it is not installed. */
export async function ortWebVersion(): Promise<string | undefined> {
  try {
    const ort = await loadOrtWeb();
    return ort.env.versions.web;
  } catch {
    return undefined;
  }
}

class WasmSession implements Session {
  constructor(
    private ort: OrtWeb,
    private s: import('onnxruntime-web').InferenceSession,
  ) {}
  get inputNames(): readonly string[] {
    return this.s.inputNames;
  }
  get outputNames(): readonly string[] {
    return this.s.outputNames;
  }
  async run(feeds: Record<string, Feed>, outputNames?: string[]): Promise<Record<string, Output>> {
    const Ctor = this.ort.Tensor as unknown as OrtTensorCtor<WebTensor>;
    const ortFeeds: Record<string, WebTensor> = {};
    for (const [k, f] of Object.entries(feeds)) {
      try {
        ortFeeds[k] = toOrtTensor(Ctor, k, f, 'onnxruntime-web');
      } catch (e) {
        if (e instanceof MlcError) throw e;
        throw new MlcError('INPUT', `input ${k}: ${errorMessage(e)}`, { cause: e });
      }
    }
    let res: Record<string, WebTensor>;
    try {
      res = (outputNames ? await this.s.run(ortFeeds, outputNames) : await this.s.run(ortFeeds)) as Record<string, WebTensor>;
    } catch (e) {
      throw new MlcError('INPUT', `onnxruntime-web (wasm) failed to run the model: ${webMessage(e)}`, { cause: e });
    }
    const out: Record<string, Output> = {};
    for (const [k, t] of Object.entries(res)) out[k] = fromOrt(t);
    return out;
  }
  async release(): Promise<void> {
    await this.s.release();
  }
}

/** onnxruntime-web's messages carry its C API prefix ("failed to call OrtRun(). ERROR_CODE: 2, ERROR_MESSAGE: …"). */
export function webMessage(e: unknown): string {
  const m = errorMessage(e);
  const i = m.indexOf('ERROR_MESSAGE: ');
  return i >= 0 ? m.slice(i + 'ERROR_MESSAGE: '.length).trim() : m;
}

/** The model as bytes onnxruntime-web can take (it reads no files beside a model given as bytes). */
export function webModelBytes(model: Model | Uint8Array): Uint8Array {
  return model instanceof Uint8Array ? model : modelToBytes(model);
}

/** A session of onnxruntime-web's wasm backend in this process. */
export async function createWasmSession(model: Model | Uint8Array, opts: SessionOptions = {}): Promise<Session> {
  const ort = await loadOrtWeb();
  if (threads === undefined) {
    threads = opts.intraOpThreads ?? 1;
    ort.env.wasm.numThreads = threads;
    ort.env.logLevel = 'fatal';
  }
  const bytes = webModelBytes(model);
  try {
    const s = await ort.InferenceSession.create(bytes, {
      executionProviders: ['wasm'],
      graphOptimizationLevel: opts.optimization ?? 'all',
      executionMode: 'sequential',
      logSeverityLevel: 4,
      ...(configEntries(opts) as object),
    });
    return new WasmSession(ort, s);
  } catch (e) {
    throw new MlcError('INPUT', `onnxruntime-web (wasm) cannot load the model: ${webMessage(e)}`, { cause: e });
  }
}
