/**
 * Fleet runs for `mlc compress <models...>` and `mlc check`: every model is an ordinary
 * `mlc compress <model> --json …` run inside a worker process (src/cli/worker.ts, pooled by
 * src/fleet/pool.ts), so the single-model pipeline, its checks and its exit codes are the same.
 * This file turns the results into the fleet report (src/fleet/report.ts): per-model lines or one
 * JSON document on stdout, progress on stderr (a line per worker and a total with ETA on a TTY,
 * plain lines otherwise), the --report file (JSON for `.json`, else markdown),
 * $GITHUB_STEP_SUMMARY, and `::error` annotations when GITHUB_ACTIONS=true.
 */
import type { Command } from 'commander';
import { mkdir } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MlcError } from '../core/errors.js';
import { formatMs } from '../bench/format.js';
import { runPool } from '../fleet/pool.js';
import {
  fleetDocument,
  fleetLine,
  fleetSummaryLine,
  fleetToMarkdown,
  githubAnnotations,
  type FleetDocument,
  type FleetEntry,
  type ModelReportDoc,
} from '../fleet/report.js';
import { resolveShard, takeShard, type Shard } from '../fleet/shard.js';
import { defaultSuffixes, listModels, outputPath, type ModelInput } from '../fleet/inputs.js';
import type { Pass } from '../passes/pass.js';
import { GATES, gateFailureLines } from '../bench/gates.js';
import { writeReports } from './measure.js';
import type { Ui } from './ui.js';

/** One model of a fleet run: the `mlc` arguments its worker runs (`compress <model> --json …`). */
export interface FleetJob {
  model: string;
  entry?: string;
  argv: string[];
  /** the output file, whose folder is created before the run (--out-dir, a config entry's output) */
  output?: string;
}

export interface FleetOptions {
  jobs?: number;
  reportPath?: string;
  shard?: Shard;
}

interface WorkerResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** --jobs: a positive integer; default the number of cores. */
export function jobsFlag(v: unknown): number {
  if (v === undefined) return availableParallelism();
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new MlcError('USAGE', `--jobs must be a positive integer, got "${v}"`);
  return n;
}

/**
 * The command line that gives `flags` back (commander keys → `--flag value`), leaving out the
 * options in `skip` and those at their default: how a fleet run hands its flags to each model.
 */
export function argvFromFlags(cmd: Command, flags: Record<string, unknown>, skip: ReadonlySet<string>): string[] {
  const out: string[] = [];
  for (const o of cmd.options) {
    const k = o.attributeName();
    const v = flags[k];
    if (skip.has(k) || v === undefined || !o.long) continue;
    if (o.negate) {
      if (v === false) out.push(o.long);
      continue;
    }
    if (JSON.stringify(v) === JSON.stringify(o.defaultValue)) continue;
    if (v === true) out.push(o.long);
    else if (Array.isArray(v)) {
      if (o.variadic) out.push(o.long, ...v.map(String));
      else for (const x of v) out.push(o.long, String(x));
    } else if (v !== false) out.push(o.long, String(v));
  }
  return out;
}

/** The paths a fleet run writes besides the models, checked before any work. */
export async function checkFleetPaths(reportPath: string | undefined): Promise<void> {
  const { checkOutputPath } = await import('../index.js');
  if (reportPath) await checkOutputPath(reportPath);
  const summary = process.env.GITHUB_STEP_SUMMARY;
  if (summary) {
    try {
      await checkOutputPath(summary);
    } catch (err) {
      throw new MlcError('OUTPUT', `GITHUB_STEP_SUMMARY: ${(err as Error).message}`);
    }
  }
}

/** Turn a worker's answer into the model's entry. */
export function entryOf(job: FleetJob, r: WorkerResult, ms: number): FleetEntry {
  const e: FleetEntry = { model: job.model, ...(job.entry ? { entry: job.entry } : {}), code: r.code, ms: Math.round(ms) };
  let doc: (ModelReportDoc & { error?: { code: string; message: string } }) | undefined;
  try {
    doc = r.stdout.trim() ? JSON.parse(r.stdout) : undefined;
  } catch {
    doc = undefined;
  }
  if (doc?.error) e.error = doc.error;
  else if (doc) e.report = doc;
  else if (r.code !== 0) {
    const last = r.stderr.trim().split('\n').pop() ?? '';
    e.error = { code: 'INTERNAL', message: last.replace(/^mlc: /, '') || `exit code ${r.code}, no report` };
  }
  const warnings = r.stderr
    .split('\n')
    .filter((l) => l.startsWith('mlc: warning: '))
    .map((l) => l.slice('mlc: warning: '.length));
  if (warnings.length) e.warnings = warnings;
  return e;
}

/** Progress on stderr: on a TTY a block of a line per worker and a total with ETA, redrawn; else nothing (per-model lines do). */
class FleetProgress {
  private readonly busy = new Map<number, { model: string; since: number }>();
  private drawn = 0;
  private done = 0;
  private failed = 0;
  private readonly t0 = Date.now();
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly ui: Ui,
    private readonly total: number,
    private readonly jobs: number,
    private readonly tty: boolean,
  ) {
    if (tty) this.timer = setInterval(() => this.draw(), 500).unref();
  }

  start(worker: number, model: string): void {
    this.busy.set(worker, { model, since: Date.now() });
    this.draw();
  }

  finish(worker: number, e: FleetEntry): void {
    this.busy.delete(worker);
    this.done++;
    if (e.code !== 0) this.failed++;
    if (!this.tty && this.ui.json && !this.ui.quiet) {
      process.stderr.write(`[${this.done}/${this.total}] ${e.model}${e.entry ? ` (${e.entry})` : ''}: ${e.code === 0 ? 'passed' : `exit ${e.code}`}\n`);
    }
  }

  /** Write `text` (stdout or stderr) above the progress block. */
  above(write: () => void): void {
    this.clear();
    write();
    this.draw();
  }

  private clear(): void {
    if (!this.drawn) return;
    process.stderr.write(`\x1b[${this.drawn}F\x1b[0J`);
    this.drawn = 0;
  }

  private draw(): void {
    if (!this.tty) return;
    this.clear();
    const now = Date.now();
    const lines: string[] = [];
    for (let w = 1; w <= this.jobs; w++) {
      const b = this.busy.get(w);
      lines.push(`worker ${w}: ${b ? `${b.model} (${((now - b.since) / 1000).toFixed(1)} s)` : 'idle'}`);
    }
    const elapsed = now - this.t0;
    const eta = this.done ? (elapsed / this.done) * (this.total - this.done) : undefined;
    lines.push(
      `${this.done}/${this.total} done${this.failed ? `, ${this.failed} failed` : ''} · ${clock(elapsed)} elapsed${eta !== undefined && this.done < this.total ? ` · ETA ${clock(eta)}` : ''}`,
    );
    process.stderr.write(lines.map((l) => this.ui.ce.dim(l)).join('\n') + '\n');
    this.drawn = lines.length;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.clear();
  }
}

function clock(ms: number): string {
  const s = Math.round(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const two = (n: number) => String(n).padStart(2, '0');
  return h ? `${h}:${two(m)}:${two(s % 60)}` : `${m}:${two(s % 60)}`;
}

/** Run the jobs in the worker pool and report; resolves to the exit code (the worst model's). */
export async function runFleet(ui: Ui, jobs: FleetJob[], opts: FleetOptions): Promise<number> {
  await checkFleetPaths(opts.reportPath);
  for (const dir of new Set(jobs.flatMap((j) => (j.output ? [dirname(j.output)] : [])))) await mkdir(dir, { recursive: true });
  const n = Math.max(1, Math.min(opts.jobs ?? availableParallelism(), jobs.length));
  const progress = new FleetProgress(ui, jobs.length, n, !ui.quiet && !!process.stderr.isTTY);
  const started = new Map<number, number>();
  const entries: FleetEntry[] = new Array(jobs.length);
  const t0 = performance.now();
  const worker = fileURLToPath(new URL('./worker.js', import.meta.url));
  const { workers } = await runPool<FleetJob, WorkerResult>(jobs, {
    jobs: n,
    worker,
    // each model's own step summary is left to the fleet's (one table for the run)
    env: { ...process.env, GITHUB_STEP_SUMMARY: '', GITHUB_ACTIONS: '', NO_COLOR: '1', UV_THREADPOOL_SIZE: '1' },
    // one core per worker (src/cli/worker.ts): libuv's thread pool (file reads) gets one thread
    // (above) and V8 collects garbage and compiles on the worker's own thread (the same CPU time
    // as its 4 helper threads, measured on a fleet of 30 models)
    execArgv: [...process.execArgv, '--single-threaded'],
    recycleRssBytes: 2 * 1024 ** 3,
    crashed: (_job, how) => ({ code: 3, stdout: '', stderr: `mlc: the worker process died (${how})` }),
    onStart: (i, job, w) => {
      started.set(i, performance.now());
      progress.start(w, job.model);
    },
    onDone: (i, job, r, w) => {
      const e = entryOf(job, r, performance.now() - (started.get(i) ?? t0));
      entries[i] = e;
      progress.finish(w, e);
      progress.above(() => {
        for (const warning of e.warnings ?? []) ui.warn(warning.includes(e.model) ? warning : `${e.model}: ${warning}`);
        if (!ui.json) ui.out(fleetLine(e));
      });
    },
  });
  progress.stop();
  const doc = fleetDocument(entries, opts.shard, { wallMs: Math.round(performance.now() - t0), jobs: n, workers });
  return finishFleet(ui, doc, { reportPath: opts.reportPath, bestEffort: true });
}

/**
 * Print and write a fleet document (a run's, or a merge's): the JSON document or the summary, the
 * report file, $GITHUB_STEP_SUMMARY, annotations and failed-gate lines; returns the exit code.
 */
export async function finishFleet(
  ui: Ui,
  doc: FleetDocument,
  opts: { reportPath?: string; bestEffort?: boolean; title?: string; quietSummary?: boolean },
): Promise<number> {
  if (ui.json) ui.printJson(doc);
  else if (!opts.quietSummary) {
    ui.out(fleetSummaryLine(doc));
    if (doc.run) {
      const rss = doc.run.workers.map((w) => `${(w.peakRssBytes / 1e6).toFixed(0)} MB`).join(', ');
      ui.info(`wall time ${formatMs(doc.run.wallMs)} with ${doc.run.jobs} worker${doc.run.jobs === 1 ? '' : 's'} (peak RSS ${rss})`);
    }
  }
  const md = fleetToMarkdown(doc, opts.title);
  const text = opts.reportPath?.toLowerCase().endsWith('.json') ? JSON.stringify(doc, null, 2) + '\n' : md;
  await writeReports(ui, { path: opts.reportPath, text, markdown: md, bestEffort: !!opts.bestEffort });
  if (process.env.GITHUB_ACTIONS === 'true') {
    for (const line of githubAnnotations(doc)) (ui.json ? process.stderr : process.stdout).write(line + '\n');
  }
  for (const m of doc.models) {
    for (const line of gateFailureLines(m.report?.gates ?? [])) process.stderr.write(`${ui.ce.red('mlc:')} ${m.model}: ${line}\n`);
    if (m.error) process.stderr.write(`${ui.ce.red('mlc:')} ${m.error.message.includes(m.model) ? m.error.message : `${m.model}: ${m.error.message}`}\n`);
  }
  return doc.exitCode;
}

/** The fleet flags of `mlc compress` (and `mlc check`). */
export function addFleetOptions(cmd: Command, opts: { outDir?: boolean } = {}): Command {
  cmd
    .option('--jobs <n>', 'several models: worker processes running models side by side (default: the number of cores)')
    .option('--shard <i/n>', 'several models: run only the i-th of n slices of the sorted model list (also GitLab CI_NODE_INDEX/CI_NODE_TOTAL, Kubernetes JOB_COMPLETION_INDEX)')
    .option('--shard-total <n>', 'the number of shards of a Kubernetes indexed Job (with JOB_COMPLETION_INDEX; or MLC_SHARD_TOTAL)')
    .option('--include-outputs', "several models: let globs match mlc's own earlier outputs (<name>_int8.onnx beside <name>.onnx, …)")
    .option('--config <file>', 'the config file to run (default: mlc.config.json or mlc.config.mjs here)');
  if (opts.outDir !== false) cmd.option('--out-dir <dir>', 'several models: write the outputs under this folder, at their paths relative to the glob');
  return cmd;
}

/** The fleet flags (kept out of each model's own command line). */
const FLEET_KEYS = new Set(['output', 'json', 'report', 'jobs', 'outDir', 'shard', 'shardTotal', 'includeOutputs', 'config']);

function shardOf(flags: Record<string, unknown>): Shard | undefined {
  let total: number | undefined;
  if (flags.shardTotal !== undefined) {
    total = Number(flags.shardTotal);
    if (!Number.isInteger(total) || total < 1) throw new MlcError('USAGE', `--shard-total must be a positive integer, got "${flags.shardTotal}"`);
  }
  return resolveShard(flags.shard as string | undefined, process.env, total);
}

/** `mlc compress <models...>`: the flags are checked once by the caller; each model runs with the same flags. */
export async function runCompressFleet(
  ui: Ui,
  cmd: Command,
  patterns: string[],
  flags: Record<string, unknown>,
  how: { passes: readonly Pass<any>[]; outputOf: (model: string) => string },
): Promise<number> {
  if (typeof flags.output === 'string') throw new MlcError('USAGE', '-o names one output: with several models use --out-dir <dir>');
  const jobs = jobsFlag(flags.jobs);
  const shard = shardOf(flags);
  const outDir = flags.outDir as string | undefined;
  const inputs = listModels(patterns, { suffixes: defaultSuffixes(how.passes), includeOutputs: !!flags.includeOutputs, outDir });
  const common = argvFromFlags(cmd, flags, FLEET_KEYS);
  const list = takeShard(inputs, shard).map((input): FleetJob => {
    const output = outDir ? outputPath(input, how.outputOf(input.model), outDir) : undefined;
    return { model: input.model, output, argv: ['compress', input.model, '--json', ...common, ...(output ? ['-o', output] : [])] };
  });
  if (shard) ui.info(`shard ${shard.index}/${shard.total} (${shard.source}): ${list.length} of ${inputs.length} models`);
  return runFleet(ui, list, { jobs, shard, reportPath: flags.report as string | undefined });
}

/**
 * `mlc check` (and `mlc compress` with no model): every entry of the config file, each model with
 * its entry's recipe, data and budgets. `extra` are flags given to `mlc compress` besides the fleet
 * ones, refused (the config says what to run).
 */
export async function runConfigFleet(ui: Ui, flags: Record<string, unknown>, extra: string[] = []): Promise<number> {
  const { findConfig, readConfigFile, validateConfig, checkRecipeFile, fillOutput, CONFIG_FILES } = await import('../fleet/config.js');
  const { getPass, passes } = await import('../passes/registry.js');
  const file = typeof flags.config === 'string' ? flags.config : await findConfig('.');
  if (!file) throw new MlcError('USAGE', `no model given and no ${CONFIG_FILES.join(' or ')} here: mlc compress <model> [flags], or write a config (mlc check --help)`);
  if (extra.length) throw new MlcError('USAGE', `with no model, mlc compress runs ${file}, whose entries say what to do; ${extra[0]} goes with a model argument`);
  const jobs = jobsFlag(flags.jobs);
  const shard = shardOf(flags);
  const entries = validateConfig(await readConfigFile(file), file, dirname(file), getPass);
  const { stat, mkdtemp, writeFile, rm } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const { basename, join, relative } = await import('node:path');
  for (const e of entries) {
    await checkRecipeFile(e, file, getPass);
    for (const [key, path] of [['data', e.data], ['calibrationData', e.calibrationData]] as const) {
      if (path && !(await stat(path).then(() => true, () => false))) throw new MlcError('INPUT', `${file}: entry ${e.index} (${e.label}): "${key}": ${path}: no such file`);
    }
  }
  await checkFleetPaths(flags.report as string | undefined);
  const suffixes = defaultSuffixes(passes);
  const tmp = entries.some((e) => e.passes) ? await mkdtemp(join(tmpdir(), 'mlc-check-')) : undefined;
  try {
    const all: FleetJob[] = [];
    for (const e of entries) {
      let recipe = e.recipe;
      if (e.passes) {
        recipe = join(tmp!, `entry${e.index}.json`);
        await writeFile(recipe, JSON.stringify(e.passes));
      }
      let inputs: ModelInput[];
      try {
        inputs = listModels(e.paths, { suffixes, includeOutputs: !!flags.includeOutputs });
      } catch (err) {
        throw new MlcError('USAGE', `${file}: entry ${e.index} (${e.label}): "path": ${(err as Error).message}`);
      }
      const common = ['--recipe', recipe!];
      if (e.data) common.push('--data', e.data);
      if (e.calibrationData) common.push('--calibration-data', e.calibrationData);
      for (const g of GATES) if (e.budgets[g.key] !== undefined) common.push(`--${g.name}`, e.budgets[g.key]);
      for (const input of inputs) {
        const output = e.output ? fillOutput(e.output, relative(input.base || '.', dirname(input.model)), basename(input.model).replace(/\.onnx$/i, '')) : undefined;
        all.push({
          model: input.model,
          entry: entries.length > 1 ? `#${e.index} ${e.label}` : undefined,
          output,
          argv: ['compress', input.model, '--json', ...common, ...(output ? ['-o', join(output)] : [])],
        });
      }
    }
    all.sort((a, b) => (a.model < b.model ? -1 : a.model > b.model ? 1 : (a.entry ?? '') < (b.entry ?? '') ? -1 : 1));
    const list = takeShard(all, shard);
    if (shard) ui.info(`shard ${shard.index}/${shard.total} (${shard.source}): ${list.length} of ${all.length} models`);
    return await runFleet(ui, list, { jobs, shard, reportPath: flags.report as string | undefined });
  } finally {
    if (tmp) await rm(tmp, { recursive: true, force: true });
  }
}

/** The flags of `mlc compress` given besides the fleet ones (refused when the config runs). */
export function fleetExtraFlags(cmd: Command, flags: Record<string, unknown>): string[] {
  return argvFromFlags(cmd, flags, FLEET_KEYS).filter((a) => a.startsWith('--'));
}
