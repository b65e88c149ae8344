import { describe, expect, it } from 'vitest';
import { buildReport } from '../../src/bench/index.js';
import { reportDocument, reportToJson, reportToMarkdown, reportToText, type Metrics, type PassReport } from '../../src/bench/report.js';

const m = (over: Partial<Metrics> = {}): Metrics => ({
  sizeBytes: 1_070_000,
  gzipBytes: 990_000,
  params: 266_610,
  nonzeroParams: 266_000,
  latencyMs: { p50: 0.2, p90: 0.25, p99: 0.4, mean: 0.21, cv: 0.12 },
  throughputPerSec: 12_345.678,
  accuracy: 0.976,
  bytesByDtype: { float: 1_066_440 },
  ...over,
});

const measured = {
  before: m(),
  after: m({
    sizeBytes: 271_681,
    gzipBytes: 230_000,
    bytesByDtype: { int8: 266_200, float: 1640 },
    latencyMs: { p50: 0.1, p90: 0.12, p99: 0.2, mean: 0.11, cv: 0.1 },
    throughputPerSec: 20_000,
    accuracy: 0.975,
    agreement: 0.998,
    cosine: 0.99995,
    maxAbsError: 0.0123,
  }),
  speedup: 2,
  settings: { threads: 1, batchSize: 64, warmup: 10, runs: 50, samples: 2000, outputName: 'logits', disabledOptimizers: [] },
};

const passes: PassReport[] = [
  { name: 'quantize', modified: true, ms: 41.2, stats: { quantized: 3 }, skipped: [{ node: 'fc3', reason: 'excluded' }] },
  { name: 'prune', modified: true, ms: 10, stats: {}, skipped: [], details: [{ weight: 'fc1.weight', dims: [784, 300], sparsity: 0.80004 }] },
];

describe('report JSON', () => {
  it('has exactly the documented keys, in order', () => {
    const r = buildReport({ input: 'model.onnx', output: 'model_int8.onnx', passes, measured, gates: { maxSize: 5_000_000 } });
    const doc = JSON.parse(reportToJson(r));
    expect(Object.keys(doc)).toEqual(['input', 'output', 'passes', 'before', 'after', 'speedup', 'settings', 'gates', 'passed']);
    const common = ['sizeBytes', 'gzipBytes', 'params', 'nonzeroParams', 'latencyMs', 'throughputPerSec', 'accuracy'];
    expect(Object.keys(doc.before)).toEqual([...common, 'bytesByDtype']);
    expect(Object.keys(doc.after)).toEqual([...common, 'agreement', 'cosine', 'maxAbsError', 'bytesByDtype']);
    expect(Object.keys(doc.before.latencyMs)).toEqual(['p50', 'p90', 'p99', 'mean', 'cv']);
    expect(Object.keys(doc.settings)).toEqual(['threads', 'batchSize', 'warmup', 'runs', 'samples', 'outputName', 'disabledOptimizers']);
    expect(doc.passes).toEqual([
      { name: 'quantize', modified: true, ms: 41, stats: { quantized: 3 }, skipped: [{ node: 'fc3', reason: 'excluded' }] },
      { name: 'prune', modified: true, ms: 10, stats: {}, skipped: [], details: [{ weight: 'fc1.weight', dims: [784, 300], sparsity: 0.80004 }] },
    ]);
    expect(doc.gates).toEqual([{ name: 'max-size', limit: 5_000_000, actual: 271_681, passed: true }]);
    expect(doc.passed).toBe(true);
    expect(doc.after.accuracy).toBe(0.975);
    expect(doc.after.agreement).toBe(0.998);
    expect(doc.speedup).toBe(2);
    expect(doc.before.throughputPerSec).toBe(12_345.7);
    expect(doc.before.latencyMs.p50).toBe(0.2);
    expect(reportDocument(r)).toEqual(doc);
  });
  it('brotli (--brotli): a key after gzipBytes and a table row, only when measured', () => {
    const r = buildReport({ input: 'a.onnx', output: 'b.onnx', passes, measured: { ...measured, before: m({ brotliBytes: 950_000 }), after: { ...measured.after, brotliBytes: 15_000 } } });
    const doc = JSON.parse(reportToJson(r));
    expect(Object.keys(doc.before).slice(0, 3)).toEqual(['sizeBytes', 'gzipBytes', 'brotliBytes']);
    expect(doc.after.brotliBytes).toBe(15_000);
    expect(reportToText(r)).toMatch(/brotli size +950 kB +15(\.0)? kB +-98\.4%/);
    expect(reportToText(buildReport({ input: 'a.onnx', output: 'b.onnx', passes, measured }))).not.toMatch(/brotli/);
  });

  it('a single model: output and after are null, nulls where not measured', () => {
    const r = buildReport({
      input: 'm.onnx',
      output: null,
      measured: { ...measured, after: null, speedup: null, before: m({ latencyMs: null, throughputPerSec: null, accuracy: null }) },
      gates: { maxSize: 1000 },
    });
    const doc = JSON.parse(reportToJson(r));
    expect(doc.output).toBeNull();
    expect(doc.after).toBeNull();
    expect(doc.before.latencyMs).toBeNull();
    expect(doc.before.accuracy).toBeNull();
    expect(doc.passes).toEqual([]);
    expect(doc.gates[0]).toEqual({ name: 'max-size', limit: 1000, actual: 1_070_000, passed: false });
    expect(doc.passed).toBe(false);
  });
});

describe('human and markdown reports', () => {
  const r = buildReport({ input: 'model.onnx', output: 'model_int8.onnx', passes, measured, gates: { maxSize: 200_000, minAgreement: 0.99 } });
  it('text: before | after | change rows, pass lines and gates', () => {
    const t = reportToText(r);
    expect(t).toMatch(/^model\.onnx → model_int8\.onnx\n/);
    expect(t).toMatch(/before\s+after\s+change/);
    expect(t).toMatch(/size\s+1\.07 MB\s+272 kB\s+-74\.6%/);
    expect(t).toMatch(/latency p50\s+200 µs\s+100 µs\s+2\.00x faster/);
    expect(t).toMatch(/accuracy \(top-1\)\s+97\.60%\s+97\.50%\s+-0\.10 pts/);
    expect(t).toMatch(/agreement \(top-1\)\s+99\.80%/);
    expect(t).toContain('quantize: modified in 41 ms (quantized=3)');
    expect(t).toContain('skipped 1: fc3 (excluded)');
    expect(t).not.toContain('fc1.weight');
    expect(reportToText(r, { details: true })).toContain('  weight=fc1.weight dims=[784, 300] sparsity=0.8');
    expect(t).toContain('gates: FAILED');
    expect(t).toMatch(/max-size: FAILED \(272 kB \(271,681 B\) > 200 kB \(200,000 B\)\)/);
    expect(t).toMatch(/min-agreement: passed \(99\.8% ≥ 99%\)/);
  });
  it('markdown: a table and the gates', () => {
    const md = reportToMarkdown(r);
    expect(md).toContain('| | before | after | change |');
    expect(md).toMatch(/\| size \| 1\.07 MB \| 272 kB \| -74\.6% \|/);
    expect(md).toContain('**Gates: FAILED ❌**');
    expect(md).toMatch(/\| max-size \| .* \| ❌ failed \|/);
    expect(md).toContain('- quantize: modified in 41 ms');
  });
});
