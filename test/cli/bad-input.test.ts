/**
 * Every bad input gets one clear line on stderr naming the file, exit code 2, and leaves no
 * output or temporary file behind.
 */
import { chmodSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { accessSync, constants } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { modelToBytes } from '../../src/onnx/index.js';
import { ensureBuilt, mlc, smallMlp, tempDir, type MlcRun } from './helpers.js';

let dir: string;
let good: string;

function expectOneLineError(r: MlcRun, names: string, code = 2): void {
  expect(r.code, r.stderr).toBe(code);
  expect(r.stdout).toBe('');
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^mlc: /);
  expect(lines[0]).toContain(names);
}

function listing(d: string): string[] {
  return readdirSync(d).sort();
}

beforeAll(() => {
  ensureBuilt();
  dir = tempDir();
  const bytes = modelToBytes(smallMlp());
  good = join(dir, 'good.onnx');
  writeFileSync(good, bytes);
  writeFileSync(join(dir, 'empty.onnx'), new Uint8Array(0));
  // deterministic garbage
  const g = new Uint8Array(4096);
  let s = 7;
  for (let i = 0; i < g.length; i++) g[i] = (s = (s * 1103515245 + 12345) % 2 ** 31) >> 16;
  writeFileSync(join(dir, 'garbage.onnx'), g);
  writeFileSync(join(dir, 'truncated.onnx'), bytes.subarray(0, Math.floor(bytes.length * 0.6)));
  writeFileSync(join(dir, 'model.json.onnx'), JSON.stringify({ irVersion: 8, graph: { node: [] } }));
});

const badInputs: [string, string, RegExp][] = [
  ['missing file', 'missing.onnx', /not found|no such file/i],
  ['empty file', 'empty.onnx', /empty/i],
  ['garbage bytes', 'garbage.onnx', /not a valid ONNX model|corrupt/i],
  ['truncated model', 'truncated.onnx', /truncated|corrupt/i],
  ['JSON file named .onnx', 'model.json.onnx', /JSON/],
];

describe.each(['inspect', 'compress'])('mlc %s on bad input', (command) => {
  it.each(badInputs)('%s', (_label, file, why) => {
    const before = listing(dir);
    const path = join(dir, file);
    const r = mlc([command, path]);
    expectOneLineError(r, path);
    expect(r.stderr).toMatch(why);
    expect(listing(dir)).toEqual(before);
  });

  it.each(badInputs)('%s, with --json', (_label, file) => {
    const r = mlc([command, join(dir, file), '--json']);
    expect(r.code).toBe(2);
    const doc = JSON.parse(r.stdout);
    expect(doc.error.code).toBe('INPUT');
    expect(doc.error.message).toContain(file);
  });
});

describe('mlc compress on bad output', () => {
  it('an output folder that does not exist', () => {
    const before = listing(dir);
    const out = join(dir, 'no-such-folder', 'out.onnx');
    const r = mlc(['compress', good, '-o', out]);
    expectOneLineError(r, out);
    expect(r.stderr).toMatch(/does not exist/);
    expect(listing(dir)).toEqual(before);
  });

  it('-o equal to the input without --force', () => {
    const original = readFileSync(good);
    const before = listing(dir);
    for (const out of [good, join(dir, '.', 'good.onnx')]) {
      const r = mlc(['compress', good, '-o', out]);
      expectOneLineError(r, 'good.onnx');
      expect(r.stderr).toMatch(/overwrite the input/);
    }
    expect(readFileSync(good)).toEqual(original);
    expect(listing(dir)).toEqual(before);
  });

  it('-o equal to the input with --force rewrites it', () => {
    const copy = join(dir, 'forced.onnx');
    writeFileSync(copy, readFileSync(good));
    const r = mlc(['compress', copy, '-o', copy, '--force']);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(copy)).toEqual(readFileSync(good));
  });

  it('an output path that is a folder', () => {
    const sub = join(dir, 'a-folder.onnx');
    mkdirSync(sub, { recursive: true });
    const r = mlc(['compress', good, '-o', sub]);
    expectOneLineError(r, sub);
  });

  // a folder this process cannot write to (root ignores permission bits: use a read-only mount then)
  const unwritable = (() => {
    const d = tempDir('mlc-ro-');
    chmodSync(d, 0o555);
    try {
      accessSync(d, constants.W_OK);
    } catch {
      return d;
    }
    try {
      writeFileSync('/sys/mlc-probe.onnx', '');
    } catch {
      return '/sys';
    }
    return undefined;
  })();

  it.skipIf(!unwritable)('an output folder that is not writable', () => {
    const before = unwritable === '/sys' ? [] : listing(unwritable!);
    const out = join(unwritable!, 'out.onnx');
    const r = mlc(['compress', good, '-o', out]);
    expectOneLineError(r, out);
    if (unwritable !== '/sys') expect(listing(unwritable!)).toEqual(before);
  });
});

describe('mlc compress on bad recipes and flags', () => {
  it('a recipe that is missing, not JSON, not a list, or names an unknown pass', () => {
    const notJson = join(dir, 'r1.json');
    writeFileSync(notJson, '{ nope');
    const notList = join(dir, 'r2.json');
    writeFileSync(notList, '{"pass": "prune"}');
    const unknown = join(dir, 'r3.json');
    writeFileSync(unknown, '[{"pass": "no-such-pass", "options": {}}]');
    const before = listing(dir);
    for (const [recipe, why] of [
      [join(dir, 'missing.json'), /no such file/],
      [notJson, /not valid JSON/],
      [notList, /JSON list/],
      [unknown, /unknown pass "no-such-pass"/],
    ] as const) {
      const r = mlc(['compress', good, '--recipe', recipe]);
      expectOneLineError(r, recipe);
      expect(r.stderr).toMatch(why);
    }
    expect(listing(dir)).toEqual(before);
  });

  it('a recipe with a typo: the step, the key and a did-you-mean; numbers as strings refused', () => {
    const cases: [unknown, string][] = [
      [[{ pass: 'prune', options: { sparsity: 0.5 } }, { pass: 'quantize', option: { type: 'int8' } }], 'step 2 (quantize): "option" is not a key (did you mean "options"?)'],
      [[{ pass: 'prun', options: { sparsity: 0.5 } }], 'step 1: unknown pass "prun" (did you mean "prune"?)'],
      [[{ pass: 'quantize' }, { pass: 'prune', options: { sparsity: '0.9' } }], 'step 2 (prune): option "sparsity" must be a number in [0, 1) (or a percentage) (got "0.9", a string: write 0.9 without quotes)'],
      [{ $schema: 'mlc.schema.json', step: [] }, '"step" is not a key (did you mean "steps"?)'],
    ];
    const before = listing(dir);
    cases.forEach(([doc, why], i) => {
      const recipe = join(dir, `typo${i}.json`);
      writeFileSync(recipe, JSON.stringify(doc));
      const r = mlc(['compress', good, '--recipe', recipe]);
      expectOneLineError(r, recipe);
      expect(r.stderr).toContain(`recipe ${recipe}: ${why}`);
      before.push(`typo${i}.json`);
    });
    expect(listing(dir).sort()).toEqual(before.sort());
  });

  it('a missing data file', () => {
    const before = listing(dir);
    const data = join(dir, 'nope.npz');
    const r = mlc(['compress', good, '--calibration-data', data]);
    expectOneLineError(r, data);
    expect(listing(dir)).toEqual(before);
  });
});
