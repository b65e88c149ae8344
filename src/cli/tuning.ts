/**
 * What `mlc sensitivity` and `mlc tune` share: the flag parsers, loading the model with its data,
 * the sensitivity table.
 */
import { MlcError } from '../core/errors.js';
import { formatBytes } from '../bench/format.js';
import type { SensitivityReport, TuneReport } from '../bench/types.js';
import { table } from './format.js';
import { namingFile } from './run.js';
import type { Ui } from './ui.js';

export const SENSITIVITY_PASSES = ['quantize', 'prune', 'lowrank'] as const;

/** `--passes a,b`: names checked against `known`. */
export function parsePassList(v: unknown, known: readonly string[]): string[] {
  const list = String(v)
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (!list.length) throw new MlcError('USAGE', '--passes: give at least one pass');
  const bad = list.filter((p) => !known.includes(p));
  if (bad.length) throw new MlcError('USAGE', `--passes: ${bad.join(', ')} not supported here (choose from ${known.join(', ')})`);
  return [...new Set(list)];
}

/** An integer flag ≥ `min` (default 1). */
export function positiveInt(name: string, v: unknown, min = 1): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new MlcError('USAGE', `${name}: must be an integer ≥ ${min}, got ${String(v)}`);
  return n;
}

/** A number in (0, 1] (or [0, 1] with open0 false). */
export function fraction(name: string, v: unknown, { open0 = true } = {}): number {
  const n = Number(v);
  if (!Number.isFinite(n) || (open0 ? n <= 0 : n < 0) || n >= 1.000001) throw new MlcError('USAGE', `${name}: must be a number in ${open0 ? '(0' : '[0'}, 1], got ${String(v)}`);
  return n;
}

/** Load the model (tensors read) and the data matched to its inputs. */
export async function loadModelAndData(file: string, dataPath: string, ui: Ui) {
  const { loadModel } = await import('../onnx/index.js');
  const model = await loadModel(file, { warn: (m) => ui.warn(`${file}: ${m}`) }).catch((err) => {
    throw namingFile(err, file);
  });
  const { loadDataset } = await import('../data/index.js');
  const data = await loadDataset(dataPath, model, { warn: (m) => ui.warn(m) }).catch((err) => {
    throw namingFile(err, dataPath);
  });
  return { model, data };
}

export function sensitivityTable(r: SensitivityReport, top?: number): string[] {
  const rows = [...r.rows].sort((a, b) => (b.drop ?? 0) - (a.drop ?? 0) || (a.cosine ?? 1) - (b.cosine ?? 1));
  const shown = top ? rows.slice(0, top) : rows;
  const num = (v: number | null, d: number, unit = '') => (v === null ? '-' : Number.isFinite(v) ? `${v.toFixed(d)}${unit}` : '∞');
  return table(
    [
      ['node', 'op', 'pass', 'drop (pt)', 'cosine', 'SQNR dB', 'saves', 'gzip saves', 'time'],
      ...shown.map((x) => [
        x.node,
        x.op,
        x.pass,
        num(x.drop, 2),
        num(x.cosine, 5),
        num(x.sqnrDb, 1),
        formatBytes(x.bytesSaved),
        x.gzipBytesSaved === null ? '-' : formatBytes(x.gzipBytesSaved),
        x.latencyShare === null ? '-' : `${(x.latencyShare * 100).toFixed(1)}%`,
      ]),
    ],
    [3, 4, 5, 6, 7, 8],
  );
}

/** The markdown of a `--report` file that is not HTML (and of $GITHUB_STEP_SUMMARY): the table as text. */
export function sensitivityMarkdown(file: string, r: SensitivityReport, top?: number): string {
  return [`## mlc sensitivity: ${file}`, '', `${r.rows.length} layer probes, ${r.metric} ${(r.baseline * 100).toFixed(2)}% (original), ${r.seconds.toFixed(1)} s`, '', '```', ...sensitivityTable(r, top), '```', ''].join('\n');
}

/** Every candidate of a tune report as a markdown table (the chosen one in bold). */
export function tuneMarkdown(file: string, r: TuneReport): string {
  const pct = (v: number | null) => (v === null ? '—' : `${(v * 100).toFixed(2)}%`);
  const objective = (v: number) => (r.objective === 'latency' ? `${v.toFixed(3)} ms` : formatBytes(v));
  const rows = r.candidates.map((c, i) => {
    const steps = c.recipe.map((s) => String(s.pass ?? '?')).join(' → ') || '(original)';
    const cells = [String(i + 1), steps, objective(c.objective), pct(c.score), pct(c.heldOutScore), c.meetsBudget ? 'yes' : 'no', c.pareto ? 'yes' : ''];
    return `| ${(c.chosen ? cells.map((x) => `**${x}**`) : cells).join(' | ')} |`;
  });
  return [
    `## mlc tune: ${file}`,
    '',
    `objective ${r.objective}, ${r.metric}; original ${objective(r.baseline.objective)}, ${pct(r.baseline.score)} (held-out ${pct(r.baseline.heldOutScore)}); ${r.candidates.length} candidates in ${r.seconds.toFixed(1)} s; ${r.chosen === null ? 'none chosen' : `chosen: #${r.chosen + 1}`}`,
    '',
    ...(r.choice ? [`Rule: ${r.choice.rule}.`, ''] : []),
    '| # | recipe | objective | tuning | held-out | in budget | Pareto |',
    '|---|---|---|---|---|---|---|',
    ...rows,
    '',
  ].join('\n');
}
