import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { configJsonSchema, fillOutput, readConfigFile, validateConfig } from '../../src/fleet/config.js';
import { getPass, passes } from '../../src/passes/registry.js';
import { tempDir } from '../cli/helpers.js';

const check = (doc: unknown) => validateConfig(doc, 'mlc.config.json', 'cfg', getPass);
const entry = (extra: Record<string, unknown>) => [{ path: 'models/*.onnx', recipe: 'r.json', ...extra }];

describe('mlc.config.json', () => {
  it('reads entries, resolves paths against the config folder and parses budgets with the gates’ units', () => {
    const [e] = check({
      entries: [
        {
          name: 'eta',
          path: ['models/eta/**/*.onnx', 'extra.onnx'],
          passes: [{ pass: 'quantize', options: { type: 'int8' } }],
          data: 'eval.npz',
          budgets: { maxSize: '2MB', maxGzipSize: 1500000, minAgreement: '99%', maxLatency: '5ms', minSpeedup: '1.5x', maxAccuracyDrop: 0.5 },
          output: 'dist/{dir}/{name}.int8.onnx',
        },
      ],
    });
    expect(e.paths).toEqual([join('cfg', 'models/eta/**/*.onnx'), join('cfg', 'extra.onnx')]);
    expect(e.data).toBe(join('cfg', 'eval.npz'));
    expect(e.limits).toEqual({ maxSize: 2e6, maxGzipSize: 1.5e6, minAgreement: 0.99, maxLatency: 5, minSpeedup: 1.5, maxAccuracyDrop: 0.5 });
    expect(e.budgets.maxSize).toBe('2MB');
    expect(e.label).toBe('eta');
    expect(fillOutput(e.output!, 'us', 'eta')).toBe(join('cfg', 'dist/us/eta.int8.onnx'));
  });

  it('names the entry and the key in every error', () => {
    expect(() => check(entry({ budget: {} }))).toThrow('mlc.config.json: entry 1 (models/*.onnx): unknown key "budget" (did you mean "budgets"?)');
    expect(() => check(entry({ maxSize: '1MB' }))).toThrow(/entry 1 \(models\/\*.onnx\): unknown key "maxSize" \(did you mean "budgets": \{"maxSize": …\}\?\)/);
    expect(() => check(entry({ budgets: { maxSise: '1MB' } }))).toThrow(/entry 1 .*budgets.maxSise is not a budget \(did you mean "maxSize"\?\)/);
    expect(() => check(entry({ budgets: { maxSize: '5XB' } }))).toThrow(/entry 1 .*budgets.maxSize: unknown unit "XB"/);
    expect(() => check(entry({ budgets: { minSpeedup: [1] } }))).toThrow(/budgets.minSpeedup must be a number or a string/);
    expect(() => check(entry({ budgets: { minAgreement: 0.99 } }))).toThrow(/budgets.minAgreement needs "data"/);
    expect(() => check([{ path: 'a.onnx' }])).toThrow(/entry 1 \(a.onnx\): give exactly one of "recipe"/);
    expect(() => check([{ path: 'a.onnx', recipe: 'r.json', passes: [] }])).toThrow(/exactly one of/);
    expect(() => check([{ path: 'a.onnx', recipe: 'r.json' }, { recipe: 'r.json' }])).toThrow(/entry 2: "path" must be a file or glob.*not missing/);
    expect(() => check([{ path: 'a.onnx', recipe: 3 }])).toThrow(/entry 1 \(a.onnx\): "recipe" must be a non-empty string, not a number/);
    expect(() => check(entry({ output: 'dist/out.onnx' }))).toThrow(/"output" must contain \{name\}/);
    expect(() => check([])).toThrow(/non-empty list of entries/);
    expect(() => check({ entires: [] })).toThrow(/unknown key "entires"/);
  });

  it('checks inline passes with their option schemas', () => {
    expect(() => check([{ path: 'a.onnx', passes: [{ pass: 'quantize', options: { tpye: 'int8' } }] }])).toThrow(
      /mlc.config.json entry 1 "passes": step 1 \(quantize\): option "tpye" is not an option \(did you mean "type"\?\)/,
    );
    expect(() => check([{ path: 'a.onnx', passes: [{ pass: 'quantise' }] }])).toThrow(/entry 1 "passes": step 1: .*quantise/);
  });

  it('reads .mjs configs (default export, or a function returning it)', async () => {
    const dir = tempDir('mlc-config-');
    writeFileSync(join(dir, 'a.mjs'), 'export default [{ path: "m/*.onnx", recipe: "r.json" }];');
    writeFileSync(join(dir, 'b.mjs'), 'export default async () => ({ entries: [{ path: "m/*.onnx", recipe: "r.json" }] });');
    writeFileSync(join(dir, 'c.mjs'), 'export const x = 1;');
    expect(await readConfigFile(join(dir, 'a.mjs'))).toEqual([{ path: 'm/*.onnx', recipe: 'r.json' }]);
    expect(await readConfigFile(join(dir, 'b.mjs'))).toEqual({ entries: [{ path: 'm/*.onnx', recipe: 'r.json' }] });
    await expect(readConfigFile(join(dir, 'c.mjs'))).rejects.toThrow(/no default export/);
  });

  it('has a JSON Schema whose budgets are the gates', () => {
    const s = configJsonSchema(passes) as { anyOf: { items?: { properties: Record<string, { properties?: Record<string, unknown> }> } }[] };
    const entryProps = s.anyOf[0].items!.properties;
    expect(Object.keys(entryProps)).toEqual(['name', 'path', 'recipe', 'passes', 'data', 'calibrationData', 'budgets', 'output']);
    expect(Object.keys(entryProps.budgets.properties!)).toEqual(['maxSize', 'maxGzipSize', 'maxAccuracyDrop', 'minAccuracy', 'minAgreement', 'maxLatency', 'minSpeedup']);
  });
});
