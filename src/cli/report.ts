/**
 * `mlc report merge <reports...>`: the JSON reports of a sharded run (`--report shard-N.json`)
 * merged into one: the markdown table on stdout (or the JSON document with --json), optionally
 * written to files, appended to $GITHUB_STEP_SUMMARY, with `::error` annotations under GitHub
 * Actions, and the combined exit code (the worst model's; 2 when a shard is missing or doubled).
 */
import type { Command } from 'commander';
import { MlcError } from '../core/errors.js';
import { checkFleetPaths, finishFleet } from './fleet.js';
import { boundary } from './run.js';

export function registerReport(program: Command): Command {
  const report = program.command('report').description('work with fleet reports (mlc compress <models...> / mlc check --report x.json)');
  report
    .command('merge')
    .description('merge the JSON reports of shards into one report and exit code')
    .argument('<reports...>', 'JSON reports (globs allowed)')
    .option('--json', 'print the merged report as one JSON document')
    .option('-o, --output <file>', 'write the merged JSON report')
    .option('--markdown <file>', 'write the markdown table')
    .action((files: string[], _opts: unknown, self: Command) =>
      boundary(self, async (ui, flags) => {
        const { checkOutputPath } = await import('../index.js');
        const { readJsonFile, writeFileAtomic } = await import('../util/fs.js');
        const { asFleetDocument, mergeFleet, fleetToMarkdown } = await import('../fleet/report.js');
        const { expandGlob, hasGlob } = await import('../util/glob.js');
        const output = flags.output as string | undefined;
        const markdown = flags.markdown as string | undefined;
        for (const p of [output, markdown]) if (p) await checkOutputPath(p);
        await checkFleetPaths(undefined);
        const list = files.flatMap((f) => {
          if (!hasGlob(f)) return [f];
          const m = expandGlob(f);
          if (!m.length) throw new MlcError('USAGE', `no file matches ${f}`);
          return m;
        });
        const docs = [];
        for (const file of list) {
          const doc = await readJsonFile(file);
          docs.push({ file, doc: asFleetDocument(doc, file) });
        }
        const merged = mergeFleet(docs);
        if (output) await writeFileAtomic(output, JSON.stringify(merged, null, 2) + '\n');
        if (markdown) await writeFileAtomic(markdown, fleetToMarkdown(merged, 'mlc fleet (merged)'));
        if (!ui.json) ui.out(fleetToMarkdown(merged, 'mlc fleet (merged)').trimEnd());
        return finishFleet(ui, merged, { title: 'mlc fleet (merged)', quietSummary: true });
      }),
    );
  return report;
}
