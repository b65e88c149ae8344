/** Spawning the built `mlc` binary in tests; builds dist/ first when it is older than src/. */
import { spawnSync, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DataType, Model, ModelBuilder } from '../../src/ir/index.js';

export const ROOT = resolve(import.meta.dirname, '../..');
export const BIN = join(ROOT, 'bin/mlc.js');

function newestMtime(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return t;
}

/** Build with tsc when dist/cli/main.js is missing or older than any file in src/ (one builder at a time). */
export function ensureBuilt(): void {
  const main = join(ROOT, 'dist/cli/main.js');
  const fresh = () => existsSync(main) && statSync(main).mtimeMs >= newestMtime(join(ROOT, 'src'));
  if (fresh()) return;
  const lock = join(ROOT, 'dist.build-lock');
  for (let i = 0; ; i++) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      // a lock left by a killed run: take it over after 3 minutes
      try {
        if (Date.now() - statSync(lock).mtimeMs > 180_000) rmdirSync(lock);
      } catch {
        // gone already
      }
      if (i > 900) throw new Error(`timed out waiting for another build (remove ${lock} if no build is running)`);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 200);
    }
  }
  try {
    if (fresh()) return;
    try {
      execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', ROOT], { stdio: 'pipe' });
    } catch {
      // type errors elsewhere in the tree still emit JavaScript; the tests below show what works
    }
  } finally {
    rmdirSync(lock);
  }
}

export interface MlcRun {
  code: number;
  stdout: string;
  stderr: string;
}

export function mlc(args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}): MlcRun {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    cwd: opts.cwd ?? ROOT,
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1', ...opts.env },
    timeout: 120_000,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

export function tempDir(prefix = 'mlc-cli-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** A 4-8-3 MLP (Gemm, Relu, MatMul, Add) with some exact zeros in the weights. */
export function smallMlp(seed = 1): Model {
  let s = seed;
  const rnd = () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1;
  const b = new ModelBuilder({ opset: 17, name: 'mlp' });
  const x = b.input('input', DataType.FLOAT, ['N', 4]);
  const w1 = Float32Array.from({ length: 32 }, (_, i) => (i % 4 === 0 ? 0 : rnd()));
  const h = b.op('Relu', [b.op('Gemm', [x, b.init('fc1.weight', [4, 8], w1), b.init('fc1.bias', [8], Array.from({ length: 8 }, rnd))])]);
  const w2 = Float32Array.from({ length: 24 }, rnd);
  const y = b.op('Add', [b.op('MatMul', [h, b.init('fc2.weight', [8, 3], w2)]), b.init('fc2.bias', [3], [0.1, -0.2, 0.3])]);
  b.output(y, DataType.FLOAT, ['N', 3], 'logits');
  return b.build();
}
