/**
 * Which MatMuls of an int4 model stay at 8 bits (int4Target): the ones whose 4-bit error costs
 * the model's output the most, measured on a probe, until the probe's cosine to the float model
 * reaches the target.
 *
 * 1. probe: the first PROBE_SAMPLES samples of ctx.calibration; reference: the float model's
 *    outputs (all float outputs, concatenated).
 * 2. the all-4-bit model: if its cosine already reaches the target, nothing stays at 8 bits.
 * 3. sensitivity: for each MatMul / Gemm candidate, the model with only that one at 4 bits; its
 *    loss is 1 − cosine. (Losses of separate layers add up closely: the errors are independent.)
 * 4. the candidates in decreasing loss move to 8 bits while the all-4-bit loss, scaled by the
 *    share of the summed losses still at 4 bits, is above 1 − target; then the chosen model is
 *    run, and while it misses the target the next candidate moves too (at most MAX_CHECKS runs).
 *
 * Cost: one model run per candidate plus two or three (each on PROBE_SAMPLES samples). Without
 * ctx.run or calibration data it warns and keeps everything at 4 bits.
 */
import { cloneModel } from '../../ir/clone.js';
import { cosine } from '../../math/stats.js';
import { feedBatches } from '../activations.js';
import type { Outputs } from '../pass.js';
import { QuantState } from './common.js';
import type { OpRewrites } from './ops.js';
import { candidates } from './weight-only.js';

const PROBE_SAMPLES = 2;
const MAX_CHECKS = 8;

type Rewrite = (st: QuantState, bitsOf: (k: number) => 0 | 4 | 8) => void;

function floatsOf(out: Outputs, names: string[]): Float64Array {
  const parts = names.map((n) => out[n].data as ArrayLike<number>);
  const all = new Float64Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) for (let i = 0; i < p.length; i++) all[o++] = p[i];
  return all;
}

export async function chooseEightBit(st: QuantState, rewrite: Rewrite, ops: OpRewrites): Promise<Set<number>> {
  const { ctx, opts } = st;
  const target = opts.int4Target as number;
  const chosen = new Set<number>();
  if (!ctx.run || !ctx.calibration) {
    ctx.log.warn('int4 target: no calibration data to measure on; every MatMul stays at 4 bits');
    return chosen;
  }
  const run = ctx.run;
  const feeds = feedBatches(st.model, ctx.calibration, { samples: PROBE_SAMPLES, batch: PROBE_SAMPLES }).next().value;
  if (!feeds) return chosen;
  const refOut = await run(st.model, feeds);
  const names = Object.keys(refOut).filter((n) => refOut[n].data instanceof Float32Array);
  const ref = floatsOf(refOut, names);
  const lossOf = async (bitsOf: (k: number) => 0 | 4 | 8): Promise<number> => {
    const m = cloneModel(st.model);
    rewrite(new QuantState(m, opts, ctx), bitsOf);
    return 1 - cosine(ref, floatsOf(await run(m, feeds), names));
  };
  // the candidates as rewriteInt4 numbers them (a dry walk on a copy); Gather tables stay 4-bit
  const sites: number[] = [];
  let k = 0;
  for (const { node } of candidates(new QuantState(cloneModel(st.model), opts, ctx), ops)) {
    if (node.opType !== 'Gather') sites.push(k);
    k++;
  }
  const budget = 1 - target;
  const lossAll = await lossOf(() => 4);
  st.count('int4ProbeRuns');
  if (lossAll <= budget || !sites.length) {
    st.details.push({ int4Target: target, probeCosine: 1 - lossAll, eightBit: 0 });
    return chosen;
  }
  const loss = new Map<number, number>();
  for (const i of sites) {
    loss.set(i, Math.max(0, await lossOf((j) => (j === i ? 4 : 0))));
    st.count('int4ProbeRuns');
  }
  const order = [...sites].sort((a, b) => (loss.get(b) ?? 0) - (loss.get(a) ?? 0) || a - b);
  const total = order.reduce((a, i) => a + (loss.get(i) ?? 0), 0);
  let left = total;
  let next = 0;
  while (next < order.length && total > 0 && (lossAll * left) / total > budget) {
    left -= loss.get(order[next]) ?? 0;
    chosen.add(order[next++]);
  }
  const bitsOf = (j: number): 0 | 4 | 8 => (chosen.has(j) ? 8 : 4);
  let final = await lossOf(bitsOf);
  st.count('int4ProbeRuns');
  for (let checks = 1; final > budget && next < order.length && checks < MAX_CHECKS; checks++) {
    chosen.add(order[next++]);
    final = await lossOf(bitsOf);
    st.count('int4ProbeRuns');
  }
  st.count('int4EightBit', chosen.size);
  st.details.push({ int4Target: target, probeCosine: 1 - final, allFourBitCosine: 1 - lossAll, eightBit: chosen.size, of: sites.length });
  if (final > budget) ctx.log.warn(`int4 target ${target}: the probe reaches cosine ${(1 - final).toFixed(5)} with ${chosen.size} of ${sites.length} MatMuls at 8 bits`);
  return chosen;
}
