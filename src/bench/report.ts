/**
 * Reports: the JSON document (schema in ../../shared/DESIGN.md, documented in the README), the
 * human table (before | after | change), and the markdown version for --report and
 * $GITHUB_STEP_SUMMARY. Pure formatting: nothing here measures, prints or writes files.
 */
import { formatBytes, formatMs } from './format.js';
import { ciName, formatGateValue, gateOf } from './gates.js';
import { type TargetCheck, targetLine } from './target.js';
import type { GateResult, LatencyMs, Metrics, Report, RuntimeResult } from './types.js';

export type { BenchSettings, GateResult, LatencyMs, Metrics, PassReport, Report, RuntimeResult } from './types.js';

/** The report as a JSON-ready object (stable key order, numbers rounded to meaningful precision). */
export function reportDocument(r: Report): Record<string, unknown> {
  const metrics = (m: Metrics | null, after: boolean) =>
    m && {
      sizeBytes: m.sizeBytes,
      gzipBytes: m.gzipBytes,
      ...(m.gzipSampled ? { gzipSampled: { fraction: round(m.gzipSampled.fraction, 4), relStdErr: round(m.gzipSampled.relStdErr, 3) } } : {}),
      ...(m.brotliBytes != null ? { brotliBytes: m.brotliBytes } : {}),
      params: m.params,
      nonzeroParams: m.nonzeroParams,
      latencyMs: m.latencyMs && {
        p50: round(m.latencyMs.p50, 5),
        p90: round(m.latencyMs.p90, 5),
        p99: round(m.latencyMs.p99, 5),
        mean: round(m.latencyMs.mean, 5),
        cv: round(m.latencyMs.cv, 4),
        ...(m.latencyMs.p50Ci ? { p50Ci: m.latencyMs.p50Ci.map((v) => round(v, 5)) } : {}),
      },
      throughputPerSec: m.throughputPerSec === null ? null : Math.round(m.throughputPerSec * 10) / 10,
      accuracy: m.accuracy,
      ...(after
        ? {
            agreement: m.agreement ?? null,
            cosine: m.cosine == null ? null : round(m.cosine, 8),
            maxAbsError: m.maxAbsError ?? null,
          }
        : {}),
      bytesByDtype: m.bytesByDtype,
    };
  const doc = {
    input: r.input,
    output: r.output,
    passes: r.passes.map((p) => ({
      name: p.name,
      modified: p.modified,
      ms: Math.round(p.ms),
      stats: p.stats,
      skipped: p.skipped,
      ...(p.details && p.details.length ? { details: p.details } : {}),
    })),
    before: metrics(r.before, false),
    after: metrics(r.after, true),
    speedup: r.speedup === null ? null : round(r.speedup, 4),
    ...(r.speedupCi ? { speedupCi: r.speedupCi.map((v) => round(v, 4)) } : {}),
    settings: r.settings,
    ...(r.runtimes ? { runtimes: r.runtimes.map(runtimeDocument) } : {}),
    ...(r.target ? { target: r.target } : {}),
    gates: r.gates,
    passed: r.passed,
  };
  return doc;
}

function latencyDocument(l: LatencyMs | null) {
  return l && { p50: round(l.p50, 5), p90: round(l.p90, 5), p99: round(l.p99, 5), mean: round(l.mean, 5), cv: round(l.cv, 4) };
}

function runtimeDocument(x: RuntimeResult): Record<string, unknown> {
  const tp = (v: number | null) => (v === null ? null : Math.round(v * 10) / 10);
  return {
    runtime: x.runtime,
    before: { latencyMs: latencyDocument(x.before.latencyMs), throughputPerSec: tp(x.before.throughputPerSec), accuracy: x.before.accuracy },
    after: x.after && {
      latencyMs: latencyDocument(x.after.latencyMs),
      throughputPerSec: tp(x.after.throughputPerSec),
      accuracy: x.after.accuracy,
      agreement: x.after.agreement ?? null,
      cosine: x.after.cosine == null ? null : round(x.after.cosine, 8),
      maxAbsError: x.after.maxAbsError ?? null,
    },
    speedup: x.speedup === null ? null : round(x.speedup, 4),
    batchSize: x.batchSize,
    notMeasured: x.notMeasured,
  };
}

/** The report as a JSON document. */
export function reportToJson(r: Report): string {
  return JSON.stringify(reportDocument(r), null, 2);
}

function round(v: number, digits: number): number {
  if (!Number.isFinite(v)) return v;
  return Number(v.toPrecision(digits));
}

// ---------------------------------------------------------------------------------------------
// rows shared by the text table and the markdown table

/** One row of the before | after | change table. */
export interface Row {
  label: string;
  before: string;
  after: string;
  change: string;
}

const int = (n: number) => Math.round(n).toLocaleString('en-US');
const pct = (f: number | null | undefined, digits = 2) => (f == null ? '—' : `${(f * 100).toFixed(digits)}%`);

function relChange(b: number, a: number): string {
  if (b === 0) return a === 0 ? '0%' : '—';
  if (a === b) return '0%';
  const c = ((a - b) / b) * 100;
  const s = Math.abs(c) >= 10 ? c.toFixed(1) : c.toFixed(2);
  return `${c > 0 ? '+' : ''}${s === '-0.00' ? '0.00' : s}%`;
}

function ratioText(b: number, a: number): string {
  if (!(a > 0) || !(b > 0)) return '—';
  const r = b / a;
  return r >= 1 ? `${r.toFixed(2)}x faster` : `${(1 / r).toFixed(2)}x slower`;
}

/** The rows of the before | after | change table (text, markdown and HTML reports). */
export function reportRows(r: Report): Row[] {
  const b = r.before;
  const a = r.after;
  const out: Row[] = [];
  const add = (label: string, before: string, after: string, change: string) => out.push({ label, before, after, change });
  const na = '—';
  add('size', formatBytes(b.sizeBytes), a ? formatBytes(a.sizeBytes) : '', a ? relChange(b.sizeBytes, a.sizeBytes) : '');
  const gz = (m: Metrics) => (m.gzipSampled ? '≈' : '') + formatBytes(m.gzipBytes);
  add('gzip size', gz(b), a ? gz(a) : '', a ? relChange(b.gzipBytes, a.gzipBytes) : '');
  if (b.brotliBytes != null) {
    const ab = a?.brotliBytes;
    add('brotli size', formatBytes(b.brotliBytes), ab != null ? formatBytes(ab) : a ? na : '', ab != null ? relChange(b.brotliBytes, ab) : '');
  }
  add('params', int(b.params), a ? int(a.params) : '', a ? relChange(b.params, a.params) : '');
  add(
    'non-zero params',
    int(b.nonzeroParams),
    a ? int(a.nonzeroParams) : '',
    a ? relChange(b.nonzeroParams, a.nonzeroParams) : '',
  );
  if (b.latencyMs || a?.latencyMs) {
    for (const k of ['p50', 'p99'] as const) {
      const bv = b.latencyMs?.[k];
      const av = a?.latencyMs?.[k];
      add(
        `latency ${k}`,
        bv === undefined ? na : formatMs(bv),
        a ? (av === undefined ? na : formatMs(av)) : '',
        a && bv !== undefined && av !== undefined ? ratioText(bv, av) : '',
      );
    }
  }
  if (b.throughputPerSec !== null || (a && a.throughputPerSec !== null)) {
    const label = r.settings.batchSize ? `throughput (batch ${r.settings.batchSize})` : 'throughput';
    const f = (v: number | null) => (v === null ? na : `${v >= 100 ? int(v) : v.toPrecision(3)}/s`);
    add(
      label,
      f(b.throughputPerSec),
      a ? f(a.throughputPerSec) : '',
      a && b.throughputPerSec && a.throughputPerSec ? relChange(b.throughputPerSec, a.throughputPerSec) : '',
    );
  }
  if (b.accuracy !== null || (a && a.accuracy !== null)) {
    const change =
      a && b.accuracy !== null && a.accuracy !== null
        ? `${a.accuracy - b.accuracy >= 0 ? '+' : ''}${((a.accuracy - b.accuracy) * 100).toFixed(2)} pts`
        : '';
    add('accuracy (top-1)', pct(b.accuracy), a ? pct(a.accuracy) : '', change);
  }
  if (a && a.agreement != null) {
    add('agreement (top-1)', '', pct(a.agreement), '');
    add('cosine similarity', '', a.cosine == null ? na : a.cosine.toFixed(6), '');
    add('max abs error', '', a.maxAbsError == null ? na : a.maxAbsError.toPrecision(4), '');
  }
  return out;
}

/** The side-by-side runtime table (`--runtime a,b`): header and rows of cells. */
export function runtimeTable(r: Report): string[][] | null {
  if (!r.runtimes) return null;
  const two = r.after !== null;
  const ms = (l: LatencyMs | null | undefined) => (l ? formatMs(l.p50) : '—');
  const tps = (v: number | null | undefined) => (v == null ? '—' : `${v >= 100 ? int(v) : v.toPrecision(3)}/s`);
  const head = two
    ? ['runtime', 'p50 before', 'p50 after', 'speedup', 'throughput after', 'cosine', 'agreement', 'accuracy after']
    : ['runtime', 'p50', 'p99', 'throughput', 'accuracy'];
  const rowsOut = [head];
  for (const x of r.runtimes) {
    if (x.notMeasured && !x.before.latencyMs && x.after?.cosine == null) {
      rowsOut.push([x.runtime, `not measured: ${x.notMeasured}`]);
      continue;
    }
    if (two) {
      const a = x.after;
      rowsOut.push([
        x.runtime,
        ms(x.before.latencyMs),
        ms(a?.latencyMs),
        x.speedup === null ? '—' : `${x.speedup.toFixed(2)}x`,
        tps(a?.throughputPerSec),
        a?.cosine == null ? '—' : a.cosine.toFixed(6),
        pct(a?.agreement),
        pct(a?.accuracy),
      ]);
    } else {
      rowsOut.push([x.runtime, ms(x.before.latencyMs), x.before.latencyMs ? formatMs(x.before.latencyMs.p99) : '—', tps(x.before.throughputPerSec), pct(x.before.accuracy)]);
    }
  }
  return rowsOut;
}

function runtimeTextLines(r: Report): string[] {
  const t = runtimeTable(r);
  if (!t) return [];
  const widths = t[0].map((_, c) => Math.max(...t.filter((row) => row.length > 2).map((row) => (row[c] ?? '').length)));
  return t.map((row) =>
    row.length === 2 ? `${row[0].padEnd(widths[0])}  ${row[1]}` : row.map((v, c) => (c === 0 ? v.padEnd(widths[c]) : v.padStart(widths[c]))).join('  ').trimEnd(),
  );
}

const cell = (v: unknown): string =>
  typeof v === 'number' && !Number.isInteger(v) ? String(Number(v.toPrecision(4))) : Array.isArray(v) ? `[${v.join(', ')}]` : String(v);

export function passLines(r: Report, maxSkips = 5, details = false): string[] {
  const lines: string[] = [];
  for (const p of r.passes) {
    const stats = Object.entries(p.stats)
      .map(([k, v]) => `${k}=${typeof v === 'number' && !Number.isInteger(v) ? Number(v.toPrecision(4)) : v}`)
      .join(', ');
    lines.push(`${p.name}: ${p.modified ? 'modified' : 'no change'} in ${Math.round(p.ms)} ms${stats ? ` (${stats})` : ''}`);
    if (p.skipped.length) {
      const shown = p.skipped.slice(0, maxSkips).map((s) => `${s.node} (${s.reason})`);
      const more = p.skipped.length > maxSkips ? `, and ${p.skipped.length - maxSkips} more (--verbose lists all)` : '';
      lines.push(`  skipped ${p.skipped.length}: ${shown.join('; ')}${more}`);
    }
    if (details) {
      for (const d of p.details ?? []) {
        lines.push(`  ${Object.entries(d).map(([k, v]) => `${k}=${cell(v)}`).join(' ')}`);
      }
    }
  }
  return lines;
}

/** ` (95% interval 1.48x–1.62x)` after the speedup, when measured */
export function ciText(r: Report): string {
  return r.speedupCi ? ` (${ciName(r.settings.ciLevel)} interval ${r.speedupCi[0].toFixed(2)}x–${r.speedupCi[1].toFixed(2)}x)` : '';
}

/** What a gate's result says: passed, FAILED, or inconclusive (its interval straddles the limit). */
export function gateStatus(g: GateResult): string {
  return g.inconclusive ? 'inconclusive' : g.passed ? 'passed' : 'FAILED';
}

export function gateValue(g: GateResult): string {
  const ci = g.interval ? `, ${ciName(g.level)} interval ${formatGateValue(g.name, g.interval[0])}–${formatGateValue(g.name, g.interval[1])}` : '';
  return `${formatGateValue(g.name, g.actual)}${ci}`;
}

function gateLine(g: GateResult): string {
  const max = gateOf(g.name)?.kind === 'max';
  const op = g.actual === null ? 'vs' : g.inconclusive ? 'vs' : max ? (g.passed ? '≤' : '>') : g.passed ? '≥' : '<';
  return `${g.name}: ${gateStatus(g)} (${gateValue(g)} ${op} ${formatGateValue(g.name, g.limit)})`;
}

/** The measurement settings in one line (threads, runs, samples, shapes, …). */
export function settingsLine(r: Report): string {
  const s = r.settings;
  const parts = [s.runtime && s.runtime !== 'node' ? `runtime ${s.runtime}, threads ${s.threads}` : `threads ${s.threads}`];
  if (s.runs !== null) {
    if (s.timeBoxMs) {
      const cv = [r.before, r.after].filter((m) => m?.latencyMs).map((m) => pctShort(m!.latencyMs!.cv));
      parts.push(`${s.runs} timed runs per model (batch 1), time-boxed at ${s.timeBoxMs / 1000} s, cv ${cv.join(' / ')}`);
    } else parts.push(`${s.runs} timed runs per model after ${s.warmup} warm-up (batch 1)`);
  }
  if (s.samples) parts.push(`${s.samples} samples${s.outputName ? ` on output "${s.outputName}"` : ''}`);
  if (s.disabledOptimizers?.length) parts.push(`onnxruntime transformers off: ${s.disabledOptimizers.join(', ')}`);
  if (s.inputShapes && s.runs !== null) {
    parts.push(`inputs ${Object.entries(s.inputShapes).map(([k, d]) => `${k} [${d.join(', ')}]`).join(', ')}`);
  }
  if (s.notMeasured) parts.push(`not measured: ${s.notMeasured}`);
  const sampled = [r.before, r.after].filter((m): m is Metrics => !!m?.gzipSampled);
  if (sampled.length) {
    const f = (m: Metrics) => `${pctShort(m.gzipSampled!.fraction)} of ${formatBytes(m.sizeBytes)}, ±${pctShort(m.gzipSampled!.relStdErr)}`;
    parts.push(`≈ gzip -9 estimated from a sample (${sampled.map(f).join('; ')}; --exact-gzip compresses everything)`);
  }
  return parts.join(', ');
}

/**
 * The human table for stdout; `maxSkips` skipped nodes are listed per pass (default 5), and with
 * `details` each pass's per-layer records.
 */
export function reportToText(r: Report, opts: { maxSkips?: number; details?: boolean } = {}): string {
  const rs = reportRows(r);
  const two = r.after !== null;
  const header = two ? { label: '', before: 'before', after: 'after', change: 'change' } : { label: '', before: 'value', after: '', change: '' };
  const all = [header, ...rs];
  const w = (k: keyof Row) => Math.max(...all.map((x) => x[k].length));
  const wl = w('label');
  const wb = w('before');
  const wa = w('after');
  const line = (x: Row) =>
    two
      ? `${x.label.padEnd(wl)}  ${x.before.padStart(wb)}  ${x.after.padStart(wa)}  ${x.change}`.trimEnd()
      : `${x.label.padEnd(wl)}  ${x.before.padStart(wb)}`.trimEnd();
  const out: string[] = [];
  out.push(two ? `${r.input} → ${r.output}` : r.input);
  out.push(line(header));
  for (const x of rs) out.push(line(x));
  if (r.speedup !== null && two) out.push(`speedup (p50): ${r.speedup.toFixed(2)}x${ciText(r)}`);
  out.push(`(${settingsLine(r)})`);
  const rt = runtimeTextLines(r);
  if (rt.length) {
    out.push('');
    out.push(`by runtime (the first one's figures are above${r.gates.length ? ' and the gates read them' : ''}):`);
    for (const l of rt) out.push(`  ${l}`);
  }
  const pl = passLines(r, opts.maxSkips ?? 5, !!opts.details);
  if (pl.length) {
    out.push('');
    out.push('passes:');
    for (const l of pl) out.push(`  ${l}`);
  }
  if (r.target) out.push('', ...targetLines(r.target, opts.maxSkips ?? 5));
  if (r.gates.length) {
    out.push('');
    out.push(`gates: ${r.passed ? 'all passed' : 'FAILED'}`);
    for (const g of r.gates) out.push(`  ${gateLine(g)}`);
  }
  return out.join('\n') + '\n';
}

const mdEscape = (s: string) => s.replace(/\|/g, '\\|');

/** The markdown report (for --report and $GITHUB_STEP_SUMMARY). */
export function reportToMarkdown(r: Report, title?: string): string {
  const rs = reportRows(r);
  const two = r.after !== null;
  const out: string[] = [];
  out.push(`### ${title ?? (two ? `mlc: \`${r.input}\` → \`${r.output}\`` : `mlc bench: \`${r.input}\``)}`);
  out.push('');
  if (two) {
    out.push('| | before | after | change |');
    out.push('|---|---:|---:|---:|');
    for (const x of rs) out.push(`| ${mdEscape(x.label)} | ${x.before} | ${x.after} | ${x.change} |`);
  } else {
    out.push('| | value |');
    out.push('|---|---:|');
    for (const x of rs) out.push(`| ${mdEscape(x.label)} | ${x.before} |`);
  }
  out.push('');
  if (r.speedup !== null && two) out.push(`Speedup (p50): **${r.speedup.toFixed(2)}x**${ciText(r)}. `);
  out.push(`_${settingsLine(r)}_`);
  const rt = runtimeTable(r);
  if (rt) {
    out.push('');
    out.push('**By runtime**');
    out.push('');
    out.push(`| ${rt[0].join(' | ')} |`);
    out.push(`|---|${rt[0].slice(1).map(() => '---:').join('|')}|`);
    for (const row of rt.slice(1)) out.push(`| ${row.map(mdEscape).join(' | ')} |`);
  }
  const pl = passLines(r);
  if (pl.length) {
    out.push('');
    out.push('**Passes**');
    out.push('');
    for (const l of pl) out.push(l.startsWith('  ') ? `  - ${mdEscape(l.trim())}` : `- ${mdEscape(l)}`);
  }
  if (r.target) {
    out.push('');
    out.push(`**${mdEscape(targetLine(r.target))}**`);
    for (const f of r.target.fallbacks.slice(0, 20)) out.push(`- \`${mdEscape(f.node)}\` (${f.op}): ${mdEscape(f.reason)}`);
    if (r.target.fallbacks.length > 20) out.push(`- and ${r.target.fallbacks.length - 20} more`);
  }
  if (r.gates.length) {
    out.push('');
    out.push(`**Gates: ${r.passed ? 'all passed ✅' : 'FAILED ❌'}**`);
    out.push('');
    out.push('| gate | actual | limit | result |');
    out.push('|---|---:|---:|---|');
    for (const g of r.gates) {
      out.push(
        `| ${g.name} | ${gateValue(g)} | ${formatGateValue(g.name, g.limit)} | ${g.inconclusive ? '⚠️ inconclusive' : g.passed ? '✅ passed' : '❌ failed'} |`,
      );
    }
  }
  return out.join('\n') + '\n';
}

/** The target check for the text report: its verdict, then the nodes that leave the target. */
export function targetLines(c: TargetCheck, max = 5): string[] {
  const out = [targetLine(c)];
  for (const f of c.fallbacks.slice(0, max)) out.push(`  ${f.node} (${f.op}): ${f.reason}`);
  if (c.fallbacks.length > max) out.push(`  and ${c.fallbacks.length - max} more (--verbose lists all)`);
  return out;
}

function pctShort(x: number): string {
  const p = 100 * x;
  return `${p >= 10 ? p.toFixed(0) : p >= 0.1 ? p.toFixed(1) : p.toPrecision(1)}%`;
}
