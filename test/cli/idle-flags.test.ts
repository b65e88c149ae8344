/** Flags that change nothing in a run are named on stderr (a warning each); the run still succeeds. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ROOT, ensureBuilt, mlc, tempDir } from './helpers.js';

const MODEL = join(ROOT, 'fixtures/mnist-mlp.onnx');
const DATA = join(ROOT, 'fixtures/mnist-test.npz');
let dir: string;
const warnings = (stderr: string) => stderr.split('\n').filter((l) => l.startsWith('mlc: warning:'));
const compress = (args: string[]) => {
  const r = mlc(['compress', MODEL, '-o', join(dir, 'out.onnx'), '--no-latency', ...args]);
  expect(r.code, r.stderr).toBe(0);
  return warnings(r.stderr);
};

beforeAll(() => {
  ensureBuilt();
  dir = tempDir();
});

describe('flags that do nothing', () => {
  it('a pass flag without the flag that runs the pass', () => {
    expect(compress(['--prune-scope', 'lamp', '--quantize', 'int8'])).toEqual([
      'mlc: warning: --prune-scope does nothing without --prune or --prune-pattern or --sparse-storage or --prune-schedule (the prune pass does not run)',
    ]);
  });

  it('a pass flag beside --recipe', () => {
    const recipe = join(dir, 'r.json');
    writeFileSync(recipe, JSON.stringify([{ pass: 'quantize', options: { type: 'int8' } }]));
    expect(compress(['--recipe', recipe, '--per-channel'])).toEqual([`mlc: warning: --per-channel does nothing with --recipe (set quantize options in ${recipe})`]);
    expect(compress(['--recipe', recipe, '--exclude', 'fc1*'])).toEqual([`mlc: warning: --exclude does nothing with --recipe (set "exclude" in the steps' options in ${recipe})`]);
  });

  it('--calibration-samples without --calibration-data, and calibration data no pass reads', () => {
    expect(compress(['--quantize', 'int8', '--calibration-samples', '8'])).toEqual(['mlc: warning: --calibration-samples does nothing without --calibration-data']);
    expect(compress(['--quantize', 'int8', '--calibration-data', DATA, '--calibration-samples', '8'])).toEqual([
      'mlc: warning: --calibration-data was not used: static quantization (--quantize-mode static), --prune-reconstruct and --lowrank-data-aware read it',
    ]);
    expect(compress(['--quantize-mode', 'static', '--calibration-data', DATA, '--calibration-samples', '8'])).toEqual([]);
  });

  it('--exclude patterns that match nothing, or with no pass to apply them', () => {
    expect(compress(['--quantize', 'int8', '--exclude', 'fc1*', 'head*', '--json'])).toEqual([
      `mlc: warning: --exclude head* matches no node or weight name of ${MODEL}`,
    ]);
    expect(compress(['--exclude', 'fc1*'])).toEqual(['mlc: warning: --exclude does nothing without a pass flag']);
  });

  it('none for flags that count', () => {
    expect(compress(['--prune', '0.5', '--prune-scope', 'lamp', '--exclude', 'fc3.weight'])).toEqual([]);
  });
});
