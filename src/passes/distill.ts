/**
 * distill — knowledge distillation: train the student against the teacher's soft targets and
 * write the trained weights back (src/train does the work; it is imported lazily, so tfjs loads
 * only when this pass runs).
 *
 * Teacher: ctx.original (the model as loaded), run with onnxruntime. Student, one of:
 *   - the model as the earlier passes left it (low-rank factors, pruned weights): its structure is
 *     kept — factor shapes stay and weights that are exactly zero stay zero;
 *   - `student`: an ONNX file with the teacher's input and output names (any model of the
 *     executor's op set);
 *   - `studentWidth`: the model narrowed to that share of its hidden widths, initialized from the
 *     largest-norm channels (combinable with `student`).
 * Sparse initializers (prune's sparse storage) are densified for training and stored sparse again.
 *
 * The student is trained on a copy; the model is replaced by it only at the end, so a refusal
 * leaves the model exactly as it was.
 *
 * Skips (modified: false, the reason in `skipped`): a student with a node the tfjs executor does
 * not translate (control flow, an op outside its table, an attribute form it refuses), anything
 * else training does not handle (float16 inputs, no float32 weight: UNSUPPORTED from src/train),
 * and a run that changes nothing (0 epochs, or no epoch better than the start).
 * Refuses (MlcError): no training data (USAGE), a student whose inputs / outputs do not match the
 * teacher's (INPUT).
 */
import { MlcError } from '../errors.js';
import { cloneModel } from '../ir/clone.js';
import { fingerprintModel } from '../ir/fingerprint.js';
import type { Graph } from '../ir/graph.js';
import type { Model } from '../ir/model.js';
import { Tensor } from '../ir/tensor.js';
import type { Pass, PassContext, PassResult, Skip } from './pass.js';
import { toSparseInitializers } from './prune/storage.js';

export interface DistillOptions {
  student?: string;
  studentWidth?: number;
  epochs: number;
  batchSize: number;
  lr: number;
  temperature: number;
  alpha: number;
  /** share of the training data held out for validation when no validation data is given */
  valSplit: number;
  backend: 'auto' | 'tensorflow' | 'wasm' | 'cpu';
  keepZeros: boolean;
  /** output to distill (default: the first) */
  output?: string;
  /** 'mixup' (default): half of each epoch's inputs mixed with a partner and labelled by the teacher */
  augment: 'mixup' | 'none';
}

export const DISTILL_DEFAULTS = {
  epochs: 10,
  batchSize: 64,
  lr: 3e-3,
  temperature: 4,
  alpha: 0.7,
  valSplit: 0.1,
  backend: 'auto',
  keepZeros: true,
  augment: 'mixup',
} as const;

function num(r: Record<string, unknown>, key: string, dflt: number, ok: (x: number) => boolean, what: string): number {
  const v = r[key];
  if (v === undefined || v === null || v === '') return dflt;
  const x = typeof v === 'number' ? v : Number(String(v).trim());
  const flag = '--' + key.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
  if (!Number.isFinite(x) || !ok(x)) throw new MlcError('USAGE', `distill: ${key} (${flag}) must be ${what}, got ${JSON.stringify(v)}`);
  return x;
}

export function parseDistillOptions(raw: unknown): DistillOptions {
  const r = (raw ?? {}) as Record<string, unknown>;
  if (typeof r !== 'object' || Array.isArray(r)) throw new MlcError('USAGE', 'distill: options must be an object');
  const known = new Set(['student', 'studentWidth', 'epochs', 'batchSize', 'lr', 'temperature', 'alpha', 'valSplit', 'backend', 'keepZeros', 'output', 'augment']);
  for (const k of Object.keys(r)) if (!known.has(k)) throw new MlcError('USAGE', `distill: unknown option "${k}"`);
  const d = DISTILL_DEFAULTS;
  const backend = String(r.backend ?? d.backend);
  if (!['auto', 'tensorflow', 'wasm', 'cpu'].includes(backend)) throw new MlcError('USAGE', `distill: backend must be auto, tensorflow, wasm or cpu, got "${backend}"`);
  if (r.student !== undefined && (typeof r.student !== 'string' || !r.student)) throw new MlcError('USAGE', 'distill: student must be a path to an ONNX file');
  const augment = String(r.augment ?? d.augment);
  if (augment !== 'mixup' && augment !== 'none') throw new MlcError('USAGE', `distill: augment must be mixup or none, got "${augment}"`);
  if (r.output !== undefined && typeof r.output !== 'string') throw new MlcError('USAGE', 'distill: output must be an output name');
  const keepZeros = r.keepZeros === undefined ? d.keepZeros : r.keepZeros === true || r.keepZeros === 'true';
  return {
    student: r.student as string | undefined,
    studentWidth:
      r.studentWidth === undefined || r.studentWidth === null || r.studentWidth === ''
        ? undefined
        : num(r, 'studentWidth', 1, (x) => x > 0 && x <= 1, 'a factor in (0, 1]'),
    epochs: num(r, 'epochs', d.epochs, (x) => Number.isInteger(x) && x >= 0, 'a whole number ≥ 0'),
    batchSize: num(r, 'batchSize', d.batchSize, (x) => Number.isInteger(x) && x >= 1, 'a whole number ≥ 1'),
    lr: num(r, 'lr', d.lr, (x) => x > 0 && x < 10, 'a learning rate > 0'),
    temperature: num(r, 'temperature', d.temperature, (x) => x > 0, 'a temperature > 0'),
    alpha: num(r, 'alpha', d.alpha, (x) => x >= 0 && x <= 1, 'a weight in [0, 1]'),
    valSplit: num(r, 'valSplit', d.valSplit, (x) => x > 0 && x < 1, 'a share in (0, 1)'),
    backend: backend as DistillOptions['backend'],
    keepZeros,
    output: r.output as string | undefined,
    augment: augment as DistillOptions['augment'],
  };
}

/** Turn sparse initializers back into dense ones; returns their names. */
function densify(g: Graph): string[] {
  const names: string[] = [];
  for (const sp of g.sparseInitializers) {
    const t = new Tensor(sp.values.name, sp.values.dtype, [...sp.dims]);
    const idx = sp.indices.toNumbers();
    const vals = sp.values.toNumbers();
    const d = t.data as Float32Array;
    if (sp.indices.dims.length === 2) {
      // [NNZ, rank] coordinates
      const rank = sp.dims.length;
      for (let i = 0; i < vals.length; i++) {
        let lin = 0;
        for (let k = 0; k < rank; k++) lin = lin * sp.dims[k] + idx[i * rank + k];
        d[lin] = vals[i];
      }
    } else {
      for (let i = 0; i < vals.length; i++) d[idx[i]] = vals[i];
    }
    g.initializers.set(t.name, t);
    names.push(t.name);
  }
  g.sparseInitializers = [];
  return names;
}

function paramCount(g: Graph): { params: number; nonzero: number } {
  let params = 0;
  let nonzero = 0;
  for (const t of g.initializers.values()) {
    if (!t.isFloat) continue;
    params += t.size;
    const d = t.data as ArrayLike<number>;
    for (let i = 0; i < d.length; i++) if (d[i] !== 0) nonzero++;
  }
  for (const s of g.sparseInitializers) {
    params += s.dims.reduce((a, b) => a * b, 1);
    nonzero += s.values.size;
  }
  return { params, nonzero };
}

async function loadStudent(path: string, teacher: Model, ctx: PassContext): Promise<Model> {
  const { loadModel } = await import('../onnx/index.js');
  const s = await loadModel(path, { warn: (m) => ctx.log.warn(m) });
  const tin = teacher.graph.realInputs().map((i) => i.name).sort();
  const sin = s.graph.realInputs().map((i) => i.name).sort();
  if (tin.join('\0') !== sin.join('\0')) {
    throw new MlcError('INPUT', `${path}: the student's inputs (${sin.join(', ')}) differ from the teacher's (${tin.join(', ')})`);
  }
  const out = teacher.graph.outputs[0]?.name;
  if (!s.graph.outputs.some((o) => o.name === out)) {
    throw new MlcError('INPUT', `${path}: the student has no output '${out}' (it has ${s.graph.outputs.map((o) => o.name).join(', ')})`);
  }
  return s;
}

export async function runDistill(target: Model, o: DistillOptions, ctx: PassContext): Promise<PassResult> {
  let model = target;
  if (!ctx.train) throw new MlcError('USAGE', 'distill: needs training inputs (--train-data <file.npz>)');
  if (!ctx.run) throw new MlcError('INTERNAL', 'distill: needs ctx.run (onnxruntime) for the teacher');
  const teacher = ctx.original ?? cloneModel(model);
  const skipped: Skip[] = [];
  const stats: PassResult['stats'] = {};
  const details: Record<string, unknown>[] = [];

  const before = paramCount(model.graph);
  const start = fingerprintModel(model);
  // the student trains on a copy: the model changes only when training went through
  const student = o.student ? await loadStudent(o.student, teacher, ctx) : cloneModel(model);
  if (o.student) stats.student = o.student;
  const { untrainableNodes, UntrainableNodeError } = await import('../train/executor.js');
  const refuse = (nodes: Skip[]): PassResult => {
    ctx.log.warn(`distill: skipped, the student has ${nodes.length} node(s) distillation cannot train (${nodes[0].node}: ${nodes[0].reason})`);
    return { modified: false, stats: { ...stats, trained: 0, untrainableNodes: nodes.length }, skipped: nodes };
  };
  const bad = untrainableNodes(student);
  if (bad.length) return refuse(bad);
  model = student;
  const sparse = densify(model.graph);
  if (o.studentWidth !== undefined && o.studentWidth < 1) {
    const { narrowModel } = await import('../train/student.js');
    const nr = narrowModel(model, o.studentWidth);
    skipped.push(...nr.skipped.map((s) => ({ node: s.node, reason: `student-width: ${s.reason}` })));
    for (const l of nr.layers) details.push({ node: l.node, widthBefore: l.before, widthAfter: l.after });
    stats.layersNarrowed = nr.layers.length;
    if (nr.layers.length === 0) ctx.log.warn('distill: --student-width found no layer it could narrow');
  }

  const { distill } = await import('../train/distill.js');
  let rep: Awaited<ReturnType<typeof distill>>;
  try {
    rep = await distill(
    teacher,
    model,
    {
      epochs: o.epochs,
      batchSize: o.batchSize,
      lr: o.lr,
      temperature: o.temperature,
      alpha: o.alpha,
      valSplit: o.valSplit,
      backend: o.backend,
      keepZeros: o.keepZeros,
      output: o.output,
      augment: o.augment,
    },
    ctx,
  );
  } catch (e) {
    if (e instanceof UntrainableNodeError) return refuse([{ node: e.node, reason: e.why }]);
    // something else distillation does not handle (a float16 input, no float32 weight, ...)
    if (e instanceof MlcError && e.code === 'UNSUPPORTED') return refuse([{ node: '(model)', reason: e.message }]);
    throw e;
  }

  if (sparse.length) {
    const r = toSparseInitializers(model.graph, sparse);
    stats.sparseInitializers = r.converted.length;
  }
  const after = paramCount(model.graph);
  const pct = (x: number | null) => (x === null ? 'n/a' : Math.round(x * 1e4) / 1e4);
  Object.assign(stats, {
    backend: rep.backend,
    epochs: rep.epochs,
    bestEpoch: rep.bestEpoch,
    steps: rep.steps,
    seconds: Math.round(rep.seconds * 10) / 10,
    trainSamples: rep.trainSamples,
    valSamples: rep.valSamples,
    metric: rep.metric,
    teacherVal: pct(rep.teacherVal),
    studentValBefore: pct(rep.studentValBefore),
    studentValAfter: pct(rep.studentValAfter),
    trainableParams: rep.trainableParams,
    maskedWeights: rep.maskedWeights,
    exportMaxAbsDiff: rep.exportMaxAbsDiff,
    paramsBefore: before.params,
    paramsAfter: after.params,
    nonzeroParamsAfter: after.nonzero,
  });
  model.graph.touch();
  const modified = fingerprintModel(model) !== start;
  if (modified) Object.assign(target, model);
  else skipped.push({ node: '(model)', reason: `training changed no weight (best epoch ${rep.bestEpoch} of ${rep.epochs})` });
  return { modified, stats, skipped, details: details.length ? details : undefined };
}

export const distillPass: Pass<DistillOptions> = {
  name: 'distill',
  describe: 'Knowledge distillation: train the (compressed, narrowed or given) student against the original model with tfjs',
  options: {
    student: 'student ONNX file (default: the model as the earlier passes left it)',
    studentWidth: 'narrow the student to this share of its hidden widths, 0 < w ≤ 1 (largest-norm channels kept)',
    epochs: `training epochs (default ${DISTILL_DEFAULTS.epochs})`,
    batchSize: `mini-batch size (default ${DISTILL_DEFAULTS.batchSize})`,
    lr: `Adam learning rate, cosine-decayed to lr/20 (default ${DISTILL_DEFAULTS.lr})`,
    temperature: `softmax temperature T of the soft targets (default ${DISTILL_DEFAULTS.temperature})`,
    alpha: `weight of the soft-target loss T²·KL; 1 − alpha weighs cross-entropy with labels (default ${DISTILL_DEFAULTS.alpha})`,
    valSplit: `share of the training data held out for validation without --val-data (default ${DISTILL_DEFAULTS.valSplit})`,
    backend: 'tfjs backend: auto (tfjs-node, else wasm, else cpu; default), tensorflow, wasm or cpu',
    keepZeros: 'weights that are exactly zero (pruned) stay zero (default true)',
    output: 'the output to distill (default: the first)',
    augment: 'mixup (default: each epoch, half the inputs are mixed with a random partner and labelled by the teacher; float inputs only) or none',
  },
  parseOptions: parseDistillOptions,
  run: (model, options, ctx) => runDistill(model, options, ctx),
  cli: {
    flags: [
      { flags: '--distill', description: 'train the result against the original model (needs --train-data)' },
      { flags: '--student <file>', description: 'distill into this ONNX model instead (implies --distill)' },
      { flags: '--student-width <factor>', description: 'distill into a copy narrowed to this share of hidden widths (implies --distill)' },
      { flags: '--epochs <n>', description: `distillation epochs (default ${DISTILL_DEFAULTS.epochs})` },
      { flags: '--batch-size <n>', description: `distillation batch size (default ${DISTILL_DEFAULTS.batchSize})` },
      { flags: '--lr <rate>', description: `distillation learning rate (default ${DISTILL_DEFAULTS.lr})` },
      { flags: '--temperature <t>', description: `distillation temperature (default ${DISTILL_DEFAULTS.temperature})` },
      { flags: '--alpha <a>', description: `weight of the soft-target loss (default ${DISTILL_DEFAULTS.alpha})` },
      { flags: '--train-backend <name>', description: 'tfjs backend for distillation', choices: ['auto', 'tensorflow', 'wasm', 'cpu'] },
    ],
    fromFlags(f) {
      if (!f.distill && f.student === undefined && f.studentWidth === undefined) return undefined;
      return {
        student: f.student,
        studentWidth: f.studentWidth,
        epochs: f.epochs,
        batchSize: f.batchSize,
        lr: f.lr,
        temperature: f.temperature,
        alpha: f.alpha,
        backend: f.trainBackend,
      };
    },
    outputSuffix: () => '_distilled',
  },
};

export default distillPass;
