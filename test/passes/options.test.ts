/** Pass options declared once (src/passes/options.ts): the same rules for every pass, and every surface derived. */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { MlcError } from '../../src/core/errors.js';
import {
  didYouMean,
  explainOptionError,
  flagsToOptions,
  flagKey,
  longFlag,
  OptionError,
  optionsJsonSchema,
  parseWithSchema,
  recipeJsonSchema,
  type OptionSchema,
} from '../../src/passes/options.js';
import { passes } from '../../src/passes/registry.js';
import { ensureBuilt, mlc, ROOT, tempDir } from '../cli/helpers.js';

const toy: OptionSchema<Record<string, unknown>> = {
  pass: 'toy',
  options: [
    { key: 'share', type: 'fraction', min: 0, max: 1, exclusiveMax: true, flag: '--toy <share>', help: 'a share' },
    { key: 'count', type: 'integer', min: 1, default: 3, flag: '--toy-count <n>', help: 'a count' },
    { key: 'names', type: 'list', default: [], flag: '--exclude <names...>', sharedFlag: true, help: 'names' },
    { key: 'fast', type: 'boolean', default: true, flag: '--toy-fast', negatable: 'slow', help: 'fast' },
    { key: 'how', type: 'enum', choices: ['a', 'b'], default: 'a', help: 'how' },
  ],
  cli: { triggers: ['toy'], outputSuffix: () => '_toy' },
};

function error(f: () => unknown): MlcError {
  try {
    f();
  } catch (e) {
    return e as MlcError;
  }
  throw new Error('did not throw');
}

describe('option parsing', () => {
  it('fills defaults and leaves options without one undefined', () => {
    expect(parseWithSchema(toy, {})).toEqual({ share: undefined, count: 3, names: [], fast: true, how: 'a' });
  });

  it('reads fractions as numbers or percentages, and checks the range', () => {
    expect(parseWithSchema(toy, { share: 0.25 }).share).toBe(0.25);
    expect(parseWithSchema(toy, { share: '25%' }).share).toBe(0.25);
    expect(parseWithSchema(toy, { share: ' 25 % ' }).share).toBe(0.25);
    expect(error(() => parseWithSchema(toy, { share: '100%' })).message).toMatch(/share must be a number in \[0, 1\)/);
    expect(error(() => parseWithSchema(toy, { share: 'half' })).code).toBe('USAGE');
    // an integer is not a fraction: no percent
    expect(() => parseWithSchema(toy, { count: '50%' })).toThrow(/count must be an integer ≥ 1/);
    expect(() => parseWithSchema(toy, { count: 2.5 })).toThrow(/integer/);
  });

  it('splits every list item on commas', () => {
    expect(parseWithSchema(toy, { names: 'a,b' }).names).toEqual(['a', 'b']);
    expect(parseWithSchema(toy, { names: ['a,b', ' c '] }).names).toEqual(['a', 'b', 'c']);
    expect(() => parseWithSchema(toy, { names: [1] })).toThrow(/list of names/);
  });

  it('refuses unknown keys with a did-you-mean', () => {
    const e = error(() => parseWithSchema(toy, { cuont: 2 }));
    expect(e).toBeInstanceOf(OptionError);
    expect(e.message).toMatch(/unknown option "cuont" \(did you mean "count"\?\)/);
    expect(didYouMean('xyzzy', ['count', 'share'])).toBeUndefined();
    expect(didYouMean('sparsty', ['sparsity', 'scope'])).toBe('sparsity');
  });

  it('a number written as a string is refused, naming the key (as the JSON Schema does); flags are converted', () => {
    const e = error(() => parseWithSchema(toy, { share: '0.9' }));
    expect(e).toBeInstanceOf(OptionError);
    expect(e.message).toBe('toy: share must be a number in [0, 1) (or a percentage) (got "0.9", a string: write 0.9 without quotes)');
    expect(() => parseWithSchema(toy, { count: '3' })).toThrow(/count must be an integer ≥ 1 \(got "3", a string: write 3 without quotes\)/);
    expect(flagsToOptions(toy as OptionSchema<unknown>, { toy: '0.9', toyCount: '3' })).toEqual({ share: 0.9, count: 3 });
    expect(flagsToOptions(toy as OptionSchema<unknown>, { toy: '90%', toyCount: 'x' })).toEqual({ share: '90%', count: 'x' });
  });

  it('booleans and enums are strict', () => {
    expect(parseWithSchema(toy, { fast: false }).fast).toBe(false);
    expect(() => parseWithSchema(toy, { fast: 'false' })).toThrow(/fast must be a boolean, true or false \(got "false", a string: write false without quotes\)/);
    expect(() => parseWithSchema(toy, { fast: 'yes' })).toThrow(/boolean/);
    expect(() => parseWithSchema(toy, { how: 'c' })).toThrow(/how must be one of a, b/);
  });
});

describe('option errors name where the value came from', () => {
  const err = () => error(() => parseWithSchema(toy, { share: 2 }));
  it('from a flag: the flag the user typed', () => {
    expect((explainOptionError(err(), toy as OptionSchema<unknown>, { kind: 'flags' }) as Error).message).toBe('--toy: must be a number in [0, 1) (or a percentage) (got 2)');
  });
  it('from a recipe: the file, step and key', () => {
    const m = (explainOptionError(err(), toy as OptionSchema<unknown>, { kind: 'recipe', file: 'r.json', step: 3 }) as Error).message;
    expect(m).toBe('recipe r.json: step 3 (toy): option "share" must be a number in [0, 1) (or a percentage) (got 2)');
  });
  it('other errors pass through', () => {
    const other = new Error('boom');
    expect(explainOptionError(other, toy as OptionSchema<unknown>, { kind: 'flags' })).toBe(other);
  });
});

describe('every registered pass declares its options once', () => {
  it('has a schema, and its help, flags and JSON Schema list exactly the schema', () => {
    for (const p of passes) {
      expect(p.schema, p.name).toBeDefined();
      const keys = p.schema!.options.map((o) => o.key);
      expect(Object.keys(p.options), p.name).toEqual(keys);
      expect(Object.keys((optionsJsonSchema(p.schema!) as { properties: object }).properties), p.name).toEqual(keys);
      const flags = new Set(p.cli!.flags.map((f) => longFlag(f.flags)));
      for (const o of p.schema!.options) if (o.flag && !o.sharedFlag) expect(flags.has(longFlag(o.flag)), `${p.name} ${o.flag}`).toBe(true);
    }
  });

  it('maps every flag back to its option and its defaults parse', () => {
    for (const p of passes) {
      expect(() => p.parseOptions(undefined), p.name).not.toThrow(/unknown option/);
      const triggers = p.schema!.cli!.triggers;
      expect(p.cli!.fromFlags({}), p.name).toBeUndefined();
      for (const o of p.schema!.options) {
        if (!o.flag) continue;
        const flags: Record<string, unknown> = { [triggers[0]]: true, [flagKey(o.flag)]: 'v' };
        const raw = p.cli!.fromFlags(flags) as Record<string, unknown>;
        expect(raw[o.key], `${p.name} ${o.flag} → ${o.key}`).toBe('v');
      }
    }
  });

  it('percentages and comma lists work the same in every pass', () => {
    expect(passes.find((p) => p.name === 'prune')!.parseOptions({ sparsity: '50%' })).toMatchObject({ sparsity: 0.5 });
    expect(passes.find((p) => p.name === 'lowrank')!.parseOptions({ ratio: '25%', exclude: 'a,b' })).toMatchObject({ ratio: 0.25, exclude: ['a', 'b'] });
    expect(passes.find((p) => p.name === 'distill')!.parseOptions({ studentWidth: '50%', alpha: '70%' })).toMatchObject({ studentWidth: 0.5, alpha: 0.7 });
    expect(passes.find((p) => p.name === 'quantize')!.parseOptions({ exclude: 'a,b' })).toMatchObject({ exclude: ['a', 'b'] });
  });

  it('the recipe JSON Schema has one entry per pass', () => {
    type Steps = { type: string; items: { oneOf: { properties: { pass: { const: string } } }[] } };
    const s = recipeJsonSchema(passes.map((p) => p.schema!)) as { oneOf: unknown[]; $defs: { steps: Steps } };
    expect(s.oneOf).toEqual([
      { $ref: '#/$defs/steps' },
      expect.objectContaining({ type: 'object', properties: { $schema: { type: 'string' }, steps: { $ref: '#/$defs/steps' } }, required: ['steps'] }),
    ]);
    expect(s.$defs.steps.type).toBe('array');
    expect(s.$defs.steps.items.oneOf.map((o) => o.properties.pass.const)).toEqual(passes.map((p) => p.name));
  });
});

describe('mlc passes --json-schema and compress option errors', () => {
  beforeAll(() => ensureBuilt());
  const model = join(ROOT, 'fixtures/mnist-mlp.onnx');

  it('prints the recipe JSON Schema', () => {
    const r = mlc(['passes', '--json-schema']);
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s.$schema).toMatch(/json-schema/);
    expect(s.$defs.steps.items.oneOf.map((o: { properties: { pass: { const: string } } }) => o.properties.pass.const)).toEqual(passes.map((p) => p.name));
  });

  it('mlc.schema.json (shipped in the package) is what mlc passes --json-schema prints (regenerate: node bin/mlc.js passes --json-schema > mlc.schema.json)', () => {
    const r = mlc(['passes', '--json-schema']);
    expect(r.code).toBe(0);
    expect(readFileSync(join(ROOT, 'mlc.schema.json'), 'utf8')).toBe(r.stdout);
  });

  it('a bad flag value names the flag; a bad recipe value names the step and key; nothing is written', () => {
    const dir = tempDir('mlc-options-');
    const out = join(dir, 'x.onnx');
    const a = mlc(['compress', model, '--lowrank', '120%', '-o', out]);
    expect(a.code).toBe(2);
    expect(a.stderr).toMatch(/--lowrank: must be a number in \(0, 1\]/);
    const recipe = join(dir, 'r.json');
    writeFileSync(recipe, JSON.stringify([{ pass: 'prune', options: { sparsity: 0.5 } }, { pass: 'quantize', options: { tpye: 'int8' } }]));
    const b = mlc(['compress', model, '--recipe', recipe, '-o', out]);
    expect(b.code).toBe(2);
    expect(b.stderr).toMatch(/recipe .*r\.json: step 2 \(quantize\): option "tpye" is not an option \(did you mean "type"\?\)/);
    expect(existsSync(out)).toBe(false);
  });
});
