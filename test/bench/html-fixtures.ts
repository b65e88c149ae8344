/**
 * Inputs of the HTML report tests: a real small MLP (node names with markup in them), quantized
 * and pruned by the passes, its layer statistics, a report with seeded latency samples, and a
 * sensitivity and a tuning report as `mlc sensitivity` / `mlc tune` would give them.
 */
import { buildReport } from '../../src/bench/index.js';
import { layerStats } from '../../src/bench/layers.js';
import type { LatencyMs, Metrics, PassReport, Report, SensitivityReport, TuneReport } from '../../src/bench/types.js';
import { normalRng, seededRng } from '../../src/core/rng.js';
import { cloneModel } from '../../src/ir/clone.js';
import { countParams } from '../../src/ir/params.js';
import type { Model } from '../../src/ir/model.js';
import { buildMlp } from '../../src/models/index.js';
import { silentLogger } from '../../src/passes/pass.js';
import { getPass } from '../../src/passes/registry.js';

/** A node name a model may well hold: HTML must show it, not run it. */
export const NASTY = '<script>alert("x")</script>&<b>';

export function nastyMlp(): Model {
  const m = buildMlp({ features: 32, hidden: [48, 24], classes: 10, seed: 3 });
  const first = m.graph.nodes.find((n) => n.opType === 'Gemm')!;
  first.name = NASTY;
  m.graph.touch();
  return m;
}

export async function runPass(m: Model, name: string, options: Record<string, unknown>): Promise<PassReport> {
  const pass = getPass(name);
  const t0 = performance.now();
  const r = await pass.run(m, pass.parseOptions(options), { log: silentLogger, rng: seededRng(1) } as never);
  return { name, modified: r.modified, ms: performance.now() - t0, stats: r.stats, skipped: r.skipped, ...(r.details ? { details: r.details } : {}) };
}

/** Seeded latency: a log-normal bulk and a few slow runs (a busy machine). */
export function latency(median: number, n: number, seed: number): LatencyMs {
  const rnd = seededRng(seed);
  const gauss = normalRng(rnd);
  const samples = Array.from({ length: n }, () => median * Math.exp(0.15 * gauss()) * (rnd() < 0.02 ? 8 : 1));
  const s = [...samples].sort((a, b) => a - b);
  const q = (p: number) => s[Math.floor((p / 100) * (n - 1))];
  const mean = samples.reduce((a, b) => a + b, 0) / n;
  const sd = Math.sqrt(samples.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1));
  return { p50: q(50), p90: q(90), p99: q(99), mean, cv: sd / mean, p50Ci: [q(47), q(53)], samples };
}

function metrics(m: Model, lat: LatencyMs, accuracy: number, extra: Partial<Metrics> = {}): Metrics {
  const p = countParams(m);
  const bytes = Object.values(p.bytesByDtype).reduce((a, b) => a + b, 0);
  return { sizeBytes: bytes + 900, gzipBytes: Math.round(bytes * 0.8), params: p.params, nonzeroParams: p.nonzeroParams, latencyMs: lat, throughputPerSec: 1000 / lat.p50, accuracy, bytesByDtype: p.bytesByDtype, ...extra };
}

/** An MLP pruned to 50% and quantized to int8, with its report (the figures other than sizes are made up, seeded). */
export async function sampleReport(): Promise<Report> {
  const before = nastyMlp();
  const after = cloneModel(before);
  const passes = [await runPass(after, 'prune', { sparsity: 0.5 }), await runPass(after, 'quantize', { type: 'int8', mode: 'dynamic' })];
  const lb = latency(0.2, 400, 1);
  const la = latency(0.12, 400, 2);
  const report = buildReport({
    input: `models/${NASTY}.onnx`,
    output: 'out/small.onnx',
    passes,
    measured: {
      before: metrics(before, lb, 0.91),
      after: metrics(after, la, 0.905, { agreement: 0.985, cosine: 0.9991, maxAbsError: 0.04 }),
      speedup: lb.p50 / la.p50,
      speedupCi: [1.55, 1.75],
      settings: { threads: 1, batchSize: 64, warmup: 10, runs: 400, samples: 1000, outputName: 'logits', disabledOptimizers: [] },
    },
    gates: { maxAccuracyDrop: 1, minSpeedup: 1.2 },
  });
  report.layers = layerStats(before, after, passes);
  return report;
}

export function sampleSensitivity(): SensitivityReport {
  const rows = ['/layers.0/Gemm', NASTY, '/layers.4/Gemm'].flatMap((node, i) =>
    ['quantize int8', 'prune 0.5', 'lowrank energy 0.9'].map((pass, j) => ({
      node,
      op: 'Gemm',
      pass,
      drop: i === 2 && j === 2 ? null : Number((0.05 + i * 0.4 + j * 0.7).toFixed(2)),
      cosine: 0.999 - 0.001 * (i + j),
      sqnrDb: 38 - 4 * (i + j),
      bytesSaved: 3000 * (3 - i) + 1000 * j,
      gzipBytesSaved: j === 1 ? 2000 * (3 - i) : null,
      latencyShare: 0.3 - 0.05 * i,
    })),
  );
  return { metric: 'accuracy', baseline: 0.91, rows, seconds: 12.4 };
}

export function sampleTune(chosen = true): TuneReport {
  const candidates = [
    { recipe: [{ pass: 'quantize', options: { type: 'int8' } }], objective: 30_000, score: 0.905, heldOutScore: 0.903 },
    { recipe: [{ pass: 'quantize', options: { type: 'int8', exclude: [NASTY] } }], objective: 42_000, score: 0.909, heldOutScore: 0.907 },
    { recipe: [{ pass: 'prune', options: { sparsity: 0.8 } }, { pass: 'quantize', options: { type: 'int4' } }], objective: 9_000, score: 0.85, heldOutScore: null },
    { recipe: [{ pass: 'prune', options: { sparsity: 0.5 } }, { pass: 'quantize', options: { type: 'int8' } }], objective: 21_000, score: 0.902, heldOutScore: 0.9 },
    { recipe: [{ pass: 'lowrank', options: { energy: 0.9 } }], objective: 60_000, score: 0.899, heldOutScore: null },
  ];
  const budget = 0.91 - 0.01;
  const meets = candidates.map((c) => c.score >= budget);
  // the front: no other candidate is smaller and at least as good
  const pareto = candidates.map((c) => !candidates.some((o) => o !== c && o.objective <= c.objective && o.score >= c.score && (o.objective < c.objective || o.score > c.score)));
  const pick = chosen ? 3 : null;
  return {
    objective: 'size',
    metric: 'accuracy',
    budget: { maxAccuracyDrop: 1 },
    baseline: { objective: 120_000, score: 0.91, heldOutScore: 0.908 },
    candidates: candidates.map((c, i) => ({ ...c, meetsBudget: chosen && meets[i], pareto: pareto[i], chosen: i === pick, seconds: 1.5 + i })),
    chosen: pick,
    seconds: 48,
  };
}
