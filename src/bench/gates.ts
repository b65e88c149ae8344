/**
 * CI gates: limits a benchmark report must stay within (a CI step that keeps models in budget).
 *
 * Parsers for the flag values (sizes, durations, fractions, ratios) live here too, so that the CLI
 * and the programmatic API read `--max-size 5MB` the same way. Every parser throws
 * MlcError('USAGE') naming the flag on a malformed value.
 *
 * Gates are checked against the `after` model (or the single model of `mlc bench` without
 * `--compare`). A gate whose measurement is missing (e.g. `--min-accuracy` without labelled data)
 * is a usage error, raised by `checkGateRequirements` before anything is measured.
 */
import { MlcError } from '../core/errors.js';
import type { GateResult, Metrics } from './report.js';

const SIZE_UNITS: Record<string, number> = {
  b: 1,
  k: 1e3,
  kb: 1e3,
  m: 1e6,
  mb: 1e6,
  g: 1e9,
  gb: 1e9,
  t: 1e12,
  tb: 1e12,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
  tib: 1024 ** 4,
};

/**
 * A byte count: `5MB` / `5 MB` = 5,000,000; `5MiB` = 5,242,880; `300kB`; bare numbers are bytes.
 * Units: B, kB, MB, GB, TB (1000ⁿ) and KiB, MiB, GiB, TiB (1024ⁿ), case-insensitive.
 */
export function parseSize(text: string, flag = 'size'): number {
  const m = /^\s*(\d+(?:\.\d+)?|\.\d+)(?:e(\d+))?\s*([a-zA-Z]*)\s*$/.exec(String(text));
  if (!m) throw new MlcError('USAGE', `--${flag}: cannot read "${text}" as a size (e.g. 5MB, 300kB, 2MiB, 1048576)`);
  const unit = m[3].toLowerCase();
  const mult = unit === '' ? 1 : SIZE_UNITS[unit];
  if (mult === undefined) {
    throw new MlcError('USAGE', `--${flag}: unknown unit "${m[3]}" in "${text}" (use B, kB, MB, GB, KiB, MiB, GiB)`);
  }
  const v = Number(m[1]) * (m[2] ? 10 ** Number(m[2]) : 1) * mult;
  return Math.round(v);
}

/** A duration in milliseconds: `20ms`, `0.5s`, `800us` / `800µs`; bare numbers are milliseconds. */
export function parseDuration(text: string, flag = 'max-latency'): number {
  const m = /^\s*(\d+(?:\.\d+)?|\.\d+)\s*(ms|s|us|µs|ns)?\s*$/i.exec(String(text));
  if (!m) throw new MlcError('USAGE', `--${flag}: cannot read "${text}" as a duration (e.g. 20ms, 0.5s, 800us)`);
  const v = Number(m[1]);
  switch ((m[2] ?? 'ms').toLowerCase()) {
    case 's':
      return v * 1000;
    case 'us':
    case 'µs':
      return v / 1000;
    case 'ns':
      return v / 1e6;
    default:
      return v;
  }
}

/**
 * A fraction in [0, 1]: `0.95`, or a percentage `95%`. A bare number above 1 (up to 100) is read
 * as a percentage, so `--min-accuracy 95` means 95%.
 */
export function parseFraction(text: string, flag: string): number {
  const m = /^\s*(\d+(?:\.\d+)?|\.\d+)\s*(%)?\s*$/.exec(String(text));
  if (!m) throw new MlcError('USAGE', `--${flag}: cannot read "${text}" as a fraction (e.g. 0.95 or 95%)`);
  let v = Number(m[1]);
  if (m[2] || v > 1) v /= 100;
  if (v > 1) throw new MlcError('USAGE', `--${flag}: "${text}" is more than 100%`);
  return v;
}

/** Percentage points: `0.5`, `0.5pp`, `0.5%` all mean half a point. */
export function parsePoints(text: string, flag: string): number {
  const m = /^\s*(\d+(?:\.\d+)?|\.\d+)\s*(%|pp|pts?|points?)?\s*$/i.exec(String(text));
  if (!m) throw new MlcError('USAGE', `--${flag}: cannot read "${text}" as percentage points (e.g. 0.5)`);
  return Number(m[1]);
}

/** A ratio: `1.5` or `1.5x`. */
export function parseRatio(text: string, flag: string): number {
  const m = /^\s*(\d+(?:\.\d+)?|\.\d+)\s*[x×]?\s*$/i.exec(String(text));
  if (!m) throw new MlcError('USAGE', `--${flag}: cannot read "${text}" as a ratio (e.g. 1.5 or 1.5x)`);
  return Number(m[1]);
}

/** Gate limits, in canonical units (bytes, fractions, points, milliseconds, ratio). */
export interface GateLimits {
  maxSize?: number;
  maxGzipSize?: number;
  /** percentage points */
  maxAccuracyDrop?: number;
  /** fraction */
  minAccuracy?: number;
  /** fraction */
  minAgreement?: number;
  /** p50, milliseconds */
  maxLatency?: number;
  minSpeedup?: number;
}

export const GATE_FLAGS: { key: keyof GateLimits; flag: string; description: string }[] = [
  { key: 'maxSize', flag: 'max-size', description: 'fail (exit 1) if the model file is larger (e.g. 5MB, 300kB, 2MiB; bare number = bytes)' },
  { key: 'maxGzipSize', flag: 'max-gzip-size', description: 'fail if the gzip -9 size is larger (same units as --max-size)' },
  { key: 'maxAccuracyDrop', flag: 'max-accuracy-drop', description: 'fail if top-1 accuracy drops by more than this many percentage points (needs labels)' },
  { key: 'minAccuracy', flag: 'min-accuracy', description: 'fail if top-1 accuracy is below this (0.95 or 95%; needs labels)' },
  { key: 'minAgreement', flag: 'min-agreement', description: 'fail if top-1 agreement with the original is below this (0.99 or 99%; needs data)' },
  { key: 'maxLatency', flag: 'max-latency', description: 'fail if p50 latency (batch 1) is above this (e.g. 20ms, 0.5s; bare number = ms)' },
  { key: 'minSpeedup', flag: 'min-speedup', description: 'fail if p50 speedup over the original is below this (e.g. 1.5 or 1.5x)' },
];

/** Parse gate flags (commander camelCase keys, string values) into limits. */
export function parseGateFlags(flags: Record<string, unknown>): GateLimits {
  const g: GateLimits = {};
  const str = (k: keyof GateLimits): string | undefined => {
    const v = flags[k];
    return v === undefined || v === null || v === false ? undefined : String(v);
  };
  let s: string | undefined;
  if ((s = str('maxSize')) !== undefined) g.maxSize = parseSize(s, 'max-size');
  if ((s = str('maxGzipSize')) !== undefined) g.maxGzipSize = parseSize(s, 'max-gzip-size');
  if ((s = str('maxAccuracyDrop')) !== undefined) g.maxAccuracyDrop = parsePoints(s, 'max-accuracy-drop');
  if ((s = str('minAccuracy')) !== undefined) g.minAccuracy = parseFraction(s, 'min-accuracy');
  if ((s = str('minAgreement')) !== undefined) g.minAgreement = parseFraction(s, 'min-agreement');
  if ((s = str('maxLatency')) !== undefined) g.maxLatency = parseDuration(s, 'max-latency');
  if ((s = str('minSpeedup')) !== undefined) g.minSpeedup = parseRatio(s, 'min-speedup');
  return g;
}

/**
 * Throw a usage error when a gate asks for a measurement the run will not make.
 * `compare`: a second model is measured (compress, or bench --compare); `labels`: the data has
 * labels; `data`: --data was given; `latency`: latency is measured.
 */
export function checkGateRequirements(
  g: GateLimits,
  have: { compare: boolean; data: boolean; labels: boolean; latency: boolean },
): void {
  const need = (cond: boolean, flag: string, what: string) => {
    if (!cond) throw new MlcError('USAGE', `--${flag} needs ${what}`);
  };
  if (g.maxAccuracyDrop !== undefined) {
    need(have.compare, 'max-accuracy-drop', 'two models (mlc compress, or mlc bench --compare)');
    need(have.data && have.labels, 'max-accuracy-drop', '--data with labels');
  }
  if (g.minAccuracy !== undefined) need(have.data && have.labels, 'min-accuracy', '--data with labels');
  if (g.minAgreement !== undefined) {
    need(have.compare, 'min-agreement', 'two models (mlc compress, or mlc bench --compare)');
    need(have.data, 'min-agreement', '--data');
  }
  if (g.maxLatency !== undefined) need(have.latency, 'max-latency', 'latency to be measured (drop --no-latency)');
  if (g.minSpeedup !== undefined) {
    need(have.compare, 'min-speedup', 'two models (mlc compress, or mlc bench --compare)');
    need(have.latency, 'min-speedup', 'latency to be measured (drop --no-latency)');
  }
}

/**
 * Evaluate gates against the measurements. `target` is the model the gates apply to (after, or
 * the single model); `base` the original when there is one; `speedup` = base p50 / target p50.
 * A gate whose measurement is missing fails with actual null.
 */
export function evaluateGates(g: GateLimits, target: Metrics, base: Metrics | null, speedup: number | null): GateResult[] {
  const out: GateResult[] = [];
  const max = (name: string, limit: number | undefined, actual: number | null | undefined) => {
    if (limit === undefined) return;
    const a = actual ?? null;
    out.push({ name, limit, actual: a, passed: a !== null && Number.isFinite(a) && a <= limit });
  };
  const min = (name: string, limit: number | undefined, actual: number | null | undefined) => {
    if (limit === undefined) return;
    const a = actual ?? null;
    out.push({ name, limit, actual: a, passed: a !== null && Number.isFinite(a) && a >= limit });
  };
  max('max-size', g.maxSize, target.sizeBytes);
  max('max-gzip-size', g.maxGzipSize, target.gzipBytes);
  if (g.maxAccuracyDrop !== undefined) {
    const drop =
      base?.accuracy != null && target.accuracy != null ? roundTo((base.accuracy - target.accuracy) * 100, 6) : null;
    max('max-accuracy-drop', g.maxAccuracyDrop, drop);
  }
  min('min-accuracy', g.minAccuracy, target.accuracy);
  min('min-agreement', g.minAgreement, target.agreement);
  max('max-latency', g.maxLatency, target.latencyMs?.p50);
  min('min-speedup', g.minSpeedup, speedup);
  return out;
}

function roundTo(v: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

/** How a gate's value reads in a failure line. */
export function formatGateValue(name: string, v: number | null): string {
  if (v === null) return 'not measured';
  switch (name) {
    case 'max-size':
    case 'max-gzip-size':
      return `${formatBytes(v)} (${Math.round(v).toLocaleString('en-US')} B)`;
    case 'max-accuracy-drop':
      return `${fmt(v, 3)} points`;
    case 'min-accuracy':
    case 'min-agreement':
      return `${fmt(v * 100, 3)}%`;
    case 'max-latency':
      return formatMs(v);
    case 'min-speedup':
      return `${fmt(v, 3)}x`;
    default:
      return String(v);
  }
}

/** One line per failed gate: `gate max-size failed: actual 312 kB (312,000 B) > limit 300 kB (300,000 B)`. */
export function gateFailureLines(results: GateResult[]): string[] {
  return results
    .filter((r) => !r.passed)
    .map((r) => {
      const op = r.actual === null ? 'vs' : r.name.startsWith('max') ? '>' : '<';
      return `gate ${r.name} failed: actual ${formatGateValue(r.name, r.actual)} ${op} limit ${formatGateValue(r.name, r.limit)}`;
    });
}

/** Decimal units (kB = 1000 B), three significant digits. */
export function formatBytes(n: number): string {
  const abs = Math.abs(n);
  if (abs < 1000) return `${Math.round(n)} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let v = n;
  let i = -1;
  while (Math.abs(v) >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(2)} ${units[i]}`;
}

export function formatMs(ms: number): string {
  if (ms < 1) return `${fmt(ms * 1000, 3)} µs`;
  if (ms < 1000) return `${fmt(ms, 3)} ms`;
  return `${fmt(ms / 1000, 3)} s`;
}

/** `digits` significant digits, no exponent for ordinary magnitudes. */
function fmt(v: number, digits: number): string {
  if (v === 0) return '0';
  const p = Number(v.toPrecision(digits));
  return String(p);
}
