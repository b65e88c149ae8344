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
 *
 * Every gate is one row of GATES: its flag, direction, unit (which picks the parser and the
 * formatter), what it needs, and how its actual value is read from the measurements. The CLI
 * flags, limit parsing, requirement checks, evaluation and messages are all derived from it.
 */
import { MlcError } from '../core/errors.js';
import { formatBytes, formatMs, formatSignificant as fmt } from './format.js';
import type { GateResult, Metrics } from './types.js';

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

/** How a gate's limit is written and shown; picks the parser and the formatter. */
export type GateUnit = 'bytes' | 'points' | 'fraction' | 'ms' | 'ratio';

/** What a gate needs measured: a second model, data, labelled data, latency. */
export type GateNeed = 'compare' | 'data' | 'labels' | 'latency';

export interface GateDef {
  /** the name in reports, also the flag (`--max-size`) */
  name: string;
  /** camelCase key of the limit (commander's key for the flag, GateLimits' field) */
  key: string;
  /** 'max': fails when actual > limit; 'min': fails when actual < limit */
  kind: 'max' | 'min';
  unit: GateUnit;
  description: string;
  /** checked in this order before anything is measured */
  needs: readonly GateNeed[];
  /** the measured value the limit applies to (null / undefined: not measured) */
  actual(target: Metrics, base: Metrics | null, speedup: number | null): number | null | undefined;
  /**
   * the 95% interval of that value, for measurements with noise (latency): the gate then fails
   * only when the whole interval is on the wrong side of the limit, and is inconclusive (a
   * warning, counted as passed) when the interval straddles it
   */
  interval?(target: Metrics, speedupCi: [number, number] | null): [number, number] | null | undefined;
}

/** The gates, in report order. A new gate is one row here (and its README line). */
export const GATES = [
  {
    name: 'max-size',
    key: 'maxSize',
    kind: 'max',
    unit: 'bytes',
    description: 'fail (exit 1) if the model file is larger (e.g. 5MB, 300kB, 2MiB; bare number = bytes)',
    needs: [],
    actual: (t) => t.sizeBytes,
  },
  {
    name: 'max-gzip-size',
    key: 'maxGzipSize',
    kind: 'max',
    unit: 'bytes',
    description: 'fail if the gzip -9 size is larger (same units as --max-size)',
    needs: [],
    actual: (t) => t.gzipBytes,
  },
  {
    name: 'max-accuracy-drop',
    key: 'maxAccuracyDrop',
    kind: 'max',
    unit: 'points',
    description: 'fail if top-1 accuracy drops by more than this many percentage points (needs labels)',
    needs: ['compare', 'labels'],
    actual: (t, b) => (b?.accuracy != null && t.accuracy != null ? roundTo((b.accuracy - t.accuracy) * 100, 6) : null),
  },
  {
    name: 'min-accuracy',
    key: 'minAccuracy',
    kind: 'min',
    unit: 'fraction',
    description: 'fail if top-1 accuracy is below this (0.95 or 95%; needs labels)',
    needs: ['labels'],
    actual: (t) => t.accuracy,
  },
  {
    name: 'min-agreement',
    key: 'minAgreement',
    kind: 'min',
    unit: 'fraction',
    description: 'fail if top-1 agreement with the original is below this (0.99 or 99%; needs data)',
    needs: ['compare', 'data'],
    actual: (t) => t.agreement,
  },
  {
    name: 'max-latency',
    key: 'maxLatency',
    kind: 'max',
    unit: 'ms',
    description: 'fail if p50 latency (batch 1) is above this (e.g. 20ms, 0.5s; bare number = ms); judged on its 95% interval',
    needs: ['latency'],
    actual: (t) => t.latencyMs?.p50,
    interval: (t) => t.latencyMs?.p50Ci,
  },
  {
    name: 'min-speedup',
    key: 'minSpeedup',
    kind: 'min',
    unit: 'ratio',
    description: 'fail if p50 speedup over the original is below this (e.g. 1.5 or 1.5x); judged on its 95% interval',
    needs: ['compare', 'latency'],
    actual: (_t, _b, speedup) => speedup,
    interval: (_t, speedupCi) => speedupCi,
  },
] as const satisfies readonly GateDef[];

/** Gate limits by key, in canonical units (bytes, fractions, percentage points, milliseconds, ratio). */
export type GateLimits = { [K in (typeof GATES)[number]['key']]?: number };

const PARSE: Record<GateUnit, (text: string, flag: string) => number> = {
  bytes: parseSize,
  points: parsePoints,
  fraction: parseFraction,
  ms: parseDuration,
  ratio: parseRatio,
};

const FORMAT: Record<GateUnit, (v: number) => string> = {
  bytes: (v) => `${formatBytes(v)} (${Math.round(v).toLocaleString('en-US')} B)`,
  points: (v) => `${fmt(v, 3)} points`,
  fraction: (v) => `${fmt(v * 100, 3)}%`,
  ms: formatMs,
  ratio: (v) => `${fmt(v, 3)}x`,
};

const NEEDS: Record<GateNeed, { what: string; have: (h: GateHave) => boolean }> = {
  compare: { what: 'two models (mlc compress, or mlc bench --compare)', have: (h) => h.compare },
  labels: { what: '--data with labels', have: (h) => h.data && h.labels },
  data: { what: '--data', have: (h) => h.data },
  latency: { what: 'latency to be measured (drop --no-latency)', have: (h) => h.latency },
};

export interface GateHave {
  compare: boolean;
  data: boolean;
  labels: boolean;
  latency: boolean;
}

/** The gate named `name` (e.g. 'max-size'), if any. */
export function gateOf(name: string): GateDef | undefined {
  return (GATES as readonly GateDef[]).find((g) => g.name === name);
}

/** The gate flags for the CLI (derived from GATES). */
export const GATE_FLAGS: { key: keyof GateLimits; flag: string; description: string }[] = GATES.map((g) => ({
  key: g.key,
  flag: g.name,
  description: g.description,
}));

/** Parse gate flags (commander camelCase keys, string values) into limits. */
export function parseGateFlags(flags: Record<string, unknown>): GateLimits {
  const limits: GateLimits = {};
  for (const g of GATES) {
    const v = flags[g.key];
    if (v === undefined || v === null || v === false) continue;
    limits[g.key] = PARSE[g.unit](String(v), g.name);
  }
  return limits;
}

/**
 * Throw a usage error when a gate asks for a measurement the run will not make.
 * `compare`: a second model is measured (compress, or bench --compare); `labels`: the data has
 * labels; `data`: --data was given; `latency`: latency is measured.
 */
export function checkGateRequirements(limits: GateLimits, have: GateHave): void {
  for (const g of GATES) {
    if (limits[g.key] === undefined) continue;
    for (const n of g.needs) if (!NEEDS[n].have(have)) throw new MlcError('USAGE', `--${g.name} needs ${NEEDS[n].what}`);
  }
}

/**
 * Evaluate gates against the measurements. `target` is the model the gates apply to (after, or
 * the single model); `base` the original when there is one; `speedup` = base p50 / target p50,
 * `speedupCi` its 95% interval (or of `level`: a sequential gate's later look). A gate whose measurement is missing fails with actual null. A gate
 * with an interval (latency) fails only when the whole interval is on the wrong side of the limit;
 * when the interval straddles the limit it is inconclusive: counted as passed, flagged.
 */
export function evaluateGates(
  limits: GateLimits,
  target: Metrics,
  base: Metrics | null,
  speedup: number | null,
  speedupCi: [number, number] | null = null,
  level = 0.95,
): GateResult[] {
  const out: GateResult[] = [];
  for (const g of GATES as readonly GateDef[]) {
    const limit = limits[g.key as keyof GateLimits];
    if (limit === undefined) continue;
    const a = g.actual(target, base, speedup) ?? null;
    const within = (v: number) => (g.kind === 'max' ? v <= limit : v >= limit);
    const ok = a !== null && Number.isFinite(a) && within(a);
    const ci = a === null ? null : g.interval?.(target, speedupCi) ?? null;
    if (ci && Number.isFinite(ci[0]) && Number.isFinite(ci[1])) {
      const [lo, hi] = ci;
      const allIn = within(lo) && within(hi);
      const allOut = !within(lo) && !within(hi);
      out.push({
        name: g.name,
        limit,
        actual: a,
        passed: !allOut,
        interval: [lo, hi],
        ...(level !== 0.95 ? { level } : {}),
        ...(allIn || allOut ? {} : { inconclusive: true }),
      });
    } else out.push({ name: g.name, limit, actual: a, passed: ok });
  }
  return out;
}

/** One line per inconclusive gate: `gate min-speedup inconclusive: 95% interval 1.42x–1.61x straddles the limit 1.5x (counted as passed)`. */
export function gateInconclusiveLines(results: GateResult[]): string[] {
  return results
    .filter((r) => r.inconclusive && r.interval)
    .map(
      (r) =>
        `gate ${r.name} inconclusive: ${ciName(r.level)} interval ${formatGateValue(r.name, r.interval![0])}–${formatGateValue(r.name, r.interval![1])} straddles the limit ${formatGateValue(r.name, r.limit)} (counted as passed; more runs or a quieter machine decide it)`,
    );
}

/** An interval's level as text: `95%`, `97.5%`, `98.75%`. */
export function ciName(level = 0.95): string {
  return `${Number((level * 100).toFixed(3))}%`;
}

function roundTo(v: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

/** How a gate's value reads in a failure line. */
export function formatGateValue(name: string, v: number | null): string {
  if (v === null) return 'not measured';
  const g = gateOf(name);
  return g ? FORMAT[g.unit](v) : String(v);
}

/** One line per failed gate: `gate max-size failed: actual 312 kB (312,000 B) > limit 300 kB (300,000 B)`. */
export function gateFailureLines(results: GateResult[]): string[] {
  return results
    .filter((r) => !r.passed)
    .map((r) => {
      const op = r.actual === null ? 'vs' : gateOf(r.name)?.kind === 'max' ? '>' : '<';
      const ci = r.interval ? ` (${ciName(r.level)} interval ${formatGateValue(r.name, r.interval[0])}–${formatGateValue(r.name, r.interval[1])})` : '';
      return `gate ${r.name} failed: actual ${formatGateValue(r.name, r.actual)}${ci} ${op} limit ${formatGateValue(r.name, r.limit)}`;
    });
}
