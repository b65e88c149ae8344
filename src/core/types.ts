/**
 * The shared vocabulary of mlc, below every other layer: data sets, feeds and outputs, the model
 * runner signature, the logger. Nothing here knows the IR, ONNX, onnxruntime or tfjs.
 */

/** One named input of a batch: dtype name as in src/ir/dtype.ts ('float', 'int64', ...). */
export interface Feed {
  dtype: string;
  dims: number[];
  data: ArrayLike<number> | ArrayLike<bigint>;
}
export type Feeds = Record<string, Feed>;

/** One output of a run. */
export interface Output {
  dims: number[];
  data: Float32Array | ArrayLike<number> | ArrayLike<bigint>;
}
export type Outputs = Record<string, Output>;

/** A labelled or unlabelled data set: one array per model input, by input name. */
export interface Dataset {
  inputs: Feeds;
  labels?: Int32Array;
  count: number;
}

/**
 * Runs a model on a batch of feeds. Generic over the model type so that this layer stays below
 * src/ir; the pass context uses ModelRunner<Model>. src/runtime provides it; passes get it as
 * ctx.run and never import the runtime.
 */
export type ModelRunner<M> = (model: M, feeds: Feeds, outputNames?: string[], opts?: RunOptions) => Promise<Outputs>;

export interface RunOptions {
  /**
   * the caller vouches that `model` has not changed since it last went through this runner (a
   * probe model a helper built for its own runs): the runner may reuse that run's session without
   * serializing the model again to find out (a 14 MB CNN: ~30 ms of CPU per run, more than a
   * batch-1 inference of it)
   */
  unchanged?: boolean;
}

/** A candidate a pass (or a helper) left alone, and why. */
export interface Skip {
  node: string; // node (or initializer) name
  reason: string;
}

export interface Logger {
  info(msg: string): void;
  warn(msg: string): void;
  debug(msg: string): void;
}

export const silentLogger: Logger = { info() {}, warn() {}, debug() {} };
