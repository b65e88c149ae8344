/** `mlc inspect <model> [--json]`: what is in an ONNX model. */
import type { Command } from 'commander';
import { stat } from 'node:fs/promises';
import type { Model } from '../ir/model.js';
import { dtypeName } from '../ir/dtype.js';
import { elemTypeOf, shapeOf, type Dim, type ValueInfo } from '../ir/types.js';
import { formatBytes, formatCount, formatPercent } from '../bench/format.js';
import { formatShape, table } from './format.js';
import { opHistogram, paramStats, type ParamStats } from './stats.js';
import { boundary, loadInput } from './run.js';
import type { TargetCheck, TargetName } from '../bench/target.js';
import { targetOption } from './measure.js';
import type { Ui } from './ui.js';

export interface IoInfo {
  name: string;
  /** element type ('float', ...), or the value kind ('sequence', ...) for non-tensors */
  dtype: string;
  shape: Dim[] | null;
}

export interface InspectReport {
  file: string;
  fileBytes: number;
  irVersion: number;
  opsets: { domain: string; version: number }[];
  producer: { name: string; version: string };
  graphName: string;
  inputs: IoInfo[];
  outputs: IoInfo[];
  nodes: number;
  ops: { op: string; count: number }[];
  functions: string[];
  metadata: Record<string, string>;
  parameters: ParamStats;
}

function ioInfo(v: ValueInfo): IoInfo {
  const et = elemTypeOf(v);
  const kind = v.type?.kind ?? 'unknown';
  return { name: v.name, dtype: et !== undefined ? dtypeName(et) : kind, shape: shapeOf(v) ?? null };
}

export function inspectModel(model: Model, file: string, fileBytes: number): InspectReport {
  const ops = opHistogram(model);
  return {
    file,
    fileBytes,
    irVersion: model.irVersion,
    opsets: model.opsetImports.map((o) => ({ domain: o.domain || 'ai.onnx', version: o.version })),
    producer: { name: model.producerName, version: model.producerVersion },
    graphName: model.graph.name,
    inputs: model.graph.realInputs().map(ioInfo),
    outputs: model.graph.outputs.map(ioInfo),
    nodes: ops.reduce((s, o) => s + o.count, 0),
    ops,
    functions: model.functions.map((f) => (f.domain ? `${f.domain}.${f.name}` : f.name)),
    metadata: Object.fromEntries(model.metadataProps.map((p) => [p.key, p.value])),
    parameters: paramStats(model, 10),
  };
}

export function printInspect(ui: Ui, r: InspectReport): void {
  const { c } = ui;
  const head = (s: string) => ui.out(c.bold(s));
  ui.out(`${c.bold(r.file)}  ${formatBytes(r.fileBytes)}`);
  ui.out(
    `IR version ${r.irVersion} · opsets ${r.opsets.map((o) => `${o.domain} ${o.version}`).join(', ')} · producer ${
      [r.producer.name, r.producer.version].filter(Boolean).join(' ') || '(none)'
    }`,
  );
  for (const [k, v] of Object.entries(r.metadata)) ui.out(`  ${k}: ${v}`);
  ui.out();
  const ioRows = (label: string, l: IoInfo[]) => {
    head(label);
    if (!l.length) ui.out('  (none)');
    for (const line of table(l.map((v) => ['  ' + v.name, v.dtype, formatShape(v.shape ?? undefined)]))) ui.out(line);
  };
  ioRows('Inputs', r.inputs);
  ioRows('Outputs', r.outputs);
  ui.out();
  head(`Operators (${formatCount(r.nodes)} nodes)`);
  for (const line of table(r.ops.map((o) => ['  ' + o.op, String(o.count)]), [1])) ui.out(line);
  if (r.functions.length) ui.out(`  functions: ${r.functions.join(', ')}`);
  ui.out();
  const p = r.parameters;
  head(`Parameters: ${formatCount(p.params)} (${formatBytes(p.bytes)}), ${formatPercent(p.zeroFraction)} zero`);
  for (const line of table(
    Object.entries(p.byDtype).map(([dt, e]) => [
      '  ' + dt,
      `${formatCount(e.tensors)} ${e.tensors === 1 ? 'tensor' : 'tensors'}`,
      `${formatCount(e.elements)} elements`,
      formatBytes(e.bytes),
    ]),
    [1, 2, 3],
  ))
    ui.out(line);
  if (p.largest.length) {
    ui.out();
    head(`Largest constants`);
    for (const line of table(
      p.largest.map((t) => ['  ' + t.name, t.dtype, formatShape(t.dims), formatCount(t.elements), formatBytes(t.bytes)]),
      [3, 4],
    ))
      ui.out(line);
  }
}

export function registerInspect(program: Command): void {
  program
    .command('inspect')
    .description('show what is in an ONNX model: interface, operators, parameters')
    .argument('<model>', 'ONNX model file')
    .option('--json', 'print one JSON document on stdout')
    .addOption(targetOption())
    .action((file: string, _opts: unknown, cmd: Command) =>
      boundary(cmd, async (ui, flags) => {
        const model = await loadInput(file, ui);
        const report: InspectReport & { target?: TargetCheck } = inspectModel(model, file, (await stat(file)).size);
        const target = flags.target as TargetName | undefined;
        if (target) {
          const { checkTarget } = await import('../bench/target.js');
          report.target = await checkTarget(model, target);
        }
        if (ui.json) ui.printJson(report);
        else {
          printInspect(ui, report);
          if (report.target) {
            const { targetLines } = await import('../bench/report.js');
            ui.out();
            for (const l of targetLines(report.target, ui.verbose ? Infinity : 20)) ui.out(l);
          }
        }
        // a model that cannot run on its target fails like a gate
        return report.target && !report.target.passed ? 1 : 0;
      }),
    );
}
