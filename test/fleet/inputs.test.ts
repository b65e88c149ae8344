import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { defaultSuffixes, listModels, outputPath } from '../../src/fleet/inputs.js';
import { passes } from '../../src/passes/registry.js';
import { tempDir } from '../cli/helpers.js';

let root: string;
const suffixes = defaultSuffixes(passes);

beforeAll(() => {
  root = tempDir('mlc-inputs-');
  for (const f of ['m/us/eta.onnx', 'm/us/eta_int8.onnx', 'm/us/eta_int8_copy.onnx', 'm/de/eta.onnx', 'm/de/eta_fp16.onnx', 'm/de/price_q4.onnx', 'out/us/eta_int8.onnx']) {
    mkdirSync(join(root, f, '..'), { recursive: true });
    writeFileSync(join(root, f), '');
  }
});

describe('fleet inputs', () => {
  it('knows the default output suffixes of every pass', () => {
    for (const s of ['_copy', '_compressed', '_int8', '_uint8', '_fp16', '_q4', '_pruned', '_lowrank', '_distilled']) expect(suffixes).toContain(s);
  });

  it('leaves out earlier outputs beside their inputs, but not a model that only looks like one', () => {
    const got = listModels(['m/**/*.onnx'], { suffixes, cwd: root }).map((m) => m.model);
    expect(got).toEqual(['m/de/eta.onnx', 'm/de/price_q4.onnx', 'm/us/eta.onnx']);
    const all = listModels(['m/**/*.onnx'], { suffixes, cwd: root, includeOutputs: true }).map((m) => m.model);
    expect(all).toHaveLength(6);
  });

  it('leaves out matches under the output folder; named paths are always taken, once', () => {
    const got = listModels(['**/*.onnx', 'm/us/eta_int8.onnx', 'm/us/eta.onnx'], { suffixes, cwd: root, outDir: 'out' }).map((m) => m.model);
    expect(got).toEqual(['m/de/eta.onnx', 'm/de/price_q4.onnx', 'm/us/eta.onnx', 'm/us/eta_int8.onnx']);
  });

  it('a glob with no match is a usage error', () => {
    expect(() => listModels(['nope/*.onnx'], { suffixes, cwd: root })).toThrow(/no file matches nope\/\*.onnx/);
  });

  it('--out-dir keeps the path relative to the glob', () => {
    const [de] = listModels(['m/**/*.onnx'], { suffixes, cwd: root });
    expect(outputPath(de, 'm/de/eta_int8.onnx')).toBe('m/de/eta_int8.onnx');
    expect(outputPath(de, 'm/de/eta_int8.onnx', 'dist')).toBe(join('dist', 'de', 'eta_int8.onnx'));
    expect(outputPath({ model: 'a.onnx', base: '' }, 'a_int8.onnx', 'dist')).toBe(join('dist', 'a_int8.onnx'));
  });
});
