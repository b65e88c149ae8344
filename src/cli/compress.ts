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
 * for a plain re-export. The input is never overwritten without --force; an existing output is.
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
import { readFile } from 'node:fs/promises';
import { basename, dirname, extname, join } from 'node:path';
import { MlcError } from '../core/errors.js';
import { explainOptionError } from '../passes/options.js';
import type { Dataset, Pass } from '../passes/pass.js';
import type { PipelineStep } from '../passes/pipeline.js';
import { hasGlob } from '../util/glob.js';
import { addFleetOptions, fleetExtraFlags, runCompressFleet, runConfigFleet } from './fleet.js';
import { addMeasureOptions, checkMeasureShapes, loadMeasureData, measureAndReport, measureSetup, precheckMeasureData } from './measure.js';
import { boundary, namingFile } from './run.js';

/** Read a recipe file: a JSON list of {pass, options}. */
export async function readRecipe(file: string): Promise<PipelineStep[]> {
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
  if (!Array.isArray(doc)) throw new MlcError('INPUT', `recipe ${file} must be a JSON list of {"pass": name, "options": {...}}`);
  return doc.map((s, i) => {
    if (!s || typeof s !== 'object' || typeof (s as { pass?: unknown }).pass !== 'string') {
      throw new MlcError('INPUT', `recipe ${file}: step ${i + 1} must be an object with a "pass" name`);
    }
    const { pass, options } = s as { pass: string; options?: unknown };
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
    .option('-o, --output <file>', 'output file (default: <name>_<suffix>.onnx beside the input)')
    .option('--force', 'allow overwriting the input file')
    .option('--external-data', 'store the tensors in a side file next to the output')
    .option('--recipe <file>', 'JSON list of {"pass": name, "options": {...}} to run instead of pass flags')
    .option('--exclude <names...>', 'node or initializer names (globs: * ?) the passes leave alone (takes several values: give the model first)')
    .option('--calibration-data <file>', 'calibration data (.npz / .npy / test_data_set folder)')
    .addOption(new Option('--calibration-samples <n>', 'use only the first n samples of --calibration-data').argParser(parsePositiveInt))
    .option('--train-data <file>', 'training data for distillation')
    .option('--val-data <file>', 'validation data')
    .addOption(new Option('--seed <n>', 'random seed').default(42).argParser(parseSeed))
    .option('--no-check', 'skip the onnxruntime checks (the input before any pass, the result after each pass) and write what the passes produce')
    .option('--json', 'print the report as one JSON document on stdout');
  // measurements of the original and the result, the report and the CI gates (shared with mlc bench)
  // (--batch-size is distillation's here; measurements use batch 64)
  addMeasureOptions(cmd, { batchSize: false });
  // many models per call (src/cli/fleet.ts)
  addFleetOptions(cmd);
  for (const p of passes) {
    for (const f of p.cli?.flags ?? []) {
      const opt = new Option(f.flags, f.description);
      if (f.defaultValue !== undefined) opt.default(f.defaultValue);
      if (f.choices) opt.choices(f.choices);
      if (cmd.options.some((o) => (o.long ?? o.short) === (opt.long ?? opt.short))) continue; // shared between passes
      cmd.addOption(opt);
    }
  }
  cmd.action((models: string[], _opts: unknown, self: Command) =>
    boundary(self, async (ui, flags) => {
      if (models.length === 0) return runConfigFleet(ui, flags, fleetExtraFlags(self, flags));
      const file = models[0];
      const fleet = models.length > 1 || hasGlob(file);
      const { compress, checkOutputPath } = await import('../index.js');
      // bad measurement / gate flags and an unreadable --data fail before any work
      const setup = measureSetup(flags, { compare: true, batchSize: false });
      await precheckMeasureData(setup);
      if (setup.reportPath) await checkOutputPath(setup.reportPath);
      let steps: { pass: Pass<any> | string; options: unknown }[];
      if (typeof flags.recipe === 'string') {
        const fromFlags = stepsFromFlags(passes, flags);
        if (fromFlags.length) {
          throw new MlcError('USAGE', `use either --recipe or pass flags (${fromFlags.map((s) => s.pass.name).join(', ')}), not both`);
        }
        const { getPass } = await import('../passes/registry.js');
        steps = (await readRecipe(flags.recipe)).map((s) => {
          try {
            return { pass: getPass(s.pass as string), options: s.options };
          } catch (err) {
            throw namingFile(err, flags.recipe as string);
          }
        });
      } else {
        steps = stepsFromFlags(passes, flags);
      }
      // option errors name the flag the user typed, or the recipe step and key
      steps.forEach((s, i) => {
        const pass = s.pass as Pass<any>;
        try {
          pass.parseOptions(s.options);
        } catch (err) {
          const recipe = flags.recipe as string | undefined;
          throw explainOptionError(err, pass.schema, recipe ? { kind: 'recipe', file: recipe, step: i + 1 } : { kind: 'flags' });
        }
      });
      if (fleet) return runCompressFleet(ui, self, models, flags, { passes, outputOf: (m) => defaultOutputPath(m, steps as { pass: Pass<any>; options: unknown }[]) });
      const output = typeof flags.output === 'string' ? flags.output : defaultOutputPath(file, steps as { pass: Pass<any>; options: unknown }[]);
      // the input's bytes and gzip size are measured (in the thread pool) while the passes run
      const { diskSize } = await import('../bench/size.js');
      const inputDisk = diskSize(undefined, { path: file }, { exact: setup.options.exactGzip });
      inputDisk.catch(() => {}); // a bad input fails in compress() with a better message
      // the result's load check creates the session the measurement then uses (latency, data)
      const measureSessions = setup.options.latency !== false || !!setup.dataPath;
      // everything the measurements need from the user is checked before any pass runs: once the
      // output is written, the exit code is 0 or 1 (a gate), never an input error
      let data: Dataset | undefined;
      const result = await compress(file, steps, {
        output,
        check: flags.check === false ? false : undefined,
        beforePasses: async (original) => {
          data = await loadMeasureData(setup, original, ui);
          checkMeasureShapes(setup, original);
        },
        force: !!flags.force,
        externalData: !!flags.externalData,
        calibration: flags.calibrationData as string | undefined,
        calibrationSamples: flags.calibrationSamples as number | undefined,
        train: flags.trainData as string | undefined,
        validation: flags.valData as string | undefined,
        seed: flags.seed as number,
        log: ui.logger(),
        warn: (m) => ui.warn(`${file}: ${m}`),
        onPassStart: (name, i, n) => ui.progress(`[${i + 1}/${n}] ${name}...`),
        onPassEnd: (r) => ui.debug(`${r.name}: ${r.modified ? 'modified' : 'unchanged'} in ${Math.round(r.ms)} ms`),
        ...(measureSessions
          ? { keepSession: { intraOpThreads: setup.options.threads ?? 1, disabledOptimizers: setup.options.disabledOptimizers ?? [] } }
          : {}),
      });
      ui.clearProgress();
      const out = result.output!;
      const { code } = await measureAndReport(ui, setup, {
        bestEffort: true,
        input: file,
        output: out.path,
        passes: result.passes,
        base: { model: result.original, path: file, disk: inputDisk, session: result.originalSession },
        other: {
          model: result.model,
          path: out.path,
          externalFiles: out.externalDataFile ? [out.externalDataFile] : [],
          session: result.session,
        },
        data,
      });
      return code;
    }),
  );
  return cmd;
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
