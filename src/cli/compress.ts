/**
 * `mlc compress <model> [-o out.onnx] [pass flags...]`: builds a pipeline from flags (or a recipe
 * file), runs it through the programmatic `compress()` and prints a summary (or the report JSON).
 *
 * Pipeline from flags: every registered pass contributes its `cli.flags`; each pass's
 * `cli.fromFlags(allFlags)` decides whether it runs; passes run in registry order
 * (lowrank → prune → distill → quantize). With no pass flags the command is a faithful re-export.
 *
 * Default output: `<name><suffix>.onnx` beside the input, the suffix being the pass's
 * `cli.outputSuffix` when one pass runs (e.g. `_int8`), `_compressed` for several, and `_copy`
 * for a plain re-export. The input is never overwritten without --force; an existing output is,
 * with a warning when mlc made up its name. Replacing an output that kept its tensors in
 * `<output>.data` by a self-contained model removes that side file (a stale copy would be read by
 * nothing, and look like it belongs to the new model).
 *
 * Exit codes: 2 (usage / input error) only before anything is written: the flags, the recipe, the
 * input model (onnxruntime must load it unless --no-check), --data and --shape are all checked
 * before the first pass. After the write, a measurement that cannot be made is a warning and the
 * figure is "not measured" (a gate that needs it fails: exit 1).
 *
 * Several models or globs, or none with a config file, run as a fleet (src/cli/fleet.ts): the flags
 * and the recipe are checked here once, then each model runs this same command in a worker process.
 */
import { InvalidArgumentError, Option, type Command } from 'commander';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname, extname, join } from 'node:path';
import { MlcError } from '../core/errors.js';
import type { Model } from '../ir/model.js';
import { subgraphsOf } from '../ir/node.js';
import { didYouMean, explainOptionError, idleFlags } from '../passes/options.js';
import { globMatch, type Dataset, type Pass } from '../passes/pass.js';
import { hasGlob } from '../util/glob.js';
import { addFleetOptions, fleetExtraFlags, runCompressFleet, runConfigFleet } from './fleet.js';
import { adaptStepsToTarget, addMeasureOptions, checkMeasureShapes, loadMeasureData, measureAndReport, measureSetup, precheckMeasureData } from './measure.js';
import { boundary } from './run.js';

/** The keys a recipe file may hold: a list of steps, or an object with the steps and its schema. */
const RECIPE_KEYS = ['$schema', 'steps'];
const STEP_KEYS = ['pass', 'options'];

/**
 * Read a recipe file: a JSON list of {pass, options}, or {"$schema": …, "steps": [that list]} (the
 * form an editor validates against mlc.schema.json). Unknown keys are refused with the step
 * number and a did-you-mean; pass names and options are checked by the caller.
 */
export async function readRecipe(file: string): Promise<{ pass: string; options: unknown }[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new MlcError('INPUT', `cannot read recipe ${file}: ${code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new MlcError('INPUT', `recipe ${file} is not valid JSON: ${(err as Error).message}`);
  }
  const unknownKey = (where: string, o: object, known: string[]) => {
    const k = Object.keys(o).find((x) => !known.includes(x));
    if (k === undefined) return;
    const near = didYouMean(k, known);
    throw new MlcError('USAGE', `recipe ${file}: ${where}"${k}" is not a key${near ? ` (did you mean "${near}"?)` : ''}; known: ${known.join(', ')}`);
  };
  if (doc && typeof doc === 'object' && !Array.isArray(doc) && ('steps' in doc || '$schema' in doc)) {
    unknownKey('', doc, RECIPE_KEYS);
    doc = (doc as { steps?: unknown }).steps;
  }
  if (!Array.isArray(doc)) {
    throw new MlcError('INPUT', `recipe ${file} must be a JSON list of {"pass": name, "options": {...}} (or {"$schema": ..., "steps": [that list]})`);
  }
  return doc.map((s, i) => {
    if (!s || typeof s !== 'object' || typeof (s as { pass?: unknown }).pass !== 'string') {
      throw new MlcError('INPUT', `recipe ${file}: step ${i + 1} must be an object with a "pass" name`);
    }
    const { pass, options } = s as { pass: string; options?: unknown };
    unknownKey(`step ${i + 1} (${pass}): `, s, STEP_KEYS);
    if (options !== undefined && (options === null || typeof options !== 'object' || Array.isArray(options))) {
      throw new MlcError('INPUT', `recipe ${file}: step ${i + 1} (${pass}): "options" must be an object`);
    }
    return { pass, options: options ?? {} };
  });
}

/** The pipeline the flags ask for, in registry order. */
export function stepsFromFlags(passes: readonly Pass<any>[], flags: Record<string, unknown>): { pass: Pass<any>; options: unknown }[] {
  const steps: { pass: Pass<any>; options: unknown }[] = [];
  for (const p of passes) {
    const raw = p.cli?.fromFlags(flags);
    if (raw !== undefined) steps.push({ pass: p, options: raw });
  }
  return steps;
}

/** `<dir>/<name><suffix>.onnx` for the input and the steps that run. */
export function defaultOutputPath(input: string, steps: readonly { pass: Pass<any>; options: unknown }[]): string {
  let suffix: string;
  if (steps.length === 0) suffix = '_copy';
  else if (steps.length > 1) suffix = '_compressed';
  else suffix = steps[0].pass.cli?.outputSuffix(steps[0].options) ?? `_${steps[0].pass.name}`;
  if (suffix && !suffix.startsWith('_')) suffix = '_' + suffix;
  const ext = extname(input);
  const name = basename(input, ext.toLowerCase() === '.onnx' ? ext : '');
  return join(dirname(input), `${name}${suffix}.onnx`);
}

export function registerCompress(program: Command, passes: readonly Pass<any>[]): Command {
  const cmd = program
    .command('compress')
    .description('compress a model with the passes the flags (or a recipe) ask for, and write it')
    .argument('[models...]', 'ONNX model file; several files or globs ("models/**/*.onnx") run as a fleet; none: the entries of mlc.config.json')
    // --help groups the flags: output, pipeline, measurement, many models, then one group per pass
    .optionsGroup('Output:')
    .option('-o, --output <file>', 'output file (default: <name>_<suffix>.onnx beside the input)')
    .option('--force', 'allow overwriting the input file')
    .option('--external-data', 'store the tensors in a side file next to the output')
    .option('--json', 'print the report as one JSON document on stdout')
    .optionsGroup('Pipeline (every pass):')
    .option('--recipe <file>', 'JSON list of {"pass": name, "options": {...}} (or {"$schema", "steps": [...]}) to run instead of pass flags')
    .option('--exclude <names...>', 'node or initializer names (globs: * ?) the passes leave alone (takes several values: give the model first)')
    .option('--calibration-data <file>', 'calibration data (.npz / .npy / test_data_set folder)')
    .addOption(new Option('--calibration-samples <n>', 'use only the first n samples of --calibration-data').argParser(parsePositiveInt))
    .option('--train-data <file>', 'training data for distillation')
    .option('--val-data <file>', 'validation data')
    .addOption(new Option('--seed <n>', 'random seed').default(42).argParser(parseSeed))
    .option('--no-check', 'skip the onnxruntime checks (the input before any pass, the result after each pass) and write what the passes produce')
    .optionsGroup('Measurement, report and CI gates (as mlc bench):');
  // measurements of the original and the result, the report and the CI gates (shared with mlc bench)
  // (--batch-size is distillation's here; measurements use batch 64)
  addMeasureOptions(cmd, { batchSize: false });
  // many models per call (src/cli/fleet.ts)
  cmd.optionsGroup('Many models (fleets):');
  addFleetOptions(cmd);
  for (const p of passes) {
    cmd.optionsGroup(`${p.name}: ${p.describe}`);
    for (const f of p.cli?.flags ?? []) {
      const opt = new Option(f.flags, f.description);
      if (f.defaultValue !== undefined) opt.default(f.defaultValue);
      if (f.choices) opt.choices(f.choices);
      if (cmd.options.some((o) => (o.long ?? o.short) === (opt.long ?? opt.short))) continue; // shared between passes
      cmd.addOption(opt);
    }
  }
  cmd.addHelpText('after', EXAMPLES);
  cmd.action((models: string[], _opts: unknown, self: Command) =>
    boundary(self, async (ui, flags) => {
      if (models.length === 0) return runConfigFleet(ui, flags, fleetExtraFlags(self, flags));
      const file = models[0];
      const fleet = models.length > 1 || hasGlob(file);
      const { compress, checkOutputPath, load } = await import('../index.js');
      // bad measurement / gate flags and an unreadable --data fail before any work
      const setup = measureSetup(flags, { compare: true, batchSize: false });
      await precheckMeasureData(setup);
      if (setup.reportPath) await checkOutputPath(setup.reportPath);
      let steps: { pass: Pass<any>; options: unknown }[];
      if (typeof flags.recipe === 'string') {
        const fromFlags = stepsFromFlags(passes, flags);
        if (fromFlags.length) {
          throw new MlcError('USAGE', `use either --recipe or pass flags (${fromFlags.map((s) => s.pass.name).join(', ')}), not both`);
        }
        steps = (await readRecipe(flags.recipe)).map((s, i) => {
          const pass = passes.find((p) => p.name === s.pass);
          if (pass) return { pass, options: s.options };
          const names = passes.map((p) => p.name);
          const near = didYouMean(s.pass, names);
          throw new MlcError('USAGE', `recipe ${flags.recipe}: step ${i + 1}: unknown pass "${s.pass}"${near ? ` (did you mean "${near}"?)` : ''}; known: ${names.join(', ')}`);
        });
      } else {
        steps = stepsFromFlags(passes, flags);
      }
      // --target: formats that stay on the target (options of the existing passes)
      for (const note of adaptStepsToTarget(steps, setup.target)) ui.info(note);
      // option errors name the flag the user typed, or the recipe step and key
      steps.forEach((s, i) => {
        const pass = s.pass;
        try {
          pass.parseOptions(s.options);
        } catch (err) {
          const recipe = flags.recipe as string | undefined;
          throw explainOptionError(err, pass.schema, recipe ? { kind: 'recipe', file: recipe, step: i + 1 } : { kind: 'flags' });
        }
      });
      for (const w of idleWarnings(self, passes, steps, flags.recipe as string | undefined)) ui.warn(w);
      if (fleet) return runCompressFleet(ui, self, models, flags, { passes, outputOf: (m) => defaultOutputPath(m, steps) });
      const output = typeof flags.output === 'string' ? flags.output : defaultOutputPath(file, steps);
      // an explicit -o is the user's choice (like cp or cc -o); a name mlc made up may be a file the
      // user made (another tool's model_int8.onnx): say so before any work, while Ctrl-C helps
      if (typeof flags.output !== 'string' && existsSync(output)) ui.warn(`${output} exists and will be replaced (choose another name with -o)`);
      // the input's bytes and gzip size are measured (in the thread pool) while the passes run
      const { diskSize } = await import('../bench/size.js');
      const inputDisk = diskSize(undefined, { path: file }, { exact: setup.options.exactGzip });
      inputDisk.catch(() => {}); // a bad input fails in compress() with a better message
      // the result's load check creates the session the measurement then uses (latency, data)
      const measureSessions = setup.options.latency !== false || !!setup.dataPath;
      // everything the measurements need from the user is checked before any pass runs: once the
      // output is written, the exit code is 0 or 1 (a gate), never an input error
      let data: Dataset | undefined;
      // the result is taken apart here: the compressed model in memory is not kept through the
      // measurement, which reads the written file instead (lazily, like the original), so that
      // its weights are not held beside onnxruntime's sessions (BERT-base size: −110 MB peak)
      const { unusedData, output: written, passes: reports, original, originalSession, session } = await compress(file, steps, {
        output,
        check: flags.check === false ? false : undefined,
        beforePasses: async (original) => {
          data = await loadMeasureData(setup, original, ui);
          checkMeasureShapes(setup, original);
          if (steps.length && !flags.recipe) for (const p of unmatchedExcludes(original, flags.exclude as string[] | undefined)) ui.warn(`--exclude ${p} matches no node or weight name of ${file}`);
        },
        force: !!flags.force,
        countInput: true,
        externalData: !!flags.externalData,
        calibration: flags.calibrationData as string | undefined,
        calibrationSamples: flags.calibrationSamples as number | undefined,
        train: flags.trainData as string | undefined,
        validation: flags.valData as string | undefined,
        seed: flags.seed as number,
        log: ui.logger(),
        warn: (m) => ui.warn(`${file}: ${m}`),
        onStage: (stage) => ui.progress(stage === 'done' ? 'measuring' : `${stage}...`),
        onPassStart: (name, i, n) => ui.progress(`[${i + 1}/${n}] ${name}...`),
        onPassEnd: (r) => ui.debug(`${r.name}: ${r.modified ? 'modified' : 'unchanged'} in ${Math.round(r.ms)} ms`),
        ...(measureSessions
          ? { keepSession: { intraOpThreads: setup.options.threads ?? 1, disabledOptimizers: setup.options.disabledOptimizers ?? [] } }
          : {}),
      });
      ui.clearProgress();
      for (const d of unusedData ?? []) ui.warn(`--${d}-data was not used: ${DATA_USERS[d]}`);
      const out = written!;
      if (out.removedDataFile) ui.info(`removed ${out.removedDataFile}: the side file of the replaced ${out.path} (the new model is self-contained)`);
      const { code } = await measureAndReport(ui, setup, {
        bestEffort: true,
        input: file,
        output: out.path,
        passes: reports,
        base: { model: original, path: file, disk: inputDisk, session: originalSession },
        other: {
          model: await load(out.path, { lazy: true }),
          path: out.path,
          externalFiles: out.externalDataFile ? [out.externalDataFile] : [],
          session,
        },
        data,
      });
      return code;
    }),
  );
  return cmd;
}

const EXAMPLES = `
Examples:
  $ mlc compress model.onnx --quantize int8                   # dynamic int8 → model_int8.onnx
  $ mlc compress model.onnx --quantize-mode static --calibration-data calib.npz
  $ mlc compress model.onnx --quantize int4 --external-data   # MatMulNBits, tensors in model_q4.onnx.data
  $ mlc compress model.onnx --prune 0.9 --distill --train-data train.npz --quantize int8
  $ mlc compress model.onnx --recipe recipe.json -o small.onnx --json > report.json
  $ mlc compress model.onnx --quantize int8 --data test.npz --max-accuracy-drop 1 --min-speedup 1.2

More: mlc passes (every pass option), mlc passes --json-schema (recipe files).`;

/** Who reads each data set, for the warning when none of them ran. */
const DATA_USERS: Record<string, string> = {
  calibration: 'static quantization (--quantize-mode static), --prune-reconstruct and --lowrank-data-aware read it',
  train: 'distillation (--distill), --prune-reconstruct and --lowrank-data-aware read it',
  val: "distillation's validation reads it",
};

/** Flags the user typed that change nothing in this run, as warnings (shown before any work). */
function idleWarnings(cmd: Command, passes: readonly Pass<any>[], steps: readonly { pass: Pass<any> }[], recipe: string | undefined): string[] {
  const typed = (key: string) => cmd.getOptionValueSource(key) === 'cli';
  const out: string[] = [];
  for (const p of passes) if (p.schema && (recipe || !steps.some((s) => s.pass === p))) out.push(...idleFlags(p.schema, typed, recipe));
  if (typed('exclude') && recipe) out.push(`--exclude does nothing with --recipe (set "exclude" in the steps' options in ${recipe})`);
  else if (typed('exclude') && !steps.length) out.push('--exclude does nothing without a pass flag');
  if (typed('calibrationSamples') && !typed('calibrationData')) out.push('--calibration-samples does nothing without --calibration-data');
  return out;
}

/** --exclude patterns that match no node name, initializer or value name of the model. */
function unmatchedExcludes(model: Model, patterns: readonly string[] | undefined): string[] {
  if (!patterns?.length) return [];
  const names = new Set<string>();
  const visit = (g: Model['graph']) => {
    for (const n of g.nodes) {
      if (n.name) names.add(n.name);
      for (const o of n.outputs) if (o) names.add(o);
      for (const sg of subgraphsOf(n)) visit(sg);
    }
    for (const k of g.initializers.keys()) names.add(k);
  };
  visit(model.graph);
  return patterns.flatMap((p) => p.split(',')).map((p) => p.trim()).filter((p) => p && ![...names].some((n) => globMatch(p, n)));
}

function parsePositiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

function parseSeed(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new InvalidArgumentError('expected an integer in [0, 2^32)');
  return n;
}
