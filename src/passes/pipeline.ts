/**
 * Runs a list of passes (a recipe) over a model, in order, in place.
 *
 * - Every step's options are validated with the pass's parseOptions before any pass runs, so a bad
 *   recipe fails fast (MlcError USAGE) without doing work.
 * - Each pass is timed (wall-clock ms) and its modified / stats / skipped / details are collected.
 * - After each pass that reports `modified`, the caller's `check` (compress() gives one that
 *   creates an onnxruntime-node session and keeps it for the measurement) must accept the model;
 *   if it does not, the pass has a bug and the pipeline throws MlcError('PASS_BROKE_MODEL') —
 *   callers write nothing in that case. The pipeline itself never loads onnxruntime.
 * - A pass that reports `modified: false` must have left the model exactly as it was: the runner
 *   hashes the whole IR (src/ir/fingerprint.ts) before and after, and a difference is an internal
 *   error (MlcError INTERNAL naming the pass), whatever the pass says.
 */
import { MlcError } from '../core/errors.js';
import { fingerprintModel } from '../ir/fingerprint.js';
import type { Model } from '../ir/model.js';
import type { Pass, PassContext, Skip } from './pass.js';
import { getPass, type RecipeStep } from './registry.js';

/**
 * A step: a registered pass by name with its options, typed from the pass's schema (RecipeStep),
 * or a Pass object with raw options (validated by its parseOptions at run time).
 */
export type PipelineStep = RecipeStep | { pass: Pass<any>; options?: unknown };

export interface PassReport {
  name: string;
  modified: boolean;
  /** wall-clock time of the pass's run(), in milliseconds */
  ms: number;
  stats: Record<string, number | string>;
  skipped: Skip[];
  details?: Record<string, unknown>[];
}

export interface PipelineResult {
  model: Model;
  passes: PassReport[];
  /**
   * With `deferLastCheck`: the pass whose output has not been checked yet (the last modifying
   * pass); the caller checks it — e.g. on the written file — and blames it with `blameCheck`.
   */
  unchecked?: string;
}

export interface PipelineOptions {
  /**
   * How to check that a model still loads after a modifying pass: a function that throws when
   * it does not (compress() injects one backed by onnxruntime-node, e.g. src/runtime's
   * checkModelLoads or a sessionKeeper's check). Without it (or `false`) nothing is checked.
   */
  check?: false | ((model: Model) => Promise<void>);
  /** called before / after each pass (the CLI shows progress with these) */
  onPassStart?: (name: string, index: number, total: number) => void;
  onPassEnd?: (report: PassReport, index: number, total: number) => void;
  /**
   * Hold each pass to `modified: false` by hashing the model before and after it (default true;
   * about 0.6 s per GB of weights and pass).
   */
  verifyUnchanged?: boolean;
  /**
   * Check a modifying pass's output just before the next pass runs instead of right after it, and
   * leave the last one to the caller (`PipelineResult.unchecked`): compress() checks the final
   * model on the file it writes, so the model is not serialized once for the check and again for
   * the file. Every pass still sees a checked model.
   */
  deferLastCheck?: boolean;
}

function messageOf(err: unknown): string {
  const m = (err instanceof Error ? err.message : String(err)).replace(/^onnxruntime cannot load the model: /, '');
  return m.split('\n').map((l) => l.trim()).filter(Boolean).join(' ');
}

/**
 * The guard behind `modified: false` hashes every tensor of up to 1 MiB whole and larger ones from
 * evenly spread windows (src/ir/fingerprint.ts): the whole-byte hash of a BERT-base-size model
 * cost 0.38 s of CPU before every pass, almost always for a pass that then reports a change.
 */
const GUARD_SAMPLING = { sampleAbove: 1 << 20 };

export async function runPipeline(
  model: Model,
  steps: readonly PipelineStep[],
  ctx: PassContext,
  opts: PipelineOptions = {},
): Promise<PipelineResult> {
  const resolved = steps.map((s) => {
    const pass = typeof s.pass === 'string' ? getPass(s.pass) : s.pass;
    return { pass, options: pass.parseOptions(s.options ?? {}) };
  });
  const check = opts.check === false ? undefined : opts.check;
  const reports: PassReport[] = [];
  let unchecked: string | undefined;
  const checkNow = async (passName: string) => {
    try {
      await check!(model);
    } catch (err) {
      await blameCheck(err, passName, ctx, check!);
    }
  };
  for (let i = 0; i < resolved.length; i++) {
    const { pass, options } = resolved[i];
    if (ctx.signal?.aborted) throw new MlcError('INTERNAL', `aborted before pass ${pass.name}`);
    if (unchecked !== undefined) {
      await checkNow(unchecked);
      unchecked = undefined;
    }
    opts.onPassStart?.(pass.name, i, resolved.length);
    const before = opts.verifyUnchanged === false ? undefined : fingerprintModel(model, GUARD_SAMPLING);
    const t0 = performance.now();
    const r = await pass.run(model, options, ctx);
    const ms = performance.now() - t0;
    if (!r.modified && before !== undefined && fingerprintModel(model, GUARD_SAMPLING) !== before) {
      throw new MlcError('INTERNAL', `pass ${pass.name} reported modified: false but changed the model (a bug in the pass)`);
    }
    const report: PassReport = {
      name: pass.name,
      modified: r.modified,
      ms: Math.round(ms * 10) / 10,
      stats: r.stats,
      skipped: r.skipped,
    };
    if (r.details) report.details = r.details;
    if (r.modified && check) {
      if (opts.deferLastCheck) unchecked = pass.name;
      else await checkNow(pass.name);
    }
    reports.push(report);
    opts.onPassEnd?.(report, i, resolved.length);
  }
  return { model, passes: reports, ...(unchecked !== undefined ? { unchecked } : {}) };
}

/**
 * A failed check after a pass is the pass's bug — unless the input model itself does not load,
 * in which case the pass is not to blame (and the input is reported as unsupported).
 */
export async function blameCheck(
  err: unknown,
  passName: string,
  ctx: PassContext,
  check: (m: Model) => Promise<void>,
): Promise<never> {
  if (ctx.original) {
    let originalLoads = true;
    try {
      await check(ctx.original);
    } catch {
      originalLoads = false;
    }
    if (!originalLoads) {
      throw new MlcError(
        'UNSUPPORTED',
        `onnxruntime cannot load the input model, so pass ${passName}'s output cannot be checked: ${messageOf(err)}`,
        { cause: err },
      );
    }
  }
  throw new MlcError('PASS_BROKE_MODEL', `pass ${passName} produced a model onnxruntime rejects: ${messageOf(err)}`, {
    cause: err,
  });
}
