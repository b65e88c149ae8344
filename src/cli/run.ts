/**
 * The command boundary: the one place errors are caught, printed (one line on stderr, the stack
 * with --verbose) and turned into an exit code (0 ok · 1 gate failed · 2 usage or input error ·
 * 3 internal error).
 */
import type { Command } from 'commander';
import { MlcError } from '../core/errors.js';
import type { Model } from '../ir/model.js';
import { Ui, type GlobalFlags } from './ui.js';

/** Run a command's body with a Ui built from its flags; the body returns the exit code. */
export async function boundary(cmd: Command, body: (ui: Ui, flags: Record<string, unknown>) => Promise<number>): Promise<void> {
  const flags = cmd.optsWithGlobals() as Record<string, unknown> & GlobalFlags;
  const ui = new Ui(flags);
  let code: number;
  try {
    code = await body(ui, flags);
  } catch (err) {
    code = ui.error(err);
  } finally {
    ui.clearProgress();
  }
  process.exitCode = code;
}

/** Make sure an error about `file` names it. */
export function namingFile(err: unknown, file: string): unknown {
  if (err instanceof MlcError && !err.message.includes(file)) {
    return new MlcError(err.code, `${file}: ${err.message}`, { cause: err.cause ?? err });
  }
  return err;
}

/**
 * Load a model file (src/onnx, lazily imported), warnings to stderr. For commands that only read
 * the model (inspect, bench): a lazy load, whose tensors are read from the file when used, so a
 * 2.5 GB model does not take 2.5 GB of memory to inspect or measure.
 */
export async function loadInput(file: string, ui: Ui): Promise<Model> {
  const { loadModel } = await import('../onnx/index.js');
  try {
    return await loadModel(file, { warn: (m) => ui.warn(`${file}: ${m}`), lazy: true });
  } catch (err) {
    throw namingFile(err, file);
  }
}
