/**
 * The pass contract. A pass rewrites a Model in place and reports what it did; it never sees
 * protobuf, never runs an inference session itself, and never prints (it logs through ctx.log).
 * A node it cannot handle is left untouched and recorded as a Skip with the reason.
 */
import type { Dataset, Feeds, Logger, ModelRunner as Runner, Skip } from '../core/types.js';
import type { Model } from '../ir/model.js';
import type { OptionSchema } from './options.js';

// The shared vocabulary lives in src/core; re-exported here for pass authors.
export type { Dataset, Feed, Feeds, Logger, Output, Outputs, Skip } from '../core/types.js';
export { silentLogger } from '../core/types.js';
export { seededRng } from '../core/rng.js';
export { globMatch, isExcluded } from '../core/exclude.js';

export interface PassResult {
  modified: boolean;
  stats: Record<string, number | string>;
  skipped: Skip[];
  /** Optional per-item details (per layer / per weight) for reports. */
  details?: Record<string, unknown>[];
}

/** Runs a model on a batch of feeds (provided by the pipeline; passes must not import the runtime). */
export type ModelRunner = Runner<Model>;

export interface PassContext {
  log: Logger;
  /** seeded uniform [0, 1) */
  rng: () => number;
  signal?: AbortSignal;
  /** calibration data for static quantization */
  calibration?: Dataset;
  /** training / validation data for distillation */
  train?: Dataset;
  validation?: Dataset;
  /** the model as loaded, before any pass (teacher for distillation) */
  original?: Model;
  /** runs a model through onnxruntime for passes that need activations (calibration, teacher) */
  run?: ModelRunner;
  /** loads an ONNX file (provided by the caller; passes never see protobuf), e.g. distill's --student */
  loadModel?: (path: string) => Promise<Model>;
  /**
   * seeded made-up samples of the model's inputs (the fidelity data of `mlc variants`), for a pass
   * that measures on data when none was given (the int4 target's probe): `tryRun` gets the first
   * `tryCount` of them (a guessed sequence length is halved while it throws); its result is returned
   * with the samples. Provided by the API layer (`madeUpData` in src/bench/inputs.ts).
   */
  madeUpData?: <T>(model: Model, tryRun: (feeds: Feeds) => Promise<T>, tryCount: number) => Promise<{ data: Dataset; result: T }>;
  /**
   * what the machine's CPU does to onnxruntime's int8 kernels (src/runtime/cpu.ts, filled by the
   * caller): passes pick CPU-dependent defaults from it (int4's compute path); absent = a CPU with
   * fast int8 dot products (the defaults onnxruntime documents)
   */
  cpu?: { int8Saturates: boolean };
}

/** A `mlc compress` flag a pass contributes (commander syntax, e.g. '--prune <sparsity>'). */
export interface CliFlag {
  flags: string;
  description: string;
  defaultValue?: string | boolean | string[];
  /** choices shown in help and enforced by commander */
  choices?: string[];
}

/**
 * How a pass is driven from `mlc compress` flags. `fromFlags` gets every parsed flag (commander
 * camelCase keys: --prune-scope → pruneScope; shared flags such as `exclude` included) and returns
 * the raw options for parseOptions, or undefined when the flags do not ask for this pass.
 */
export interface PassCli {
  flags: CliFlag[];
  fromFlags(flags: Record<string, unknown>): unknown | undefined;
  /** suffix of the default output name when this pass runs alone (e.g. '_int8') */
  outputSuffix(options: unknown): string;
}

export interface Pass<O = Record<string, unknown>> {
  name: string; // kebab-case registry key
  describe: string;
  /** Option descriptions for `mlc passes` (name → help); derived from `schema` by definePass. */
  options: Record<string, string>;
  /** The options, declared once (src/passes/options.ts); absent only for ad-hoc passes. */
  schema?: OptionSchema<O>;
  /** Validate and normalize options (from CLI flags or a recipe); throws MlcError('USAGE'). */
  parseOptions(raw: unknown): O;
  run(model: Model, options: O, ctx: PassContext): Promise<PassResult>;
  cli?: PassCli;
}
