/**
 * The measurement flags, gates and report output shared by `mlc bench` and `mlc compress`:
 * `addMeasureOptions` declares them, `measureSetup` parses them before any work is done (so a bad
 * flag fails fast), and `measureAndReport` measures, prints (table, or the JSON document with
 * --json), writes the report (--report: HTML for .html, else markdown; $GITHUB_STEP_SUMMARY when set), prints one
 * line per failed gate on stderr and returns the exit code (0, or 1 when a gate failed).
 */
import { Option, type Command } from 'commander';
import { appendFile } from 'node:fs/promises';
import { MlcError } from '../core/errors.js';
import type { Model } from '../ir/model.js';
import type { Dataset } from '../passes/pass.js';
import type { BenchModel, GateLimits, MeasureOptions, Measured, PassReport, Report } from '../bench/index.js';
import { GATE_FLAGS, GATES, checkGateRequirements, parseGateFlags, type GateDef } from '../bench/gates.js';
import { checkShapeOverrides, inputSpecs, parseShapeFlags } from '../bench/inputs.js';
import { RUNTIME_DESCRIPTIONS, RUNTIMES, type RuntimeName, parseRuntimes } from '../runtime/runtimes.js';
import { parseTarget, TARGETS, type TargetCheck, type TargetName, targetLine } from '../bench/target.js';
import { type HtmlInput, isHtmlPath } from '../bench/html.js';
import { namingFile } from './run.js';
import type { Ui } from './ui.js';

/** commander keys of the shared measurement flags (compress leaves them out of pass flags). */
export const MEASURE_FLAG_KEYS = [
  'data',
  'runtime',
  'target',
  'report',
  'threads',
  'runs',
  'warmup',
  'batchSize',
  'shape',
  'outputName',
  'latency',
  'disableOptimizers',
  'exactGzip',
  'brotli',
  ...GATE_FLAGS.map((g) => g.key),
];

export function positiveInt(flag: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new MlcError('USAGE', `--${flag} must be a positive integer, got "${v}"`);
    return n;
  };
}

function nonNegativeInt(flag: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new MlcError('USAGE', `--${flag} must be a non-negative integer, got "${v}"`);
    return n;
  };
}

export const collect = (v: string, prev: string[] = []) => [...prev, v];

/**
 * Declare the measurement, gate and report flags on a command. `batchSize: false` leaves out
 * --batch-size (in `mlc compress` it is the distillation batch size; measurements use 64 there).
 */
export function addMeasureOptions(cmd: Command, opts: { dataHelp?: string; batchSize?: boolean } = {}): Command {
  cmd.option('--data <file>', opts.dataHelp ?? 'evaluation data (.npz / .npy / test_data_set folder): accuracy with labels, agreement with the original');
  for (const g of GATE_FLAGS) cmd.option(`--${g.flag} <limit>`, g.description);
  cmd
    .option('--report <file>', 'write the report: a self-contained HTML page with charts when the name ends in .html, markdown otherwise (markdown is also appended to $GITHUB_STEP_SUMMARY when set)')
    .addOption(new Option('--threads <n>', 'intra-op threads for timing (default 1, so figures are comparable)').argParser(positiveInt('threads')))
    .addOption(new Option('--runs <n>', 'exactly this many timed runs per model (default: at least 50 and at least 2 s)').argParser(positiveInt('runs')))
    .addOption(new Option('--warmup <n>', 'untimed warm-up runs per model (default 10)').argParser(nonNegativeInt('warmup')));
  if (opts.batchSize !== false) {
    cmd.addOption(new Option('--batch-size <n>', 'batch size for throughput and evaluation (default 64)').argParser(positiveInt('batch-size')));
  }
  cmd
    .option('--shape <name=dims>', 'shape of an input with dynamic dimensions, e.g. input=1,3,224,224 (repeatable)', collect)
    .option('--output-name <name>', 'output to score (default: the first output)')
    .addOption(targetOption())
    .addOption(
      new Option(
        '--runtime <list>',
        `where to run the models for latency, throughput, accuracy and fidelity, a comma list side by side (gates read the first): ${RUNTIMES.map((r) => `${r} = ${RUNTIME_DESCRIPTIONS[r]}`).join('; ')} (default node)`,
      ).argParser((v: string) => parseRuntimes(v)),
    )
    .option('--no-latency', 'skip latency and throughput (size and accuracy only)')
    .option('--disable-optimizers <names>', "comma-separated onnxruntime graph transformers to turn off for every measured session (e.g. SkipLayerNormFusion)")
    .option('--exact-gzip', 'gzip every byte of files over 64 MB instead of estimating their gzip size from a sample (implied by --max-gzip-size)')
    .option('--brotli', 'also measure the brotli -q 11 size (models up to 64 MB; slow on float weights, seconds per MB)');
  return cmd;
}

/** `--target node|wasm|webgpu` (mlc compress and mlc inspect). */
export function targetOption(): Option {
  return new Option(
    '--target <target>',
    `where the model must run: ${TARGETS.join(', ')}. webgpu: list the nodes that fall back to the CPU and the copies that costs; compress picks formats that stay on the target; a model that cannot run there fails the gate (exit 1)`,
  ).argParser(parseTarget);
}

/** A pipeline step as compress holds it (a pass or its name, and its raw options). */
interface Step {
  pass: { name: string } | string;
  options: unknown;
}

/**
 * Formats that stay on the target, as options of the existing quantize pass (the pass itself is
 * not changed); returns one note per change. webgpu: int8 / uint8 → uint8 weight-only
 * (DequantizeLinear runs on WebGPU; DynamicQuantizeMatMul / MatMulInteger and QLinear* do not, and
 * int8 embedding tables make their Gather fall back); int4 (MatMulNBits) and fp16 stay. wasm:
 * int8 → uint8 (onnxruntime-web's wasm build has no signed-weight ConvInteger; uint8 weights run
 * everywhere), dynamic mode kept (its integer MatMuls are about 2× faster than fp32 in wasm).
 */
export function adaptStepsToTarget(steps: Step[], target: TargetName | undefined): string[] {
  const notes: string[] = [];
  if (!target || target === 'node') return notes;
  for (const s of steps) {
    const name = typeof s.pass === 'string' ? s.pass : s.pass.name;
    if (name !== 'quantize') continue;
    const o = { ...((s.options ?? {}) as Record<string, unknown>) };
    const type = (o.type as string | undefined) ?? 'int8';
    if (type !== 'int8' && type !== 'uint8') continue;
    if (target === 'webgpu') {
      const mode = (o.mode as string | undefined) ?? 'dynamic';
      if (mode !== 'weight-only' || type !== 'uint8') notes.push(`--target webgpu: ${type} ${mode} → uint8 weight-only (DequantizeLinear stays on WebGPU)`);
      o.type = 'uint8';
      o.mode = 'weight-only';
    } else if (type === 'int8') {
      notes.push('--target wasm: int8 → uint8 weights (onnxruntime-web wasm has no signed-weight ConvInteger)');
      o.type = 'uint8';
    }
    s.options = o;
  }
  return notes;
}

export interface MeasureSetup {
  gates: GateLimits;
  options: Omit<MeasureOptions, 'data' | 'onProgress'>;
  dataPath?: string;
  reportPath?: string;
  compare: boolean;
  /** --runtime, in the order given (default ['node']) */
  runtimes: RuntimeName[];
  /** --target: the result is checked against it after the write (a failed check fails the gates) */
  target?: TargetName;
}

/** Parse the shared flags and check the gates can be measured (labels are checked on load). */
export function measureSetup(flags: Record<string, unknown>, have: { compare: boolean; batchSize?: boolean }): MeasureSetup {
  const gates = parseGateFlags(flags);
  const dataPath = typeof flags.data === 'string' ? flags.data : undefined;
  const latency = flags.latency !== false;
  checkGateRequirements(gates, { compare: have.compare, data: !!dataPath, labels: true, latency });
  return {
    gates,
    dataPath,
    reportPath: typeof flags.report === 'string' ? flags.report : undefined,
    compare: have.compare,
    runtimes: (flags.runtime as RuntimeName[] | undefined) ?? ['node'],
    target: flags.target as TargetName | undefined,
    options: {
      threads: flags.threads as number | undefined,
      runs: flags.runs as number | undefined,
      warmup: flags.warmup as number | undefined,
      batchSize: have.batchSize === false ? undefined : (flags.batchSize as number | undefined),
      shapes: parseShapeFlags(flags.shape as string[] | undefined),
      outputName: typeof flags.outputName === 'string' ? flags.outputName : undefined,
      latency,
      // a gate on the gzip size is judged on the exact figure
      exactGzip: !!flags.exactGzip || gates.maxGzipSize !== undefined,
      brotli: !!flags.brotli,
      disabledOptimizers:
        typeof flags.disableOptimizers === 'string' ? flags.disableOptimizers.split(',').map((s) => s.trim()).filter(Boolean) : undefined,
      // a latency gate is judged on an interval: time until it is within ±3% (or 15 s have passed),
      // then, while it straddles the limit, up to 20 s more (src/bench/latency.ts, sequential gates)
      ...(GATES.some((g) => (g as GateDef).needs.includes('latency') && gates[g.key] !== undefined)
        ? { ciTarget: 0.03, settle: { minSpeedup: gates.minSpeedup, maxLatencyMs: gates.maxLatency } }
        : {}),
    },
  };
}

/**
 * Read --data before any work is done (compress), so that an unreadable file or missing labels
 * fail fast; the data is matched to the model's inputs later by `loadMeasureData`.
 */
export async function precheckMeasureData(setup: MeasureSetup): Promise<void> {
  if (setup.runtimes.some((r) => r !== 'node')) {
    const { checkRuntimes } = await import('../runtime/runtimes.js');
    await checkRuntimes(setup.runtimes);
  }
  if (!setup.dataPath) return;
  const { loadDataset } = await import('../data/index.js');
  let data: Dataset;
  try {
    data = await loadDataset(setup.dataPath);
  } catch (err) {
    throw namingFile(err, setup.dataPath);
  }
  checkGateRequirements(setup.gates, { compare: setup.compare, data: true, labels: !!data.labels, latency: setup.options.latency !== false });
}

/** Load --data, matched to `model`'s inputs; checks labels for the gates that need them. */
export async function loadMeasureData(setup: MeasureSetup, model: Model, ui: Ui): Promise<Dataset | undefined> {
  if (!setup.dataPath) return undefined;
  const { loadDataset } = await import('../data/index.js');
  let data: Dataset;
  try {
    data = await loadDataset(setup.dataPath, model, { warn: (m) => ui.warn(m) });
  } catch (err) {
    throw namingFile(err, setup.dataPath);
  }
  checkGateRequirements(setup.gates, { compare: setup.compare, data: true, labels: !!data.labels, latency: setup.options.latency !== false });
  return data;
}

/** Check --shape against the model's tensor inputs (names, ranks, fixed dims) before any work: USAGE. */
export function checkMeasureShapes(setup: MeasureSetup, model: Model): void {
  const shapes = setup.options.shapes ?? {};
  if (Object.keys(shapes).length === 0) return;
  // inputs that are not tensors are left out: the measurements that run the model skip them with a warning
  const specs = inputSpecs(model, { tensorsOnly: true });
  checkShapeOverrides(specs, shapes);
}

/**
 * Measure, print the report, write the markdown, print failed gates; returns the exit code.
 * `bestEffort` (mlc compress, after writing): a measurement that fails is a warning and its figures
 * are "not measured", so the exit code is 0, or 1 when a gate fails or cannot be evaluated.
 */
export async function measureAndReport(
  ui: Ui,
  setup: MeasureSetup,
  args: { input: string; output: string | null; passes?: PassReport[]; base: BenchModel; other?: BenchModel; data?: Dataset; bestEffort?: boolean },
): Promise<{ report: Report; code: number }> {
  const bench = await import('../bench/index.js');
  const opts = { ...setup.options, data: args.data, bestEffort: args.bestEffort, onProgress: (m: string) => ui.progress(m) };
  let measured: Measured;
  try {
    measured = await bench.measureRuntimes(args.base, args.other, setup.runtimes, opts);
  } catch (err) {
    if (!args.bestEffort || !(err instanceof MlcError) || err.code === 'INTERNAL') throw err;
    // sizes only (they need no session); the gates that need the rest fail as "not measured"
    measured = await bench.measureModels(args.base, args.other, { ...opts, data: undefined, latency: false, outputName: undefined });
    measured.warnings.unshift(`latency, accuracy and fidelity not measured: ${err.message}`);
    measured.settings.notMeasured = err.message;
  }
  ui.clearProgress();
  for (const n of measured.shapeNotes) ui.debug(`shape: ${n}`);
  for (const w of measured.warnings) ui.warn(w);
  const report = bench.buildReport({ input: args.input, output: args.output, passes: args.passes, measured, gates: setup.gates });
  for (const line of bench.gateInconclusiveLines(report.gates)) ui.warn(line);
  let target: TargetCheck | undefined;
  if (setup.target) {
    const { checkTarget } = await import('../bench/target.js');
    target = await checkTarget((args.other ?? args.base).model, setup.target);
    report.target = target;
    if (!target.passed) report.passed = false;
  }
  if (ui.json) ui.printJson(bench.reportDocument(report));
  else ui.out(bench.reportToText(report, { maxSkips: ui.verbose ? Infinity : 5, details: ui.verbose }).trimEnd());
  if (setup.reportPath && isHtmlPath(setup.reportPath)) {
    // the per-layer statistics are for the HTML report only (src/bench/layers.ts)
    const { layerStats } = await import('../bench/layers.js');
    report.layers = layerStats(args.base.model, args.other?.model, args.passes ?? []);
  }
  // after mlc compress wrote its output, a report that cannot be written is no input error
  await writeReportFile(ui, { path: setup.reportPath, html: { report }, markdown: bench.reportToMarkdown(report), bestEffort: !!args.bestEffort });
  const failures = bench.gateFailureLines(report.gates);
  if (target && !target.passed) failures.push(targetLine(target));
  for (const line of failures) process.stderr.write(`${ui.ce.red('mlc:')} ${line}\n`);
  if (process.env.GITHUB_ACTIONS === 'true') {
    // workflow annotations on the model's file (on stderr with --json: stdout holds the document)
    const { gateAnnotations } = await import('../fleet/report.js');
    for (const line of gateAnnotations(args.input, report.gates)) (ui.json ? process.stderr : process.stdout).write(line + '\n');
  }
  return { report, code: report.passed ? 0 : 1 };
}

/**
 * Write `--report <file>`: HTML when the name ends in .html / .htm (src/bench/html.ts renders
 * `html`: a compress / bench report, a sensitivity report, a tuning report, or several), the
 * markdown otherwise; the markdown also goes to $GITHUB_STEP_SUMMARY when set. The one way every
 * command writes its report (`mlc sensitivity` and `mlc tune` pass theirs as `html`).
 */
export async function writeReportFile(ui: Ui, r: { path?: string; html: HtmlInput; markdown: string; bestEffort: boolean }): Promise<void> {
  let text = r.markdown;
  if (r.path && isHtmlPath(r.path)) {
    const { renderHtml } = await import('../bench/html.js');
    text = renderHtml(r.html);
  }
  await writeReports(ui, { path: r.path, text, markdown: r.markdown, bestEffort: r.bestEffort });
}

/**
 * Write a report file (`path`, when given) and append `markdown` to $GITHUB_STEP_SUMMARY (when
 * set). `bestEffort`: a report that cannot be written is a warning, not an error.
 */
export async function writeReports(ui: Ui, r: { path?: string; text: string; markdown: string; bestEffort: boolean }): Promise<void> {
  if (r.path) {
    const { writeFileAtomic } = await import('../util/fs.js');
    try {
      await writeFileAtomic(r.path, r.text);
    } catch (err) {
      if (!r.bestEffort) throw err;
      ui.warn(`cannot write the report ${r.path}: ${(err as Error).message}`);
    }
  }
  const summary = process.env.GITHUB_STEP_SUMMARY;
  if (summary) {
    try {
      await appendFile(summary, r.markdown + '\n');
    } catch (err) {
      ui.warn(`cannot append to GITHUB_STEP_SUMMARY (${summary}): ${(err as Error).message}`);
    }
  }
}
