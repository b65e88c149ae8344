/** `mlc passes [--json]`: the registered passes, their options and `mlc compress` flags. */
import type { Command } from 'commander';
import type { Pass } from '../passes/pass.js';
import { table } from './format.js';
import { boundary } from './run.js';
import type { Ui } from './ui.js';

export interface PassInfo {
  name: string;
  describe: string;
  options: Record<string, string>;
  flags: { flags: string; description: string; default?: unknown; choices?: string[] }[];
}

export function passInfo(p: Pass<any>): PassInfo {
  return {
    name: p.name,
    describe: p.describe,
    options: { ...p.options },
    flags: (p.cli?.flags ?? []).map((f) => ({
      flags: f.flags,
      description: f.description,
      ...(f.defaultValue !== undefined ? { default: f.defaultValue } : {}),
      ...(f.choices ? { choices: f.choices } : {}),
    })),
  };
}

export function printPasses(ui: Ui, list: PassInfo[]): void {
  const { c } = ui;
  if (!list.length) {
    ui.out('no passes registered');
    return;
  }
  list.forEach((p, i) => {
    if (i) ui.out();
    ui.out(`${c.bold(p.name)}  ${p.describe}`);
    const opts = Object.entries(p.options);
    if (opts.length) {
      ui.out('  recipe options:');
      for (const line of table(opts.map(([k, v]) => ['    ' + k, v]))) ui.out(line);
    }
    if (p.flags.length) {
      ui.out('  compress flags:');
      for (const line of table(
        p.flags.map((f) => [
          '    ' + f.flags,
          f.description +
            (f.choices ? ` (${f.choices.join(' | ')})` : '') +
            (f.default !== undefined ? c.dim(` [default: ${JSON.stringify(f.default)}]`) : ''),
        ]),
      ))
        ui.out(line);
    }
  });
}

export function registerPasses(program: Command): void {
  program
    .command('passes')
    .description('list the compression passes with their options')
    .option('--json', 'print one JSON document on stdout')
    .option('--json-schema', 'print the JSON Schema of a recipe file (mlc compress --recipe)')
    .action((_opts: unknown, cmd: Command) =>
      boundary(cmd, async (ui, flags) => {
        const { passes } = await import('../passes/registry.js');
        if (flags.jsonSchema) {
          const { recipeJsonSchema } = await import('../passes/options.js');
          ui.out(JSON.stringify(recipeJsonSchema(passes.flatMap((p) => (p.schema ? [p.schema] : []))), null, 2));
          return 0;
        }
        const list = passes.map(passInfo);
        if (ui.json) ui.printJson({ passes: list });
        else printPasses(ui, list);
        return 0;
      }),
    );
}
