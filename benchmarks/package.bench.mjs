// The npm package: what `npm pack` ships (files, bytes), its installed size (the tarball installed
// into an empty project with ONNXRUNTIME_NODE_INSTALL=skip, npm's cache first (--offline), the
// registry if that fails; the optional tfjs / onnxruntime-web / playwright peers are not
// installed), and the cold start of `mlc inspect` (a new node process per run, wall and CPU time,
// median of RUNS) from the bundle the package ships (lib/) and from the tsc build a clone runs
// (dist/). Targets (issue 10): ≤ 60 files, installed ≤ 320 MB, cold start ≤ 0.5 s.
//
//   npm run build && node benchmarks/package.bench.mjs      (RUNS=20 for more runs; INSTALL=0 skips the install)
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..');
const RUNS = Number(process.env.RUNS ?? 10);
const MODEL = join(ROOT, 'fixtures/mnist-mlp.onnx');

execFileSync(process.execPath, [join(ROOT, 'scripts/bundle.mjs')], { cwd: ROOT, stdio: 'inherit' });
const pack = JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }))[0];
console.log(`npm pack: ${pack.entryCount} files (target ≤ 60), ${(pack.size / 1000).toFixed(1)} kB packed, ${(pack.unpackedSize / 1000).toFixed(1)} kB unpacked`);

/** Bytes of the files under `dir` (what `du -sb` counts: apparent sizes, symlinks as links). */
function apparentBytes(dir) {
  let total = lstatSync(dir).size;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    total += e.isDirectory() ? apparentBytes(p) : lstatSync(p).size;
  }
  return total;
}

if (process.env.INSTALL !== '0') {
  const tmp = mkdtempSync(join(tmpdir(), 'mlc-install-'));
  try {
    const tgz = JSON.parse(execFileSync('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', tmp], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }))[0].filename;
    const project = join(tmp, 'project');
    mkdirSync(project);
    writeFileSync(join(project, 'package.json'), '{ "name": "empty", "version": "1.0.0", "private": true }\n');
    const env = { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip' };
    const install = (extra) => spawnSync('npm', ['install', join(tmp, tgz), '--no-audit', '--no-fund', ...extra], { cwd: project, env, encoding: 'utf8' });
    let r = install(['--offline']);
    let how = 'from the npm cache';
    if (r.status !== 0) {
      r = install([]);
      how = 'from the registry';
    }
    if (r.status !== 0) console.log(`installed size: npm install failed: ${r.stderr.trim().split('\n').pop()}`);
    else {
      const nm = join(project, 'node_modules');
      const bytes = apparentBytes(nm);
      const top = readdirSync(nm)
        .filter((d) => !d.startsWith('.'))
        .map((d) => ({ d, b: apparentBytes(join(nm, d)) }))
        .sort((x, y) => y.b - x.b)
        .slice(0, 3)
        .map(({ d, b }) => `${d} ${(b / 1e6).toFixed(1)} MB`);
      console.log(`installed size (${how}, ONNXRUNTIME_NODE_INSTALL=skip): node_modules ${(bytes / 1e6).toFixed(1)} MB (${(bytes / 2 ** 20).toFixed(1)} MiB; target ≤ 320 MB); largest: ${top.join(', ')}`);
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
/** wall and CPU seconds of one `node <entry> <args>` process */
function once(entry, args) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, [entry, ...args], { encoding: 'utf8' });
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) throw new Error(`${entry} ${args.join(' ')}: exit ${r.status}: ${r.stderr}`);
  return wall;
}
// CPU time of children: process.resourceUsage() does not see them; read it from getrusage via /usr/bin/time when present
function cpu(entry, args) {
  if (!existsSync('/usr/bin/time')) return NaN;
  const r = spawnSync('/usr/bin/time', ['-f', '%U %S', process.execPath, entry, ...args], { encoding: 'utf8' });
  const [u, s] = r.stderr.trim().split('\n').pop().split(' ').map(Number);
  return u + s;
}

const baseline = Array.from({ length: RUNS }, () => once('-e', ['0']));
console.log(`node -e 0 (the floor): median ${median(baseline).toFixed(3)} s wall`);
for (const [label, entry] of [
  ['bundle (lib/cli.js, what the package runs)', join(ROOT, 'lib/cli.js')],
  ['tsc build (dist/cli/main.js, a clone)', join(ROOT, 'dist/cli/main.js')],
]) {
  // interleaved with nothing else: each process is cold (no module cache between runs)
  const walls = [];
  const cpus = [];
  for (let i = 0; i < RUNS; i++) {
    walls.push(once(entry, ['inspect', MODEL]));
    cpus.push(cpu(entry, ['inspect', MODEL]));
  }
  console.log(
    `mlc inspect, ${label}: median ${median(walls).toFixed(3)} s wall (min ${Math.min(...walls).toFixed(3)}, max ${Math.max(...walls).toFixed(3)}), ` +
      `${median(cpus).toFixed(2)} s CPU; ${RUNS} runs (target ≤ 0.5 s)`,
  );
}
