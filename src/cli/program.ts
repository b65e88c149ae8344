/**
 * The `mlc` program: global flags and the commands (one file each). Commands lazy-import the
 * heavy modules (onnxruntime, tfjs) in their actions, so `mlc --help` stays fast.
 */
import { Command, CommanderError } from 'commander';
import { readFileSync } from 'node:fs';
import { registerBench } from './bench.js';
import { registerCheck } from './check.js';
import { registerCompress } from './compress.js';
import { registerInspect } from './inspect.js';
import { registerPasses } from './passes.js';
import { registerReport } from './report.js';
import { registerSensitivity } from './sensitivity.js';
import { registerTune } from './tune.js';
import { registerVariants } from './variants.js';
import { Ui } from './ui.js';

/** The package's version: package.json is two folders up from dist/cli/program.js, one from the bundled lib/cli.js. */
function version(): string {
  for (const up of ['../../package.json', '../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(up, import.meta.url), 'utf8')) as { name?: string; version: string };
      if (pkg.name === 'mlc-onnx') return pkg.version;
    } catch {
      // not there: the other layout
    }
  }
  return '0.0.0';
}

export async function buildProgram(): Promise<Command> {
  const { passes } = await import('../passes/registry.js');
  const program = new Command('mlc')
    .description('compress ONNX models: quantization, pruning, low-rank factorization, distillation')
    .version(version(), '-V, --version')
    .option('--verbose', 'more detail; stack traces on errors')
    .option('-q, --quiet', 'no progress or warnings on stderr')
    .option('--no-color', 'no colours (also NO_COLOR=1, or when not a terminal)')
    .showSuggestionAfterError(true)
    .exitOverride()
    // commander errors are printed once, by run(), in mlc's format
    .configureOutput({ outputError: () => {} });
  registerInspect(program);
  registerCompress(program, passes);
  registerPasses(program);
  registerBench(program);
  registerCheck(program);
  registerReport(program);
  registerVariants(program);
  registerSensitivity(program);
  registerTune(program);
  return program;
}

/** Run the CLI on `argv` (without node and script); resolves to the exit code. */
export async function run(argv: string[]): Promise<number> {
  process.exitCode = 0;
  try {
    const program = await buildProgram();
    await program.parseAsync(argv, { from: 'user' });
    return Number(process.exitCode ?? 0);
  } catch (err) {
    if (err instanceof CommanderError && ['commander.help', 'commander.helpDisplayed', 'commander.version'].includes(err.code)) {
      return err.exitCode === 0 ? 0 : 2;
    }
    const ui = new Ui({
      json: argv.includes('--json'),
      verbose: argv.includes('--verbose'),
      color: !argv.includes('--no-color'),
    });
    return ui.error(err);
  }
}
