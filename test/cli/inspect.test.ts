import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { saveModel } from '../../src/onnx/index.js';
import { TESTDATA, haveTestdata } from '../helpers/testdata.js';
import { ROOT, ensureBuilt, mlc, smallMlp, tempDir } from './helpers.js';

let dir: string;
let model: string;

beforeAll(async () => {
  ensureBuilt();
  dir = tempDir();
  model = join(dir, 'mlp.onnx');
  await saveModel(smallMlp(), model);
});

describe('mlc inspect', () => {
  it('prints the interface, operators and parameters', () => {
    const r = mlc(['inspect', model]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('IR version 8');
    expect(r.stdout).toMatch(/opsets ai\.onnx 17/);
    expect(r.stdout).toMatch(/input\s+float\s+\[N, 4\]/);
    expect(r.stdout).toMatch(/logits\s+float\s+\[N, 3\]/);
    expect(r.stdout).toMatch(/Gemm\s+1/);
    expect(r.stdout).toMatch(/MatMul\s+1/);
    // 32 + 8 + 24 + 3 parameters, 8 of them zero
    expect(r.stdout).toContain('Parameters: 67 (268 B), 11.9% zero');
    expect(r.stdout).toMatch(/fc1\.weight\s+float\s+\[4, 8\]\s+32\s+128 B/);
    // biome-ignore lint/suspicious/noControlCharactersInRegex: no ANSI colour codes
    expect(r.stdout).not.toMatch(/\x1b\[/); // NO_COLOR / not a TTY
  });

  it('--json prints one JSON document with the same facts', () => {
    const r = mlc(['inspect', model, '--json']);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.irVersion).toBe(8);
    expect(doc.opsets).toEqual([{ domain: 'ai.onnx', version: 17 }]);
    expect(doc.producer.name).toBe('mlc');
    expect(doc.inputs).toEqual([{ name: 'input', dtype: 'float', shape: ['N', 4] }]);
    expect(doc.outputs).toEqual([{ name: 'logits', dtype: 'float', shape: ['N', 3] }]);
    expect(doc.ops).toEqual([
      { op: 'Add', count: 1 },
      { op: 'Gemm', count: 1 },
      { op: 'MatMul', count: 1 },
      { op: 'Relu', count: 1 },
    ]);
    expect(doc.nodes).toBe(4);
    expect(doc.parameters.params).toBe(67);
    expect(doc.parameters.nonzeroParams).toBe(59);
    expect(doc.parameters.zeroFraction).toBeCloseTo(8 / 67, 10);
    expect(doc.parameters.byDtype).toEqual({ float: { tensors: 4, elements: 67, bytes: 268 } });
    expect(doc.parameters.largest.map((t: { name: string }) => t.name)).toEqual(['fc1.weight', 'fc2.weight', 'fc1.bias', 'fc2.bias']);
  });

  it('reads models with external data', async () => {
    const ext = join(dir, 'ext.onnx');
    const saved = await saveModel(smallMlp(), ext, { externalData: true, externalThreshold: 64 });
    expect(saved.externalDataFile).toBeDefined();
    const r = mlc(['inspect', ext, '--json']);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.parameters.params).toBe(67);
    expect(doc.parameters.nonzeroParams).toBe(59);
    expect(doc.fileBytes).toBe(statSync(ext).size);
    expect(statSync(saved.externalDataFile!).size).toBeGreaterThanOrEqual(4 * (32 + 24));
  });

  const mnist = join(ROOT, 'fixtures/mnist-mlp.onnx');
  it.skipIf(!existsSync(mnist))('inspects the MNIST MLP fixture', () => {
    const r = mlc(['inspect', mnist, '--json']);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.inputs[0]).toMatchObject({ name: 'input', dtype: 'float' });
    expect(doc.inputs[0].shape[1]).toBe(784);
    expect(doc.outputs[0]).toMatchObject({ name: 'logits', dtype: 'float' });
    // 784·300 + 300 + 300·100 + 100 + 100·10 + 10
    expect(doc.parameters.params).toBe(266610);
  });
});

describe.skipIf(!haveTestdata())('inspect on the ONNX test models', () => {
  it('summarizes every model (subgraphs, sequences, all dtypes) and counts If/Loop bodies', async () => {
    const { loadModel } = await import('../../src/onnx/index.js');
    const { inspectModel } = await import('../../src/cli/inspect.js');
    let n = 0;
    for (const sub of readdirSync(TESTDATA)) {
      for (const d of readdirSync(join(TESTDATA, sub))) {
        const f = join(TESTDATA, sub, d, 'model.onnx');
        if (!existsSync(f)) continue;
        const r = inspectModel(await loadModel(f), f, 0);
        expect(() => JSON.stringify(r)).not.toThrow();
        expect(r.nodes).toBe(r.ops.reduce((s, o) => s + o.count, 0));
        n++;
      }
    }
    console.log(`inspected ${n} ONNX test models`);
    expect(n).toBeGreaterThan(1000);
    const iff = inspectModel(await loadModel(join(TESTDATA, 'node/test_if/model.onnx')), 'test_if', 0);
    expect(iff.ops).toEqual([
      { op: 'Constant', count: 2 },
      { op: 'If', count: 1 },
    ]);
    // the two Constant nodes inside the branches hold 5 floats each
    expect(iff.parameters.params).toBe(10);
  });
});

describe('mlc passes', () => {
  it('lists the registered passes as text and JSON', async () => {
    const { passes } = await import('../../src/passes/registry.js');
    const r = mlc(['passes', '--json']);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.passes.map((p: { name: string }) => p.name)).toEqual(passes.map((p) => p.name));
    for (const p of doc.passes) {
      expect(typeof p.describe).toBe('string');
      expect(typeof p.options).toBe('object');
    }
    const t = mlc(['passes']);
    expect(t.code).toBe(0);
    for (const p of passes) expect(t.stdout).toContain(p.name);
  });
});

describe('global behaviour', () => {
  it('--help and --version exit 0 on stdout', () => {
    const h = mlc(['--help']);
    expect(h.code).toBe(0);
    expect(h.stdout).toContain('inspect');
    expect(h.stdout).toContain('compress');
    const v = mlc(['--version']);
    expect(v.code).toBe(0);
    expect(v.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('usage errors are one line on stderr with exit 2', () => {
    for (const args of [['frobnicate'], ['inspect'], ['inspect', 'x.onnx', '--bogus'], ['compress', 'x.onnx', '--seed', 'abc'], []]) {
      const r = mlc(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stdout).toBe('');
      if (args.length) {
        expect(r.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
        expect(r.stderr).toMatch(/^mlc: /);
      }
    }
  });

  it('usage errors with --json are a JSON error document on stdout', () => {
    const r = mlc(['inspect', 'x.onnx', '--bogus', '--json']);
    expect(r.code).toBe(2);
    expect(JSON.parse(r.stdout)).toEqual({ error: { code: 'USAGE', message: expect.stringContaining('--bogus') } });
  });

  it('--verbose adds the stack to an error', () => {
    const r = mlc(['inspect', join(dir, 'missing.onnx'), '--verbose']);
    expect(r.code).toBe(2);
    expect(r.stderr.split('\n')[0]).toContain('missing.onnx');
    expect(r.stderr).toMatch(/\n\s+at /);
  });
});
