/** The gates are one table (GATES): flags, parsing, requirements, evaluation and messages derive from it. */
import { describe, expect, it } from 'vitest';
import { checkGateRequirements, evaluateGates, formatGateValue, GATE_FLAGS, GATES, parseGateFlags } from '../../src/bench/gates.js';
import type { Metrics } from '../../src/bench/types.js';

const metrics: Metrics = {
  sizeBytes: 1000,
  gzipBytes: 800,
  params: 10,
  nonzeroParams: 10,
  latencyMs: { p50: 2, p90: 3, p99: 4, mean: 2.5, cv: 0.1 },
  throughputPerSec: 100,
  accuracy: 0.9,
  agreement: 0.95,
  bytesByDtype: {},
};

describe('GATES', () => {
  it('each gate has a unique name and key, a flag, and kind-consistent naming', () => {
    expect(new Set(GATES.map((g) => g.name)).size).toBe(GATES.length);
    expect(new Set(GATES.map((g) => g.key)).size).toBe(GATES.length);
    expect(GATE_FLAGS.map((f) => f.flag)).toEqual(GATES.map((g) => g.name));
    for (const g of GATES) expect(g.name.startsWith(g.kind), g.name).toBe(true);
  });

  it('every gate parses its flag, is evaluated in both directions, and formats its value', () => {
    const all = parseGateFlags(Object.fromEntries(GATES.map((g) => [g.key, '1'])));
    expect(Object.keys(all)).toEqual(GATES.map((g) => g.key));
    const base = { ...metrics, accuracy: 0.95 };
    const results = evaluateGates(all, metrics, base, 1.5);
    expect(results.map((r) => r.name)).toEqual(GATES.map((g) => g.name));
    for (const r of results) {
      expect(r.actual, r.name).not.toBeNull();
      const g = GATES.find((x) => x.name === r.name)!;
      expect(r.passed, r.name).toBe(g.kind === 'max' ? r.actual! <= r.limit : r.actual! >= r.limit);
      expect(formatGateValue(r.name, r.limit), r.name).not.toBe(String(r.limit)); // a unit-aware formatter
    }
  });

  it('a gate needing what the run lacks is a usage error naming its flag', () => {
    for (const g of GATES) {
      if (!g.needs.length) continue;
      const none = { compare: false, data: false, labels: false, latency: false };
      expect(() => checkGateRequirements({ [g.key]: 1 }, none), g.name).toThrow(new RegExp(`--${g.name} needs`));
      expect(() => checkGateRequirements({ [g.key]: 1 }, { compare: true, data: true, labels: true, latency: true })).not.toThrow();
    }
  });
});
