import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadModel, modelToBytes, saveModel } from '../../src/onnx/index.js';
import { passes } from '../../src/passes/registry.js';
import { createSession } from '../../src/runtime/index.js';
import { ROOT, ensureBuilt, mlc, smallMlp, tempDir } from './helpers.js';

/** `mlc compress ... --no-latency`: timing is the bench tests' business, these are about the pipeline and files */
const compress = (args: string[]) => mlc(['compress', ...args, '--no-latency']);
let dir: string;
let model: string;
const feeds = { input: { dtype: 'float', dims: [3, 4], data: Float32Array.from({ length: 12 }, (_, i) => Math.sin(i + 1)) } };

async function outputs(path: string): Promise<Float32Array> {
  const s = await createSession(path, { intraOpThreads: 1 });
  try {
    return (await s.run(feeds)).logits.data as Float32Array;
  } finally {
    await s.release();
  }
}

beforeAll(async () => {
  ensureBuilt();
  dir = tempDir();
  model = join(dir, 'mlp.onnx');
  await saveModel(smallMlp(), model);
});

describe('mlc compress without pass flags (faithful re-export)', () => {
  it('writes <name>_copy.onnx beside the input with identical outputs and bytes', async () => {
    const r = compress([model]);
    expect(r.code, r.stderr).toBe(0);
    const out = join(dir, 'mlp_copy.onnx');
    expect(r.stdout).toContain(out);
    expect(existsSync(out)).toBe(true);
    expect(readFileSync(out)).toEqual(readFileSync(model));
    expect(await outputs(out)).toEqual(await outputs(model));
  });

  it('--json prints the report only', () => {
    const out = join(dir, 'copy2.onnx');
    const r = compress([model, '-o', out, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc).toMatchObject({ input: model, output: out, passes: [], passed: true });
    const size = readFileSync(model).length;
    expect(doc.before).toMatchObject({ sizeBytes: size, params: 67, nonzeroParams: 59 });
    expect(doc.after).toMatchObject({ sizeBytes: size, params: 67, nonzeroParams: 59 });
  });

  it('overwrites an existing output file (not the input): silently when -o names it, with a warning when mlc named it', () => {
    const out = join(dir, 'existing.onnx');
    writeFileSync(out, 'old contents');
    const r = compress([model, '-o', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/warning/);
    expect(readFileSync(out)).toEqual(readFileSync(model));
    const named = join(dir, 'mlp_copy.onnx');
    writeFileSync(named, 'made by another tool');
    const again = compress([model]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain(`mlc: warning: ${named} exists and will be replaced (choose another name with -o)`);
    expect(readFileSync(named)).toEqual(readFileSync(model));
  });

  it('a self-contained rewrite removes the side file of the external-data model it replaces, and only that', async () => {
    const mnist = join(ROOT, 'fixtures/mnist-mlp.onnx');
    const out = join(dir, 'mnist.onnx');
    const first = compress([mnist, '-o', out, '--external-data', '--quiet']);
    expect(first.code, first.stderr).toBe(0);
    expect(readFileSync(`${out}.data`).length).toBeGreaterThan(1_000_000);
    const second = compress([mnist, '-o', out]);
    expect(second.code, second.stderr).toBe(0);
    expect(existsSync(`${out}.data`)).toBe(false);
    expect(second.stderr).toContain(`removed ${out}.data`);
    expect(readFileSync(out).length).toBeGreaterThan(1_000_000);
    // a .data the replaced model did not reference is someone else's: it stays
    writeFileSync(`${out}.data`, 'not mlc\'s');
    const third = compress([mnist, '-o', out]);
    expect(third.code, third.stderr).toBe(0);
    expect(readFileSync(`${out}.data`, 'utf8')).toBe('not mlc\'s');
  });

  it('--external-data writes a side file and the result still runs', async () => {
    const out = join(dir, 'ext.onnx');
    const r = compress([model, '-o', out, '--external-data', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(`${out}.data`)).toBe(true);
    expect(await outputs(out)).toEqual(await outputs(model));
    // and it reads back
    const again = compress([out, '-o', join(dir, 'ext_inline.onnx')]);
    expect(again.code, again.stderr).toBe(0);
    expect(modelToBytes(await loadModel(join(dir, 'ext_inline.onnx')))).toEqual(modelToBytes(await loadModel(model)));
  });

  it('leaves no temporary files behind', () => {
    expect(readdirSync(dir).filter((f) => !f.endsWith('.onnx') && !f.endsWith('.data'))).toEqual([]);
  });
});

const prune = passes.find((p) => p.name === 'prune');

describe.skipIf(!prune)('mlc compress with a pass', () => {
  it('runs the pass from its flags, names the output after it, and reports it', async () => {
    const r = compress([model, '--prune', '0.5', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout);
    const out = join(dir, 'mlp_pruned.onnx');
    expect(doc.output).toBe(out);
    expect(doc.passes).toHaveLength(1);
    expect(doc.passes[0]).toMatchObject({ name: 'prune', modified: true });
    expect(typeof doc.passes[0].ms).toBe('number');
    expect(doc.after.nonzeroParams).toBeLessThan(doc.before.nonzeroParams);
    const o = await outputs(out);
    expect(o).toHaveLength(9);
    expect(o).not.toEqual(await outputs(model));
  });

  it('runs the same pipeline from a recipe file', () => {
    const recipe = join(dir, 'recipe.json');
    writeFileSync(recipe, JSON.stringify([{ pass: 'prune', options: { sparsity: 0.5 } }]));
    const out = join(dir, 'from-recipe.onnx');
    const r = compress([model, '--recipe', recipe, '-o', out, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).passes[0]).toMatchObject({ name: 'prune', modified: true });
    expect(readFileSync(out)).toEqual(readFileSync(join(dir, 'mlp_pruned.onnx')));
    // the form an editor checks against the shipped schema: {"$schema": …, "steps": [...]}
    writeFileSync(recipe, JSON.stringify({ $schema: join(ROOT, 'mlc.schema.json'), steps: [{ pass: 'prune', options: { sparsity: 0.5 } }] }));
    const again = compress([model, '--recipe', recipe, '-o', join(dir, 'from-recipe2.onnx')]);
    expect(again.code, again.stderr).toBe(0);
    expect(readFileSync(join(dir, 'from-recipe2.onnx'))).toEqual(readFileSync(out));
  });

  it('prints a text summary with the pass and sizes', () => {
    const r = compress([model, '--prune', '0.5', '-o', join(dir, 'text.onnx')]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/prune\W+modified/);
    expect(r.stdout).toMatch(/size\b.*\d+ B/);
    expect(r.stdout).toMatch(/params\b.*67/);
  });

  it('rejects bad pass options, and flags together with a recipe, with exit 2 and no output', () => {
    const before = readdirSync(dir).sort();
    const bad = compress([model, '--prune', '1.5']);
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    const both = compress([model, '--prune', '0.5', '--recipe', join(dir, 'recipe.json')]);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/either --recipe or pass flags/);
    expect(readdirSync(dir).sort()).toEqual(before);
  });
});

const mnist = join(ROOT, 'fixtures/mnist-mlp.onnx');
describe.skipIf(!existsSync(mnist))('the MNIST MLP fixture', () => {
  it('re-exports faithfully', async () => {
    const out = join(dir, 'mnist_copy.onnx');
    const r = compress([mnist, '-o', out]);
    expect(r.code, r.stderr).toBe(0);
    const x = { input: { dtype: 'float', dims: [2, 784], data: Float32Array.from({ length: 1568 }, (_, i) => (i % 7) / 7) } };
    const run = async (p: string) => {
      const s = await createSession(p, { intraOpThreads: 1 });
      try {
        return (await s.run(x)).logits.data;
      } finally {
        await s.release();
      }
    };
    expect(await run(out)).toEqual(await run(mnist));
  });

  const names = passes.map((p) => p.name);
  it.skipIf(!names.includes('prune') || !names.includes('quantize'))('runs several passes in canonical order into <name>_compressed.onnx', async () => {
    const copy = join(dir, 'mnist.onnx');
    writeFileSync(copy, readFileSync(mnist));
    const r = compress([copy, '--quantize', 'int8', '--prune', '0.5', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.output).toBe(join(dir, 'mnist_compressed.onnx'));
    expect(doc.passes.map((p: { name: string; modified: boolean }) => [p.name, p.modified])).toEqual([
      ['prune', true],
      ['quantize', true],
    ]);
    expect(doc.after.sizeBytes).toBeLessThan(doc.before.sizeBytes / 3);
    const s = await createSession(doc.output, { intraOpThreads: 1 });
    try {
      const o = await s.run({ input: { dtype: 'float', dims: [1, 784], data: new Float32Array(784).fill(0.5) } });
      expect(o.logits.dims).toEqual([1, 10]);
    } finally {
      await s.release();
    }
  });
});

describe.skipIf(!existsSync(mnist))('--calibration-samples', () => {
  const train = join(ROOT, 'fixtures/mnist-train.npz');
  const staticQ = (extra: string[], out: string) =>
    compress([mnist, '-o', join(dir, out), '--quantize', 'int8', '--quantize-mode', 'static', '--calibration-data', train, ...extra]);

  it('calibrates on only the first n samples', () => {
    expect(staticQ(['--calibration-samples', '200'], 'c200.onnx').code).toBe(0);
    expect(staticQ(['--calibration-samples', '200'], 'c200b.onnx').code).toBe(0);
    expect(staticQ(['--calibration-samples', '2'], 'c2.onnx').code).toBe(0);
    const bytes = (f: string) => readFileSync(join(dir, f));
    expect(bytes('c200.onnx').equals(bytes('c200b.onnx'))).toBe(true);
    expect(bytes('c200.onnx').equals(bytes('c2.onnx'))).toBe(false);
  });

  it('rejects a count that is not a positive integer', () => {
    const r = staticQ(['--calibration-samples', '0'], 'c0.onnx');
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(existsSync(join(dir, 'c0.onnx'))).toBe(false);
  });
});
