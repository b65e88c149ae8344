/**
 * What `npm pack` ships: the bundle (lib/: cli, index, data and their chunks, the .d.ts the typed
 * entry points reach), the bin, the recipe JSON Schema, README and LICENSE; nothing of the repo's own.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
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
