/** `mlc compress` gets its pass flags from the registry: they must not collide with the CLI's own. */
import { describe, expect, it } from 'vitest';
import { Command } from 'commander';
import { buildProgram } from '../../src/cli/program.js';
import { defaultOutputPath, registerCompress, stepsFromFlags } from '../../src/cli/compress.js';
import { passes } from '../../src/passes/registry.js';
import type { Pass } from '../../src/passes/pass.js';

function compressCommand(program: Command): Command {
  return program.commands.find((c) => c.name() === 'compress')!;
}

describe('mlc compress flags', () => {
  it('registers every pass flag, none colliding with a shared, measurement or global flag', async () => {
    const program = await buildProgram();
    const cmd = compressCommand(program);
    const passFlags = new Set(passes.flatMap((p) => (p.cli?.flags ?? []).map((f) => f.flags.split(/[ ,]+/).find((x) => x.startsWith('--'))!)));
    // the command's own flags: the same command built with no passes
    const bare = registerCompress(new Command('mlc'), []);
    const own = new Set([...bare.options, ...program.options].map((o) => o.long!));
    const collisions = [...passFlags].filter((f) => own.has(f));
    expect(collisions, `pass flags shadowed by mlc compress's own: ${collisions.join(', ')}`).toEqual([]);
    for (const f of passFlags) expect(cmd.options.some((o) => o.long === f), f).toBe(true);
  });

  it('parses pass flags into steps in registry order, and no flags into a plain re-export', async () => {
    const program = await buildProgram();
    program.exitOverride();
    const cmd = compressCommand(program);
    cmd.action(() => {});
    await program.parseAsync(['compress', 'm.onnx'], { from: 'user' });
    expect(stepsFromFlags(passes, cmd.opts())).toEqual([]);
    expect(defaultOutputPath('dir/m.onnx', [])).toBe('dir/m_copy.onnx');
  });

  const names = passes.map((p) => p.name);
  it.skipIf(!['lowrank', 'prune', 'quantize'].every((n) => names.includes(n)))('flags in any order run in canonical order', async () => {
    const program = await buildProgram();
    program.exitOverride();
    const cmd = compressCommand(program);
    cmd.action(() => {});
    await program.parseAsync(['compress', 'm.onnx', '--quantize', 'int8', '--prune', '0.5', '--lowrank', '0.5', '--exclude', 'fc1*', 'head'], { from: 'user' });
    const flags = cmd.opts();
    expect(flags.exclude).toEqual(['fc1*', 'head']);
    const steps = stepsFromFlags(passes, flags);
    expect(steps.map((s) => s.pass.name)).toEqual(['lowrank', 'prune', 'quantize']);
    for (const s of steps) expect(() => s.pass.parseOptions(s.options)).not.toThrow();
    expect(defaultOutputPath('m.onnx', steps)).toBe('m_compressed.onnx');
    expect(defaultOutputPath('m.onnx', steps.slice(2))).toBe('m_int8.onnx');
  });

  it.skipIf(!names.includes('quantize'))('gives each quantize type and mode its own default name (_int8 stays the default mode\'s)', async () => {
    const named = async (args: string[]) => {
      const program = await buildProgram();
      program.exitOverride();
      const cmd = compressCommand(program);
      cmd.action(() => {});
      await program.parseAsync(['compress', 'm.onnx', ...args], { from: 'user' });
      return defaultOutputPath('m.onnx', stepsFromFlags(passes, cmd.opts()));
    };
    const seen = new Map<string, string>();
    for (const [args, name] of [
      [['--quantize', 'int8'], 'm_int8.onnx'],
      [['--quantize', 'int8', '--quantize-mode', 'dynamic'], 'm_int8.onnx'],
      [['--quantize-mode', 'static'], 'm_int8_static.onnx'],
      [['--quantize', 'int8', '--quantize-mode', 'weight-only'], 'm_int8_weight_only.onnx'],
      [['--quantize', 'uint8', '--quantize-mode', 'static'], 'm_uint8_static.onnx'],
      [['--quantize', 'fp16'], 'm_fp16.onnx'],
      [['--quantize', 'int4'], 'm_q4.onnx'],
    ] as [string[], string][]) {
      expect(await named(args), args.join(' ')).toBe(name);
      if (!args.includes('dynamic')) {
        expect(seen.get(name), `${args.join(' ')} and ${seen.get(name)} share ${name}`).toBeUndefined();
        seen.set(name, args.join(' '));
      }
    }
  });

  it('--help groups the flags (output, pipeline, measurement, one group per pass) and shows examples that parse', async () => {
    const program = await buildProgram();
    const cmd = compressCommand(program);
    let full = '';
    cmd.configureOutput({ writeOut: (x) => (full += x) });
    cmd.outputHelp(); // the help text with the examples added after it
    const headings = [...full.matchAll(/^(\S[^\n]*):$|^(\S[^:\n]*): /gm)].map((m) => m.index!);
    const section = (start: number) => full.slice(start, headings.find((h) => h > start) ?? full.length);
    for (const h of ['Output:', 'Pipeline (every pass):', 'Measurement, report and CI gates (as mlc bench):', 'Examples:']) expect(full, h).toContain(`\n${h}\n`);
    for (const p of passes) {
      const at = full.indexOf(`\n${p.name}: ${p.describe}\n`);
      expect(at, p.name).toBeGreaterThan(0);
      // each pass's own flags are listed under its heading
      for (const f of p.cli?.flags ?? []) {
        const long = f.flags.split(/[ ,]+/).find((x) => x.startsWith('--'))!;
        if (long === '--exclude') continue; // shared: under Pipeline
        expect(section(at + 1), `${p.name} ${long}`).toMatch(new RegExp(`^  ${long}\\b`, 'm'));
      }
    }
    // every example is a command line mlc accepts
    const examples = full.slice(full.indexOf('\nExamples:\n')).split('\n').filter((l) => l.trim().startsWith('$ mlc compress '));
    expect(examples.length).toBeGreaterThanOrEqual(4);
    for (const line of examples) {
      const args = line.trim().slice('$ mlc '.length).replace(/\s+(#|>).*$/, '').split(/\s+/);
      const p = await buildProgram();
      p.exitOverride();
      compressCommand(p).exitOverride().action(() => {});
      await expect(p.parseAsync(args, { from: 'user' }), line).resolves.toBeDefined();
    }
  });

  it('names the default output after the pass, or _compressed for several', () => {
    const fake = (name: string, suffix?: string): Pass<any> => ({
      name,
      describe: '',
      options: {},
      parseOptions: (x) => x,
      run: async () => ({ modified: false, stats: {}, skipped: [] }),
      ...(suffix ? { cli: { flags: [], fromFlags: () => undefined, outputSuffix: () => suffix } } : {}),
    });
    expect(defaultOutputPath('a/b/model.onnx', [{ pass: fake('q', '_int8'), options: {} }])).toBe('a/b/model_int8.onnx');
    expect(defaultOutputPath('model.ONNX', [{ pass: fake('q', 'fp16'), options: {} }])).toBe('model_fp16.onnx');
    expect(defaultOutputPath('model.bin', [{ pass: fake('x'), options: {} }])).toBe('model.bin_x.onnx');
    expect(defaultOutputPath('m.onnx', [{ pass: fake('a', '_a'), options: {} }, { pass: fake('b', '_b'), options: {} }])).toBe('m_compressed.onnx');
  });
});
