/** What `npm pack` ships: the built code, the bin, README and LICENSE; nothing of the repo's own. */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));

function packedFiles(): string[] {
  const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
    cwd: new URL('..', import.meta.url),
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  return (JSON.parse(out)[0].files as { path: string }[]).map((f) => f.path);
}

describe('the npm package', () => {
  it('ships dist, bin, README and LICENSE only, and every entry point it declares', () => {
    const files = packedFiles();
    for (const f of ['LICENSE', 'README.md', 'package.json', 'bin/mlc.js', 'dist/index.js', 'dist/index.d.ts', 'dist/cli/main.js']) {
      expect(files, f).toContain(f);
    }
    const foreign = files.filter((f) => /^(src|test|fixtures|benchmarks|\.ci|docs)\//.test(f) || f.endsWith('.map') || f.endsWith('.onnx'));
    expect(foreign).toEqual([]);
    const targets = [pkg.bin.mlc, pkg.main, pkg.types, ...Object.values(pkg.exports as Record<string, string | Record<string, string>>).flatMap((e) => (typeof e === 'string' ? [e] : Object.values(e)))];
    for (const t of targets) expect(files, t).toContain(t.replace(/^\.\//, ''));
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
