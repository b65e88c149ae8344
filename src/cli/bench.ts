/**
 * `mlc bench <model> [--data f] [--compare other.onnx] [gates] [--json] [--report f]`: size,
 * latency, throughput and accuracy of existing models (no passes), with the same CI gates as
 * `mlc compress` (the shared flags and report live in ./measure.ts).
 */
import type { Command } from 'commander';
import { addMeasureOptions, loadMeasureData, measureAndReport, measureSetup } from './measure.js';
import { boundary, loadInput } from './run.js';

export function registerBench(program: Command): Command {
  const cmd = program
    .command('bench')
    .description('measure size, latency, throughput and accuracy of a model (and compare with another), with CI gates')
    .argument('<model>', 'ONNX model file')
    .option('--compare <other>', 'a second model (e.g. the compressed one) to measure side by side; gates apply to it')
    .option('--json', 'print the report as one JSON document on stdout');
  addMeasureOptions(cmd);
  cmd.action((file: string, _opts: unknown, self: Command) =>
    boundary(self, async (ui, flags) => {
      const other = typeof flags.compare === 'string' ? flags.compare : undefined;
      const setup = measureSetup(flags, { compare: !!other });
      const base = await loadInput(file, ui);
      const otherModel = other ? await loadInput(other, ui) : undefined;
      const data = await loadMeasureData(setup, base, ui);
      const { code } = await measureAndReport(ui, setup, {
        input: file,
        output: other ?? null,
        base: { model: base, path: file },
        other: other ? { model: otherModel!, path: other } : undefined,
        data,
      });
      return code;
    }),
  );
  return cmd;
}
