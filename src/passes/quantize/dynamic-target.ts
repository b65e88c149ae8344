/**
 * The int8 target of dynamic mode (int8Target; off by default, `mlc variants` sets it for q8 / int8 /
 * uint8): which MatMuls / Gemms stay float so that the model's outputs on a probe reach a cosine to
 * the float model's. In dynamic mode the error has two sources: the weights' 8-bit steps and the
 * activations', which onnxruntime quantizes to uint8 at run time with one scale per tensor. An
 * activation whose range is set by a few large values (a causal attention's first token, a
 * GELU output) leaves the rest of the tensor a few of its 256 steps: on the GPT-2-like decoder of
 * benchmarks/web.bench.mjs the first layer's attention output projection alone cost 1 − cosine
 * 3·10⁻⁴ (its weights 0.4·10⁻⁴). Such a MatMul stays float; the file keeps DynamicQuantizeMatMul
 * for the others (a format transformers.js and onnxruntime-web load as they load the all-8-bit one).
 *
 * 1. probe: the float model once on the int4 target's probe (probeModel of int4-mixed.ts: two
 *    samples of the calibration data, else the made-up ones), with the energies of every candidate's
 *    input columns and output and the range of its input.
 * 2. a copy of the model is rewritten with every MatMul at 8 bits and runs on the probe; when its
 *    cosine reaches the target nothing stays float (one extra run).
 * 3. otherwise each MatMul's share of the error is estimated without a run, as its output's
 *    noise-to-signal ratio: weights Σ_k E[a_k²] · Σ_n (W − Ŵ)[k, n]², activations
 *    rows · (range / 255)² / 12 · ‖W‖², over Σ y². The MatMuls of largest share stay float until
 *    the measured loss, taken as slope · (share left) with the slope of the last run, is halfway from the loss to
 *    0.85 · (1 − target); a copy with them float runs again, and again while it misses the
 *    target, at most MAX_CHECKS times (the last step aims all the way). Small steps: the estimate
 *    does not see how an error propagates (the first layers' errors cost the output more). The model itself is rewritten
 *    once, with the chosen MatMuls left float (skip reason "kept float by the int8 target").
 *
 * Cost: the float model once, and per check a copy of the model rewritten and run on the probe.
 */
import { MlcError } from '../../core/errors.js';
import { cloneModel } from '../../ir/clone.js';
import { DataType } from '../../ir/dtype.js';
import type { Graph } from '../../ir/graph.js';
import type { Node } from '../../ir/node.js';
import { quantizeTensor } from '../../math/quant.js';
import { cosine } from '../../math/stats.js';
import { addConst, intTensor, nodeLabel, QuantState } from './common.js';
import { DYNAMIC_OPS, runDynamic } from './dynamic.js';
import { type FloatProbe, floatsOf, probeModel } from './int4-mixed.js';
import { candidates, weightFormat } from './weight-only.js';

/** The probe cosine the 8-bit variants of `mlc variants` aim at (70 % of the loss the 0.999 floor allows: the probe measures the format exactly, and the runtime that serves it may add its own, e.g. onnxruntime-node's saturating u8·s8 kernels on x86 without VNNI). */
export const INT8_TARGET = 0.9993;
const MAX_CHECKS = 6;
const AIM = 0.85;

interface Site {
  label: string;
  input: string;
  output: string;
  share: number;
}

/** Each MatMul / Gemm candidate's estimated noise-to-signal ratio at 8 bits (see the file comment). */
function shares(st: QuantState, probe: FloatProbe): Site[] {
  const { qtype, symmetric } = weightFormat(st);
  const out: Site[] = [];
  for (const { node, site } of candidates(new QuantState(st.model, st.opts, st.ctx), DYNAMIC_OPS)) {
    if (node.opType !== 'MatMul' && node.opType !== 'Gemm') continue;
    const t = site.tensor;
    const input = node.inputs[0];
    const output = node.outputs[0];
    const ce = probe.columnEnergy.get(input);
    const range = probe.range.get(input);
    const energy = probe.energy.get(output);
    if (t.dims.length !== 2 || !ce || range === undefined || !energy) continue;
    const kAxis = 1 - site.axis;
    const K = t.dims[kAxis];
    if (ce.length !== K) continue;
    const W = t.data as Float32Array;
    const qt = quantizeTensor(W, t.dims, { qtype, symmetric, axis: st.opts.perChannel ? site.axis : undefined, reduceRange: st.opts.reduceRange, pairs: st.opts.pairSafe ? (site.axis === 1 ? 'rows' : 'columns') : undefined });
    const cols = t.dims[1];
    const rowErr = new Float64Array(K);
    let w2 = 0;
    for (let i = 0; i < W.length; i++) {
      const ch = st.opts.perChannel ? (site.axis === 1 ? i % cols : Math.floor(i / cols)) : 0;
      const d = W[i] - qt.scale[ch] * (qt.q[i] - qt.zeroPoint[ch]);
      rowErr[kAxis === 0 ? Math.floor(i / cols) : i % cols] += d * d;
      w2 += W[i] * W[i];
    }
    let e = 0;
    for (let k = 0; k < K; k++) e += ce[k] * rowErr[k];
    const rows = probe.rows.get(input) ?? 1;
    const step = range / 255;
    e += ((rows * step * step) / 12) * w2;
    out.push({ label: nodeLabel(node), input, output, share: e / energy });
  }
  return out;
}

/**
 * The int8 weights of the integer products as uint8 (q + 128, zero point + 128): the same
 * dequantized weights, on onnxruntime's u8·u8 kernels. On x86 CPUs without VNNI its u8·s8 kernels
 * add pairs of products in saturating 16-bit sums; the probe measures the format's own error
 * instead, the same on every machine (what VNNI, ARM and onnxruntime-web compute).
 */
function unsaturated(g: Graph): void {
  const done = new Map<string, [string, string]>();
  for (const node of g.nodes) {
    const [bAt, zAt, sAt] = node.opType === 'DynamicQuantizeMatMul' ? [1, 3, 2] : node.opType === 'MatMulInteger' ? [1, 3, -1] : [-1, -1, -1];
    if (bAt < 0) continue;
    const b = g.initializers.get(node.inputs[bAt]);
    if (!b || b.dtype !== DataType.INT8) continue;
    const zName = node.inputs[zAt] ?? '';
    const key = `${b.name}|${zName}`;
    let names = done.get(key);
    if (!names) {
      const z = zName ? g.initializers.get(zName) : undefined;
      if (zName && (!z || z.dtype !== DataType.INT8)) continue;
      const scale = sAt >= 0 ? g.initializers.get(node.inputs[sAt]) : undefined;
      const zDims = z ? z.dims : (scale?.dims ?? []);
      const zq = new Uint8Array(zDims.reduce((a, d) => a * d, 1));
      for (let i = 0; i < zq.length; i++) zq[i] = (z ? (z.data as Int8Array)[i] : 0) + 128;
      const bq = Uint8Array.from(b.data as Int8Array, (v) => v + 128);
      names = [addConst(g, `${b.name}_u8`, intTensor('', bq, b.dims)), addConst(g, `${b.name}_u8_zero_point`, intTensor('', zq, zDims))];
      done.set(key, names);
    }
    node.inputs[bAt] = names[0];
    while (node.inputs.length <= zAt) node.inputs.push('');
    node.inputs[zAt] = names[1];
  }
  g.touch();
}

/** The loss 1 − cosine of the model rewritten with `keep` float, on a copy. */
async function lossWith(st: QuantState, probe: FloatProbe, keep: Set<string>): Promise<number> {
  const run = st.ctx.run as NonNullable<typeof st.ctx.run>;
  const copy = cloneModel(st.model);
  const trial = new QuantState(copy, st.opts, st.ctx);
  for (const k of keep) trial.keptFloat.add(k);
  runDynamic(trial);
  unsaturated(copy.graph);
  st.count('int8ProbeRuns');
  return 1 - cosine(probe.ref, floatsOf(await run(copy, probe.feeds), probe.names));
}

/** Dynamic mode with st.opts.int8Target: choose the MatMuls kept float (st.keptFloat), then rewrite. */
export async function runDynamicTarget(st: QuantState): Promise<void> {
  const target = st.opts.int8Target ?? 0;
  if (target > 0 && st.ctx.run) await chooseKeptFloat(st, target);
  runDynamic(st);
}

async function chooseKeptFloat(st: QuantState, target: number): Promise<void> {
  const nodes: Node[] = [];
  for (const { node } of candidates(new QuantState(st.model, st.opts, st.ctx), DYNAMIC_OPS)) if (node.opType === 'MatMul' || node.opType === 'Gemm') nodes.push(node);
  if (!nodes.length) return;
  const probe = await probeModel(
    st,
    nodes.map((n) => ({ input: n.inputs[0], output: n.outputs[0] })),
    'float',
    'int8 target',
  );
  if (!probe) return;
  const budget = 1 - target;
  let loss: number;
  try {
    loss = await lossWith(st, probe, new Set());
  } catch (err) {
    if (!(err instanceof MlcError)) throw err;
    st.ctx.log.warn(`int8 target: the int8 model does not run on the probe (${err.message.split('\n')[0]}); every MatMul stays at 8 bits`);
    return;
  }
  const detail: Record<string, unknown> = { int8Target: target, probe: probe.source, allEightBitCosine: 1 - loss };
  const keep = new Set<string>();
  if (loss > budget) {
    const sites = shares(st, probe).sort((a, b) => b.share - a.share);
    const total = sites.reduce((a, s) => a + s.share, 0);
    let left = total;
    let next = 0;
    let slope = total > 0 ? loss / total : Number.POSITIVE_INFINITY;
    for (let checks = 1; loss > budget && next < sites.length && checks <= MAX_CHECKS; checks++) {
      // half the way to the aim per check (the last one all the way): the estimate does not see
      // how far each error propagates, so a large step keeps more float than needed
      const aim = checks === MAX_CHECKS ? AIM * budget : Math.max(AIM * budget, (loss + AIM * budget) / 2);
      do {
        const s = sites[next++];
        left -= s.share;
        keep.add(s.label);
      } while (next < sites.length && slope * left > aim);
      loss = await lossWith(st, probe, keep);
      // loss ≈ slope · (share still 8-bit), refitted to the last run
      if (left > 0) slope = loss / left;
    }
  }
  for (const k of keep) st.keptFloat.add(k);
  st.count('int8KeptFloat', keep.size);
  Object.assign(detail, { probeCosine: 1 - loss, keptFloat: [...keep], of: nodes.length });
  st.details.push(detail);
  if (loss > budget) st.ctx.log.warn(`int8 target ${target}: the probe reaches cosine ${(1 - loss).toFixed(5)} with ${keep.size} of ${nodes.length} MatMuls float`);
}
