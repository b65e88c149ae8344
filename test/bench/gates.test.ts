import { describe, expect, it } from 'vitest';
import { metrics } from '../helpers/metrics.js';
import { MlcError } from '../../src/core/errors.js';
import {
  checkGateRequirements,
  evaluateGates,
  gateFailureLines,
  parseDuration,
  parseFraction,
  parseGateFlags,
  parsePoints,
  parseRatio,
  parseSize,
} from '../../src/bench/gates.js';
import { formatBytes } from '../../src/bench/format.js';

describe('parseSize', () => {
  it('reads decimal and binary units and bare bytes', () => {
    expect(parseSize('5MB')).toBe(5_000_000);
    expect(parseSize('5 MB')).toBe(5_000_000);
    expect(parseSize('5MiB')).toBe(5_242_880);
    expect(parseSize('300kB')).toBe(300_000);
    expect(parseSize('300KB')).toBe(300_000);
    expect(parseSize('2KiB')).toBe(2048);
    expect(parseSize('1.5GB')).toBe(1_500_000_000);
    expect(parseSize('1GiB')).toBe(1024 ** 3);
    expect(parseSize('1048576')).toBe(1048576);
    expect(parseSize('12B')).toBe(12);
    expect(parseSize('0.5 kB')).toBe(500);
  });
  it('rejects garbage with a usage error naming the flag', () => {
    for (const bad of ['', 'MB', '5 XB', '-5MB', '5MB5', 'five']) {
      expect(() => parseSize(bad, 'max-size')).toThrow(MlcError);
      try {
        parseSize(bad, 'max-size');
      } catch (e) {
        expect((e as MlcError).code).toBe('USAGE');
        expect((e as Error).message).toContain('--max-size');
      }
    }
  });
});

describe('other gate value parsers', () => {
  it('durations are milliseconds', () => {
    expect(parseDuration('20ms')).toBe(20);
    expect(parseDuration('20')).toBe(20);
    expect(parseDuration('0.5s')).toBe(500);
    expect(parseDuration('800us')).toBeCloseTo(0.8);
    expect(parseDuration('800µs')).toBeCloseTo(0.8);
    expect(() => parseDuration('fast')).toThrow(/max-latency/);
    expect(() => parseDuration('20 min')).toThrow(MlcError);
  });
  it('fractions accept 0.95, 95% and 95', () => {
    expect(parseFraction('0.95', 'min-accuracy')).toBeCloseTo(0.95);
    expect(parseFraction('95%', 'min-accuracy')).toBeCloseTo(0.95);
    expect(parseFraction('95', 'min-accuracy')).toBeCloseTo(0.95);
    expect(parseFraction('1', 'min-accuracy')).toBe(1);
    expect(() => parseFraction('120%', 'min-accuracy')).toThrow(/more than 100%/);
    expect(() => parseFraction('abc', 'min-agreement')).toThrow(/--min-agreement/);
  });
  it('points and ratios', () => {
    expect(parsePoints('0.5', 'max-accuracy-drop')).toBe(0.5);
    expect(parsePoints('1pp', 'max-accuracy-drop')).toBe(1);
    expect(parsePoints('2%', 'max-accuracy-drop')).toBe(2);
    expect(() => parsePoints('x', 'max-accuracy-drop')).toThrow(MlcError);
    expect(parseRatio('1.5', 'min-speedup')).toBe(1.5);
    expect(parseRatio('2x', 'min-speedup')).toBe(2);
    expect(() => parseRatio('fast', 'min-speedup')).toThrow(MlcError);
  });
  it('parseGateFlags maps commander keys to limits', () => {
    expect(
      parseGateFlags({
        maxSize: '5MB',
        maxGzipSize: '1MiB',
        maxAccuracyDrop: '0.5',
        minAccuracy: '95%',
        minAgreement: '0.99',
        maxLatency: '2ms',
        minSpeedup: '1.2x',
        other: 'ignored',
      }),
    ).toEqual({
      maxSize: 5_000_000,
      maxGzipSize: 1_048_576,
      maxAccuracyDrop: 0.5,
      minAccuracy: 0.95,
      minAgreement: 0.99,
      maxLatency: 2,
      minSpeedup: 1.2,
    });
    expect(parseGateFlags({})).toEqual({});
  });
});


describe('evaluateGates', () => {
  const before = metrics({ sizeBytes: 4000, accuracy: 0.97, latencyMs: { p50: 4, p90: 5, p99: 6, mean: 4, cv: 0.1 } });
  const after = metrics({ agreement: 0.98, cosine: 0.999, maxAbsError: 0.1 });
  const speedup = 2;

  const cases: [string, Record<string, unknown>, Record<string, unknown>, number | null][] = [
    // gate, passing flags, failing flags, actual
    ['max-size', { maxSize: '1000' }, { maxSize: '999B' }, 1000],
    ['max-gzip-size', { maxGzipSize: '1kB' }, { maxGzipSize: '0.7kB' }, 800],
    ['max-accuracy-drop', { maxAccuracyDrop: '2' }, { maxAccuracyDrop: '1.9' }, 2],
    ['min-accuracy', { minAccuracy: '95%' }, { minAccuracy: '0.96' }, 0.95],
    ['min-agreement', { minAgreement: '0.98' }, { minAgreement: '99%' }, 0.98],
    ['max-latency', { maxLatency: '2ms' }, { maxLatency: '1.5ms' }, 2],
    ['min-speedup', { minSpeedup: '2x' }, { minSpeedup: '2.1' }, 2],
  ];
  for (const [name, pass, fail, actual] of cases) {
    it(`${name}: passes at the limit, fails past it`, () => {
      const ok = evaluateGates(parseGateFlags(pass), after, before, speedup);
      expect(ok).toHaveLength(1);
      expect(ok[0]).toMatchObject({ name, passed: true });
      expect(ok[0].actual).toBeCloseTo(actual!, 9);
      const bad = evaluateGates(parseGateFlags(fail), after, before, speedup);
      expect(bad[0]).toMatchObject({ name, passed: false });
      const lines = gateFailureLines(bad);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(new RegExp(`^gate ${name} failed: actual .+ [<>] limit .+`));
    });
  }

  it('a gate without its measurement fails (actual null)', () => {
    const r = evaluateGates({ minAccuracy: 0.5 }, metrics({ accuracy: null }), null, null);
    expect(r).toEqual([{ name: 'min-accuracy', limit: 0.5, actual: null, passed: false }]);
    expect(gateFailureLines(r)[0]).toContain('not measured');
  });

  it('failure lines show actual vs limit in the gate units', () => {
    const r = evaluateGates({ maxSize: 300_000 }, metrics({ sizeBytes: 312_400 }), null, null);
    expect(gateFailureLines(r)).toEqual(['gate max-size failed: actual 312 kB (312,400 B) > limit 300 kB (300,000 B)']);
    expect(formatBytes(5_242_880)).toBe('5.24 MB');
  });
});

describe('checkGateRequirements', () => {
  const all = { compare: true, data: true, labels: true, latency: true };
  it('accepts gates whose measurements will be made', () => {
    expect(() =>
      checkGateRequirements(parseGateFlags({ maxAccuracyDrop: '1', minAccuracy: '0.9', minAgreement: '0.9', maxLatency: '1', minSpeedup: '1' }), all),
    ).not.toThrow();
  });
  it('rejects gates that need labels, a second model or latency', () => {
    expect(() => checkGateRequirements({ minAccuracy: 0.9 }, { ...all, labels: false })).toThrow(/--min-accuracy needs --data with labels/);
    expect(() => checkGateRequirements({ maxAccuracyDrop: 1 }, { ...all, compare: false })).toThrow(/two models/);
    expect(() => checkGateRequirements({ minAgreement: 0.9 }, { ...all, data: false })).toThrow(/--min-agreement needs --data/);
    expect(() => checkGateRequirements({ minSpeedup: 1 }, { ...all, compare: false })).toThrow(/--min-speedup/);
    expect(() => checkGateRequirements({ maxLatency: 1 }, { ...all, latency: false })).toThrow(/--no-latency/);
    expect(() => checkGateRequirements({ maxSize: 1 }, { compare: false, data: false, labels: false, latency: false })).not.toThrow();
  });
});
