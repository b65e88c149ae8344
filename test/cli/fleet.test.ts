/** Many models per call: `mlc compress <globs...>`, `mlc check` (config file), sharding and `mlc report merge`, through the built CLI. */
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { FleetDocument } from '../../src/fleet/report.js';
import { saveModel } from '../../src/onnx/index.js';
import { ROOT, ensureBuilt, mlc, smallMlp, tempDir } from './helpers.js';

/** models/us/{eta,fraud}.onnx (small MLPs), models/de/eta.onnx (the 1 MB MNIST MLP), models/de/broken.onnx (not ONNX) */
async function fleetDir(): Promise<string> {
  const dir = tempDir('mlc-fleet-');
  mkdirSync(join(dir, 'models/us'), { recursive: true });
  mkdirSync(join(dir, 'models/de'), { recursive: true });
  await saveModel(smallMlp(1), join(dir, 'models/us/eta.onnx'));
  await saveModel(smallMlp(2), join(dir, 'models/us/fraud.onnx'));
  copyFileSync(join(ROOT, 'fixtures/mnist-mlp.onnx'), join(dir, 'models/de/eta.onnx'));
  writeFileSync(join(dir, 'models/de/broken.onnx'), 'not a model');
  return dir;
}

const run = (dir: string, args: string[], env: Record<string, string> = {}) => mlc(args, { cwd: dir, env: { GITHUB_STEP_SUMMARY: '', GITHUB_ACTIONS: '', ...env } });
const GLOB = 'models/**/*.onnx';
const FLAGS = ['--quantize', 'int8', '--max-size', '100kB', '--no-latency', '--jobs', '2'];

/** What must agree between two runs of the same models (not timings). */
const comparable = (d: FleetDocument) => ({
  exitCode: d.exitCode,
  summary: d.summary,
  models: d.models.map((m) => ({ model: m.model, code: m.code, error: m.error?.code, after: m.report?.after?.sizeBytes, gates: m.report?.gates })),
});

let dir: string;
let whole: FleetDocument;

beforeAll(async () => {
  ensureBuilt();
  dir = await fleetDir();
  const r = run(dir, ['compress', GLOB, ...FLAGS, '--json']);
  expect(r.code, r.stderr).toBe(2);
  whole = JSON.parse(r.stdout);
}, 120_000);

describe('mlc compress <glob> (a fleet run)', () => {
  it('runs every model; a broken one is reported and the rest go on; the exit code is the worst', () => {
    expect(whole.models.map((m) => [m.model, m.code])).toEqual([
      ['models/de/broken.onnx', 2],
      ['models/de/eta.onnx', 1],
      ['models/us/eta.onnx', 0],
      ['models/us/fraud.onnx', 0],
    ]);
    expect(whole.models[0].error?.message).toMatch(/broken.onnx: not a valid ONNX model/);
    expect(whole.models[1].report?.gates).toEqual([expect.objectContaining({ name: 'max-size', passed: false })]);
    expect(whole.summary).toEqual({ models: 4, passed: 2, failedGates: 1, errors: 1 });
    expect(whole.run?.workers).toHaveLength(2);
    for (const f of ['models/de/eta_int8.onnx', 'models/us/eta_int8.onnx', 'models/us/fraud_int8.onnx']) expect(existsSync(join(dir, f)), f).toBe(true);
  });

  it('a later run does not take the earlier outputs as inputs, unless asked', () => {
    const again = run(dir, ['compress', 'models/us/*.onnx', '--quantize', 'int8', '--no-latency', '--jobs', '1']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain('2 models: 2 passed');
    const all = run(dir, ['compress', 'models/us/*.onnx', '--quantize', 'fp16', '--no-latency', '--include-outputs', '--json']);
    const doc = JSON.parse(all.stdout) as FleetDocument;
    expect(doc.models.map((m) => m.model)).toEqual(['models/us/eta.onnx', 'models/us/eta_int8.onnx', 'models/us/fraud.onnx', 'models/us/fraud_int8.onnx']);
  });

  it('--out-dir keeps paths relative to the glob; -o is refused; text mode prints a line per model', () => {
    const r = run(dir, ['compress', 'models/**/eta.onnx', '--quantize', 'int8', '--no-latency', '--out-dir', 'dist']);
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(join(dir, 'dist/de/eta_int8.onnx'))).toBe(true);
    expect(existsSync(join(dir, 'dist/us/eta_int8.onnx'))).toBe(true);
    expect(r.stdout).toMatch(/✓ models\/us\/eta.onnx → dist\/us\/eta_int8.onnx/);
    const o = run(dir, ['compress', GLOB, '-o', 'x.onnx', '--no-latency']);
    expect(o.code).toBe(2);
    expect(o.stderr).toMatch(/--out-dir/);
  });

  it('checks --report and $GITHUB_STEP_SUMMARY before any work', () => {
    const fresh = tempDir('mlc-fleet-pre-');
    mkdirSync(join(fresh, 'm'));
    copyFileSync(join(dir, 'models/us/eta.onnx'), join(fresh, 'm/a.onnx'));
    for (const [args, env] of [
      [['--report', 'no/such/folder/r.json'], {}],
      [[], { GITHUB_STEP_SUMMARY: join(fresh, 'no/such/summary.md') }],
    ] as const) {
      const r = run(fresh, ['compress', 'm/*.onnx', '--quantize', 'int8', '--no-latency', ...args], env);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(/does not exist/);
      expect(existsSync(join(fresh, 'm/a_int8.onnx'))).toBe(false);
    }
    const missing = run(fresh, ['compress', 'nothing/*.onnx', '--no-latency']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/no file matches nothing\/\*.onnx/);
  });

  it('under GitHub Actions: ::error annotations per failed gate and the table in the step summary', () => {
    const summary = join(dir, 'summary.md');
    const r = run(dir, ['compress', 'models/de/eta.onnx', 'models/us/eta.onnx', '--quantize', 'int8', '--max-size', '100kB', '--no-latency'], {
      GITHUB_ACTIONS: 'true',
      GITHUB_STEP_SUMMARY: summary,
    });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^::error file=models\/de\/eta.onnx::max-size 271 kB \(270,\d{3} B\) > 100 kB \(100,000 B\)$/m);
    const md = readFileSync(summary, 'utf8');
    expect(md.match(/^\| `models/gm)).toHaveLength(2);
    expect(md.indexOf('models/de/eta.onnx')).toBeLessThan(md.indexOf('models/us/eta.onnx'));
  });

  it('a single model under GitHub Actions gets its annotation too (on stderr with --json)', () => {
    const args = ['compress', 'models/de/eta.onnx', '--quantize', 'int8', '--max-size', '100kB', '--no-latency', '-o', 'single.onnx'];
    const r = run(dir, args, { GITHUB_ACTIONS: 'true' });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^::error file=models\/de\/eta.onnx::max-size 271 kB/m);
    const j = run(dir, [...args, '--json'], { GITHUB_ACTIONS: 'true' });
    expect(JSON.parse(j.stdout).passed).toBe(false);
    expect(j.stderr).toMatch(/^::error file=models\/de\/eta.onnx::max-size/m);
  });
});

describe('sharding and mlc report merge', () => {
  it('shards read from GitLab and Kubernetes variables, merged, equal the unsharded run model for model', () => {
    const reports = join(dir, 'reports');
    mkdirSync(reports, { recursive: true });
    const envs: Record<string, string>[] = [
      { CI_NODE_INDEX: '1', CI_NODE_TOTAL: '3' },
      { JOB_COMPLETION_INDEX: '1', MLC_SHARD_TOTAL: '3' },
      { CI_NODE_INDEX: '3', CI_NODE_TOTAL: '3' },
    ];
    const sizes: number[] = [];
    envs.forEach((env, i) => {
      const r = run(dir, ['compress', GLOB, ...FLAGS, '--report', `reports/shard-${i + 1}.json`], env);
      expect(r.stderr).toContain(`shard ${i + 1}/3`);
      const doc = JSON.parse(readFileSync(join(reports, `shard-${i + 1}.json`), 'utf8')) as FleetDocument;
      expect(doc.shard).toEqual({ index: i + 1, total: 3 });
      sizes.push(doc.models.length);
    });
    expect(sizes.reduce((a, b) => a + b)).toBe(4);
    const merged = run(dir, ['report', 'merge', 'reports/*.json', '--json', '--markdown', 'merged.md']);
    expect(merged.code).toBe(whole.exitCode);
    expect(comparable(JSON.parse(merged.stdout))).toEqual(comparable(whole));
    const md = readFileSync(join(dir, 'merged.md'), 'utf8');
    expect(md.split('\n').filter((l) => l.startsWith('| `')).map((l) => l.split('`')[1])).toEqual([
      'models/de/broken.onnx',
      'models/de/eta.onnx',
      'models/us/eta.onnx',
      'models/us/fraud.onnx',
    ]);
    // a missing shard is an error, not a pass
    const partial = run(dir, ['report', 'merge', 'reports/shard-1.json', 'reports/shard-3.json']);
    expect(partial.code).toBe(2);
    expect(partial.stderr).toMatch(/shard 2\/3 missing/);
  });

  it('refuses a Kubernetes index without a total, and files that are not fleet reports', () => {
    const r = run(dir, ['compress', GLOB, '--no-latency'], { JOB_COMPLETION_INDEX: '0' });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--shard-total/);
    writeFileSync(join(dir, 'other.json'), '{"input": "x"}');
    const m = run(dir, ['report', 'merge', 'other.json']);
    expect(m.code).toBe(2);
    expect(m.stderr).toMatch(/other.json: not an mlc fleet report/);
  });
});

describe('mlc check (mlc.config.json)', () => {
  it('runs every entry with its recipe and budgets; mlc compress with no model does the same', () => {
    writeFileSync(join(dir, 'int8.json'), JSON.stringify([{ pass: 'quantize', options: { type: 'int8' } }]));
    writeFileSync(
      join(dir, 'mlc.config.json'),
      JSON.stringify([
        { name: 'us', path: 'models/us/*.onnx', recipe: 'int8.json', budgets: { maxSize: '10kB' }, output: 'checked/{dir}/{name}.int8.onnx' },
        { name: 'de', path: 'models/de/eta.onnx', passes: [{ pass: 'quantize', options: { type: 'fp16' } }], budgets: { maxSize: '100kB', maxGzipSize: '1MB' } },
      ]),
    );
    const r = run(dir, ['check', '--json', '--jobs', '2']);
    expect(r.code, r.stderr).toBe(1);
    const doc = JSON.parse(r.stdout) as FleetDocument;
    expect(doc.models.map((m) => [m.model, m.entry, m.code])).toEqual([
      ['models/de/eta.onnx', '#2 de', 1],
      ['models/us/eta.onnx', '#1 us', 0],
      ['models/us/fraud.onnx', '#1 us', 0],
    ]);
    expect(doc.models[0].report?.gates.map((g) => [g.name, g.passed])).toEqual([
      ['max-size', false],
      ['max-gzip-size', true],
    ]);
    expect(existsSync(join(dir, 'checked/eta.int8.onnx'))).toBe(true);
    expect(existsSync(join(dir, 'models/de/eta_fp16.onnx'))).toBe(true);
    const c = run(dir, ['compress', '--json', '--jobs', '2']);
    expect(comparable(JSON.parse(c.stdout))).toEqual(comparable(doc));
    const flags = run(dir, ['compress', '--quantize', 'int8']);
    expect(flags.code).toBe(2);
    expect(flags.stderr).toMatch(/--quantize goes with a model argument/);
  });

  it('names the entry and the key of a bad config, before any work', () => {
    const bad = tempDir('mlc-check-bad-');
    writeFileSync(join(bad, 'mlc.config.json'), JSON.stringify([{ path: '*.onnx', recipe: 'r.json', budgets: { maxSise: '1MB' } }]));
    const r = run(bad, ['check']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/mlc.config.json: entry 1 \(\*.onnx\): budgets.maxSise is not a budget \(did you mean "maxSize"\?\)/);
    const none = run(tempDir('mlc-check-none-'), ['check']);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/no model given and no mlc.config.json or mlc.config.mjs here/);
    const schema = run(bad, ['check', '--json-schema']);
    expect(JSON.parse(schema.stdout).title).toBe('mlc.config.json');
  });
});
