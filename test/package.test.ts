/**
 * What `npm pack` ships: the bundle (lib/: cli, index, data and their chunks, the .d.ts the typed
 * entry points reach), the bin, the recipe JSON Schema, README and LICENSE; nothing of the repo's own.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, normalize } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ROOT, ensureBuilt } from './cli/helpers.js';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
let files: string[];

function packedFiles(): string[] {
  const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
    cwd: ROOT,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  return (JSON.parse(out)[0].files as { path: string }[]).map((f) => f.path);
}

/** Relative imports of a shipped .js / .d.ts file, as package paths. */
function relativeImports(file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  return [...text.matchAll(/(?:from\s+|import\(\s*)['"](\.{1,2}\/[^'"]+)['"]/g)].map((m) => {
    const p = normalize(join(dirname(file), m[1]));
    return file.endsWith('.d.ts') ? p.replace(/\.js$/, '.d.ts') : p;
  });
}

beforeAll(() => {
  ensureBuilt();
  // what `npm pack` runs first (prepack: npm run bundle), on the tsc output ensureBuilt left
  execFileSync(process.execPath, [join(ROOT, 'scripts/bundle.mjs')], { cwd: ROOT, stdio: 'pipe' });
  files = packedFiles();
}, 120_000);

describe('the npm package', () => {
  it('ships the bundle, bin, schema, recipes, README and LICENSE only, in at most 60 files', () => {
    for (const f of ['LICENSE', 'README.md', 'package.json', 'mlc.schema.json', 'bin/mlc.js', 'lib/cli.js', 'lib/index.js', 'lib/data.js', 'lib/types/index.d.ts', 'recipes/deep-compression.json']) {
      expect(files, f).toContain(f);
    }
    const foreign = files.filter((f) => !/^(lib|bin)\//.test(f) && !/^recipes\/[\w-]+\.json$/.test(f) && !['LICENSE', 'README.md', 'package.json', 'mlc.schema.json'].includes(f));
    expect(foreign).toEqual([]);
    expect(files.filter((f) => f.endsWith('.map') || f.endsWith('.onnx') || f.endsWith('.ts') && !f.endsWith('.d.ts'))).toEqual([]);
    expect(files.length).toBeLessThanOrEqual(60);
  });

  it('declares entry points that are all shipped, and every file they import is shipped too', () => {
    const targets = [pkg.bin.mlc, pkg.main, pkg.types, ...Object.values(pkg.exports as Record<string, string | Record<string, string>>).flatMap((e) => (typeof e === 'string' ? [e] : Object.values(e)))];
    for (const t of targets) expect(files, t).toContain(t.replace(/^\.\//, ''));
    for (const f of files.filter((x) => x.startsWith('lib/') && (x.endsWith('.js') || x.endsWith('.d.ts')))) {
      for (const dep of relativeImports(f)) expect(files, `${f} imports ${dep}`).toContain(dep);
    }
  });

  it('runs from the bundle: the bin, the API and the data entry; mlc inspect loads neither onnxruntime nor tfjs', () => {
    const probe = `
      import { createRequire } from 'node:module';
      const api = await import(${JSON.stringify(join(ROOT, 'lib/index.js'))});
      const data = await import(${JSON.stringify(join(ROOT, 'lib/data.js'))});
      if (typeof api.compress !== 'function' || api.passes.length < 4 || typeof data.loadDataset !== 'function') throw new Error('entry exports');
      const heavy = () => Object.keys(createRequire(import.meta.url).cache).filter((k) => /onnxruntime|tensorflow/.test(k));
      if (heavy().length) throw new Error('the API loads ' + heavy()[0]);
      process.argv = [process.argv[0], 'mlc', 'inspect', ${JSON.stringify(join(ROOT, 'fixtures/mnist-mlp.onnx'))}, '--json'];
      await import(${JSON.stringify(join(ROOT, 'lib/cli.js'))});
      process.on('exit', () => { if (heavy().length) { process.stderr.write('inspect loaded ' + heavy()[0]); process.exitCode = 9; } });
    `;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', probe], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ irVersion: 8 });
  });

  it("the README's API example and typed recipe steps type-check under strict against the shipped declarations", () => {
    // a project that depends on the package: node_modules/mlc-onnx is this folder (its exports → lib/types)
    const dir = mkdtempSync(join(tmpdir(), 'mlc-pkg-'));
    mkdirSync(join(dir, 'node_modules'));
    symlinkSync(ROOT, join(dir, 'node_modules/mlc-onnx'));
    symlinkSync(join(ROOT, 'node_modules/@types'), join(dir, 'node_modules/@types'));
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const example = readme.slice(readme.indexOf('## Using mlc from code')).match(/```ts\n([\s\S]*?)```/)![1];
    writeFileSync(join(dir, 'example.mts'), example);
    writeFileSync(
      join(dir, 'steps.mts'),
      [
        "import type { PipelineStep, RecipeStep } from 'mlc-onnx';",
        "export const good: RecipeStep[] = [{ pass: 'prune', options: { sparsity: '90%', exclude: 'fc1*' } }, { pass: 'quantize', options: { type: 'int8', mode: 'static' } }];",
        "// @ts-expect-error: no such pass",
        "export const a: PipelineStep = { pass: 'prun' };",
        "// @ts-expect-error: a typo'd option",
        "export const b: PipelineStep = { pass: 'prune', options: { sparsty: 0.9 } };",
        "// @ts-expect-error: a number as a string",
        "export const c: PipelineStep = { pass: 'prune', options: { sparsity: '0.9' } };",
      ].join('\n'),
    );
    const config = { compilerOptions: { strict: true, module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', noEmit: true, types: ['node'] }, files: ['example.mts', 'steps.mts'] };
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify(config));
    const r = spawnSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', dir], { encoding: 'utf8' });
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('installs without TensorFlow.js (an optional peer, for distillation only) and keeps the bin name mlc', () => {
    expect(pkg.name).not.toBe('mlc'); // taken on the registry by an unrelated package
    expect(pkg.bin).toEqual({ mlc: 'bin/mlc.js' });
    const deps = Object.keys(pkg.dependencies);
    expect(deps.filter((d) => d.startsWith('@tensorflow/'))).toEqual([]);
    for (const d of ['@tensorflow/tfjs', '@tensorflow/tfjs-backend-wasm', '@tensorflow/tfjs-node']) {
      expect(pkg.peerDependenciesMeta[d]?.optional, d).toBe(true);
    }
  });
});
