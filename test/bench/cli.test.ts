/**
 * `mlc bench` and the measurement part of `mlc compress`, end to end (spawning the built CLI).
 * Latency runs are tiny (--runs 5 --warmup 1); nothing here asserts on timings.
 */
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { writeNpy, writeNpz } from '../../src/data/index.js';
import { DataType } from '../../src/ir/dtype.js';
import { ModelBuilder } from '../../src/ir/builder.js';
import { Tensor } from '../../src/ir/tensor.js';
import { encodeTensorProto, saveModel } from '../../src/onnx/index.js';
import { ensureBuilt, mlc, smallMlp, tempDir } from '../cli/helpers.js';

const dir = tempDir('mlc-bench-cli-');
const model = join(dir, 'mlp.onnx');
const other = join(dir, 'mlp2.onnx');
const data = join(dir, 'data.npz');
/** labels = the first model's own predictions: its accuracy is 100%, the second model's is lower */
const teacherData = join(dir, 'teacher.npz');
const N = 300;
const FAST = ['--runs', '5', '--warmup', '1'];

const x = Float32Array.from({ length: N * 4 }, (_, i) => Math.sin(i * 0.37) * 2);
const labels = BigInt64Array.from({ length: N }, (_, i) => BigInt((i * 7) % 3));

/** Top-1 accuracy with a plain onnxruntime-node loop, one sample at a time (independent of src/bench). */
async function independentAccuracy(path: string): Promise<number> {
  const s = await ort.InferenceSession.create(path, { intraOpNumThreads: 1 });
  let correct = 0;
  for (let i = 0; i < N; i++) {
    const out = await s.run({ input: new ort.Tensor('float32', x.slice(i * 4, i * 4 + 4), [1, 4]) });
    const v = Array.from(out.logits.data as Float32Array);
    if (v.indexOf(Math.max(...v)) === Number(labels[i])) correct++;
  }
  await s.release();
  return correct / N;
}

beforeAll(async () => {
  ensureBuilt();
  await saveModel(smallMlp(1), model);
  await saveModel(smallMlp(2), other);
  await writeNpz(data, { input: { dtype: 'float', dims: [N, 4], data: x }, labels: { dtype: 'int64', dims: [N], data: labels } });
  const s = await ort.InferenceSession.create(model, { intraOpNumThreads: 1 });
  const out = (await s.run({ input: new ort.Tensor('float32', x, [N, 4]) })).logits.data as Float32Array;
  await s.release();
  const own = BigInt64Array.from({ length: N }, (_, i) => {
    const v = Array.from(out.subarray(i * 3, i * 3 + 3));
    return BigInt(v.indexOf(Math.max(...v)));
  });
  await writeNpz(teacherData, { input: { dtype: 'float', dims: [N, 4], data: x }, labels: { dtype: 'int64', dims: [N], data: own } });
});

const json = (stdout: string) => JSON.parse(stdout);

describe('mlc bench', () => {
  it('one model: JSON report with size, latency, throughput and an accuracy that matches a plain ORT loop', async () => {
    const r = mlc(['bench', model, '--data', data, '--json', ...FAST, '--batch-size', '32']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const doc = json(r.stdout);
    expect(doc.input).toBe(model);
    expect(doc.output).toBeNull();
    expect(doc.after).toBeNull();
    expect(doc.before.sizeBytes).toBe(readFileSync(model).length);
    expect(doc.before.params).toBe(32 + 8 + 24 + 3);
    expect(doc.before.nonzeroParams).toBe(32 + 8 + 24 + 3 - 8);
    expect(doc.before.latencyMs.p50).toBeGreaterThan(0);
    expect(doc.before.throughputPerSec).toBeGreaterThan(0);
    expect(doc.settings).toMatchObject({ threads: 1, batchSize: 32, runs: 5, samples: N, outputName: 'logits' });
    expect(doc.before.accuracy).toBe(await independentAccuracy(model));
    expect(doc.gates).toEqual([]);
    expect(doc.passed).toBe(true);
  });

  it('two models: every gate passes when loose (exit 0) and fails when tight (exit 1, one line each)', async () => {
    const base = ['bench', model, '--compare', other, '--data', teacherData, ...FAST];
    const loose = mlc([
      ...base,
      ...['--max-size', '1MB', '--max-gzip-size', '1MiB', '--max-accuracy-drop', '100', '--min-accuracy', '0'],
      ...['--min-agreement', '0%', '--max-latency', '10s', '--min-speedup', '0.001x', '--json'],
    ]);
    expect(loose.code).toBe(0);
    const doc = json(loose.stdout);
    expect(doc.gates.map((g: { name: string }) => g.name)).toEqual([
      'max-size',
      'max-gzip-size',
      'max-accuracy-drop',
      'min-accuracy',
      'min-agreement',
      'max-latency',
      'min-speedup',
    ]);
    expect(doc.gates.every((g: { passed: boolean }) => g.passed)).toBe(true);
    expect(doc.before.accuracy).toBe(1);
    expect(doc.after.accuracy).toBeLessThan(1);
    expect(doc.after.agreement).toBe(doc.after.accuracy); // labels are the first model's predictions
    expect(doc.after.agreement).toBeGreaterThanOrEqual(0);
    expect(doc.after.cosine).toBeLessThanOrEqual(1);
    expect(doc.after.maxAbsError).toBeGreaterThan(0);
    expect(doc.speedup).toBeGreaterThan(0);

    const report = join(dir, 'report.md');
    const summary = join(dir, 'summary.md');
    writeFileSync(summary, '# earlier step\n');
    const tight = mlc(
      [
        ...base,
        ...['--max-size', '10B', '--max-gzip-size', '10', '--max-accuracy-drop', '0', '--min-accuracy', '100%'],
        ...['--min-agreement', '1.0', '--max-latency', '1ns', '--min-speedup', '1000', '--report', report],
      ],
      { env: { GITHUB_STEP_SUMMARY: summary } },
    );
    expect(tight.code).toBe(1);
    const lines = tight.stderr.trim().split('\n');
    // one line per failed gate, and nothing else
    expect(lines).toHaveLength(7);
    for (const l of lines) expect(l).toMatch(/^mlc: gate [a-z-]+ failed: actual .+ [<>] limit .+$/);
    expect(tight.stderr).toMatch(/gate max-size failed: actual \d+ B \(\d+ B\) > limit 10 B \(10 B\)/);
    expect(tight.stderr).toMatch(/gate max-accuracy-drop failed: actual [\d.]+ points > limit 0 points/);
    expect(tight.stderr).toMatch(/gate min-accuracy failed: actual [\d.]+% < limit 100%/);
    expect(tight.stderr).toMatch(/gate max-latency failed: actual .* > limit 0\.001 µs/);
    expect(tight.stderr).toMatch(/gate min-speedup failed: actual [\d.]+x < limit 1000x/);
    // the table still goes to stdout, the report is still written
    expect(tight.stdout).toMatch(/before\s+after\s+change/);
    expect(tight.stdout).toContain('gates: FAILED');
    const md = readFileSync(report, 'utf8');
    expect(md).toContain('| | before | after | change |');
    expect(md).toContain('**Gates: FAILED ❌**');
    const sum = readFileSync(summary, 'utf8');
    expect(sum.startsWith('# earlier step\n')).toBe(true);
    expect(sum).toContain(md.trim());
  });

  it('gate flags: bad values and unmeasurable gates are usage errors (exit 2)', () => {
    const bad = mlc(['bench', model, '--max-size', '5 parsecs']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--max-size: unknown unit "parsecs"/);
    const nolabels = join(dir, 'nolabels.npz');
    writeFileSync(nolabels, ''); // replaced below
    return (async () => {
      await writeNpz(nolabels, { input: { dtype: 'float', dims: [2, 4], data: new Float32Array(8) } });
      const r = mlc(['bench', model, '--data', nolabels, '--min-accuracy', '0.5', '--no-latency']);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/--min-accuracy needs --data with labels/);
      const r2 = mlc(['bench', model, '--min-speedup', '1.1']);
      expect(r2.code).toBe(2);
      expect(r2.stderr).toMatch(/--min-speedup needs two models/);
    })();
  });

  it('reads deflated .npz, .npy and test_data_set folders too', async () => {
    const deflated = join(dir, 'deflated.npz');
    await writeNpz(deflated, { input: { dtype: 'float', dims: [N, 4], data: x }, labels: { dtype: 'int64', dims: [N], data: labels } }, { compress: true });
    const r0 = mlc(['bench', model, '--data', deflated, '--json', '--no-latency']);
    expect(r0.code).toBe(0);
    expect(json(r0.stdout).before.accuracy).toBe(await independentAccuracy(model));
    const npy = join(dir, 'x.npy');
    await writeNpy(npy, { dtype: 'float', dims: [5, 4], data: x.slice(0, 20) });
    const r1 = mlc(['bench', model, '--compare', other, '--data', npy, '--json', '--no-latency']);
    expect(r1.code).toBe(0);
    expect(json(r1.stdout)).toMatchObject({ before: { accuracy: null }, settings: { samples: 5 } });
    const folder = join(dir, 'test_data_set_0');
    mkdirSync(folder);
    writeFileSync(join(folder, 'input_0.pb'), encodeTensorProto(Tensor.float32('input', [3, 4], x.slice(0, 12))));
    const r2 = mlc(['bench', model, '--compare', other, '--data', folder, '--json', '--no-latency']);
    expect(r2.code).toBe(0);
    const d = json(r2.stdout);
    expect(d.settings.samples).toBe(3);
    expect(d.after.agreement).not.toBeNull();
  });

  it('bad data files get clear errors naming the file (exit 2)', async () => {
    const garbage = join(dir, 'garbage.npz');
    writeFileSync(garbage, 'not a zip at all');
    const wrongName = join(dir, 'wrong-name.npz');
    await writeNpz(wrongName, { pixels: { dtype: 'float', dims: [2, 4], data: new Float32Array(8) } });
    const wrongType = join(dir, 'wrong-type.npz');
    await writeNpz(wrongType, { input: { dtype: 'double', dims: [2, 4], data: new Float64Array(8) } });
    const wrongShape = join(dir, 'wrong-shape.npz');
    await writeNpz(wrongShape, { input: { dtype: 'float', dims: [2, 5], data: new Float32Array(10) } });
    const cases: [string, RegExp][] = [
      [join(dir, 'missing.npz'), /missing\.npz.*(no such file|not found|does not exist)/i],
      [garbage, /garbage\.npz/],
      [wrongName, /wrong-name\.npz.*input/],
      [wrongType, /wrong-type\.npz.*(float|double)/],
      [wrongShape, /wrong-shape\.npz.*4/],
    ];
    for (const [file, re] of cases) {
      const r = mlc(['bench', model, '--data', file, '--no-latency']);
      expect(r.code, file).toBe(2);
      expect(r.stderr, file).toMatch(re);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
  });

  it('dynamic dims: a sequence-like name gets 128; an unknown dim skips latency with one warning naming --shape; --shape sets it', async () => {
    // (issue 17: this used to exit 2 "give the shape with --shape"; measurements now take what the model says)
    const b = new ModelBuilder();
    const inp = b.input('seq', DataType.FLOAT, ['batch', 'len', 4]);
    b.output(b.op('ReduceMean', [b.op('Relu', [inp])], { keepdims: 0, axes: [1] }, {}), DataType.FLOAT, ['batch', 4], 'out');
    const m = b.build();
    m.opsetImports = [{ domain: '', version: 13 }];
    const p = join(dir, 'dyn.onnx');
    await saveModel(m, p);
    const r = mlc(['bench', p, '--json', ...FAST]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    expect(json(r.stdout).settings.inputShapes).toEqual({ seq: [1, 128, 4] });
    expect(json(r.stdout).before.latencyMs.p50).toBeGreaterThan(0);

    const b2 = new ModelBuilder();
    const img = b2.input('img', DataType.FLOAT, ['batch', 'rows', 4]);
    b2.output(b2.op('ReduceMean', [b2.op('Relu', [img])], { keepdims: 0, axes: [1] }, {}), DataType.FLOAT, ['batch', 4], 'out');
    const m2 = b2.build();
    m2.opsetImports = [{ domain: '', version: 13 }];
    const p2 = join(dir, 'dyn2.onnx');
    await saveModel(m2, p2);
    const w = mlc(['bench', p2, '--json', ...FAST]);
    expect(w.code, w.stderr).toBe(0);
    const lines = w.stderr.trimEnd().split('\n');
    expect(lines, w.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(/warning: latency not measured: input "img" \[batch, rows, 4\] has dynamic "rows" \(dimension 1\); give it with --shape img=1,N,4/);
    const doc = json(w.stdout);
    expect(doc.before.latencyMs).toBeNull();
    expect(doc.before.sizeBytes).toBeGreaterThan(0);
    expect(doc.settings.notMeasured).toMatch(/--shape img=/);
    // a latency gate that cannot be evaluated fails (exit 1), it does not pass silently
    const gated = mlc(['bench', p2, '--max-latency', '1s', ...FAST]);
    expect(gated.code).toBe(1);
    expect(gated.stderr).toMatch(/gate max-latency failed: actual not measured/);

    const ok = mlc(['bench', p2, '--shape', 'img=1,7,4', '--json', ...FAST]);
    expect(ok.code).toBe(0);
    expect(json(ok.stdout).before.latencyMs.p50).toBeGreaterThan(0);
    expect(json(ok.stdout).settings.inputShapes).toEqual({ img: [1, 7, 4] });
  });
});

describe('mlc compress with measurements', () => {
  it('prints the before/after report; --json gives the documented document; a failed gate still writes the model', () => {
    const out = join(dir, 'copy.onnx');
    const r = mlc(['compress', model, '-o', out, '--data', data, '--json', ...FAST, '--max-size', '1', '--min-agreement', '1']);
    expect(r.code).toBe(1);
    expect(existsSync(out)).toBe(true);
    const doc = json(r.stdout);
    expect(Object.keys(doc)).toEqual(['input', 'output', 'passes', 'before', 'after', 'speedup', 'settings', 'gates', 'passed']);
    expect(doc.output).toBe(out);
    // a plain re-export: same outputs
    expect(doc.after.agreement).toBe(1);
    expect(doc.after.maxAbsError).toBe(0);
    expect(doc.after.accuracy).toBe(doc.before.accuracy);
    expect(doc.gates).toEqual([
      { name: 'max-size', limit: 1, actual: doc.after.sizeBytes, passed: false },
      { name: 'min-agreement', limit: 1, actual: 1, passed: true },
    ]);
    expect(r.stderr).toMatch(/^mlc: gate max-size failed: actual .* > limit 1 B \(1 B\)$/m);

    const t = mlc(['compress', model, '-o', out, '--no-latency']);
    expect(t.code).toBe(0);
    expect(t.stdout).toMatch(/size\s+\S+ \S+\s+\S+ \S+\s+/);
    expect(t.stdout).not.toContain('latency p50');
  });
  it('an unreadable --data fails before any work (exit 2, nothing written)', () => {
    const out = join(dir, 'never.onnx');
    const r = mlc(['compress', model, '-o', out, '--data', join(dir, 'nope.npz')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/nope\.npz/);
    expect(existsSync(out)).toBe(false);
  });
});

describe('--disable-optimizers', () => {
  beforeAll(() => ensureBuilt());
  it('records the turned-off onnxruntime transformers in the settings ([] by default)', async () => {
    await saveModel(smallMlp(3), join(dir, 'opt.onnx'), { force: true });
    const plain = mlc(['bench', join(dir, 'opt.onnx'), ...FAST, '--json']);
    expect(plain.code, plain.stderr).toBe(0);
    expect(JSON.parse(plain.stdout).settings.disabledOptimizers).toEqual([]);
    const off = mlc(['bench', join(dir, 'opt.onnx'), ...FAST, '--json', '--disable-optimizers', 'SkipLayerNormFusion, GeluFusion']);
    expect(off.code, off.stderr).toBe(0);
    expect(JSON.parse(off.stdout).settings.disabledOptimizers).toEqual(['SkipLayerNormFusion', 'GeluFusion']);
  });
});
