/** The data of a benchmark report (src/bench/report.ts formats it; gates read it). */

export interface LatencyMs {
  p50: number;
  p90: number;
  p99: number;
  mean: number;
  /** coefficient of variation (stddev / mean) of the timed runs */
  cv: number;
  /** 95% interval of the p50 (the median of the block medians; src/bench/latency.ts); null or absent with too few rounds */
  p50Ci?: [number, number] | null;
  /**
   * the timed runs, ms, in the order they ran (at most `MAX_KEPT_SAMPLES`, evenly thinned;
   * src/bench/latency.ts): the HTML report draws their distribution. Not in the --json document.
   */
  samples?: number[];
}

/** How an estimated gzip size was sampled. */
export interface GzipSample {
  /** share of the bytes compressed (0..1] */
  fraction: number;
  /** relative standard error of the estimate */
  relStdErr: number;
}

export interface Metrics {
  sizeBytes: number;
  gzipBytes: number;
  /** set when gzipBytes is estimated from a sample of a large file (see src/bench/size.ts) */
  gzipSampled?: GzipSample | null;
  /** brotli -q 11 bytes; absent when not measured (--brotli; see src/bench/size.ts) */
  brotliBytes?: number | null;
  params: number;
  nonzeroParams: number;
  /** batch 1; null when latency was not measured */
  latencyMs: LatencyMs | null;
  /** samples per second at settings.batchSize (batch size / median batch time); null when not measured */
  throughputPerSec: number | null;
  /** top-1, a fraction; null without labels */
  accuracy: number | null;
  /** after only: top-1 agreement with the original (fraction); null without data */
  agreement?: number | null;
  /** after only: mean cosine similarity of the outputs with the original's */
  cosine?: number | null;
  /** after only: max absolute difference of the outputs from the original's */
  maxAbsError?: number | null;
  /** initializer bytes by dtype name */
  bytesByDtype: Record<string, number>;
}

export interface PassReport {
  name: string;
  modified: boolean;
  ms: number;
  stats: Record<string, number | string>;
  skipped: { node: string; reason: string }[];
  /** per-item records a pass returns (per layer / per weight), passed through to the JSON */
  details?: Record<string, unknown>[];
}

export interface GateResult {
  name: string;
  limit: number;
  actual: number | null;
  passed: boolean;
  /** the 95% interval of the actual value, for the latency gates when measured */
  interval?: [number, number];
  /** the interval's level when not 0.95 (a sequential gate's later look: `settings.ciLevel`) */
  level?: number;
  /** the interval straddles the limit: neither shown to pass nor to fail; counted as passed, with a warning */
  inconclusive?: boolean;
}

export interface BenchSettings {
  /** where the models ran ('node', 'wasm', 'browser', 'webgpu'; src/runtime/runtimes.ts) */
  runtime?: string;
  threads: number;
  /** batch size used for throughput (null when not measured) */
  batchSize: number | null;
  warmup: number;
  /** timed latency runs per model */
  runs: number | null;
  /** set when a slow model's timing was time-boxed (fewer runs, a smaller throughput batch), ms */
  timeBoxMs?: number;
  /**
   * the level of the latency and speedup intervals when not 0.95: a latency gate's interval
   * straddled its limit and timing went on, each later look judging a wider interval
   * (src/bench/latency.ts, "Sequential gates")
   */
  ciLevel?: number;
  /** samples evaluated for accuracy / agreement (0 without data) */
  samples: number;
  /** name of the output accuracy and agreement were computed on */
  outputName: string | null;
  /** onnxruntime graph transformers turned off for every session ([] = onnxruntime's stock set) */
  disabledOptimizers: string[];
  /** the input shapes latency was measured with (batch 1, or the model's fixed batch); null when the model was not run */
  inputShapes?: Record<string, number[]> | null;
  /** why latency (and, with data, accuracy and fidelity) were not measured; null when they were */
  notMeasured?: string | null;
}

/** One runtime's figures when a model is measured in several (`--runtime node,browser`). */
export interface RuntimeResult {
  runtime: string;
  before: Pick<Metrics, 'latencyMs' | 'throughputPerSec' | 'accuracy'>;
  after: Pick<Metrics, 'latencyMs' | 'throughputPerSec' | 'accuracy' | 'agreement' | 'cosine' | 'maxAbsError'> | null;
  speedup: number | null;
  /** batch size of the throughput runs */
  batchSize: number | null;
  /** why this runtime's figures are missing; null when they were measured */
  notMeasured: string | null;
}

export interface Report {
  input: string;
  output: string | null;
  passes: PassReport[];
  before: Metrics;
  after: Metrics | null;
  /** before p50 / after p50 (> 1 = faster); null without two latency measurements */
  speedup: number | null;
  /** 95% interval of the speedup (per-round ratios); null with too few rounds */
  speedupCi?: [number, number] | null;
  settings: BenchSettings;
  /**
   * every runtime's figures, the first being the one `before` / `after` and the gates come from;
   * absent when the models were measured in one runtime only
   */
  runtimes?: RuntimeResult[];
  /** the `--target` check of the result (src/bench/target.ts); a failed one fails the report */
  target?: import('./target.js').TargetCheck;
  gates: GateResult[];
  passed: boolean;
  /** per-layer statistics (src/bench/layers.ts), filled for the HTML report only; not in the --json document */
  layers?: import('./layers.js').LayerStats;
}

/**
 * `mlc sensitivity` (src/tune/): what applying one pass to one layer alone costs and saves.
 * The HTML report draws these as bars; `mlc tune` orders its fallbacks by them.
 */
export interface SensitivityRow {
  /** the node the pass was applied to */
  node: string;
  op: string;
  /** the pass and its setting, as a user would write it (e.g. "quantize int8", "prune 0.5", "lowrank energy 0.9") */
  pass: string;
  /** drop of the metric in points (percentage points; > 0 = worse); null when not measured */
  drop: number | null;
  /** mean cosine similarity of the model outputs with the original's */
  cosine: number | null;
  /** signal-to-quantization-noise ratio of this layer's output, dB */
  sqnrDb: number | null;
  /** initializer bytes saved */
  bytesSaved: number;
  /** gzip bytes saved; null when not measured */
  gzipBytesSaved: number | null;
  /** share (0..1) of the model's batch-1 time spent in this node, from onnxruntime's profiler; null when not profiled */
  latencyShare: number | null;
}

export interface SensitivityReport {
  /** accuracy with labels, agreement with the original's top-1 without */
  metric: 'accuracy' | 'agreement';
  /** the original model's metric (fraction) */
  baseline: number;
  rows: SensitivityRow[];
  /** wall time of the analysis */
  seconds: number;
}

/** One recipe `mlc tune` evaluated. */
export interface TuneCandidate {
  /** the recipe's steps, as in a recipe file */
  recipe: Record<string, unknown>[];
  /** the objective's value: bytes (size), gzip bytes (gzip) or batch-1 p50 ms (latency) */
  objective: number;
  /** the metric on the tuning split (fraction) */
  score: number;
  /** the metric on the held-out split (fraction); null when not evaluated */
  heldOutScore: number | null;
  /** standard error of the original's score minus this one on the tuning split (fraction) */
  se?: number;
  /** the budget holds on the tuning split, counting `se` budget.margin times on top of the loss */
  meetsBudget: boolean;
  /** the budget holds on the held-out split (no margin); set for the candidates scored there */
  heldOutMeetsBudget?: boolean;
  /** index of the candidate this one is that recipe distilled from */
  distilledFrom?: number;
  /**
   * latency: the confident timing against the original (the sequential interval of the per-round
   * speedups at `level`); `verdict` 'faster' (the interval clears `threshold`) is needed to be chosen
   */
  speedup?: { median: number; ci: [number, number] | null; level: number; threshold: number; verdict: 'faster' | 'not faster' | 'undecided'; rounds: number };
  /** on the Pareto front of objective vs score */
  pareto: boolean;
  chosen: boolean;
  /** time spent building and evaluating it */
  seconds: number;
}

export interface TuneReport {
  objective: 'size' | 'gzip' | 'latency';
  metric: 'accuracy' | 'agreement';
  /** the budget as given: max drop in points (accuracy) or min agreement (fraction); the margin in standard errors */
  budget: { maxAccuracyDrop?: number; minAgreement?: number; margin?: number };
  /** the original model: objective value and metric on both splits */
  baseline: { objective: number; score: number; heldOutScore: number | null };
  candidates: TuneCandidate[];
  /** index into candidates; null when no candidate met the budget (the original is kept) */
  chosen: number | null;
  /** wall time of the search */
  seconds: number;
  /** CPU seconds of the process during the search (user + system, onnxruntime's threads included): the wall time on a shared machine says less */
  cpuSeconds?: number;
  /** the search stopped at its time budget (the best so far is chosen) */
  timedOut?: boolean;
  /**
   * the near misses distillation was tried on: `from` and `candidate` index candidates; candidate
   * null when training did not improve on its start (no candidate then)
   */
  distilled?: { from: number; candidate: number | null; seconds: number }[];
  /** how the chosen candidate (or the original) was picked, in words, and the held-out checks made */
  choice?: { rule: string; heldOutChecks: number };
}
