/**
 * The tfjs backend for training, chosen once per process and loaded lazily (nothing here runs at
 * import time; `loadTf()` is the only entry point, and only src/train calls it). TensorFlow.js is an
 * optional peer dependency: only distillation needs it, and without it `loadTf()` throws a USAGE
 * error that says what to install.
 *
 * Preference order (auto):
 *   1. 'tensorflow' — @tensorflow/tfjs-node, an optional peer dependency (native TensorFlow; absent on
 *      offline installs). Imported by a computed name so that its absence is not a build error.
 *   2. 'wasm'       — @tensorflow/tfjs-backend-wasm (XNNPACK; ~7× the cpu backend on dense layers,
 *      and with the executor's own Conv filter gradient ~100× on convolutions). It has no
 *      Conv2DBackpropFilter / DepthwiseConv2dNativeBackpropFilter kernels: the executor asks
 *      `hasKernel()` and supplies the filter gradient itself, or the caller falls back to 'cpu'.
 *   3. 'cpu'        — pure JS, always there, slow.
 *
 * tfjs prints a "looks like you are running in Node.js" banner through console.warn on first use of
 * the cpu backend; library code must not print, so prod mode is switched on (it silences tfjs's own
 * warnings and skips debug checks).
 */
import { MlcError } from '../core/errors.js';

export type Tf = typeof import('@tensorflow/tfjs');
export type BackendName = 'tensorflow' | 'wasm' | 'cpu';
export type BackendChoice = 'auto' | BackendName;

let tfPromise: Promise<Tf> | undefined;
const available = new Set<BackendName>();

async function importTf(): Promise<Tf> {
  // tfjs-node (when installed) registers the 'tensorflow' backend on the shared tfjs-core instance.
  const nodeName = '@tensorflow/tfjs-node';
  try {
    await import(nodeName);
    available.add('tensorflow');
  } catch {
    // optional dependency: not installed, or its native library failed to load
  }
  let tf: Tf;
  try {
    tf = await import('@tensorflow/tfjs');
  } catch (err) {
    throw new MlcError(
      'USAGE',
      'distillation needs TensorFlow.js, an optional peer dependency: npm install @tensorflow/tfjs @tensorflow/tfjs-backend-wasm',
      { cause: err },
    );
  }
  tf.enableProdMode();
  try {
    await import('@tensorflow/tfjs-backend-wasm');
    available.add('wasm');
  } catch {
    // wasm backend missing: cpu only
  }
  available.add('cpu');
  return tf;
}

/** Import tfjs (once) without choosing a backend. */
export function loadTf(): Promise<Tf> {
  tfPromise ??= importTf();
  return tfPromise;
}

/**
 * Activate a backend and return tfjs with it. 'auto' takes the first of tensorflow → wasm → cpu
 * that initializes. An explicit choice that is not available is a USAGE error.
 */
export async function useBackend(choice: BackendChoice = 'auto'): Promise<{ tf: Tf; backend: BackendName }> {
  const tf = await loadTf();
  const order: BackendName[] = choice === 'auto' ? ['tensorflow', 'wasm', 'cpu'] : [choice];
  for (const b of order) {
    if (!available.has(b)) continue;
    if (tf.getBackend() === b) return { tf, backend: b };
    let ok = false;
    try {
      ok = await tf.setBackend(b);
      await tf.ready();
    } catch {
      ok = false;
    }
    if (ok && tf.getBackend() === b) return { tf, backend: b };
    available.delete(b);
  }
  if (choice === 'auto') throw new MlcError('INTERNAL', 'no tfjs backend could be initialized');
  throw new MlcError('USAGE', `tfjs backend '${choice}' is not available (installed: ${[...available].join(', ') || 'none'})`);
}

/** Whether a kernel is registered for a backend (default: the active one). */
export function hasKernel(tf: Tf, kernelName: string, backend = tf.getBackend()): boolean {
  return tf.getKernel(kernelName, backend) !== undefined;
}

/** An error thrown by tfjs because the active backend lacks a kernel. */
export function isMissingKernelError(err: unknown): boolean {
  return err instanceof Error && /not registered for backend/i.test(err.message);
}
