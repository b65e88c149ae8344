/** The public API in src/index.ts (what `import ... from 'mlc-onnx'` gives). */
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import * as api from '../../src/index.js';
import type { Pass } from '../../src/index.js';
import { smallMlp, tempDir } from './helpers.js';

let dir: string;
let file: string;

beforeAll(async () => {
  dir = tempDir('mlc-api-');
  file = join(dir, 'm.onnx');
  await api.save(smallMlp(), file);
});

const zeroBias: Pass<Record<string, never>> = {
  name: 'zero-bias',
  describe: 'zeroes fc2.bias',
  options: {},
  parseOptions: () => ({}),
  async run(m) {
    (m.graph.initializers.get('fc2.bias')!.data as Float32Array).fill(0);
    return { modified: true, stats: { zeroed: 3 }, skipped: [] };
  },
};

/** Makes a model onnxruntime rejects (MatMul with a weight of the wrong shape). */
const breaker: Pass<Record<string, never>> = {
  name: 'breaker',
  describe: 'breaks the model',
  options: {},
  parseOptions: () => ({}),
  async run(m) {
    m.graph.initializers.set('fc2.weight', api.Tensor.float32('fc2.weight', [5, 7], new Float32Array(35)));
    return { modified: true, stats: {}, skipped: [] };
  },
};

describe('public API', () => {
  it('exports the IR, load/save/compress/benchmark and the registry', () => {
    for (const k of ['load', 'save', 'compress', 'benchmark', 'passes', 'getPass', 'runPipeline', 'ModelBuilder', 'Graph', 'Tensor', 'cloneModel', 'MlcError']) {
      expect(api, k).toHaveProperty(k);
    }
  });

  it('compress(Model) works on a copy and writes the result', async () => {
    const m = await api.load(file);
    const out = join(dir, 'out.onnx');
    const r = await api.compress(m, [{ pass: zeroBias }], { output: out });
    expect(r.passes).toMatchObject([{ name: 'zero-bias', modified: true, stats: { zeroed: 3 } }]);
    expect(Array.from(m.graph.initializers.get('fc2.bias')!.data as Float32Array)).not.toEqual([0, 0, 0]);
    expect(r.original).toBe(m);
    expect(r.output).toMatchObject({ path: out, bytes: readFileSync(out).length });
    const back = await api.load(out);
    expect(Array.from(back.graph.initializers.get('fc2.bias')!.data as Float32Array)).toEqual([0, 0, 0]);
  });

  it('compress(path) without output writes nothing; with output = input it refuses without force', async () => {
    const r = await api.compress(file, [{ pass: zeroBias }]);
    expect(r.output).toBeUndefined();
    const before = readFileSync(file);
    await expect(api.compress(file, [{ pass: zeroBias }], { output: file })).rejects.toMatchObject({ code: 'USAGE' });
    expect(readFileSync(file)).toEqual(before);
  });

  it('a pass that breaks the model is reported as a bug and nothing is written', async () => {
    const out = join(dir, 'broken.onnx');
    await expect(api.compress(file, [{ pass: zeroBias }, { pass: breaker }], { output: out })).rejects.toMatchObject({
      code: 'PASS_BROKE_MODEL',
      message: expect.stringMatching(/^pass breaker produced a model onnxruntime rejects: /),
    });
    expect(existsSync(out)).toBe(false);
    expect(api.exitCodeFor(new api.MlcError('PASS_BROKE_MODEL', 'x'))).toBe(3);
  });

  it('the last pass is checked on the file it writes: a broken result leaves no file, no temp file and no session', async () => {
    const sub = mkdtempSync(join(dir, 'verify-'));
    const out = join(sub, 'broken.onnx');
    await expect(api.compress(file, [{ pass: breaker }], { output: out, keepSession: {} })).rejects.toMatchObject({ code: 'PASS_BROKE_MODEL' });
    expect(readdirSync(sub)).toEqual([]);
    // a good result: written, and its checked session is handed over for the measurement
    const good = join(sub, 'good.onnx');
    const r = await api.compress(file, [{ pass: zeroBias }], { output: good, keepSession: {} });
    expect(readdirSync(sub)).toEqual(['good.onnx']);
    expect(r.session).toBeDefined();
    await r.session!.release();
  });

  it('errors name the file and carry a code', async () => {
    const junk = join(dir, 'junk.onnx');
    writeFileSync(junk, 'not a model at all, just text');
    await expect(api.load(junk)).rejects.toMatchObject({ code: 'INPUT', message: expect.stringContaining(junk) });
    await expect(api.compress(file, [], { output: join(dir, 'nope', 'x.onnx') })).rejects.toMatchObject({ code: 'OUTPUT' });
    expect(existsSync(join(dir, 'nope'))).toBe(false);
  });
});
