/**
 * Knowledge distillation: train a student ONNX graph (run by the tfjs executor) to match a
 * teacher's soft targets, then write the trained weights back into the student model.
 *
 *   teacher logits   computed once on the training (and validation) inputs with onnxruntime
 *                    (ctx.run), in batches; a teacher output made by Softmax is turned back into
 *                    logits with log p (softmax is shift-invariant, so this loses nothing)
 *   loss             T²·α·KL(softmax(t/T) ‖ softmax(s/T)) + (1 − α)·CE(labels, softmax(s))
 *                    (labels when the data has them, else α = 1); an output whose last axis has
 *                    length 1 (a regression head) uses the mean squared error to the teacher
 *   optimizer        Adam, cosine-decayed learning rate from `lr` to lr/20 over all steps
 *   validation       after every epoch (and before the first, so training never returns a worse
 *                    student than it got) on ctx.validation, else on a held-out share of the
 *                    training data (drawn with a fixed seed: the same share every round); the
 *                    metric is accuracy with labels, else top-1 agreement with the teacher,
 *                    ties broken by the KL to the teacher; the best epoch is kept
 *   masks            a MatMul / Gemm / Conv weight with exact zeros (a pruned weight) keeps them:
 *                    its gradient is masked (so Adam's moments stay zero there) and the weight is
 *                    re-masked after each step
 *   ties             (trained quantization, Han et al. 2016) a weight listed in `ties` with a
 *                    cluster id per element (−1: untied; ids are shared across weights, for a
 *                    shared codebook) keeps its shared values: each step its gradient is replaced
 *                    by the cluster's gradient sum at every member of the cluster, so
 *                    members that start equal get identical Adam updates and stay equal; only the
 *                    centroids move (zeros stay zero through the mask)
 *   export check     after write-back, onnxruntime's output on a validation batch must equal
 *                    tfjs's (the executor and ORT agree on the student); else INTERNAL error
 */
import type * as tfjs from '@tensorflow/tfjs';
import { MlcError } from '../core/errors.js';
import { seededRng, shuffledIndices } from '../core/rng.js';
import type { Model } from '../ir/model.js';
import type { Dataset, Logger, ModelRunner } from '../core/types.js';
import { BackendChoice, BackendName, isMissingKernelError, loadTf, type Tf, useBackend } from './backend.js';
import { GraphExecutor } from './executor.js';

/** Seed of the held-out share's draw (the same split for every round on the same data). */
const VALIDATION_SPLIT_SEED = 0x5eed;


/** What distillation needs from its caller (a PassContext is one). */
export interface TrainContext {
  log: Logger;
  /** seeded uniform [0, 1) */
  rng: () => number;
  signal?: AbortSignal;
  train?: Dataset;
  validation?: Dataset;
  /** runs the teacher through onnxruntime */
  run?: ModelRunner<Model>;
}

type TT = tfjs.Tensor;

export interface DistillConfig {
  epochs: number;
  batchSize: number;
  lr: number;
  temperature: number;
  /** weight of the soft-target term */
  alpha: number;
  /** share of the training data held out for validation when ctx.validation is absent (default 0.1) */
  valSplit?: number;
  backend?: BackendChoice;
  /** keep exact zeros of MatMul/Gemm/Conv weights (default true) */
  keepZeros?: boolean;
  /** the output to distill (default: the first graph output) */
  output?: string;
  /**
   * 'mixup' (default): each epoch half the training inputs are mixed with a random partner and
   * labelled by the teacher (more soft targets from the same data; float inputs only);
   * 'none': the training inputs as they are.
   */
  augment?: 'mixup' | 'none';
  /**
   * Tied weights (weight sharing): initializer name → cluster id of each element (−1 = untied; an
   * id may span several weights). The members of a cluster must hold the same value; they keep it
   * (see the file comment).
   */
  ties?: Map<string, Int32Array>;
}

export interface DistillReport {
  backend: BackendName;
  epochs: number;
  steps: number;
  seconds: number;
  trainSamples: number;
  valSamples: number;
  /** 'accuracy' (labels) or 'agreement' (top-1 agreement with the teacher) */
  metric: 'accuracy' | 'agreement' | 'mse';
  teacherVal: number | null;
  studentValBefore: number;
  studentValAfter: number;
  bestEpoch: number;
  trainableParams: number;
  maskedWeights: number;
  /** weights trained with shared values (cfg.ties) */
  tiedWeights: number;
  exportMaxAbsDiff: number;
}

interface Split {
  /** sample indices into the source dataset */
  idx: Int32Array;
  source: Dataset;
  teacher: Float32Array; // [count, D]
}

const EVAL_BATCH = 256;
/** share of training samples mixed with a partner each epoch (augment: 'mixup') */
const MIX_SHARE = 0.5;

function rowSize(dims: readonly number[]): number {
  let p = 1;
  for (let i = 1; i < dims.length; i++) p *= dims[i];
  return p;
}

/** Gather rows `idx[from..to)` of every input into fresh arrays (feeds for ORT and tfjs). */
function gatherFeeds(ds: Dataset, names: string[], idx: Int32Array, from: number, to: number) {
  const feeds: Record<string, { dtype: string; dims: number[]; data: Float32Array | Int32Array | BigInt64Array }> = {};
  const n = to - from;
  for (const name of names) {
    const inp = ds.inputs[name];
    const r = rowSize(inp.dims);
    const dims = [n, ...inp.dims.slice(1)];
    const src = inp.data;
    if (inp.dtype === 'int64') {
      const out = new BigInt64Array(n * r);
      const s = src as BigInt64Array;
      for (let i = 0; i < n; i++) out.set(s.subarray(idx[from + i] * r, idx[from + i] * r + r), i * r);
      feeds[name] = { dtype: 'int64', dims, data: out };
    } else if (inp.dtype === 'float') {
      const out = new Float32Array(n * r);
      const s = src as Float32Array;
      for (let i = 0; i < n; i++) out.set(s.subarray(idx[from + i] * r, idx[from + i] * r + r), i * r);
      feeds[name] = { dtype: 'float', dims, data: out };
    } else if (inp.dtype === 'int32') {
      const out = new Int32Array(n * r);
      const s = src as Int32Array;
      for (let i = 0; i < n; i++) out.set(s.subarray(idx[from + i] * r, idx[from + i] * r + r), i * r);
      feeds[name] = { dtype: 'int32', dims, data: out };
    } else {
      throw new MlcError('UNSUPPORTED', `distillation input '${name}' has dtype ${inp.dtype} (float, int32 or int64 only)`);
    }
  }
  return feeds;
}

function toTfFeeds(tf: Tf, feeds: ReturnType<typeof gatherFeeds>): Record<string, TT> {
  const r: Record<string, TT> = {};
  for (const [k, f] of Object.entries(feeds)) {
    if (f.data instanceof BigInt64Array) r[k] = tf.tensor(Int32Array.from(f.data, (x) => Number(x)), f.dims, 'int32');
    else r[k] = tf.tensor(f.data, f.dims, f.dtype === 'float' ? 'float32' : 'int32');
  }
  return r;
}

/** tfjs tensors of rows [s, e) of whole-epoch feeds. */
function sliceTfFeeds(tf: Tf, feeds: ReturnType<typeof gatherFeeds>, names: string[], s: number, e: number): Record<string, TT> {
  const r: Record<string, TT> = {};
  for (const k of names) {
    const f = feeds[k];
    const row = rowSize(f.dims);
    const dims = [e - s, ...f.dims.slice(1)];
    const d = f.data.subarray(s * row, e * row);
    if (d instanceof BigInt64Array) r[k] = tf.tensor(Int32Array.from(d, (x) => Number(x)), dims, 'int32');
    else r[k] = tf.tensor(d, dims, f.dtype === 'float' ? 'float32' : 'int32');
  }
  return r;
}

function argmaxRows(data: ArrayLike<number>, c: number, rows: number): Int32Array {
  const out = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    let best = 0;
    for (let j = 1; j < c; j++) if (data[r * c + j] > data[r * c + best]) best = j;
    out[r] = best;
  }
  return out;
}

function fmtTime(s: number): string {
  if (s < 60) return `${s.toFixed(0)} s`;
  return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
}

/** Teacher outputs (as logits) for `idx` of `ds`, computed with onnxruntime in batches. */
async function teacherLogits(
  teacher: Model,
  ds: Dataset,
  idx: Int32Array,
  inputNames: string[],
  output: string,
  run: ModelRunner<Model>,
): Promise<{ data: Float32Array; dims: number[] }> {
  const p = teacher.graph.producer(output);
  const isProb = !!p && p.opType === 'Softmax' && !p.domain;
  let data: Float32Array | undefined;
  let dims: number[] = [];
  for (let s = 0; s < idx.length; s += EVAL_BATCH) {
    const e = Math.min(idx.length, s + EVAL_BATCH);
    const out = (await run(teacher, gatherFeeds(ds, inputNames, idx, s, e), [output]))[output];
    if (!out) throw new MlcError('INPUT', `the teacher has no output '${output}'`);
    const o = out.data as ArrayLike<number>;
    const d = o.length / (e - s);
    if (!data) {
      data = new Float32Array(idx.length * d);
      dims = [idx.length, ...out.dims.slice(1)];
    }
    for (let i = 0; i < o.length; i++) data[s * d + i] = isProb ? Math.log(Math.max(Number(o[i]), 1e-30)) : Number(o[i]);
  }
  return { data: data ?? new Float32Array(0), dims };
}

/**
 * Train `student` in place against `teacher`. The student's trainable weights (float32
 * initializers) end up with the best validation checkpoint; its graph structure is unchanged.
 */
export async function distill(teacher: Model, student: Model, cfg: DistillConfig, ctx: TrainContext): Promise<DistillReport> {
  const t0 = Date.now();
  const train = ctx.train;
  if (!train || train.count === 0) throw new MlcError('USAGE', 'distillation needs training inputs (--train-data <file>)');
  if (!ctx.run) throw new MlcError('INTERNAL', 'distillation needs ctx.run to compute the teacher outputs');
  const T = cfg.temperature;
  const alpha = cfg.alpha;
  const output = cfg.output ?? teacher.graph.outputs[0]?.name;
  if (!output) throw new MlcError('INPUT', 'the teacher has no outputs');
  if (!student.graph.outputs.some((o) => o.name === output)) {
    throw new MlcError('INPUT', `the student has no output '${output}' (it has ${student.graph.outputs.map((o) => o.name).join(', ')})`);
  }
  const studentInputs = student.graph.realInputs().map((i) => i.name);
  const teacherInputs = teacher.graph.realInputs().map((i) => i.name);
  for (const n of new Set([...studentInputs, ...teacherInputs])) {
    if (!train.inputs[n]) throw new MlcError('INPUT', `the training data has no array for input '${n}' (it has ${Object.keys(train.inputs).join(', ')})`);
    if (ctx.validation && !ctx.validation.inputs[n]) throw new MlcError('INPUT', `the validation data has no array for input '${n}'`);
  }

  // --- data split -------------------------------------------------------------------------------
  // The held-out share depends on the training set alone (a fixed seed, not ctx.rng): every round
  // of a recipe (gradual pruning, then weight sharing) holds out the same samples, so a later
  // round never validates on samples an earlier one trained on. With a share drawn from ctx.rng
  // each round, the weight-sharing round of the CNN recipe read 98.88% before and after tuning on
  // samples it had trained on, and kept the untuned model.
  const rng = ctx.rng;
  const perm = shuffledIndices(train.count, seededRng(VALIDATION_SPLIT_SEED));
  let trainIdx: Int32Array;
  let valIdx: Int32Array;
  let valSource: Dataset;
  if (ctx.validation && ctx.validation.count > 0) {
    trainIdx = perm;
    valSource = ctx.validation;
    valIdx = Int32Array.from({ length: ctx.validation.count }, (_, i) => i);
  } else {
    const share = cfg.valSplit ?? 0.1;
    const nVal = train.count >= 20 ? Math.max(1, Math.round(train.count * share)) : 0;
    valSource = train;
    if (nVal === 0) {
      trainIdx = perm;
      valIdx = perm;
      ctx.log.warn(`distill: only ${train.count} training samples; validating on the training data`);
    } else {
      valIdx = perm.slice(0, nVal);
      trainIdx = perm.slice(nVal);
    }
  }

  await loadTf(); // before the teacher's outputs: a missing TensorFlow.js is a usage error up front
  ctx.log.info(`distill: teacher outputs for ${trainIdx.length} training and ${valIdx.length} validation samples`);
  const tTrain = await teacherLogits(teacher, train, trainIdx, teacherInputs, output, ctx.run);
  const tVal = await teacherLogits(teacher, valSource, valIdx, teacherInputs, output, ctx.run);
  const D = rowSize(tTrain.dims);
  const C = tTrain.dims[tTrain.dims.length - 1] ?? 1;
  const regression = C === 1;
  const trainSplit: Split = { idx: trainIdx, source: train, teacher: tTrain.data };
  const valSplit: Split = { idx: valIdx, source: valSource, teacher: tVal.data };
  const useLabels = !regression && D === C;
  const labelsOf = (s: Split): Int32Array | undefined => {
    const l = s.source.labels;
    if (!useLabels || !l) return undefined;
    return Int32Array.from(s.idx, (i) => l[i]);
  };
  const trainLabels = labelsOf(trainSplit);
  const valLabels = labelsOf(valSplit);
  for (const l of [trainLabels, valLabels]) {
    if (l && l.some((x) => x < 0 || x >= C)) throw new MlcError('INPUT', `labels must be class indices in [0, ${C})`);
  }
  const metric: DistillReport['metric'] = regression ? 'mse' : valLabels ? 'accuracy' : 'agreement';
  const teacherVal = valLabels ? accuracyOf(argmaxRows(tVal.data, C, valIdx.length), valLabels) : null;

  // --- backend and executor ---------------------------------------------------------------------
  let { tf, backend } = await useBackend(cfg.backend ?? 'auto');
  let exec = new GraphExecutor(tf, student);
  if (exec.variables.size === 0) {
    exec.dispose();
    throw new MlcError('UNSUPPORTED', 'the student has no trainable float32 weights (float16 and quantized weights are not trained)');
  }
  const logits = exec.logitsOf(output).name;
  const probe = () => {
    const n = Math.min(2, trainIdx.length);
    tf.tidy(() => {
      const feeds = toTfFeeds(tf, gatherFeeds(train, studentInputs, trainIdx, 0, n));
      const { grads, value } = tf.variableGrads(() => tf.mean(exec.run(feeds, [logits])[0]) as tfjs.Scalar, [...exec.variables.values()]);
      value.dataSync();
      for (const g of Object.values(grads)) g.dataSync();
    });
  };
  // tfjs has no gradient for some ops (e.g. StridedSlice, which Slice becomes): on every backend,
  // so that is a model distillation cannot train (UNSUPPORTED), not a crash
  const noGradient = (e: unknown): never => {
    const op = /gradient function not found for (\w+)/.exec(e instanceof Error ? e.message : '')?.[1];
    if (op) {
      exec.dispose();
      throw new MlcError('UNSUPPORTED', `tfjs has no gradient for ${op}, which the student's graph needs`, { cause: e });
    }
    throw e;
  };
  try {
    probe();
  } catch (e) {
    if (!isMissingKernelError(e) || backend === 'cpu') noGradient(e);
    ctx.log.warn(`distill: the ${backend} backend lacks a kernel (${(e as Error).message}); training on the cpu backend`);
    exec.dispose();
    ({ tf, backend } = await useBackend('cpu'));
    exec = new GraphExecutor(tf, student);
    try {
      probe();
    } catch (e2) {
      noGradient(e2);
    }
  }
  const vars = [...exec.variables.values()];
  if (vars.length === 0) throw new MlcError('INPUT', 'the student has no trainable float32 weights');
  const trainableParams = vars.reduce((s, v) => s + v.size, 0);

  // masks of pruned weights
  const masks = new Map<string, TT>(); // by variable name (tfjs)
  if (cfg.keepZeros ?? true) {
    for (const [name, v] of exec.variables) {
      const isWeight = student.graph.consumers(name).some((n) => ['MatMul', 'Gemm', 'Conv'].includes(n.opType) && n.inputs.indexOf(name) <= 1);
      if (!isWeight || v.rank < 2) continue;
      const d = v.dataSync() as Float32Array;
      let zeros = 0;
      for (let i = 0; i < d.length; i++) if (d[i] === 0) zeros++;
      if (zeros === 0 || zeros === d.length) continue;
      masks.set(v.name, tf.tidy(() => tf.cast(tf.notEqual(v, 0), 'float32')));
    }
  }

  // tied weights (weight sharing): by variable name (tfjs); cluster ids are shared across weights
  const ties = new Map<string, Int32Array>();
  let clusters = 0;
  for (const [name, assign] of cfg.ties ?? []) {
    const v = exec.variables.get(name);
    if (!v) continue;
    if (assign.length !== v.size) throw new MlcError('INTERNAL', `ties of ${name}: ${assign.length} assignments for ${v.size} elements`);
    for (let i = 0; i < assign.length; i++) if (assign[i] >= clusters) clusters = assign[i] + 1;
    ties.set(v.name, assign);
  }
  /** the gradients of tied weights: each cluster's sum (over all the weights it spans), at every member */
  const tieGrads = (grads: Record<string, TT>): void => {
    const sum = new Float64Array(clusters);
    const data = new Map<string, Float32Array>();
    for (const [k, a] of ties) {
      if (!grads[k]) continue;
      const gd = grads[k].dataSync() as Float32Array;
      data.set(k, gd);
      for (let i = 0; i < gd.length; i++) if (a[i] >= 0) sum[a[i]] += gd[i];
    }
    for (const [k, gd] of data) {
      const a = ties.get(k)!;
      const out = new Float32Array(gd.length);
      for (let i = 0; i < gd.length; i++) out[i] = a[i] >= 0 ? sum[a[i]] : gd[i];
      grads[k] = tf.tensor(out, grads[k].shape);
    }
  };

  // --- training ---------------------------------------------------------------------------------
  const bs = Math.max(1, Math.min(cfg.batchSize, trainIdx.length));
  const stepsPerEpoch = Math.ceil(trainIdx.length / bs);
  const totalSteps = stepsPerEpoch * cfg.epochs;
  const optimizer = tf.train.adam(cfg.lr);
  const lrMin = cfg.lr / 20;
  const setLr = (step: number) => {
    (optimizer as unknown as { learningRate: number }).learningRate =
      lrMin + 0.5 * (cfg.lr - lrMin) * (1 + Math.cos((Math.PI * step) / Math.max(1, totalSteps)));
  };

  const lossFn = (studentOut: TT, teacherOut: TT, labels: TT | undefined): tfjs.Scalar => {
    const s = tf.reshape(studentOut, [-1, C]);
    const t = tf.reshape(teacherOut, [-1, C]);
    if (regression) return tf.mean(tf.squaredDifference(s, t)) as tfjs.Scalar;
    const logPs = tf.logSoftmax(tf.div(s, T));
    const logPt = tf.logSoftmax(tf.div(t, T));
    const kl = tf.div(tf.sum(tf.mul(tf.exp(logPt), tf.sub(logPt, logPs))), s.shape[0]);
    if (!labels) return tf.mul(kl, T * T) as tfjs.Scalar;
    const ce = tf.neg(tf.mean(tf.sum(tf.mul(tf.oneHot(labels as tfjs.Tensor1D, C), tf.logSoftmax(s)), 1)));
    return tf.add(tf.mul(kl, T * T * alpha), tf.mul(ce, 1 - alpha)) as tfjs.Scalar;
  };

  const evaluate = (): { metric: number; kl: number } => {
    let hits = 0;
    let klSum = 0;
    let se = 0;
    const n = valIdx.length;
    for (let s = 0; s < n; s += EVAL_BATCH) {
      const e = Math.min(n, s + EVAL_BATCH);
      const out = tf.tidy(() => {
        const o = exec.run(toTfFeeds(tf, gatherFeeds(valSource, studentInputs, valIdx, s, e)), [logits])[0];
        return tf.reshape(o, [-1, C]);
      });
      const sd = out.dataSync() as Float32Array;
      const rows = (e - s) * (D / C);
      const td = tVal.data.subarray(s * D, e * D);
      if (regression) {
        for (let i = 0; i < sd.length; i++) se += (sd[i] - td[i]) ** 2;
      } else {
        const pred = argmaxRows(sd, C, rows);
        const ref = valLabels ? valLabels.subarray(s, e) : argmaxRows(td, C, rows);
        for (let i = 0; i < rows; i++) if (pred[i] === ref[i]) hits++;
        klSum += tf.tidy(() => {
          const logPs = tf.logSoftmax(tf.div(out, T));
          const logPt = tf.logSoftmax(tf.div(tf.tensor(td, [rows, C]), T));
          return tf.sum(tf.mul(tf.exp(logPt), tf.sub(logPt, logPs))).dataSync()[0];
        });
      }
      out.dispose();
    }
    const rows = n * (D / C);
    if (regression) return { metric: -se / (n * D), kl: se / (n * D) };
    return { metric: hits / rows, kl: klSum / rows };
  };
  const better = (a: { metric: number; kl: number }, b: { metric: number; kl: number }) =>
    a.metric > b.metric + 1e-12 || (Math.abs(a.metric - b.metric) <= 1e-12 && a.kl < b.kl);

  const show = (m: number) => (metric === 'mse' ? `mse ${(-m).toPrecision(4)}` : `${metric} ${(100 * m).toFixed(2)}%`);
  const before = evaluate();
  let best = before;
  let bestEpoch = 0;
  let bestSnap = exec.snapshot();
  ctx.log.info(
    `distill: ${backend} backend, ${trainableParams} trainable parameters` +
      (masks.size ? `, ${masks.size} pruned weights kept sparse` : '') +
      `; student before training: ${show(before.metric)}` +
      (teacherVal !== null ? ` (teacher ${show(teacherVal)})` : ''),
  );

  const allInputs = [...new Set([...studentInputs, ...teacherInputs])];
  const mixup = (cfg.augment ?? 'mixup') === 'mixup' && allInputs.every((nm) => train.inputs[nm].dtype === 'float');
  let step = 0;
  const trainStart = Date.now();
  for (let epoch = 1; epoch <= cfg.epochs; epoch++) {
    const order = shuffledIndices(trainIdx.length, rng);
    const n = order.length;
    const epochIdx = Int32Array.from(order, (i) => trainIdx[i]);
    const epochTeacher = new Float32Array(n * D);
    for (let i = 0; i < n; i++) epochTeacher.set(tTrain.data.subarray(order[i] * D, order[i] * D + D), i * D);
    const epochLabels = trainLabels ? Int32Array.from(order, (i) => trainLabels[i]) : undefined;
    // the epoch's inputs, in epoch order (student and teacher inputs)
    const epochInputs = gatherFeeds(train, allInputs, epochIdx, 0, n);
    if (mixup) {
      // mix a share of the samples with a random partner, x ← (1 − λ)·x + λ·x_partner, λ ~ U(0, ½);
      // the teacher labels the mixed inputs (the dominant sample keeps its hard label)
      const partner = shuffledIndices(n, rng);
      const mixed: number[] = [];
      for (let i = 0; i < n; i++) {
        if (rng() >= MIX_SHARE) continue;
        const lam = 0.5 * rng();
        for (const name of allInputs) {
          const a = epochInputs[name].data as Float32Array;
          const src = train.inputs[name].data as Float32Array;
          const r = rowSize(train.inputs[name].dims);
          const po = epochIdx[partner[i]] * r;
          for (let j = 0; j < r; j++) a[i * r + j] = (1 - lam) * a[i * r + j] + lam * src[po + j];
        }
        mixed.push(i);
      }
      const mixedIdx = Int32Array.from(mixed);
      const view: Dataset = { inputs: epochInputs, count: n };
      const tm = await teacherLogits(teacher, view, mixedIdx, teacherInputs, output, ctx.run);
      for (let k = 0; k < mixed.length; k++) epochTeacher.set(tm.data.subarray(k * D, k * D + D), mixed[k] * D);
    }
    let lossSum = 0;
    for (let s = 0; s < epochIdx.length; s += bs) {
      ctx.signal?.throwIfAborted();
      const e = Math.min(epochIdx.length, s + bs);
      setLr(step);
      const lossValue = tf.tidy(() => {
        const feeds = sliceTfFeeds(tf, epochInputs, studentInputs, s, e);
        const tOut = tf.tensor(epochTeacher.subarray(s * D, e * D), [e - s, D]);
        const lab = epochLabels ? tf.tensor(epochLabels.subarray(s, e), [e - s], 'int32') : undefined;
        const { value, grads } = tf.variableGrads(() => lossFn(exec.run(feeds, [logits])[0], tOut, lab), vars);
        if (ties.size) tieGrads(grads as Record<string, TT>);
        for (const [k, m] of masks) if (grads[k]) grads[k] = tf.mul(grads[k], m);
        optimizer.applyGradients(grads as unknown as Parameters<typeof optimizer.applyGradients>[0]);
        for (const v of vars) {
          const m = masks.get(v.name);
          if (m) v.assign(tf.mul(v, m));
        }
        return value.dataSync()[0];
      });
      if (!Number.isFinite(lossValue)) {
        throw new MlcError('INTERNAL', `distillation diverged (loss ${lossValue} at epoch ${epoch}); try a lower --lr`);
      }
      lossSum += lossValue * (e - s);
      step++;
    }
    const v = evaluate();
    const improved = better(v, best);
    if (improved) {
      best = v;
      bestEpoch = epoch;
      bestSnap = exec.snapshot();
    }
    const perEpoch = (Date.now() - trainStart) / 1000 / epoch;
    ctx.log.info(
      `distill: epoch ${epoch}/${cfg.epochs} loss ${(lossSum / epochIdx.length).toFixed(4)} val ${show(v.metric)}` +
        ` (best ${show(best.metric)}${improved ? ', kept' : ''}), ${perEpoch.toFixed(1)} s/epoch, ~${fmtTime(perEpoch * (cfg.epochs - epoch))} left`,
    );
  }

  exec.restore(bestSnap);
  exec.writeWeights(student);

  // --- export check: onnxruntime on the written model equals tfjs ----------------------------------
  const nCheck = Math.min(64, valIdx.length);
  const checkFeeds = gatherFeeds(valSource, studentInputs, valIdx, 0, nCheck);
  const ort = (await ctx.run(student, checkFeeds, [output]))[output];
  const mine = tf.tidy(() => exec.run(toTfFeeds(tf, checkFeeds), [output])[0].dataSync() as Float32Array);
  const od = ort.data as ArrayLike<number>;
  let diff = 0;
  let scale = 1;
  for (let i = 0; i < od.length; i++) {
    diff = Math.max(diff, Math.abs(Number(od[i]) - mine[i]));
    scale = Math.max(scale, Math.abs(Number(od[i])));
  }
  if (od.length !== mine.length || diff > 1e-3 * scale) {
    throw new MlcError('INTERNAL', `the trained student gives different outputs in onnxruntime and tfjs (max |diff| ${diff}); not writing it`);
  }

  for (const m of masks.values()) m.dispose();
  optimizer.dispose();
  exec.dispose();
  return {
    backend,
    epochs: cfg.epochs,
    steps: step,
    seconds: (Date.now() - t0) / 1000,
    trainSamples: trainIdx.length,
    valSamples: valIdx.length,
    metric,
    teacherVal,
    studentValBefore: before.metric,
    studentValAfter: best.metric,
    bestEpoch,
    trainableParams,
    maskedWeights: masks.size,
    tiedWeights: ties.size,
    exportMaxAbsDiff: diff,
  };
}

function accuracyOf(pred: Int32Array, labels: Int32Array): number {
  let h = 0;
  for (let i = 0; i < pred.length; i++) if (pred[i] === labels[i]) h++;
  return pred.length ? h / pred.length : 0;
}
