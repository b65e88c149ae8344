// Latency gates you can trust in CI: a pair of models whose true speedup is about 1.6x (two MLPs of
// 512-wide Gemm layers, 8 against 5, from src/models), run through `mlc bench A --compare B` again
// and again with --min-speedup 1.5 (should pass every time) and --min-speedup 2.0 (should fail
// every time). The gate is judged on the 95% interval of the speedup (src/bench/latency.ts): it
// fails only when the whole interval is below the limit, and an interval across the limit is
// "inconclusive" (a warning, counted as passed). Printed: pass / fail / inconclusive counts per
// limit, how the point estimate alone would have decided, the spread of the point estimates and
// the interval widths. Run after `npm run build`:
//
//   node benchmarks/latency-gate.bench.mjs          20 runs per limit (about 7 minutes)
//   RUNS=5 node benchmarks/latency-gate.bench.mjs
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const dist = new URL('../dist/', import.meta.url);
const imp = (p) => import(new URL(p, dist).href);
const root = fileURLToPath(new URL('..', import.meta.url));
const M = await imp('models/index.js');
const { saveModel } = await imp('onnx/index.js');

const RUNS = Number(process.env.RUNS ?? 20);
const dir = mkdtempSync(join(tmpdir(), 'mlc-latgate-'));
try {
  const a = join(dir, 'slow.onnx');
  const b = join(dir, 'fast.onnx');
  await saveModel(M.buildMlp({ features: 512, hidden: Array(7).fill(512), classes: 512, seed: 1 }), a);
  await saveModel(M.buildMlp({ features: 512, hidden: Array(4).fill(512), classes: 512, seed: 2 }), b);
  console.log(`models: 8 vs 5 Gemm layers of 512x512 (work ratio 1.6); ${RUNS} runs per limit, load average ${loadavg()[0].toFixed(2)}`);
  const points = [];
  const widths = [];
  for (const limit of [1.5, 2.0]) {
    const count = { passed: 0, failed: 0, inconclusive: 0, other: 0, pointPassed: 0 };
    const t0 = performance.now();
    for (let i = 0; i < RUNS; i++) {
      const r = spawnSync(process.execPath, [join(root, 'bin/mlc.js'), 'bench', a, '--compare', b, '--min-speedup', String(limit), '--json'], {
        encoding: 'utf8',
        env: { ...process.env, NO_COLOR: '1', GITHUB_STEP_SUMMARY: '' },
      });
      let doc;
      try {
        doc = JSON.parse(r.stdout);
      } catch {
        count.other++;
        console.log(`  run ${i + 1}: exit ${r.status}: ${r.stderr.trim().split('\n').pop()}`);
        continue;
      }
      const g = doc.gates[0];
      if (g.inconclusive) count.inconclusive++;
      else if (g.passed) count.passed++;
      else count.failed++;
      if (doc.speedup >= limit) count.pointPassed++;
      points.push(doc.speedup);
      if (doc.speedupCi) widths.push((doc.speedupCi[1] - doc.speedupCi[0]) / 2 / doc.speedup);
    }
    const s = ((performance.now() - t0) / 1000 / RUNS).toFixed(1);
    console.log(
      `--min-speedup ${limit}: passed ${count.passed}, failed ${count.failed}, inconclusive ${count.inconclusive}${count.other ? `, no report ${count.other}` : ''} of ${RUNS} (${s} s per run); the point estimate alone would pass ${count.pointPassed} of ${RUNS}`,
    );
  }
  points.sort((x, y) => x - y);
  widths.sort((x, y) => x - y);
  const pct = (v) => `${(v * 100).toFixed(1)}%`;
  console.log(`point estimates of the speedup: ${points[0].toFixed(3)}x – ${points[points.length - 1].toFixed(3)}x, median ${points[Math.floor(points.length / 2)].toFixed(3)}x`);
  if (widths.length) console.log(`95% interval half-widths: ${pct(widths[0])} – ${pct(widths[widths.length - 1])} of the speedup (target ±3%, or the 15 s time box)`);
  console.log('targets: --min-speedup 1.5 passes 20 of 20, --min-speedup 2.0 fails 20 of 20');
} finally {
  rmSync(dir, { recursive: true, force: true });
}
