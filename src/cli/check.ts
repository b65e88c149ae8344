/**
 * `mlc check`: run every entry of mlc.config.json (or mlc.config.mjs, or --config <file>): each
 * model is compressed with its entry's recipe, measured, and held to its budgets (the gates), in a
 * pool of worker processes; one report for the run and the worst exit code. See src/fleet/config.ts
 * for the file and src/cli/fleet.ts for the run.
 */
import type { Command } from 'commander';
import { addFleetOptions, runConfigFleet } from './fleet.js';
import { boundary } from './run.js';

export function registerCheck(program: Command): Command {
  const cmd = program
    .command('check')
    .description('compress and check every model of mlc.config.json (or .mjs) against its budgets')
    .option('--json', 'print one JSON document for the run, one entry per model')
    .option('--report <file>', 'write the run report: JSON when the name ends in .json (for mlc report merge), else markdown')
    .option('--json-schema', 'print the JSON Schema of the config file and exit');
  addFleetOptions(cmd, { outDir: false });
  cmd.action((_opts: unknown, self: Command) =>
    boundary(self, async (ui, flags) => {
      if (flags.jsonSchema) {
        const { configJsonSchema } = await import('../fleet/config.js');
        const { passes } = await import('../passes/registry.js');
        ui.printJson(configJsonSchema(passes));
        return 0;
      }
      return runConfigFleet(ui, flags);
    }),
  );
  return cmd;
}
