/**
 * The report of a fleet run (many models in one call, or one shard of them) and the merge of
 * shard reports: one JSON document, one markdown table (a row per model, failing ones first), the
 * GitHub Actions annotations and the combined exit code. Pure data and formatting.
 *
 * A model's exit code is the one `mlc compress` alone would give (0 ok · 1 a gate failed · 2 bad
 * input · 3 internal error or a crashed worker); the run's is the worst of them (3 > 2 > 1 > 0).
 */
import { MlcError } from '../core/errors.js';
import { formatBytes, formatMs } from '../bench/format.js';
import { ciName, formatGateValue, gateOf } from '../bench/gates.js';
import type { GateResult } from '../bench/types.js';
import type { Shard } from './shard.js';

/** The parts of the single-model report document (`mlc compress --json`) the fleet reads. */
export interface ModelReportDoc {
  input: string;
  output: string | null;
  before: { sizeBytes: number; gzipBytes: number } | null;
  after: { sizeBytes: number; gzipBytes: number } | null;
  gates: GateResult[];
  passed: boolean;
  [key: string]: unknown;
}

export interface FleetEntry {
  /** the input model, as listed */
  model: string;
  /** the config entry it came from (`mlc check`), e.g. "#2 models/eta/*.onnx" */
  entry?: string;
  /** exit code of this model alone */
  code: number;
  /** the single-model report (absent when the model failed before it was measured) */
  report?: ModelReportDoc;
  /** why the model has no report (exit code 2 or 3) */
  error?: { code: string; message: string };
  /** warnings the model's run printed */
  warnings?: string[];
  /** wall time of the model, ms */
  ms: number;
}

export interface FleetDocument {
  mlcFleet: 1;
  /** the shard this report covers; null for a whole run; merged reports list their shards */
  shard: { index: number; total: number } | null;
  shards?: { index: number; total: number }[];
  models: FleetEntry[];
  summary: { models: number; passed: number; failedGates: number; errors: number };
  exitCode: number;
  passed: boolean;
  /** wall time of the run and per-worker figures (absent in merged reports) */
  run?: { wallMs: number; jobs: number; workers: { worker: number; tasks: number; peakRssBytes: number; processes: number; cpuMs: number }[] };
}

/** Worst exit code: 3 > 2 > 1 > 0. */
export function worstCode(codes: Iterable<number>): number {
  let w = 0;
  for (const c of codes) w = Math.max(w, c);
  return w;
}

const byModel = (a: FleetEntry, b: FleetEntry) =>
  a.model < b.model ? -1 : a.model > b.model ? 1 : (a.entry ?? '') < (b.entry ?? '') ? -1 : (a.entry ?? '') > (b.entry ?? '') ? 1 : 0;

/** Build the document from the entries of a run (sorted by model). */
export function fleetDocument(models: FleetEntry[], shard?: Shard, run?: FleetDocument['run']): FleetDocument {
  const sorted = [...models].sort(byModel);
  const exitCode = worstCode(sorted.map((m) => m.code));
  return {
    mlcFleet: 1,
    shard: shard ? { index: shard.index, total: shard.total } : null,
    models: sorted,
    summary: {
      models: sorted.length,
      passed: sorted.filter((m) => m.code === 0).length,
      failedGates: sorted.filter((m) => m.code === 1).length,
      errors: sorted.filter((m) => m.code >= 2).length,
    },
    exitCode,
    passed: exitCode === 0,
    ...(run ? { run } : {}),
  };
}

/** Check that `doc` (parsed JSON from `file`) is a fleet report. */
export function asFleetDocument(doc: unknown, file: string): FleetDocument {
  const d = doc as Partial<FleetDocument> | null;
  if (!d || typeof d !== 'object' || d.mlcFleet !== 1 || !Array.isArray(d.models)) {
    throw new MlcError('INPUT', `${file}: not an mlc fleet report (write one with mlc compress <models...> --report ${file} or mlc check --report ${file})`);
  }
  for (const [i, m] of d.models.entries()) {
    if (!m || typeof m.model !== 'string' || !Number.isInteger(m.code)) throw new MlcError('INPUT', `${file}: models[${i}] has no "model" name or exit "code"`);
  }
  return d as FleetDocument;
}

const key = (m: FleetEntry) => (m.entry ? `${m.model} (${m.entry})` : m.model);

/**
 * Merge shard reports into one. Refused (INPUT): a model in two reports, the same shard twice,
 * shards of different totals, or a missing shard (its models would go unchecked).
 */
export function mergeFleet(docs: { file: string; doc: FleetDocument }[]): FleetDocument {
  const seen = new Map<string, string>();
  const shards = new Map<number, string>();
  let total: number | undefined;
  const models: FleetEntry[] = [];
  for (const { file, doc } of docs) {
    const parts = doc.shards ?? (doc.shard ? [doc.shard] : []);
    for (const s of parts) {
      if (total !== undefined && s.total !== total) throw new MlcError('INPUT', `${file}: shard ${s.index}/${s.total} does not belong with shards of ${total}`);
      total = s.total;
      const other = shards.get(s.index);
      if (other) throw new MlcError('INPUT', `shard ${s.index}/${s.total} is in both ${other} and ${file}`);
      shards.set(s.index, file);
    }
    for (const m of doc.models) {
      const other = seen.get(key(m));
      if (other) throw new MlcError('INPUT', `${key(m)} is in both ${other} and ${file}`);
      seen.set(key(m), file);
      models.push(m);
    }
  }
  if (total !== undefined) {
    const missing = Array.from({ length: total }, (_, i) => i + 1).filter((i) => !shards.has(i));
    if (missing.length) throw new MlcError('INPUT', `shard${missing.length > 1 ? 's' : ''} ${missing.map((i) => `${i}/${total}`).join(', ')} missing: their models would go unchecked`);
  }
  const merged = fleetDocument(models);
  if (total !== undefined) {
    const n = total;
    merged.shards = [...shards.keys()].sort((a, b) => a - b).map((index) => ({ index, total: n }));
  }
  return merged;
}

const STATUS: Record<number, string> = { 0: 'passed', 1: 'gate failed', 2: 'error', 3: 'crashed' };

export function statusOf(m: FleetEntry): string {
  return STATUS[m.code] ?? `exit ${m.code}`;
}

function failedGates(m: FleetEntry): GateResult[] {
  return (m.report?.gates ?? []).filter((g) => !g.passed);
}

/** `max-size 312 kB (312,000 B) > 300 kB (300,000 B)` */
export function gateShort(g: GateResult): string {
  const op = g.actual === null ? 'vs' : gateOf(g.name)?.kind === 'max' ? '>' : '<';
  return `${g.name} ${formatGateValue(g.name, g.actual)} ${op} ${formatGateValue(g.name, g.limit)}`;
}

function sizes(m: FleetEntry): string {
  const r = m.report;
  if (!r?.before) return '';
  return r.after ? `${formatBytes(r.before.sizeBytes)} → ${formatBytes(r.after.sizeBytes)}` : formatBytes(r.before.sizeBytes);
}

/** One line per model for stdout. */
export function fleetLine(m: FleetEntry): string {
  const name = key(m);
  if (m.error) return `✗ ${name}: ${statusOf(m)}: ${m.error.message}`;
  const failed = failedGates(m);
  const out = m.report?.output ? ` → ${m.report.output}` : '';
  const tail = `${sizes(m)}${m.report?.gates.length ? `, gates ${failed.length ? `failed: ${failed.map(gateShort).join('; ')}` : 'passed'}` : ''}`;
  return `${m.code === 0 ? '✓' : '✗'} ${name}${out}  ${tail} (${formatMs(m.ms)})`;
}

/** The closing line: counts and the exit code. */
export function fleetSummaryLine(d: FleetDocument): string {
  const s = d.summary;
  return `${s.models} model${s.models === 1 ? '' : 's'}: ${s.passed} passed, ${s.failedGates} failed a gate, ${s.errors} error${s.errors === 1 ? '' : 's'} (exit ${d.exitCode})`;
}

const mdEscape = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

/** The markdown report: a row per model, failing ones first (worst exit code first), then by name. */
export function fleetToMarkdown(d: FleetDocument, title = 'mlc fleet'): string {
  const rows = [...d.models].sort((a, b) => b.code - a.code || byModel(a, b));
  const out: string[] = [];
  out.push(`### ${title}: ${d.passed ? 'all passed ✅' : 'FAILED ❌'}`);
  out.push('');
  out.push(fleetSummaryLine(d) + (d.shards ? `; shards ${d.shards.map((s) => s.index).join(', ')} of ${d.shards[0].total}` : ''));
  out.push('');
  out.push('| model | result | size | gzip | gates |');
  out.push('|---|---|---:|---:|---|');
  for (const m of rows) {
    const r = m.report;
    const gzip = r?.before ? (r.after ? `${formatBytes(r.before.gzipBytes)} → ${formatBytes(r.after.gzipBytes)}` : formatBytes(r.before.gzipBytes)) : '';
    const failed = failedGates(m);
    const gates = m.error
      ? m.error.message
      : failed.length
        ? failed.map(gateShort).join('; ')
        : r?.gates.length
          ? `${r.gates.length} passed${r.gates.some((g) => g.inconclusive) ? ` (${r.gates.filter((g) => g.inconclusive).map((g) => `${g.name} inconclusive`).join(', ')})` : ''}`
          : '—';
    const icon = m.code === 0 ? '✅' : m.code === 1 ? '❌' : '⛔';
    out.push(`| \`${mdEscape(key(m))}\` | ${icon} ${statusOf(m)} | ${sizes(m)} | ${gzip} | ${mdEscape(gates)} |`);
  }
  return out.join('\n') + '\n';
}

/** GitHub Actions workflow-command escaping (data, and property values). */
function ghData(s: string): string {
  return s.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}
function ghProp(s: string): string {
  return ghData(s).replace(/:/g, '%3A').replace(/,/g, '%2C');
}

/** `::error file=<model>::<gate> <actual> > <limit>` per failed gate of one model, `::warning` per inconclusive one. */
export function gateAnnotations(model: string, gates: readonly GateResult[]): string[] {
  const file = `file=${ghProp(model)}`;
  const out: string[] = [];
  for (const g of gates) {
    if (!g.passed) out.push(`::error ${file}::${ghData(gateShort(g))}`);
    else if (g.inconclusive && g.interval) {
      const f = (v: number) => formatGateValue(g.name, v);
      out.push(`::warning ${file}::${ghData(`${g.name} inconclusive: ${ciName(g.level)} interval ${f(g.interval[0])}–${f(g.interval[1])} straddles ${f(g.limit)}`)}`);
    }
  }
  return out;
}

/** The annotations of a fleet run: per model, its error, or its gates' (`gateAnnotations`). */
export function githubAnnotations(d: FleetDocument): string[] {
  const out: string[] = [];
  for (const m of d.models) {
    if (m.error) out.push(`::error file=${ghProp(m.model)}::${ghData(`${statusOf(m)}: ${m.error.message}`)}`);
    out.push(...gateAnnotations(m.model, m.report?.gates ?? []));
  }
  return out;
}
