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
import { MlcError } from '../core/errors.js';
import { sliceDataset } from '../data/batch.js';
import { cloneModel } from '../ir/clone.js';
import { countParams } from '../ir/params.js';
import { fingerprintModel } from '../ir/fingerprint.js';
import type { Graph } from '../ir/graph.js';
import type { Model } from '../ir/model.js';
import { Tensor } from '../ir/tensor.js';
import { definePass, optionSchema, parseWithSchema } from './options.js';
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
  /** train on the first N samples of the training data only (default: all of them) */
  trainSamples?: number;
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

const d = DISTILL_DEFAULTS;

/** The distill options, declared once: parsing, flags, `mlc passes` and the recipe JSON Schema derive from it. */
export const DISTILL_SCHEMA = optionSchema<DistillOptions>()({
  pass: 'distill',
  options: [
    { key: 'student', type: 'string', flag: '--student <file>', help: 'distill into this ONNX model (default: the model as the earlier passes left it; implies --distill)' },
    { key: 'studentWidth', type: 'fraction', min: 0, max: 1, exclusiveMin: true, flag: '--student-width <factor>', help: 'narrow the student to this share of its hidden widths, 0 < w ≤ 1, largest-norm channels kept (implies --distill)' },
    { key: 'epochs', type: 'integer', min: 0, default: d.epochs, flag: '--epochs <n>', help: 'training epochs' },
    { key: 'batchSize', type: 'integer', min: 1, default: d.batchSize, flag: '--batch-size <n>', help: 'distillation mini-batch size' },
    { key: 'lr', type: 'number', min: 0, max: 10, exclusiveMin: true, exclusiveMax: true, default: d.lr, flag: '--lr <rate>', help: 'Adam learning rate, cosine-decayed to lr/20' },
    { key: 'temperature', type: 'number', min: 0, exclusiveMin: true, default: d.temperature, flag: '--temperature <t>', help: 'softmax temperature T of the soft targets' },
    { key: 'alpha', type: 'fraction', min: 0, max: 1, default: d.alpha, flag: '--alpha <a>', help: 'weight of the soft-target loss T²·KL; 1 − alpha weighs cross-entropy with labels' },
    { key: 'valSplit', type: 'fraction', min: 0, max: 1, exclusiveMin: true, exclusiveMax: true, default: d.valSplit, help: 'share of the training data held out for validation without --val-data' },
    { key: 'backend', type: 'enum', choices: ['auto', 'tensorflow', 'wasm', 'cpu'], default: d.backend, flag: '--train-backend <name>', help: 'tfjs backend: auto (tfjs-node, else wasm, else cpu), tensorflow, wasm or cpu' },
    { key: 'keepZeros', type: 'boolean', default: d.keepZeros, help: 'weights that are exactly zero (pruned) stay zero' },
    { key: 'output', type: 'string', help: 'the output to distill (default: the first)' },
    { key: 'augment', type: 'enum', choices: ['mixup', 'none'], default: d.augment, help: 'mixup: each epoch, half the inputs are mixed with a random partner and labelled by the teacher (float inputs only); or none' },
    { key: 'trainSamples', type: 'integer', min: 1, help: 'train on the first N samples of the training data only (mlc tune keeps its held-out samples out this way)' },
  ],
  cli: {
    triggers: ['distill', 'student', 'studentWidth'],
    extraFlags: [{ flag: '--distill', help: 'train the result against the original model (needs --train-data)' }],
    outputSuffix: () => '_distilled',
  },
});

export function parseDistillOptions(raw: unknown): DistillOptions {
  return parseWithSchema(DISTILL_SCHEMA, raw);
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

async function loadStudent(path: string, teacher: Model, ctx: PassContext): Promise<Model> {
  if (!ctx.loadModel) throw new MlcError('INTERNAL', 'distill: needs ctx.loadModel to read --student');
  const s = await ctx.loadModel(path);
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

export async function runDistill(target: Model, o: DistillOptions, given: PassContext): Promise<PassResult> {
  let model = target;
  if (!given.train) throw new MlcError('USAGE', 'distill: needs training inputs (--train-data <file.npz>)');
  const ctx = o.trainSamples !== undefined && given.train.count > o.trainSamples ? { ...given, train: sliceDataset(given.train, 0, o.trainSamples) } : given;
  if (!ctx.run) throw new MlcError('INTERNAL', 'distill: needs ctx.run (onnxruntime) for the teacher');
  const teacher = ctx.original ?? cloneModel(model);
  const skipped: Skip[] = [];
  const stats: PassResult['stats'] = {};
  const details: Record<string, unknown>[] = [];

  const before = countParams(model.graph, { floatOnly: true, subgraphs: false });
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
  const after = countParams(model.graph, { floatOnly: true, subgraphs: false });
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
    nonzeroParamsAfter: after.nonzeroParams,
  });
  model.graph.touch();
  const modified = fingerprintModel(model) !== start;
  if (modified) target.replaceWith(model);
  else skipped.push({ node: '(model)', reason: `training changed no weight (best epoch ${rep.bestEpoch} of ${rep.epochs})` });
  return { modified, stats, skipped, details: details.length ? details : undefined };
}

export const distillPass: Pass<DistillOptions> = definePass(DISTILL_SCHEMA, {
  describe: 'Knowledge distillation: train the (compressed, narrowed or given) student against the original model with tfjs',
  run: (model, options, ctx) => runDistill(model, options, ctx),
});

export default distillPass;
