/**
 * `mlc tune <model> --data val.npz --max-accuracy-drop 0.5 | --min-agreement 0.99 --objective
 * size|gzip|latency [--passes quantize,prune,lowrank,distill] [--time-budget 10m] -o tuned.onnx
 * --save-recipe tuned.json`: search recipes for the smallest or fastest model within the budget
 * (src/tune/search.ts), write the chosen model and its recipe (`mlc compress --recipe` re-runs it),
 * print the Pareto front and the tuning vs held-out figures.
 */
import { type Command, Option } from 'commander';
import { MlcError } from '../core/errors.js';
import { formatBytes, formatMs } from '../bench/format.js';
import type { TuneReport } from '../bench/types.js';
import { table } from './format.js';
import { boundary } from './run.js';
import { writeReportFile } from './measure.js';
import { fraction, loadModelAndData, parsePassList, positiveInt, tuneMarkdown } from './tuning.js';
import type { Ui } from './ui.js';

/** `10m`, `90s`, `1h`, `1.5m` or bare seconds → ms. */
export function parseDuration(v: unknown): number {
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|min|h)?$/.exec(String(v).trim());
  const n = m ? Number(m[1]) : Number.NaN;
  if (!m || !(n > 0)) throw new MlcError('USAGE', `--time-budget: must be a duration such as 90s, 10m or 1h, got ${String(v)}`);
  const unit = m[2] ?? 's';
  return n * (unit === 'ms' ? 1 : unit === 's' ? 1000 : unit === 'h' ? 3_600_000 : 60_000);
}

function objectiveText(r: TuneReport, v: number): string {
  return r.objective === 'latency' ? formatMs(v) : formatBytes(v);
}

const pct = (f: number | null) => (f === null ? '-' : `${(f * 100).toFixed(2)}%`);

/** One line per recipe step: `quantize type=int4 exclude=[3]`. */
export function recipeText(recipe: readonly Record<string, unknown>[]): string {
  return recipe
    .map((s) => {
      const o = (s.options ?? {}) as Record<string, unknown>;
      const parts = Object.entries(o).map(([k, v]) => (Array.isArray(v) ? `${k}=[${v.length}]` : `${k}=${String(v)}`));
      return `${String(s.pass)}${parts.length ? ` ${parts.join(' ')}` : ''}`;
    })
    .join(' → ');
}

function printReport(ui: Ui, file: string, r: TuneReport, split: { tuning: number; heldOut: number }, kept: string | undefined): void {
  ui.out(`${file}: ${r.candidates.length} candidates in ${r.seconds.toFixed(1)} s${r.cpuSeconds !== undefined ? ` (${r.cpuSeconds.toFixed(1)} CPU s)` : ''}; objective ${r.objective}, ${r.metric} on ${split.tuning} tuning / ${split.heldOut} held-out samples`);
  if (r.timedOut) ui.out('stopped at the time budget: the best candidate so far is chosen');
  ui.out(`original: ${objectiveText(r, r.baseline.objective)}, ${r.metric} ${pct(r.baseline.score)} (tuning) ${pct(r.baseline.heldOutScore)} (held-out)`);
  ui.out('');
  ui.out('Pareto front (objective vs metric on the tuning split):');
  const front = r.candidates.map((c, i) => ({ c, i })).filter(({ c }) => c.pareto).sort((a, b) => a.c.objective - b.c.objective);
  const rows = front.map(({ c, i }) => [
    c.chosen ? '*' : '',
    String(i + 1),
    objectiveText(r, c.objective),
    pct(c.score),
    c.meetsBudget ? 'yes' : 'no',
    recipeText(c.recipe),
  ]);
  for (const line of table([['', '#', r.objective, r.metric, 'in budget', 'recipe'], ...rows], [1, 2, 3])) ui.out(line);
  ui.out('');
  if (r.chosen === null) {
    ui.out(`kept the original: ${kept ?? 'no candidate chosen'}`);
    return;
  }
  const c = r.candidates[r.chosen];
  ui.out(`chosen #${r.chosen + 1}: ${recipeText(c.recipe)}`);
  if (r.choice) ui.out(`rule: ${r.choice.rule}`);
  if (c.speedup) ui.out(`speedup ${speedupText(c.speedup)}`);
  for (const line of table(
    [
      ['', r.objective, `${r.metric} (tuning)`, `${r.metric} (held-out)`],
      ['original', objectiveText(r, r.baseline.objective), pct(r.baseline.score), pct(r.baseline.heldOutScore)],
      ['tuned', objectiveText(r, c.objective), pct(c.score), pct(c.heldOutScore)],
    ],
    [1, 2, 3],
  ))
    ui.out(line);
}

/** `1.12× (98.75% interval 1.05–1.20, faster)` */
function speedupText(s: NonNullable<TuneReport['candidates'][number]['speedup']>): string {
  const ci = s.ci ? `${(s.level * 100).toFixed(2)}% interval ${s.ci[0].toFixed(3)}–${s.ci[1].toFixed(3)}` : 'too few rounds for an interval';
  return `${s.median.toFixed(3)}× (${ci}, ${s.rounds} rounds; ${s.verdict} against ${s.threshold.toFixed(3)}×)`;
}

/** The data flags `mlc compress --recipe` needs to re-run a recipe: calibration (static quantization, prune's refit), training (distill). */
function dataFlags(recipe: readonly { pass?: unknown; options?: unknown }[], data: string): string {
  const calibration = recipe.some((s) => {
    const o = (s.options ?? {}) as { mode?: string; reconstruct?: boolean; dataAware?: boolean; criterion?: string; allocate?: string };
    return o.mode === 'static' || !!o.reconstruct || !!o.dataAware || o.criterion === 'activation' || o.allocate === 'sensitivity';
  });
  const train = recipe.some((s) => s.pass === 'distill');
  return `${calibration ? ` --calibration-data ${data}` : ''}${train ? ` --train-data ${data}` : ''}`;
}

export function registerTune(program: Command): Command {
  return program
    .command('tune')
    .description('search recipes for the smallest or fastest model within an accuracy budget; write it and its recipe')
    .argument('<model>', 'ONNX model file')
    .requiredOption('--data <file>', 'data (.npz / .npy / test_data_set folder), split into tuning and held-out samples')
    .option('--max-accuracy-drop <points>', 'budget: accuracy points the model may lose (needs labels)')
    .option('--min-agreement <fraction>', "budget: share of the original's top-1 predictions to keep (no labels needed)")
    .addOption(new Option('--objective <what>', 'what to minimize: serialized size, gzip size or batch-1 latency').choices(['size', 'gzip', 'latency']).default('size'))
    .option('--passes <list>', 'passes the recipes may use (quantize, prune, lowrank; distill: near misses of prune / lowrank trained against the original)', 'quantize')
    .option('--margin <z>', "standard errors of the tuning split's figure counted on top of a candidate's loss (0: the plain rule)", '0')
    .option('--distill-epochs <n>', 'epochs of each distilled candidate', '10')
    .option('--time-budget <duration>', 'stop searching after this long (90s, 10m, 1h) and keep the best so far', '10m')
    .option('-o, --output <file>', 'write the chosen model here')
    .option('--save-recipe <file>', 'write the chosen recipe here (re-run it with mlc compress --recipe, same --calibration-data)')
    .option('--held-out <share>', 'share of the samples held out from the search (the last ones)', '0.3')
    .option('--samples <n>', 'tuning samples scored at most (a seeded pick)', '2000')
    .option('--seed <n>', 'seed of the split and of the passes', '42')
    .option('--force', 'allow -o to overwrite the input')
    .option('--report <file>', 'write the report: a self-contained HTML page (Pareto front, candidates) when the name ends in .html, else markdown')
    .option('--json', 'print the report as one JSON document on stdout')
    .action((file: string, _opts: unknown, self: Command) =>
      boundary(self, async (ui, flags) => {
        const passes = parsePassList(flags.passes, ['quantize', 'prune', 'lowrank', 'distill']);
        if (passes.includes('distill') && !passes.some((p) => p === 'prune' || p === 'lowrank')) {
          throw new MlcError('USAGE', '--passes distill: distillation recovers what pruning or low-rank lost; add prune or lowrank');
        }
        const margin = Number(flags.margin);
        if (!(margin >= 0) || !Number.isFinite(margin)) throw new MlcError('USAGE', `--margin: must be a number of standard errors ≥ 0, got ${String(flags.margin)}`);
        const distillEpochs = positiveInt('--distill-epochs', flags.distillEpochs);
        const hasDrop = flags.maxAccuracyDrop !== undefined;
        if (hasDrop === (flags.minAgreement !== undefined)) throw new MlcError('USAGE', 'give exactly one budget: --max-accuracy-drop <points> or --min-agreement <fraction>');
        const maxAccuracyDrop = hasDrop ? Number(flags.maxAccuracyDrop) : undefined;
        if (maxAccuracyDrop !== undefined && !(maxAccuracyDrop >= 0)) throw new MlcError('USAGE', `--max-accuracy-drop: must be a number of points ≥ 0, got ${String(flags.maxAccuracyDrop)}`);
        const minAgreement = hasDrop ? undefined : fraction('--min-agreement', flags.minAgreement);
        const timeBudgetMs = parseDuration(flags.timeBudget);
        const heldOutShare = fraction('--held-out', flags.heldOut);
        if (heldOutShare >= 1) throw new MlcError('USAGE', '--held-out: must be below 1');
        const maxTuning = positiveInt('--samples', flags.samples);
        const seed = positiveInt('--seed', flags.seed, 0);
        const output = flags.output as string | undefined;
        const recipePath = flags.saveRecipe as string | undefined;
        const { checkOutputPath, save } = await import('../index.js');
        if (output) await checkOutputPath(output, { input: file, force: !!flags.force });
        if (recipePath) await checkOutputPath(recipePath, { input: file });
        const reportPath = flags.report as string | undefined;
        if (reportPath) await checkOutputPath(reportPath, { input: file });
        // distillation needs TensorFlow.js (an optional peer dependency): say so before any work
        if (passes.includes('distill')) await (await import('../train/backend.js')).loadTf();
        const { model, data } = await loadModelAndData(file, String(flags.data), ui);
        const { tune } = await import('../tune/search.js');
        const res = await tune(model, data, {
          objective: flags.objective as 'size',
          maxAccuracyDrop,
          minAgreement,
          passes,
          margin,
          distillEpochs,
          timeBudgetMs,
          seed,
          heldOutShare,
          maxTuning,
          onProgress: (m) => ui.progress(m),
        });
        ui.clearProgress();
        if (res.model && output) await save(res.model, output, { force: !!flags.force, inputPath: file });
        if (res.recipe && recipePath) {
          const { writeFileAtomic } = await import('../util/fs.js');
          await writeFileAtomic(recipePath, `${JSON.stringify(res.recipe, null, 2)}\n`);
        }
        await writeReportFile(ui, { path: reportPath, html: { tune: res.report }, markdown: tuneMarkdown(file, res.report), bestEffort: false });
        if (ui.json) {
          ui.printJson({
            input: file,
            output: res.model && output ? output : null,
            recipe: res.recipe && recipePath ? recipePath : null,
            split: { tuning: res.tuningSamples, heldOut: res.heldOutSamples, seed },
            ...(res.keptOriginal ? { keptOriginal: res.keptOriginal } : {}),
            tune: res.report,
          });
        } else {
          printReport(ui, file, res.report, { tuning: res.tuningSamples, heldOut: res.heldOutSamples }, res.keptOriginal);
          if (res.model && output) ui.out(`wrote ${output}`);
          if (res.recipe && recipePath) ui.out(`wrote ${recipePath} (mlc compress ${file} --recipe ${recipePath}${dataFlags(res.recipe, String(flags.data))} re-runs it)`);
        }
        // no candidate within the budget (tuning, then held-out split): like a failed gate (1);
        // within it but none better: the original is the answer (0)
        return res.budgetReached ? 0 : 1;
      }),
    );
}
