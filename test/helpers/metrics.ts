import type { Metrics } from '../../src/bench/types.js';

/** Metrics with round figures for gate and report tests, `over` replacing some. */
export const metrics = (over: Partial<Metrics> = {}): Metrics => ({
  sizeBytes: 1000,
  gzipBytes: 800,
  params: 100,
  nonzeroParams: 90,
  latencyMs: { p50: 2, p90: 3, p99: 4, mean: 2.2, cv: 0.1 },
  throughputPerSec: 500,
  accuracy: 0.95,
  bytesByDtype: { float: 400 },
  ...over,
});
