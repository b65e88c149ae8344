/**
 * Applying a recipe to a copy of a model, as `mlc compress --recipe` does (the same passes, the
 * same seeded context, calibration data given the same way), so that a recipe found here gives the
 * same model bytes when re-run from its file.
 */
import type { Dataset } from '../core/types.js';
import { cloneModel } from '../ir/clone.js';
import type { Model } from '../ir/model.js';
import { seededRng, silentLogger, type PassContext } from '../passes/pass.js';
import { runPipeline, type PassReport } from '../passes/pipeline.js';
import type { RecipeStep } from '../passes/registry.js';
import { makeRunner } from '../runtime/index.js';
import { int8Saturates } from '../runtime/cpu.js';

export interface Applier {
  /** `signal`: aborts this run's passes (distillation checks it each epoch) */
  apply(steps: readonly RecipeStep[], signal?: AbortSignal): Promise<{ model: Model; passes: PassReport[] }>;
  release(): Promise<void>;
}

/** `seed`: as `mlc compress --seed` (default 42); `calibration`: as `--calibration-data`; `train`: as `--train-data`. */
export function makeApplier(original: Model, opts: { calibration?: Dataset; train?: Dataset; seed?: number; signal?: AbortSignal } = {}): Applier {
  const runner = makeRunner();
  return {
    async apply(steps, signal) {
      const model = cloneModel(original);
      const ctx: PassContext = {
        log: silentLogger,
        rng: seededRng(opts.seed ?? 42),
        signal: signal ?? opts.signal,
        original,
        run: runner,
        calibration: opts.calibration,
        train: opts.train,
        cpu: { int8Saturates: int8Saturates() },
      };
      const { passes } = await runPipeline(model, steps, ctx, { check: false, verifyUnchanged: false });
      return { model, passes };
    },
    release: () => runner.release(),
  };
}
