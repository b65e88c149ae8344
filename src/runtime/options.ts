/**
 * Session options and the Session interface, shared by every runtime (onnxruntime-node in
 * index.ts, onnxruntime-web in web.ts and the browser page): no runtime package is imported here,
 * so that what only describes sessions loads none.
 */
import type { Feed, Output } from './feeds.js';

export interface SessionOptions {
  /** intra-op threads; default 1 */
  intraOpThreads?: number;
  /** graph optimization level; default 'all' */
  optimization?: 'all' | 'basic' | 'disabled';
  /**
   * onnxruntime graph transformers to turn off (by name, e.g. 'SkipLayerNormFusion'); default
   * DEFAULT_DISABLED_OPTIMIZERS. Pass [] for onnxruntime's stock set.
   */
  disabledOptimizers?: readonly string[];
  /**
   * let kernels prepack their weights (default true). A session that only checks that a model
   * loads does not need it: without prepacking a BERT-base-size fp32 session is created with about
   * a quarter of the CPU time (0.3 s instead of 1.2 s here)
   */
  prepack?: boolean;
  /**
   * write the model as onnxruntime optimized it (its graph transformers applied) to this path when
   * the session is created: what the QDQ tests read back to count the Q/DQ pairs left unfused
   */
  optimizedModelFilePath?: string;
  /**
   * let the intra-op worker threads spin while they wait for work (default true, onnxruntime's
   * default: the lowest latency per run). A session that only has to get through a lot of work
   * (a pass's calibration runs) turns it off: spinning workers burn a core each between the
   * parallel parts of every op, which on a 2-core machine shared with other jobs cost more wall
   * time than it saves (static int8 of a MobileNetV2 on 100 images at load 8: 8.7-12.6 s wall and
   * 6.5 s CPU spinning, 5.3 s and 4.5 s not) and leaves no core for the gzip that overlaps with it
   */
  spinning?: boolean;
}

/**
 * Transformers mlc turns off by default: none, so that measurements match a deployment with
 * onnxruntime's stock settings. Worth knowing: SkipLayerNormFusion rewrites Add +
 * LayerNormalization into com.microsoft SkipLayerNormalization, whose CPU kernel in onnxruntime
 * 1.30 measured about 11× slower than the unfused pair here (8 × [1, 128, 768] residual LayerNorms:
 * ~3.1 ms fused vs ~0.3 ms unfused at 1 thread); `disabledOptimizers: ['SkipLayerNormFusion']`
 * turns it off (BERT-like encoder, hidden 768: fp32 p50 40 → 37.7 ms, int8 dynamic 15.5 → 12.6 ms).
 */
export const DEFAULT_DISABLED_OPTIMIZERS: readonly string[] = [];

export interface Session {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  run(feeds: Record<string, Feed>, outputNames?: string[]): Promise<Record<string, Output>>;
  release(): Promise<void>;
  /**
   * run once and return how long the run took where the model ran, ms, without the outputs: for
   * runtimes where the caller's clock would count more than the run (a browser page: the round
   * trip to the page and the tensors' transfer)
   */
  time?(feeds: Record<string, Feed>): Promise<number>;
}

export function configEntries(opts: SessionOptions): { extra?: Record<string, Record<string, string | Record<string, string>>> } {
  const extra: Record<string, Record<string, string | Record<string, string>>> = {};
  const names = opts.disabledOptimizers ?? DEFAULT_DISABLED_OPTIMIZERS;
  // session config entry "optimization.disable_specified_optimizers" (comma-separated names)
  if (names.length) extra.optimization = { disable_specified_optimizers: names.join(',') };
  // session config entry "session.disable_prepacking"
  if (opts.prepack === false) extra.session = { disable_prepacking: '1' };
  // session config entry "session.intra_op.allow_spinning"
  if (opts.spinning === false) extra.session = { ...extra.session, intra_op: { allow_spinning: '0' } };
  return Object.keys(extra).length ? { extra } : {};
}

