/**
 * The visual report (`--report report.html`): one self-contained HTML file — no script, no
 * network request, no external font or style; every chart is inline SVG drawn here. It renders
 * whatever it is given: a compress / bench `Report` (summary, gates, size by layer and dtype,
 * per-layer sparsity / weight error / what the passes recorded, latency distributions), a
 * `SensitivityReport` (the per-layer cost bars) and a `TuneReport` (the Pareto front with the
 * chosen recipe). Every string that comes from a model or a file is escaped.
 *
 * Accessibility: each chart is an `<svg role="img">` with a `<title>` and a `<desc>`, each bar and
 * point has its own `<title>` (a tooltip in browsers), and the figures are also in tables; light
 * and dark follow `prefers-color-scheme`. Pure formatting: nothing here measures or writes.
 */
import { formatBytes, formatMs } from './format.js';
import { ciName, formatGateValue } from './gates.js';
import { dtypeOrder, type LayerRow, type LayerStat, type LayerStats, layerRows } from './layers.js';
import { ciText, gateStatus, gateValue, passLines, reportRows, runtimeTable, settingsLine } from './report.js';
import { targetLine } from './target.js';
import type { LatencyMs, Report, SensitivityReport, TuneCandidate, TuneReport } from './types.js';

export interface HtmlInput {
  /** the page's title (default from the report: "mlc: in → out") */
  title?: string;
  report?: Report | null;
  sensitivity?: SensitivityReport | null;
  tune?: TuneReport | null;
}

/** Layers drawn one by one in a chart; the rest are summed into one bar. */
export const MAX_CHART_LAYERS = 40;

const ESC: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Escape text for HTML / SVG content and attribute values. */
export function esc(s: unknown): string {
  return String(s).replace(/[&<>"']/g, (c) => ESC[c]);
}

const num = (v: number, digits = 3) => (Number.isFinite(v) ? String(Number(v.toPrecision(digits))) : String(v));
const pct = (f: number | null | undefined, digits = 1) => (f == null ? '—' : `${(f * 100).toFixed(digits)}%`);
const px = (v: number) => Number(v.toFixed(1));

/** Labels longer than this are cut in charts (the full text is in the element's title). */
const LABEL_CHARS = 34;
const cut = (s: string, n = LABEL_CHARS) => (s.length > n ? `…${s.slice(s.length - n + 1)}` : s);

let ids = 0;

/** An SVG chart: `role="img"`, a title and a description for screen readers. */
function svg(w: number, h: number, title: string, desc: string, body: string): string {
  const id = `c${++ids}`;
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 ${px(w)} ${px(h)}" width="${px(w)}" height="${px(h)}" role="img" aria-labelledby="${id}t ${id}d">` +
    `<title id="${id}t">${esc(title)}</title><desc id="${id}d">${esc(desc)}</desc>${body}</svg>`
  );
}

function rect(x: number, y: number, w: number, h: number, cls: string, tip: string): string {
  return `<rect x="${px(x)}" y="${px(y)}" width="${px(Math.max(w, 0))}" height="${px(Math.max(h, 0))}" class="${cls}"><title>${esc(tip)}</title></rect>`;
}

function text(x: number, y: number, s: string, attrs = ''): string {
  return `<text x="${px(x)}" y="${px(y)}"${attrs ? ` ${attrs}` : ''}>${esc(s)}</text>`;
}

function line(x1: number, y1: number, x2: number, y2: number, cls: string): string {
  return `<line x1="${px(x1)}" y1="${px(y1)}" x2="${px(x2)}" y2="${px(y2)}" class="${cls}"/>`;
}

/** 4–6 round ticks covering [lo, hi]. */
function ticks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

/** Ticks at 1, 2 and 5 times the powers of ten within [lo, hi] (a log axis); at most 8. */
function logTicks(lo: number, hi: number): number[] {
  const out: number[] = [];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) for (const k of [1, 2, 5]) out.push(Number((k * 10 ** e).toPrecision(6)));
  const inside = out.filter((v) => v >= lo && v <= hi);
  return inside.length > 8 ? inside.filter((v) => /^1/.test(String(v)) || /^1e/.test(v.toExponential())) : inside;
}

function table(head: string[], rows: string[][], caption: string, numeric: (i: number) => boolean = (i) => i > 0): string {
  const th = head.map((h, i) => `<th scope="col"${numeric(i) ? ' class="n"' : ''}>${esc(h)}</th>`).join('');
  const body = rows.map((r) => `<tr>${r.map((c, i) => (i === 0 ? `<th scope="row">${esc(c)}</th>` : `<td${numeric(i) ? ' class="n"' : ''}>${esc(c)}</td>`)).join('')}</tr>`).join('\n');
  return `<div class="scroll"><table><caption>${esc(caption)}</caption><thead><tr>${th}</tr></thead><tbody>\n${body}\n</tbody></table></div>`;
}

function section(id: string, title: string, body: string): string {
  return `<section id="${id}" aria-labelledby="${id}-h"><h2 id="${id}-h">${esc(title)}</h2>\n${body}\n</section>`;
}

// ---------------------------------------------------------------------------------------------
// summary

function summarySection(r: Report): string {
  const rows = reportRows(r);
  const two = r.after !== null;
  const head = two ? ['', 'before', 'after', 'change'] : ['', 'value'];
  const body = rows.map((x) => (two ? [x.label, x.before, x.after, x.change] : [x.label, x.before]));
  const parts = [table(head, body, two ? 'The original and the compressed model' : 'The model')];
  if (r.speedup !== null && two) parts.push(`<p class="big">Speedup (p50): <strong>${esc(r.speedup.toFixed(2))}x</strong>${esc(ciText(r))}</p>`);
  parts.push(`<p class="note">${esc(settingsLine(r))}</p>`);
  const rt = runtimeTable(r);
  if (rt) parts.push(table(rt[0], rt.slice(1).map((row) => (row.length === 2 ? [row[0], row[1], ...rt[0].slice(2).map(() => '')] : row)), 'By runtime (the gates read the first)'));
  if (r.target) parts.push(`<p class="${r.target.passed ? 'ok' : 'bad'}">${esc(targetLine(r.target))}</p>`);
  if (r.gates.length) {
    parts.push(`<h3>Gates: <span class="${r.passed ? 'ok' : 'bad'}">${r.passed ? 'all passed' : 'FAILED'}</span></h3>`);
    parts.push(
      table(
        ['gate', 'actual', 'limit', 'result'],
        r.gates.map((g) => [g.name, gateValue(g), formatGateValue(g.name, g.limit), gateStatus(g)]),
        'Gates',
        (i) => i === 1 || i === 2,
      ),
    );
  }
  const pl = passLines(r, 20, false);
  if (pl.length) parts.push(`<h3>Passes</h3><ul class="passes">${pl.map((l) => `<li>${esc(l.trim())}</li>`).join('')}</ul>`);
  return section('summary', 'Summary', parts.join('\n'));
}

// ---------------------------------------------------------------------------------------------
// size by layer and dtype

/** One colour per dtype in every chart (the usual ones fixed, others by a hash of the name). */
const DTYPE_COLOURS: Record<string, number> = { float: 0, float16: 5, bfloat16: 7, double: 0, int8: 1, uint8: 6, int4: 3, uint4: 3, int32: 4, int64: 2 };
function dtypeClass(d: string): string {
  let h = 0;
  for (const ch of d) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
  return `k${DTYPE_COLOURS[d] ?? h % 8}`;
}

interface Pair {
  label: string;
  before: Record<string, number> | null;
  after: Record<string, number> | null;
}

/** Stacked horizontal bars, one or two (before / after) per row, one colour per dtype. */
function stackedBars(pairs: Pair[], dtypes: string[], title: string, desc: string): string {
  const two = pairs.some((p) => p.after);
  const labelW = 230;
  const barW = 520;
  const bh = 11;
  const rowH = two ? 2 * bh + 9 : bh + 7;
  const top = 28;
  const total = (b: Record<string, number> | null) => (b ? Object.values(b).reduce((a, v) => a + v, 0) : 0);
  const max = Math.max(1, ...pairs.flatMap((p) => [total(p.before), total(p.after)]));
  const cls = dtypeClass;
  let body = '';
  // legend
  let lx = labelW;
  for (const d of dtypes) {
    body += rect(lx, 6, 10, 10, cls(d), d) + text(lx + 14, 15, d, 'class="small"');
    lx += 24 + d.length * 7;
  }
  if (two) body += text(lx + 8, 15, 'upper bar: before · lower bar: after', 'class="small muted"');
  pairs.forEach((p, i) => {
    const y = top + i * rowH;
    body += `<g>${text(labelW - 6, y + (two ? bh + 3 : bh - 1), cut(p.label), 'text-anchor="end" class="small"')}<title>${esc(p.label)}</title></g>`;
    const bars: [string, Record<string, number> | null, number][] = two ? [['before', p.before, y], ['after', p.after, y + bh + 1]] : [['', p.before, y]];
    for (const [which, b, by] of bars) {
      if (!b) {
        if (two) body += text(labelW + 2, by + bh - 2, which === 'after' ? 'no matching layer' : 'new layer', 'class="tiny muted"');
        continue;
      }
      let x = labelW;
      for (const d of dtypes) {
        const v = b[d] ?? 0;
        if (!v) continue;
        const w = (v / max) * barW;
        body += rect(x, by, w, bh, cls(d), `${p.label}${which ? ` (${which})` : ''}: ${d} ${formatBytes(v)}`);
        x += w;
      }
      body += text(x + 4, by + bh - 2, formatBytes(total(b)), 'class="tiny"');
    }
  });
  const h = top + pairs.length * rowH + 8;
  return svg(labelW + barW + 80, h, title, desc, body);
}

function layerPairs(layers: LayerStats): { rows: LayerRow[] } {
  return { rows: layerRows(layers) };
}

function sizeSection(r: Report | null | undefined, layers: LayerStats | undefined): string {
  const parts: string[] = [];
  if (r) {
    const dtypes = dtypeOrder([...Object.keys(r.before.bytesByDtype), ...Object.keys(r.after?.bytesByDtype ?? {})]);
    parts.push(
      stackedBars(
        [{ label: 'whole model (constants)', before: r.before.bytesByDtype, after: r.after?.bytesByDtype ?? null }],
        dtypes,
        'Constant bytes by dtype',
        `The model's constant bytes by dtype${r.after ? ', before and after' : ''}.`,
      ),
    );
  }
  if (layers) {
    const { rows } = layerPairs(layers);
    const bytes = (x: { before: LayerStat | null; after: LayerStat | null }) => Math.max(x.before?.bytes ?? 0, x.after?.bytes ?? 0);
    const sorted = [...rows].sort((a, b) => bytes(b) - bytes(a));
    const shown = sorted.slice(0, MAX_CHART_LAYERS);
    const rest = sorted.slice(MAX_CHART_LAYERS);
    const pairs: Pair[] = shown.map((x) => ({ label: (x.before ?? x.after)!.node, before: x.before?.bytesByDtype ?? null, after: layers.after ? (x.after?.bytesByDtype ?? null) : null }));
    if (rest.length) {
      const sum = (pick: (x: (typeof rest)[number]) => LayerStat | null) => {
        const out: Record<string, number> = {};
        for (const x of rest) for (const [k, v] of Object.entries(pick(x)?.bytesByDtype ?? {})) out[k] = (out[k] ?? 0) + v;
        return out;
      };
      pairs.push({ label: `${rest.length} smaller layers`, before: sum((x) => x.before), after: layers.after ? sum((x) => x.after) : null });
    }
    const dtypes = dtypeOrder(pairs.flatMap((p) => [...Object.keys(p.before ?? {}), ...Object.keys(p.after ?? {})]));
    parts.push(
      `<h3>By layer</h3>`,
      stackedBars(pairs, dtypes, 'Weight bytes by layer and dtype', `Bytes of each layer's weights by dtype, the ${shown.length} largest layers${layers.after ? ', before (upper bar) and after (lower bar)' : ''}.`),
    );
  }
  if (!parts.length) return '';
  return section('size', 'Size by layer and dtype', parts.join('\n'));
}

// ---------------------------------------------------------------------------------------------
// per-layer sparsity, weight error and the passes' notes

/** Horizontal bars of one value per layer (null values are listed as "—"). */
function valueBars(items: { label: string; value: number | null; tip?: string }[], title: string, desc: string, fmt: (v: number) => string, cls = 'k0', labelW = 230): string {
  const chars = Math.floor(labelW / 6.6);
  const barW = 420;
  const bh = 12;
  const rowH = bh + 5;
  const top = 8;
  const max = Math.max(1e-12, ...items.map((i) => Math.abs(i.value ?? 0)));
  let body = '';
  items.forEach((it, i) => {
    const y = top + i * rowH;
    body += `<g>${text(labelW - 6, y + bh - 2, cut(it.label, chars), 'text-anchor="end" class="small"')}<title>${esc(it.label)}</title></g>`;
    const v = it.value;
    if (v === null) {
      body += `<g>${text(labelW + 2, y + bh - 2, 'not measured', 'class="tiny muted"')}<title>${esc(it.tip ?? `${it.label}: not measured`)}</title></g>`;
      return;
    }
    const w = (Math.abs(v) / max) * barW;
    body += rect(labelW, y, w, bh, v < 0 ? 'neg' : cls, it.tip ?? `${it.label}: ${fmt(v)}`);
    body += text(labelW + w + 4, y + bh - 2, fmt(v), 'class="tiny"');
  });
  return svg(labelW + barW + 90, top + items.length * rowH + 6, title, desc, body);
}

/** Notes worth a chart: numbers whose key names a rank, an error, an energy or a sparsity. */
const CHART_NOTE = /rank|error|energy|sparsity|rmse|sqnr/i;

function layerSection(layers: LayerStats): string {
  const { rows } = layerPairs(layers);
  if (!rows.length) return '';
  const two = layers.after !== null;
  const byBytes = [...rows].sort((a, b) => Math.max(b.before?.bytes ?? 0, b.after?.bytes ?? 0) - Math.max(a.before?.bytes ?? 0, a.after?.bytes ?? 0));
  const shown = byBytes.slice(0, MAX_CHART_LAYERS);
  const name = (x: (typeof rows)[number]) => (x.before ?? x.after)!.node;
  const parts: string[] = [];
  const cap = rows.length > shown.length ? ` (the ${shown.length} largest of ${rows.length} layers)` : '';
  const sparsityOf = (x: (typeof rows)[number]) => (two ? x.after?.sparsity : x.before?.sparsity) ?? null;
  if (shown.some((x) => (sparsityOf(x) ?? 0) > 0)) {
    parts.push(
      `<h3>Sparsity${two ? ' after' : ''}</h3>`,
      valueBars(
        shown.map((x) => ({ label: name(x), value: sparsityOf(x) })),
        `Sparsity by layer${cap}`,
        'Share of zero parameters in each layer (a quantized value equal to its zero point counts as zero).',
        (v) => pct(v),
        'k1',
      ),
    );
  }
  if (two && shown.some((x) => x.after?.weightError != null)) {
    parts.push(
      '<h3>Weight error</h3>',
      valueBars(
        shown.map((x) => ({ label: name(x), value: x.after?.weightError ?? null })),
        `Relative weight error by layer${cap}`,
        "‖Ŵ − W‖ / ‖W‖ of each layer's largest weight: the compressed (dequantized) weight against the original.",
        (v) => pct(v, 2),
        'k2',
      ),
    );
  }
  const notesOf = (x: (typeof rows)[number]) => x.after?.notes ?? x.before?.notes ?? {};
  // the notes shown: ranks, errors, energies, sparsities (charted when they vary) and words (formats, axes)
  const allKeys = [...new Set(rows.flatMap((x) => Object.keys(notesOf(x))))];
  const numeric = (k: string) => rows.some((x) => typeof notesOf(x)[k] === 'number');
  const noteKeys = allKeys.filter((k) => (numeric(k) ? CHART_NOTE.test(k) : true)).slice(0, 10);
  const varies = (k: string) => new Set(rows.map((x) => notesOf(x)[k]).filter((v) => typeof v === 'number')).size > 1;
  for (const k of noteKeys.filter((k) => numeric(k) && varies(k))) {
    const items = shown.filter((x) => typeof notesOf(x)[k] === 'number').map((x) => ({ label: name(x), value: notesOf(x)[k] as number }));
    parts.push(`<h3>${esc(k)}</h3>`, valueBars(items, `${k} by layer`, `The value the pass recorded as ${k} for each layer.`, (v) => num(v, 4), 'k3'));
  }
  const head = two ? ['layer', 'op', 'params', 'params after', 'sparsity', 'sparsity after', 'weight error', ...noteKeys] : ['layer', 'op', 'params', 'sparsity', ...noteKeys];
  const cell = (v: unknown) => (v === undefined || v === null ? '—' : typeof v === 'number' ? num(v, 4) : String(v));
  const body = rows.map((x) => {
    const b = x.before;
    const a = x.after;
    const notes = noteKeys.map((k) => cell(notesOf(x)[k]));
    return two
      ? [name(x), a && b && (a.op !== b.op || a.parts) ? `${b.op} → ${a.op}${a.parts ? ` (${a.parts.length} nodes)` : ''}` : (b ?? a)!.op, b ? b.params.toLocaleString('en-US') : '—', a ? a.params.toLocaleString('en-US') : '—', b ? pct(b.sparsity) : '—', a ? pct(a.sparsity) : '—', a?.weightError == null ? '—' : pct(a.weightError, 2), ...notes]
      : [name(x), b!.op, b!.params.toLocaleString('en-US'), pct(b!.sparsity), ...notes];
  });
  parts.push(`<details${rows.length <= 60 ? ' open' : ''}><summary>All ${rows.length} layers</summary>${table(head, body, 'Per-layer statistics', (i) => i >= 2)}</details>`);
  return section('layers', 'Per layer: sparsity, weight error, rank', parts.join('\n'));
}

// ---------------------------------------------------------------------------------------------
// sensitivity

function sensitivitySection(s: SensitivityReport): string {
  const rows = [...s.rows].sort((a, b) => (b.drop ?? -Infinity) - (a.drop ?? -Infinity));
  const passes = [...new Set(rows.map((r) => r.pass))];
  const shown = rows.slice(0, MAX_CHART_LAYERS);
  const metric = s.metric === 'accuracy' ? 'accuracy' : 'agreement';
  const items = shown.map((r) => ({
    label: `${cut(r.node, 24)} · ${r.pass}`,
    value: r.drop,
    tip: `${r.node} (${r.op}), ${r.pass}: ${r.drop === null ? `${metric} drop not measured` : `${num(r.drop)} pts ${metric} drop`}, saves ${formatBytes(r.bytesSaved)}${r.latencyShare != null ? `, ${pct(r.latencyShare)} of the time` : ''}`,
  }));
  const parts = [
    `<p>Baseline ${esc(metric)} ${esc(pct(s.baseline, 2))}; each bar is the drop (percentage points) when the pass is applied to that layer alone. ${passes.length} pass setting(s), ${s.rows.length} rows, analysed in ${esc(num(s.seconds))} s.</p>`,
    valueBars(items, `Sensitivity: ${metric} drop per layer and pass${rows.length > shown.length ? ` (the ${shown.length} most sensitive of ${rows.length})` : ''}`, `Drop of ${metric} in points when one pass is applied to one layer alone; longer is more sensitive.`, (v) => `${num(v)} pts`, 'k4', 320),
  ];
  const cell = (v: number | null, f: (x: number) => string) => (v === null ? '—' : f(v));
  parts.push(
    `<details><summary>All ${rows.length} rows</summary>${table(
      ['layer', 'op', 'pass', 'drop (pts)', 'cosine', 'SQNR (dB)', 'bytes saved', 'gzip saved', 'time share'],
      rows.map((r) => [r.node, r.op, r.pass, cell(r.drop, (v) => num(v)), cell(r.cosine, (v) => v.toFixed(5)), cell(r.sqnrDb, (v) => v.toFixed(1)), formatBytes(r.bytesSaved), cell(r.gzipBytesSaved, formatBytes), cell(r.latencyShare, (v) => pct(v))]),
      'Sensitivity of each layer to each pass',
      (i) => i >= 3,
    )}</details>`,
  );
  return section('sensitivity', 'Sensitivity', parts.join('\n'));
}

// ---------------------------------------------------------------------------------------------
// the Pareto front of a tuning run

const objectiveFmt = (t: TuneReport) => (t.objective === 'latency' ? (v: number) => formatMs(v) : (v: number) => formatBytes(v));

/** A recipe in one line: "quantize type=int8 exclude=… · prune sparsity=0.5". */
export function recipeText(recipe: readonly Record<string, unknown>[]): string {
  if (!recipe.length) return '(the original model)';
  return recipe
    .map((st) => {
      const opts = Object.entries(st).filter(([k]) => k !== 'pass');
      const o = (st.options && typeof st.options === 'object' ? Object.entries(st.options as Record<string, unknown>) : opts).filter(([k]) => k !== 'options');
      return [String(st.pass ?? '?'), ...o.map(([k, v]) => `${k}=${Array.isArray(v) ? v.join(',') : typeof v === 'object' ? JSON.stringify(v) : String(v)}`)].join(' ');
    })
    .join(' · ');
}

function paretoSection(t: TuneReport): string {
  const fmt = objectiveFmt(t);
  const pts = t.candidates.map((c, i) => ({ c, i }));
  const xs = [t.baseline.objective, ...t.candidates.map((c) => c.objective)].filter((v) => v > 0);
  const ys = [t.baseline.score, ...t.candidates.map((c) => c.score)];
  const budget = t.metric === 'accuracy' && t.budget.maxAccuracyDrop !== undefined ? t.baseline.score - t.budget.maxAccuracyDrop / 100 : t.budget.minAgreement ?? null;
  if (budget !== null) ys.push(budget);
  const W = 640;
  const H = 360;
  const m = { l: 62, r: 20, t: 16, b: 44 };
  const xlo = Math.min(...xs);
  const xhi = Math.max(...xs);
  const log = xhi / xlo > 20;
  const tx = (v: number) => (log ? Math.log10(v) : v);
  const [x0, x1] = xlo === xhi ? [tx(xlo) * 0.9, tx(xhi) * 1.1 + 1e-9] : [tx(xlo) - (tx(xhi) - tx(xlo)) * 0.05, tx(xhi) + (tx(xhi) - tx(xlo)) * 0.05];
  const ylo = Math.min(...ys);
  const yhi = Math.max(...ys);
  const pad = Math.max((yhi - ylo) * 0.08, 0.002);
  const [y0, y1] = [ylo - pad, yhi + pad];
  const X = (v: number) => m.l + ((tx(Math.max(v, xlo)) - x0) / (x1 - x0)) * (W - m.l - m.r);
  const Y = (v: number) => H - m.b - ((v - y0) / (y1 - y0)) * (H - m.t - m.b);
  let body = line(m.l, H - m.b, W - m.r, H - m.b, 'axis') + line(m.l, m.t, m.l, H - m.b, 'axis');
  for (const v of ticks(y0, y1)) body += line(m.l - 4, Y(v), W - m.r, Y(v), 'grid') + text(m.l - 6, Y(v) + 4, pct(v, 1), 'text-anchor="end" class="tiny"');
  const xt = log ? ticks(x0, x1, 4).filter((e) => Number.isInteger(e) || x1 - x0 < 2).map((e) => 10 ** e) : ticks(x0, x1);
  for (const v of xt) if (tx(v) >= x0 && tx(v) <= x1) body += line(X(v), H - m.b, X(v), H - m.b + 4, 'axis') + text(X(v), H - m.b + 16, fmt(v), 'text-anchor="middle" class="tiny"');
  body += text((W + m.l) / 2, H - 8, `${t.objective}${log ? ' (log scale)' : ''} → smaller is better`, 'text-anchor="middle" class="small"');
  body += text(14, (H - m.b + m.t) / 2, `${t.metric} (tuning split)`, `text-anchor="middle" class="small" transform="rotate(-90 14 ${px((H - m.b + m.t) / 2)})"`);
  if (budget !== null) body += line(m.l, Y(budget), W - m.r, Y(budget), 'budget') + text(W - m.r - 4, Y(budget) - 4, `budget ${pct(budget, 2)}`, 'text-anchor="end" class="tiny bad"');
  const front = pts.filter((p) => p.c.pareto).sort((a, b) => a.c.objective - b.c.objective);
  if (front.length > 1) body += `<polyline class="front" points="${front.map((p) => `${px(X(p.c.objective))},${px(Y(p.c.score))}`).join(' ')}"><title>Pareto front</title></polyline>`;
  const tip = (c: TuneCandidate, i: number) =>
    `candidate ${i + 1}: ${fmt(c.objective)}, ${t.metric} ${pct(c.score, 2)}${c.heldOutScore !== null ? ` (held-out ${pct(c.heldOutScore, 2)})` : ''}${c.meetsBudget ? '' : ', misses the budget'}${c.pareto ? ', on the Pareto front' : ''}${c.chosen ? ', chosen' : ''} — ${recipeText(c.recipe)}`;
  for (const { c, i } of pts) {
    if (c.chosen) continue;
    body += `<circle cx="${px(X(c.objective))}" cy="${px(Y(c.score))}" r="${c.pareto ? 5 : 3.5}" class="${c.meetsBudget ? (c.pareto ? 'pt front-pt' : 'pt') : 'pt miss'}"><title>${esc(tip(c, i))}</title></circle>`;
  }
  const bx = X(t.baseline.objective);
  const by = Y(t.baseline.score);
  body += `<path d="M${px(bx)} ${px(by - 7)}L${px(bx + 7)} ${px(by)}L${px(bx)} ${px(by + 7)}L${px(bx - 7)} ${px(by)}Z" class="base"><title>${esc(`the original: ${fmt(t.baseline.objective)}, ${t.metric} ${pct(t.baseline.score, 2)}`)}</title></path>`;
  body += text(bx - 9, by - 9, 'original', 'text-anchor="end" class="tiny"');
  const ch = t.chosen === null ? null : t.candidates[t.chosen];
  if (ch) {
    const cx = X(ch.objective);
    const cy = Y(ch.score);
    body += `<circle cx="${px(cx)}" cy="${px(cy)}" r="8" class="chosen"><title>${esc(tip(ch, t.chosen!))}</title></circle>`;
    body += text(cx + 11, cy - 9, 'chosen', 'class="small strong"');
  }
  const W2 = W;
  const chart = svg(W2, H, `Pareto front: ${t.objective} vs ${t.metric}`, `Every candidate recipe the tuner evaluated (${t.candidates.length}), the Pareto front, the budget line, the original (diamond) and the chosen recipe (ring).`, body);
  const summary = ch
    ? `Chosen: <strong>${esc(recipeText(ch.recipe))}</strong> — ${esc(fmt(ch.objective))} (original ${esc(fmt(t.baseline.objective))}), ${esc(t.metric)} ${esc(pct(ch.score, 2))} on the tuning split${ch.heldOutScore !== null ? `, ${esc(pct(ch.heldOutScore, 2))} held out (original ${esc(pct(t.baseline.heldOutScore, 2))})` : ''}.`
    : t.choice
      ? `The original model is kept: ${esc(t.choice.rule)}.`
      : 'No candidate met the budget: the original model is kept.';
  const rule = ch && t.choice ? ` Rule: ${esc(t.choice.rule)}.` : '';
  const rows = t.candidates.map((c, i) => [
    String(i + 1),
    fmt(c.objective),
    pct(c.score, 2),
    c.heldOutScore === null ? '—' : pct(c.heldOutScore, 2),
    c.meetsBudget ? 'yes' : 'no',
    c.pareto ? 'yes' : '',
    c.chosen ? 'chosen' : '',
    `${num(c.seconds)} s`,
    recipeText(c.recipe),
  ]);
  return section(
    'pareto',
    'Tuning: the Pareto front',
    `<p>${summary}${rule} ${t.candidates.length} candidates in ${esc(num(t.seconds))} s.</p>\n${chart}\n<details><summary>All ${t.candidates.length} candidates</summary>${table(['#', t.objective, `${t.metric}`, 'held out', 'meets budget', 'Pareto', '', 'time', 'recipe'], rows, 'Candidates', (i) => i >= 1 && i <= 3)}</details>`,
  );
}

// ---------------------------------------------------------------------------------------------
// latency distributions

function latencySection(r: Report): string {
  const models = [
    { name: 'before', l: r.before.latencyMs, cls: 'k0' },
    ...(r.after ? [{ name: 'after', l: r.after.latencyMs, cls: 'k1' }] : []),
  ].filter((m): m is { name: string; l: LatencyMs; cls: string } => !!m.l);
  if (!models.length) return '';
  const all = models.flatMap((m) => m.l.samples ?? [m.l.p50, m.l.p90, m.l.p99]);
  const sorted = [...all].sort((a, b) => a - b);
  // the axis ends at the 99.5th percentile of all runs: a few preempted runs would squash the rest
  const lo = sorted[0];
  const hi = Math.max(sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.995))], ...models.map((m) => m.l.p99), lo * 1.001 + 1e-9);
  const W = 680;
  const m = { l: 70, r: 20 };
  const band = 92;
  // a long tail (a busy machine) gets a log axis, so that the bulk of the runs is not one bar
  const log = lo > 0 && hi / lo > 4;
  const T = (v: number) => (log ? Math.log10(v) : v);
  const inv = (u: number) => (log ? 10 ** u : u);
  const X = (v: number) => m.l + ((T(Math.min(Math.max(v, lo), hi)) - T(lo)) / (T(hi) - T(lo))) * (W - m.l - m.r);
  const bins = 40;
  const bw = (T(hi) - T(lo)) / bins;
  const edge = (i: number) => inv(T(lo) + i * bw);
  let body = '';
  models.forEach((mod, k) => {
    const top = 10 + k * band;
    const base = top + band - 34;
    const s = mod.l.samples;
    body += text(m.l - 8, top + 14, mod.name, 'text-anchor="end" class="small strong"');
    if (s?.length) {
      const counts = new Array(bins).fill(0);
      let over = 0;
      for (const v of s) {
        if (v > hi) over++;
        counts[Math.min(bins - 1, Math.max(0, Math.floor((T(Math.max(v, lo)) - T(lo)) / bw)))]++;
      }
      const cmax = Math.max(...counts);
      counts.forEach((c, i) => {
        if (!c) return;
        const h = (c / cmax) * (band - 46);
        const last = i === bins - 1 && over ? ` (and ${over} slower)` : '';
        body += rect(X(edge(i)) + 0.5, base - h, Math.max(1, X(edge(i + 1)) - X(edge(i)) - 1), h, mod.cls, `${mod.name}: ${c} run(s) in ${formatMs(edge(i))}–${formatMs(edge(i + 1))}${last}`);
      });
      body += text(m.l - 8, top + 28, `${s.length} runs`, 'text-anchor="end" class="tiny muted"');
      if (over) body += text(W - m.r, top + 12, `${over} slower run(s) beyond the axis`, 'text-anchor="end" class="tiny muted"');
    } else body += text(m.l + 4, base - 8, 'runs not kept (percentiles only)', 'class="tiny muted"');
    // box: p50 and its interval, p90, p99
    const l = mod.l;
    const y = base + 8;
    body += line(X(l.p50), y, X(l.p99), y, 'whisker');
    if (l.p50Ci) body += rect(X(l.p50Ci[0]), y - 5, Math.max(2, X(l.p50Ci[1]) - X(l.p50Ci[0])), 10, `${mod.cls} ci`, `${mod.name}: ${ciName(r.settings.ciLevel)} interval of the p50 ${formatMs(l.p50Ci[0])}–${formatMs(l.p50Ci[1])}`);
    for (const [q, v] of [['p50', l.p50], ['p90', l.p90], ['p99', l.p99]] as const) {
      body += `<g>${line(X(v), y - 7, X(v), y + 7, q === 'p50' ? 'median' : 'whisker')}<title>${esc(`${mod.name} ${q}: ${formatMs(v)}`)}</title></g>`;
    }
    body += text(X(l.p50), y + 20, `p50 ${formatMs(l.p50)}`, 'text-anchor="middle" class="tiny"');
  });
  const axisY = 10 + models.length * band;
  body += line(m.l, axisY, W - m.r, axisY, 'axis');
  const xt = log ? logTicks(lo, hi) : ticks(lo, hi);
  for (const v of xt) if (v >= lo && v <= hi) body += line(X(v), axisY, X(v), axisY + 4, 'axis') + text(X(v), axisY + 16, formatMs(v), 'text-anchor="middle" class="tiny"');
  body += text((W + m.l) / 2, axisY + 32, `batch-1 latency per run${log ? ' (log scale)' : ''}`, 'text-anchor="middle" class="small"');
  const chart = svg(W, axisY + 40, 'Latency distributions', `Histogram of the timed batch-1 runs of ${models.map((x) => x.name).join(' and ')}, with the p50 (thick mark, its ${ciName(r.settings.ciLevel)} interval as a box), p90 and p99.`, body);
  const rows = models.map((x) => [x.name, formatMs(x.l.p50), x.l.p50Ci ? `${formatMs(x.l.p50Ci[0])}–${formatMs(x.l.p50Ci[1])}` : '—', formatMs(x.l.p90), formatMs(x.l.p99), formatMs(x.l.mean), pct(x.l.cv), String(x.l.samples?.length ?? '—')]);
  const sp = r.speedup !== null && r.after ? `<p>Speedup (p50): <strong>${esc(r.speedup.toFixed(2))}x</strong>${esc(ciText(r))}.</p>` : '';
  return section('latency', 'Latency', `${sp}\n${chart}\n${table(['model', 'p50', `p50 ${ciName(r.settings.ciLevel)} interval`, 'p90', 'p99', 'mean', 'cv', 'runs'], rows, `Batch-1 latency (${r.settings.threads} thread${r.settings.threads === 1 ? '' : 's'})`)}`);
}

// ---------------------------------------------------------------------------------------------

const CSS = `
:root{color-scheme:light dark;--bg:#fff;--fg:#1b1f24;--muted:#5b6470;--line:#d0d7de;--grid:#eef1f4;--ok:#1a7f37;--bad:#cf222e;
--k0:#4c78a8;--k1:#f58518;--k2:#54a24b;--k3:#b279a2;--k4:#e45756;--k5:#72b7b2;--k6:#eeca3b;--k7:#9d755d}
@media (prefers-color-scheme:dark){:root{--bg:#0d1117;--fg:#e6edf3;--muted:#9198a1;--line:#3d444d;--grid:#21262d;--ok:#3fb950;--bad:#f85149;
--k0:#6e9fd6;--k1:#ffa94d;--k2:#6cc05f;--k3:#d09ac4;--k4:#ff7b72;--k5:#8fd3ce;--k6:#f2d45c;--k7:#c39b7f}}
*{box-sizing:border-box}body{margin:0 auto;max-width:960px;padding:16px 20px 40px;background:var(--bg);color:var(--fg);font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif}
h1{font-size:20px;margin:8px 0 4px;word-break:break-all}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid var(--line);padding-bottom:4px}h3{font-size:14px;margin:16px 0 6px}
table{border-collapse:collapse;margin:8px 0;font-size:13px}caption{text-align:left;color:var(--muted);font-size:12px;padding-bottom:2px}
th,td{padding:3px 10px 3px 0;border-bottom:1px solid var(--grid);text-align:left;vertical-align:top}th[scope=row]{font-weight:normal;word-break:break-all;min-width:140px;max-width:320px}.n{text-align:right;font-variant-numeric:tabular-nums}
.note,.muted{color:var(--muted);fill:var(--muted)}.note{font-size:12px}.ok{color:var(--ok)}.bad{color:var(--bad);fill:var(--bad)}.big{font-size:16px}
nav a{margin-right:12px}.scroll{overflow-x:auto;max-width:100%}details summary{cursor:pointer;color:var(--muted);margin:6px 0}
svg.chart{display:block;max-width:100%;height:auto;margin:6px 0 10px;font-family:system-ui,-apple-system,"Segoe UI",sans-serif}
svg text{fill:var(--fg)}svg .small{font-size:11px}svg .tiny{font-size:10px}svg .strong{font-weight:600}svg .muted{fill:var(--muted)}
.k0{fill:var(--k0)}.k1{fill:var(--k1)}.k2{fill:var(--k2)}.k3{fill:var(--k3)}.k4{fill:var(--k4)}.k5{fill:var(--k5)}.k6{fill:var(--k6)}.k7{fill:var(--k7)}.neg{fill:var(--ok)}
.ci{opacity:.45}.axis{stroke:var(--muted)}.grid{stroke:var(--grid)}.whisker{stroke:var(--muted);stroke-width:1.5}.median{stroke:var(--fg);stroke-width:3}
.budget{stroke:var(--bad);stroke-dasharray:5 4}.front{fill:none;stroke:var(--k0);stroke-width:1.5}.pt{fill:var(--muted);opacity:.75}.front-pt{fill:var(--k0);opacity:1}.miss{fill:none;stroke:var(--muted)}
.base{fill:var(--k1)}.chosen{fill:none;stroke:var(--k4);stroke-width:3}
`;

/** The HTML report: one self-contained page (no script, no network request). */
export function renderHtml(input: HtmlInput): string {
  ids = 0;
  const r = input.report ?? null;
  const title = input.title ?? (r ? (r.after ? `mlc: ${r.input} → ${r.output ?? '(not written)'}` : `mlc bench: ${r.input}`) : input.tune ? 'mlc tune' : 'mlc sensitivity');
  const sections: [string, string, string][] = [];
  const add = (id: string, name: string, html: string) => {
    if (html) sections.push([id, name, html]);
  };
  if (r) add('summary', 'Summary', summarySection(r));
  if (r) add('size', 'Size', sizeSection(r, r.layers));
  if (r?.layers) add('layers', 'Per layer', layerSection(r.layers));
  if (input.sensitivity) add('sensitivity', 'Sensitivity', sensitivitySection(input.sensitivity));
  if (input.tune) add('pareto', 'Pareto front', paretoSection(input.tune));
  if (r) add('latency', 'Latency', latencySection(r));
  const nav = sections.length > 1 ? `<nav aria-label="Sections">${sections.map(([id, name]) => `<a href="#${id}">${esc(name)}</a>`).join('')}</nav>` : '';
  const verdict = r?.gates.length ? `<p class="${r.passed ? 'ok' : 'bad'}"><strong>${r.passed ? 'All gates passed' : 'A gate FAILED'}</strong></p>` : '';
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>${esc(title)}</title>
<style>${CSS}</style>
</head>
<body>
<header><h1>${esc(title)}</h1>${verdict}${nav}</header>
<main>
${sections.map((s) => s[2]).join('\n')}
</main>
<footer><p class="note">Written by mlc. Self-contained: no script, no network request.</p></footer>
</body>
</html>
`;
}

/** Whether a report path asks for HTML (`.html` / `.htm`, any case). */
export function isHtmlPath(path: string): boolean {
  return /\.html?$/i.test(path);
}
