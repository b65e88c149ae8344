/**
 * `mlc sensitivity <model> --data val.npz [--passes quantize,prune,lowrank]`: per layer, what one
 * pass applied to that layer alone costs (metric drop, output cosine, the layer output's SQNR) and
 * saves (bytes, gzip bytes, latency share). The analysis is src/tune/sensitivity.ts.
 */
import { type Command, Option } from 'commander';
import { boundary } from './run.js';
import { writeReportFile } from './measure.js';
import { fraction, loadModelAndData, parsePassList, positiveInt, SENSITIVITY_PASSES, sensitivityMarkdown, sensitivityTable } from './tuning.js';

export function registerSensitivity(program: Command): Command {
  return program
    .command('sensitivity')
    .description('per layer: what one pass on that layer alone costs (accuracy, cosine, SQNR) and saves (bytes, gzip, time)')
    .argument('<model>', 'ONNX model file')
    .requiredOption('--data <file>', 'validation data (.npz / .npy / test_data_set folder); labels give accuracy, else agreement with the original')
    .option('--passes <list>', `passes to probe, comma-separated (${SENSITIVITY_PASSES.join(', ')})`, 'quantize')
    .option('--samples <n>', 'samples evaluated (a seeded random pick)', '500')
    .addOption(new Option('--quantize <type>', 'quantize probe: the type').choices(['int8', 'uint8', 'fp16', 'int4']).default('int8'))
    .addOption(new Option('--quantize-mode <mode>', 'quantize probe: the int8 / uint8 mode').choices(['dynamic', 'static', 'weight-only']).default('dynamic'))
    .option('--sparsity <s>', 'prune probe: sparsity of the layer', '0.5')
    .option('--energy <e>', 'lowrank probe: energy kept', '0.9')
    .option('--agreement', 'score agreement with the original even when the data has labels')
    .option('--no-profile', 'skip the latency profile')
    .option('--no-gzip', 'skip gzip sizes')
    .option('--seed <n>', 'seed of the sample and of the passes', '42')
    .option('--top <n>', 'print only the n most sensitive rows')
    .option('--report <file>', 'write the report: a self-contained HTML page (sensitivity bars) when the name ends in .html, else markdown')
    .option('--json', 'print the report as one JSON document on stdout')
    .action((file: string, _opts: unknown, self: Command) =>
      boundary(self, async (ui, flags) => {
        const passes = parsePassList(flags.passes, SENSITIVITY_PASSES);
        const samples = positiveInt('--samples', flags.samples);
        const seed = positiveInt('--seed', flags.seed, 0);
        const sparsity = fraction('--sparsity', flags.sparsity);
        const energy = fraction('--energy', flags.energy);
        const top = flags.top === undefined ? undefined : positiveInt('--top', flags.top);
        const reportPath = flags.report as string | undefined;
        if (reportPath) await (await import('../index.js')).checkOutputPath(reportPath, { input: file });
        const { model, data } = await loadModelAndData(file, String(flags.data), ui);
        const { analyseSensitivity, defaultProbe } = await import('../tune/sensitivity.js');
        const { sampleDataset } = await import('../tune/data.js');
        const probes = passes.map((p) => defaultProbe(p, { quantize: String(flags.quantize), quantizeMode: String(flags.quantizeMode), sparsity, energy }));
        const { report } = await analyseSensitivity(model, sampleDataset(data, samples, seed), {
          probes,
          agreement: !!flags.agreement,
          profile: flags.profile !== false,
          gzip: flags.gzip !== false,
          calibration: data,
          seed,
          onProgress: (m) => ui.progress(m),
        });
        ui.clearProgress();
        await writeReportFile(ui, { path: reportPath, html: { sensitivity: report }, markdown: sensitivityMarkdown(file, report, top), bestEffort: false });
        if (ui.json) {
          ui.printJson({ input: file, sensitivity: report });
          return 0;
        }
        const n = Math.min(samples, data.count);
        ui.out(`${file}: ${report.rows.length} layer probes on ${n} samples, ${report.metric} ${(report.baseline * 100).toFixed(2)}% (original), ${report.seconds.toFixed(1)} s`);
        for (const line of sensitivityTable(report, top)) ui.out(line);
        return 0;
      }),
    );
}
