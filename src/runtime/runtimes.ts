/**
 * The runtimes mlc measures a model in, by name:
 *
 * | name      | where                                                          |
 * |-----------|----------------------------------------------------------------|
 * | `node`    | onnxruntime-node, CPU execution provider (the default)          |
 * | `wasm`    | onnxruntime-web's WebAssembly backend in Node (src/runtime/web.ts) |
 * | `browser` | onnxruntime-web's wasm backend in headless Chromium (src/runtime/browser.ts) |
 * | `webgpu`  | onnxruntime-web's webgpu backend in headless Chromium           |
 *
 * `openSession` gives a `Session` for any of them, so measurements are made the same way. This
 * file loads no runtime package itself (the CLI imports it for the flag's names).
 */
import { MlcError } from '../core/errors.js';
import type { Model } from '../ir/model.js';
import type { Session, SessionOptions } from './index.js';

export const RUNTIMES = ['node', 'wasm', 'browser', 'webgpu'] as const;
export type RuntimeName = (typeof RUNTIMES)[number];

/** What each runtime is, one line (help text, reports). */
export const RUNTIME_DESCRIPTIONS: Record<RuntimeName, string> = {
  node: 'onnxruntime-node (CPU)',
  wasm: 'onnxruntime-web wasm in Node',
  browser: 'onnxruntime-web wasm in headless Chromium',
  webgpu: 'onnxruntime-web webgpu in headless Chromium',
};

/** Parse a comma list of runtime names ("node,browser"): USAGE on an unknown or repeated name. */
export function parseRuntimes(text: string): RuntimeName[] {
  const names = text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (!names.length) throw new MlcError('USAGE', `--runtime needs one or more of ${RUNTIMES.join(', ')}`);
  const out: RuntimeName[] = [];
  for (const n of names) {
    if (!(RUNTIMES as readonly string[]).includes(n)) throw new MlcError('USAGE', `--runtime: unknown runtime "${n}" (choose from ${RUNTIMES.join(', ')})`);
    if (out.includes(n as RuntimeName)) throw new MlcError('USAGE', `--runtime: "${n}" is given twice`);
    out.push(n as RuntimeName);
  }
  return out;
}

/**
 * A session of `model` in a runtime. onnxruntime-node reads a path itself (with its external
 * data); the web runtimes take the model's bytes (they read no files beside a model).
 */
export async function openSession(runtime: RuntimeName, model: Model, opts: SessionOptions = {}, path?: string): Promise<Session> {
  switch (runtime) {
    case 'node': {
      const { createSession } = await import('./index.js');
      return createSession(path ?? model, opts);
    }
    case 'wasm': {
      const { createWasmSession } = await import('./web.js');
      return createWasmSession(model, opts);
    }
    case 'browser':
    case 'webgpu': {
      const { createBrowserSession } = await import('./browser.js');
      return createBrowserSession(model, opts, runtime);
    }
  }
}

/**
 * Whether headless Chromium offers WebGPU on a GPU here (the `browser` runtime measures `webgpu`
 * too when it does): `reason` says why not, e.g. that the only adapter is SwiftShader's CPU
 * emulation (`--runtime webgpu` measures on it anyway: fidelity and CPU fallbacks, not GPU speed).
 */
export async function gpuWebgpu(): Promise<{ available: boolean; reason?: string }> {
  const { webgpuSupport } = await import('./browser.js');
  const w = await webgpuSupport();
  if (!w.available) return { available: false, reason: `Chromium offers no WebGPU adapter (${w.reason})` };
  if (w.software) return { available: false, reason: `Chromium's only WebGPU adapter is SwiftShader, a CPU emulation (${w.adapter}); --runtime webgpu measures on it` };
  return { available: true };
}

/** Check that the packages (and Chromium) the runtimes need are installed: USAGE naming what is missing. */
export async function checkRuntimes(runtimes: readonly RuntimeName[]): Promise<void> {
  if (runtimes.some((r) => r !== 'node')) {
    const { loadOrtWeb } = await import('./web.js');
    await loadOrtWeb();
  }
  if (runtimes.includes('browser') || runtimes.includes('webgpu')) {
    const { checkBrowser } = await import('./browser.js');
    await checkBrowser();
  }
}

/** Keep the browsers the runtimes need open until the returned function is called (one launch for many measurements). */
export async function holdRuntimes(runtimes: readonly RuntimeName[]): Promise<() => Promise<void>> {
  const kinds = runtimes.filter((r): r is 'browser' | 'webgpu' => r === 'browser' || r === 'webgpu');
  if (!kinds.length) return async () => {};
  const { holdBrowser } = await import('./browser.js');
  const releases: (() => Promise<void>)[] = [];
  try {
    for (const k of kinds) releases.push(await holdBrowser(k));
  } catch (err) {
    for (const r of releases) await r();
    throw err;
  }
  return async () => {
    for (const r of releases) await r();
  };
}
