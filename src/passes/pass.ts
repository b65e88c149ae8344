/**
 * The pass contract. A pass rewrites a Model in place and reports what it did; it never sees
 * protobuf, never runs an inference session itself, and never prints (it logs through ctx.log).
 * A node it cannot handle is left untouched and recorded as a Skip with the reason.
 */
import type { Model } from '../ir/model.js';

export interface Skip {
  node: string; // node (or initializer) name
  reason: string;
}

export interface PassResult {
  modified: boolean;
  stats: Record<string, number | string>;
  skipped: Skip[];
  /** Optional per-item details (per layer / per weight) for reports. */
  details?: Record<string, unknown>[];
}

export interface Logger {
  info(msg: string): void;
  warn(msg: string): void;
  debug(msg: string): void;
}

/** A labelled or unlabelled data set: one array per model input, by input name. */
export interface Dataset {
  inputs: Record<string, { dtype: string; dims: number[]; data: ArrayLike<number> | ArrayLike<bigint> }>;
  labels?: Int32Array;
  count: number;
}

/** Runs a model on a batch of feeds (provided by the pipeline; passes must not import the runtime). */
export type ModelRunner = (
  model: Model,
  feeds: Record<string, { dtype: string; dims: number[]; data: ArrayLike<number> | ArrayLike<bigint> }>,
  outputNames?: string[],
) => Promise<Record<string, { dims: number[]; data: Float32Array | ArrayLike<number> | ArrayLike<bigint> }>>;

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
  /** Option descriptions for `mlc passes` (name → help). */
  options: Record<string, string>;
  /** Validate and normalize options (from CLI flags or a recipe); throws MlcError('USAGE'). */
  parseOptions(raw: unknown): O;
  run(model: Model, options: O, ctx: PassContext): Promise<PassResult>;
  cli?: PassCli;
}

/** Mulberry32: a small seeded PRNG. */
export function seededRng(seed = 42): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const silentLogger: Logger = { info() {}, warn() {}, debug() {} };

/** Glob match for --exclude (`*` any run, `?` one char). */
export function globMatch(pattern: string, name: string): boolean {
  const re = new RegExp('^' + pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.') + '$');
  return re.test(name);
}

export function isExcluded(name: string, patterns: readonly string[] | undefined): boolean {
  return !!patterns && patterns.some((p) => globMatch(p, name));
}
