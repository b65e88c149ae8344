import { describe, expect, it } from 'vitest';
import { fleetDocument, fleetToMarkdown, githubAnnotations, mergeFleet, worstCode, type FleetEntry } from '../../src/fleet/report.js';

const gate = (name: string, limit: number, actual: number | null) => ({
  name,
  limit,
  actual,
  passed: actual !== null && (name.startsWith('max') ? actual <= limit : actual >= limit),
});

function entry(model: string, code: number, gates = [gate('max-size', 1000, 800)]): FleetEntry {
  if (code >= 2) return { model, code, ms: 10, error: { code: 'INPUT', message: `${model}: not a valid ONNX model` } };
  return {
    model,
    code,
    ms: 10,
    report: {
      input: model,
      output: model.replace('.onnx', '_int8.onnx'),
      before: { sizeBytes: 4000, gzipBytes: 3500 },
      after: { sizeBytes: 1000, gzipBytes: 900 },
      gates,
      passed: code === 0,
    },
  };
}

describe('fleet report', () => {
  it('the exit code is the worst model’s: 3 > 2 > 1 > 0', () => {
    expect(worstCode([0, 1, 0])).toBe(1);
    expect(worstCode([1, 2, 1])).toBe(2);
    expect(worstCode([2, 3, 0])).toBe(3);
    expect(worstCode([])).toBe(0);
    const d = fleetDocument([entry('b.onnx', 0), entry('a.onnx', 1, [gate('max-size', 1000, 1200)]), entry('c.onnx', 2)]);
    expect(d.models.map((m) => m.model)).toEqual(['a.onnx', 'b.onnx', 'c.onnx']);
    expect(d).toMatchObject({ exitCode: 2, passed: false, summary: { models: 3, passed: 1, failedGates: 1, errors: 1 } });
  });

  it('markdown: a row per model, failing ones first', () => {
    const md = fleetToMarkdown(fleetDocument([entry('a.onnx', 0), entry('b.onnx', 1, [gate('max-size', 1000, 1200)]), entry('c.onnx', 2)]));
    const rows = md.split('\n').filter((l) => l.startsWith('| `'));
    expect(rows.map((r) => r.split('`')[1])).toEqual(['c.onnx', 'b.onnx', 'a.onnx']);
    expect(rows[1]).toContain('max-size 1.20 kB (1,200 B) > 1.00 kB (1,000 B)');
    expect(rows[2]).toContain('4.00 kB → 1.00 kB');
    expect(md).toContain('FAILED');
  });

  it('GitHub annotations: ::error file=<model>::<gate> <actual> > <limit>, escaped', () => {
    const d = fleetDocument([entry('m,1.onnx', 1, [gate('max-size', 1000, 1200), gate('min-agreement', 0.99, 0.95)]), entry('ok.onnx', 0), entry('bad.onnx', 2)]);
    expect(githubAnnotations(d)).toEqual([
      '::error file=bad.onnx::error: bad.onnx: not a valid ONNX model',
      '::error file=m%2C1.onnx::max-size 1.20 kB (1,200 B) > 1.00 kB (1,000 B)',
      '::error file=m%2C1.onnx::min-agreement 95%25 < 99%25', // GitHub shows 95% < 99%
    ]);
  });

  it('merges shards into the document of the whole run', () => {
    const all = [entry('a.onnx', 0), entry('b.onnx', 1, [gate('max-size', 1000, 1200)]), entry('c.onnx', 0), entry('d.onnx', 2)];
    const whole = fleetDocument(all);
    const s1 = fleetDocument(all.slice(0, 2), { index: 1, total: 2, source: 't' });
    const s2 = fleetDocument(all.slice(2), { index: 2, total: 2, source: 't' });
    const merged = mergeFleet([
      { file: 's2.json', doc: s2 },
      { file: 's1.json', doc: s1 },
    ]);
    expect(merged.models).toEqual(whole.models);
    expect(merged.exitCode).toBe(whole.exitCode);
    expect(merged.summary).toEqual(whole.summary);
    expect(merged.shards).toEqual([
      { index: 1, total: 2 },
      { index: 2, total: 2 },
    ]);
  });

  it('refuses a missing shard, a shard twice and a model twice', () => {
    const s = (i: number, n: number, models: FleetEntry[]) => fleetDocument(models, { index: i, total: n, source: 't' });
    expect(() => mergeFleet([{ file: 'a.json', doc: s(1, 3, [entry('a.onnx', 0)]) }, { file: 'c.json', doc: s(3, 3, []) }])).toThrow(/shard 2\/3 missing/);
    expect(() => mergeFleet([{ file: 'a.json', doc: s(1, 2, []) }, { file: 'b.json', doc: s(1, 2, []) }])).toThrow(/shard 1\/2 is in both a.json and b.json/);
    expect(() => mergeFleet([{ file: 'a.json', doc: s(1, 2, []) }, { file: 'b.json', doc: s(2, 3, []) }])).toThrow(/does not belong/);
    expect(() => mergeFleet([{ file: 'a.json', doc: fleetDocument([entry('a.onnx', 0)]) }, { file: 'b.json', doc: fleetDocument([entry('a.onnx', 0)]) }])).toThrow(
      /a.onnx is in both a.json and b.json/,
    );
  });
});
