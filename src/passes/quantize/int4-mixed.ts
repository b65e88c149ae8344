/**
 * The int4 target: which MatMuls of an int4 model stay at 8 bits so that its outputs on a probe
 * reach a cosine to the float model's (int4Target, default INT4_TARGET = 0.995 up to 1 GB of float
 * weights, int4.ts INT4_TARGET_MAX_BYTES; 0 turns it off: every MatMul 4-bit). Above 64 MB
 * (INT4_PROBE_MAX_BYTES) the target compares with the model in 8-bit blocks instead, on one
 * session of a model switching each weight between 4 and 8 bits (int4-probe.ts; int4.ts runInt4).
 *
 * 1. probe (`probeFloat`, before the rewrite): the first PROBE_SAMPLES (2) samples of the
 *    calibration data, or without it of the made-up samples `mlc variants` measures fidelity on
 *    (ctx.madeUpData, seeded); one sample when an output has 1000 values or more per sample (a
 *    sequence of hidden states, a classifier's logits; dynamic dimensions count as 1), or when
 *    two samples do not run (a graph that fixes the batch at 1 somewhere). One run of the float model gives the
 *    reference outputs (every float output, concatenated) and, for every MatMul / Gemm candidate,
 *    the energy of each column of its input A and of its output.
 *    (Made-up float inputs are uniform in [0, 1): a model fed other ranges can measure a smaller
 *    loss on them than on its real data; give --calibration-data for such a model.)
 * 2. the all-4-bit model (the rewrite, `reachTarget`) runs on the probe: when its cosine reaches
 *    the target, nothing moves (two model runs in all).
 * 3. otherwise each MatMul's share of the error is estimated without running anything: the error
 *    energy its 4-bit blocks add to its output, Σ_k E[a_k²] · Σ_n (W − Ŵ)[k, n]² (int4RowErrors),
 *    over the energy of its output (its noise-to-signal ratio); an embedding table's share is its
 *    blocks' own ratio Σ (T − T̂)² / Σ T² (a table is one weight, but its 4-bit error can be a fifth
 *    of the model's: BERT-base's). The weights of largest share move to 8 bits (MatMulNBits bits =
 *    8, GatherBlockQuantized bits = 8, same blocks) until the measured loss 1 − cosine, scaled by the
 *    share still at 4 bits, is below 0.85 · (1 − target); the model runs again, and while it misses
 *    the target the step repeats with loss ≈ floor + slope · share fitted to the last two runs (the
 *    floor: what no 8-bit weight removes), at most MAX_CHECKS runs.
 *
 * Cost: the float model and the int4 model once each on the probe, plus one run per extra step
 * (usually one or two); the activations are reduced to per-column sums at once. The estimate does
 * not see how an error propagates to the output (a classifier head, the first layers), so a step
 * may keep more MatMuls at 8 bits than a per-MatMul measurement would. Without
 * ctx.run, or when no inputs can be made up, it warns and every MatMul stays at 4 bits.
 */
import { MlcError } from '../../core/errors.js';
import type { Model } from '../../ir/model.js';
import type { ValueInfo } from '../../ir/types.js';
import type { Node } from '../../ir/node.js';
import { int4RowErrors } from '../../math/blockquant.js';
import { cosine } from '../../math/stats.js';
import { feedBatches } from '../activations.js';
import type { Feeds, Outputs } from '../pass.js';
import { QuantState } from './common.js';
import type { NBitsSite } from './int4.js';
import type { OpRewrites } from './ops.js';
import { candidates } from './weight-only.js';

/** The probe cosine int4 aims at by default (above the 0.99 floor, so data beyond the probe clears it too). */
export const INT4_TARGET = 0.995;
const PROBE_SAMPLES = 2;
/** a model whose outputs give at least this many values per sample is probed on one sample */
const ONE_SAMPLE_VALUES = 1000;
const MAX_CHECKS = 8;
/** columns of a weight its row errors are estimated on (int4RowErrors) */
export const ERROR_COLUMNS = 256;
/** each step aims below the budget by this factor (fewer runs; the estimate is rough) */
const AIM = 0.85;

/** The float model's outputs on the probe, and per MatMul input / output the energies the estimate needs. */
export interface FloatProbe {
  feeds: Feeds;
  names: string[];
  ref: Float64Array;
  /** per input name: Σ over rows of a[r, k]² for each column k */
  columnEnergy: Map<string, Float64Array>;
  /** per output name: Σ y² */
  energy: Map<string, number>;
  /** per input name: max(hi, 0) − min(lo, 0) over its values (the range dynamic int8 quantizes it to), and its rows (values / last dimension) */
  range: Map<string, number>;
  rows: Map<string, number>;
  source: 'calibration' | 'made-up';
  /** what the outputs are compared with: the float model, or (big models) the model in 8-bit blocks */
  reference: 'float' | '8-bit blocks';
}

/** PROBE_SAMPLES, or 1 when an output's declared shape gives ONE_SAMPLE_VALUES values per sample (one run is most of the cost). */
export function probeSamples(model: Model): number {
  for (const o of model.graph.outputs) {
    const shape = o.type?.kind === 'tensor' ? o.type.shape : undefined;
    if (!shape || shape.length < 2) continue;
    // the known dimensions after the batch (a dynamic one is at least 1): logits [batch, seq, vocab]
    const known = shape.slice(1).filter((d): d is number => typeof d === 'number');
    if (known.reduce((a, b) => a * b, 1) >= ONE_SAMPLE_VALUES) return 1;
  }
  return PROBE_SAMPLES;
}

export function floatsOf(out: Outputs, names: string[]): Float64Array {
  const parts = names.map((n) => out[n].data as ArrayLike<number>);
  const all = new Float64Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) for (let i = 0; i < p.length; i++) all[o++] = p[i];
  return all;
}

function columnEnergy(a: { dims: number[]; data: unknown }): { energy: Float64Array; range: number; rows: number } | undefined {
  if (!(a.data instanceof Float32Array) || !a.dims.length) return undefined;
  const K = a.dims[a.dims.length - 1];
  const d = a.data;
  const out = new Float64Array(K);
  let lo = 0;
  let hi = 0;
  for (let i = 0; i < d.length; i++) {
    const v = d[i];
    out[i % K] += v * v;
    if (v < lo) lo = v;
    else if (v > hi) hi = v;
  }
  return { energy: out, range: hi - lo, rows: K ? d.length / K : 0 };
}

/**
 * The float model on the probe (see the file comment), before the rewrite: probeModel on the
 * inputs and outputs of the MatMul / Gemm candidates. Undefined (with a warning) when there is
 * nothing to run it with.
 */
export async function probeFloat(st: QuantState, ops: OpRewrites): Promise<FloatProbe | undefined> {
  // the candidates' inputs and outputs (a dry walk: its skips are the rewrite's to report)
  const nodes: Node[] = [];
  for (const { node } of candidates(new QuantState(st.model, st.opts, st.ctx), ops)) if (node.opType !== 'Gather') nodes.push(node);
  if (!nodes.length) return undefined;
  return probeModel(
    st,
    nodes.map((n) => ({ input: n.inputs[0], output: n.outputs[0] })),
    'float',
  );
}

/** How probeModel runs: `feeds` added to every run (not part of the probe's feeds); `keepOutputs`: the activations stay graph outputs after the run (the caller restores them; later runs of the same session fetch probe.names only). */
export interface ProbeRunOptions {
  feeds?: Feeds;
  keepOutputs?: boolean;
  /** graph inputs of the runs only, fed by `feeds` (the data and the made-up inputs do not see them; they stay after the run) */
  inputs?: ValueInfo[];
  /** the model's own outputs (the reference), when the graph has other outputs of the caller's */
  compare?: string[];
  /** every output of the reference run, for the caller's own outputs */
  onOutputs?: (out: Outputs) => void;
}

/**
 * The model as it is now (the float model, or the big models' 8-bit reference) on the probe: its
 * outputs, and the energies of the given MatMul inputs and outputs, read as extra graph outputs of
 * the model itself for that one run (no copy of the weights). Undefined (with a warning) when there
 * is nothing to run it with.
 */
export async function probeModel(
  st: QuantState,
  pairs: { input: string; output: string }[],
  reference: FloatProbe['reference'],
  what = 'int4 target',
  opts: ProbeRunOptions = {},
): Promise<FloatProbe | undefined> {
  const { ctx } = st;
  const g = st.graph;
  const fallback = what === 'int4 target' ? 'every MatMul stays at 4 bits' : 'every MatMul stays at 8 bits';
  if (!ctx.run) {
    ctx.log.warn(`${what}: no runtime to measure with; ${fallback}`);
    return undefined;
  }
  const run = ctx.run;
  const outputs = new Set(g.outputs.map((o) => o.name));
  const graphInputs = new Set(g.realInputs().map((i) => i.name));
  const extra = [...new Set(pairs.flatMap((p) => [p.input, p.output]))].filter((n) => n && !outputs.has(n) && !graphInputs.has(n) && !g.initializers.has(n));
  const saved = g.outputs;
  g.outputs = [...saved, ...extra.map((name) => ({ name }))];
  let feeds: Feeds | undefined;
  let out: Outputs | undefined;
  let source: FloatProbe['source'] = 'calibration';
  const samples = probeSamples(st.model);
  const ran = reference === 'float' ? 'the float model' : 'the model in 8-bit blocks';
  try {
    const baseInputs = g.inputs;
    const tryRun = async (f: Feeds) => {
      if (opts.inputs) g.inputs = [...baseInputs, ...opts.inputs];
      const o = await run(st.model, opts.feeds ? { ...f, ...opts.feeds } : f);
      feeds = f;
      return o;
    };
    const made = ctx.madeUpData;
    const attempt = async (n: number): Promise<Outputs | undefined> => {
      if (ctx.calibration) {
        const f = feedBatches(st.model, ctx.calibration, { samples: n, batch: n }).next().value;
        return f ? await tryRun(f) : undefined;
      }
      return made ? (await made(st.model, tryRun, n)).result : undefined;
    };
    // a model whose graph fixes the batch at 1 somewhere (an exporter's value_info or reshapes)
    // fails on a batch of two: it is probed on one sample
    const probeOn = async () => {
      try {
        return await attempt(samples);
      } catch (err) {
        if (samples === 1 || !(err instanceof MlcError)) throw err;
        return attempt(1);
      }
    };
    if (ctx.calibration) out = await probeOn();
    else if (made) {
      source = 'made-up';
      try {
        out = await probeOn();
      } catch (err) {
        if (!(err instanceof MlcError)) throw err;
        const why = err.message.replace(' for the fidelity check', '').replace(/: give --shape or --data$/, '');
        ctx.log.warn(`${what}: ${why}; ${fallback} (give --calibration-data, or --${what.replace(' ', '-')} 0 to say so)`);
      }
    } else ctx.log.warn(`${what}: no calibration data to measure on; ${fallback}`);
  } catch (err) {
    if (!(err instanceof MlcError)) throw err;
    ctx.log.warn(`${what}: ${ran} does not run on the probe (${err.message.split('\n')[0]}); ${fallback}`);
    out = undefined;
  } finally {
    if (!opts.keepOutputs) {
      g.outputs = saved;
      g.touch();
    }
  }
  if (!out || !feeds) return undefined;
  opts.onOutputs?.(out);
  const names = (opts.compare ?? saved.map((o) => o.name)).filter((n) => out?.[n]?.data instanceof Float32Array);
  const probe: FloatProbe = { feeds, names, ref: floatsOf(out, names), columnEnergy: new Map(), energy: new Map(), range: new Map(), rows: new Map(), source, reference };
  for (const { input: a, output: y0 } of pairs) {
    const av = out[a] ?? (graphInputs.has(a) ? feeds[a] : undefined);
    const ce = av && !probe.columnEnergy.has(a) ? columnEnergy(av as { dims: number[]; data: unknown }) : undefined;
    if (ce) {
      probe.columnEnergy.set(a, ce.energy);
      probe.range.set(a, ce.range);
      probe.rows.set(a, ce.rows);
    }
    const y = out[y0]?.data;
    if (y instanceof Float32Array && !probe.energy.has(y0)) {
      let e = 0;
      for (let i = 0; i < y.length; i++) e += y[i] * y[i];
      probe.energy.set(y0, e);
    }
  }
  return probe;
}

/**
 * The share of the output error each site's 4-bit blocks add (noise-to-signal ratio of its output
 * on the probe); sites without probe energies get the ratio of their weight's error instead.
 */
function errorShares(sites: NBitsSite[], probe: FloatProbe, blockSize: number): number[] {
  const withEnergy = sites.every((s) => probe.columnEnergy.get(s.input)?.length === s.K && (probe.energy.get(s.output) ?? 0) > 0);
  return sites.map((s) => {
    const w = s.errors ?? siteErrors(s, blockSize);
    if (!w) return 0;
    if (withEnergy) {
      const ce = probe.columnEnergy.get(s.input) as Float64Array;
      let e = 0;
      for (let k = 0; k < s.K; k++) e += ce[k] * w.rows[k] * s.alpha * s.alpha;
      return e / (probe.energy.get(s.output) as number);
    }
    let e = 0;
    for (let k = 0; k < s.K; k++) e += w.rows[k];
    return w.energy > 0 ? e / w.energy : 0;
  });
}

/**
 * An embedding table (GatherBlockQuantized) the target may keep at 8 bits like a MatMul: `share`
 * is its 4-bit blocks' noise-to-signal ratio (Σ (T − T̂)² / Σ T², which is its output's on rows
 * drawn alike), in the units of the MatMuls' shares.
 */
export interface TableCandidate {
  share: number;
  raise: () => void;
}

/**
 * What errorShares needs of a site's float weight: its 4-bit blocks' squared error per row
 * (int4RowErrors on ERROR_COLUMNS columns) and the weight's energy Σ W² (on the same columns, scaled); undefined without blocks.
 * Computed ahead when the float weight is to be dropped before the probe (int4.ts).
 */
export function siteErrors(s: NBitsSite, blockSize: number): NonNullable<NBitsSite['errors']> | undefined {
  const blocks = s.packed.blocks;
  if (!blocks || s.bits !== 4) return undefined;
  if (s.packed.errors) return s.packed.errors;
  const energy = new Float64Array(1);
  const rows = int4RowErrors(s.W, s.K, s.N, blockSize, blocks, ERROR_COLUMNS, energy);
  return { rows, energy: energy[0] };
}

/**
 * After the all-4-bit rewrite: measure the probe, and move MatMuls to 8 bits (`raise`) until its
 * cosine reaches `target` (see the file comment). Reports int4EightBit (how many stayed 8-bit).
 * `measure` runs the model on the probe's feeds (default ctx.run on st.model; int4-probe.ts: the
 * switched model's session).
 */
export async function reachTarget(
  st: QuantState,
  probe: FloatProbe,
  target: number,
  sites: NBitsSite[],
  raise: (s: NBitsSite) => void,
  measure?: (feeds: Feeds) => Promise<Outputs>,
  tables: TableCandidate[] = [],
): Promise<void> {
  const run = st.ctx.run;
  if (!run) return;
  const runProbe = measure ?? ((f: Feeds) => run(st.model, f));
  const budget = 1 - target;
  const lossOf = async () => {
    st.count('int4ProbeRuns');
    return 1 - cosine(probe.ref, floatsOf(await runProbe(probe.feeds), probe.names));
  };
  let lossAll: number;
  try {
    lossAll = await lossOf();
  } catch (err) {
    if (!(err instanceof MlcError)) throw err;
    st.ctx.log.warn(`int4 target: the int4 model does not run on the probe (${err.message.split('\n')[0]}); every MatMul stays at 4 bits`);
    st.count('int4EightBit', 0);
    return;
  }
  let loss = lossAll;
  const four = sites.filter((s) => s.bits === 4);
  const detail: Record<string, unknown> = { int4Target: target, probe: probe.source, reference: probe.reference, allFourBitCosine: 1 - lossAll };
  let chosen = 0;
  let tablesChosen = 0;
  if (loss > budget && four.length + tables.length) {
    // MatMuls first in graph order, then the tables (index ≥ four.length)
    const share = [...errorShares(four, probe, st.opts.blockSize), ...tables.map((t) => t.share)];
    const order = share.map((_, i) => i).sort((a, b) => share[b] - share[a] || a - b);
    const total = share.reduce((a, b) => a + b, 0);
    let left = total;
    let next = 0;
    // loss ≈ floor + slope · (share still at 4 bits): the floor (what 8-bit MatMuls cannot remove:
    // 4-bit tables, the 8-bit blocks' own error) is taken as 0 until two runs fit it
    let floor = 0;
    let slope = total > 0 ? loss / total : Number.POSITIVE_INFINITY;
    for (let checks = 1; loss > budget && next < order.length && checks < MAX_CHECKS; checks++) {
      const before = { loss, left };
      do {
        const i = order[next++];
        left -= share[i];
        if (i < four.length) {
          raise(four[i]);
          chosen++;
        } else {
          tables[i - four.length].raise();
          tablesChosen++;
        }
      } while (next < order.length && floor + slope * left > AIM * budget);
      loss = await lossOf();
      if (before.left - left > 0 && before.loss > loss) {
        slope = (before.loss - loss) / (before.left - left);
        floor = Math.max(0, loss - slope * left);
      }
    }
  }
  st.count('int4EightBit', chosen);
  if (tablesChosen) st.count('int4EightBitTables', tablesChosen);
  Object.assign(detail, { probeCosine: 1 - loss, eightBit: chosen, of: sites.length, ...(tables.length ? { tablesEightBit: tablesChosen, tables: tables.length } : {}) });
  st.details.push(detail);
  if (loss > budget) st.ctx.log.warn(`int4 target ${target}: the probe reaches cosine ${(1 - loss).toFixed(5)} with ${chosen} of ${sites.length} MatMuls at 8 bits`);
}
