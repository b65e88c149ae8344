/**
 * 4-bit block-wise weight-only quantization with onnxruntime's com.microsoft MatMulNBits.
 *
 * Rewrites
 * - MatMul (constant B [K, N]) → MatMulNBits(A, B_packed [N, ⌈K/bs⌉, bs/2] uint8,
 *   scales [N·⌈K/bs⌉] float, zero_points?) with attributes K, N, bits = 4, block_size = bs,
 *   accuracy_level. Blocks run along K for each output column; w ≈ s·(q − z), packed low nibble
 *   first. --int4-scales rtn (the default, onnxruntime's and transformers.js's blocks): the block's
 *   extreme, z = 8 without a zero-point input (with int4Asymmetric, min / max and zero points);
 *   search: each block's scale and zero point are the ones of least squared error
 *   (src/math/blockquant.ts), zero points written (4 bits per block).
 * - The int4 target (int4Target, default 0.995 for models of up to INT4_TARGET_MAX_BYTES of float
 *   weights, 0 above; above INT4_PROBE_MAX_BYTES its reference is the model with every weight in
 *   8-bit blocks instead of the float model; 0 turns it off): the float model runs once on a
 *   probe (2 samples of the calibration data, or without it the seeded made-up inputs `mlc variants`
 *   measures fidelity on; 1 sample for large outputs), then the all-4-bit model; when its cosine to
 *   the float outputs is below the target, the MatMuls whose 4-bit error costs the most (estimated
 *   from the probe's activations) move to 8 bits (MatMulNBits bits = 8, same blocks, in place) and
 *   the model runs again until it reaches it (int4-mixed.ts). Stats: int4EightBit (MatMuls kept
 *   8-bit), int4ProbeRuns. Plain round-to-nearest 4-bit everywhere, as onnxruntime and
 *   transformers.js write it, no model run: `--int4-target 0` (with the default --int4-scales rtn).
 * - Gemm (transA = 0) the same, B transposed first when transB = 1, alpha folded into the scales;
 *   C (constant or computed) becomes an Add of beta·C after the MatMulNBits.
 * - The accuracy_level attribute is --int4-accuracy-level (default 4: onnxruntime may run the
 *   product on its int8 kernels, with A quantized per block; 0 dequantizes B to float).
 * - Gather of a constant 2-D table [V, H] along axis 0 (an embedding) → com.microsoft
 *   GatherBlockQuantized(data [V, H/2] uint8, indices, scales [V, H/bs]) with gather_axis 0,
 *   quantize_axis 1, block_size bs, bits 4: blocks of bs along each row, symmetric (the default
 *   zero point 8), packed low nibble first as MatMulNBits. Needs H a multiple of the block size.
 *
 * Refuses: everything dynamic's MatMul plan refuses (1-D input, transA), weights
 * below minElements, and K < 16 (smaller than the smallest block onnxruntime accepts); tables whose
 * row length is not a multiple of the block size.
 */
import { DataType, dtypeInfo } from '../../ir/dtype.js';
import type { Node } from '../../ir/node.js';
import { AttrType } from '../../ir/node.js';
import { Tensor } from '../../ir/tensor.js';
import { int4RowsNoise, quantizeInt4BlocksSearch, quantizeInt4BlocksWithErrors, quantizeInt8Blocks, quantizeTableRows } from '../../math/blockquant.js';
import { type Int4Blocks, quantizeInt4Blocks } from '../../math/quant.js';
import { QuantState, addConst, dropIfUnused, intAttr, nodeLabel } from './common.js';
import { addAfterNodes, planMatMul } from './dynamic.js';
import type { OpRewrites, WeightSite } from './ops.js';

/** int4: MatMulNBits for MatMul / Gemm, GatherBlockQuantized for embedding tables. */
export const INT4_OPS: OpRewrites = { MatMul: 'matmul-nbits', Gemm: 'matmul-nbits', Gather: 'gather-block-quantized' };
import { ERROR_COLUMNS, INT4_TARGET, probeFloat, reachTarget, siteErrors } from './int4-mixed.js';
import { probeSwitched } from './int4-probe.js';
import { candidates } from './weight-only.js';

/** Blocks added to the graph: constant names, the blocks (scales before alpha), bytes, details line. */
type Packed = {
  bq: string;
  sc: string;
  zp?: string;
  kBlocks: number;
  bytes: number;
  detail: Record<string, unknown>;
  blocks?: Int4Blocks;
  /** the 4-bit blocks' error per row of W and Σ W² (int4-mixed.ts siteErrors), when taken while packing */
  errors?: { rows: Float64Array; energy: number };
  /** the weight's 8-bit blocks, taken while packing these 4-bit ones, until packWeight at 8 bits uses them */
  eight?: Int4Blocks;
};
export type { Packed };

/** A MatMul / Gemm the rewrite turned into MatMulNBits: what the int4 target needs to move it to 8 bits. */
export interface NBitsSite {
  /** the candidate's number in graph order (rewriteInt4's k) */
  k: number;
  /** the MatMulNBits node */
  node: Node;
  /** the float node's input A and output (names in the float model: the probe's activations) */
  input: string;
  output: string;
  /** the float weight as MatMul's B [K, N] (Gemm's transposed), the scale folded in later */
  W: Float32Array;
  K: number;
  N: number;
  alpha: number;
  key: string;
  bits: 4 | 8;
  /** the float weight's name and the node's label (names of the constants and details) */
  weight: string;
  label: string;
  /** the blocks the node reads */
  packed: Packed;
  /** its 4-bit blocks' error per row of W and Σ W² (int4-mixed.ts siteErrors), when computed before W was dropped */
  errors?: { rows: Float64Array; energy: number };
}

/**
 * The blocks of W [K, N] at `bits` bits, added as constants once per (weight, orientation, bits) when alpha is 1;
 * `withErrors`: 4-bit blocks of round to nearest come with their errors (siteErrors' figures), and with
 * `withEight` the 8-bit blocks too, all taken in the same pass (8 bits: the site's 4-bit blocks' `eight` if there).
 */
function packWeight(
  st: QuantState,
  cache: Map<string, Packed>,
  s: Pick<NBitsSite, 'W' | 'K' | 'N' | 'alpha' | 'key'> & { packed?: Packed },
  wName: string,
  label: string,
  bits: 4 | 8,
  withErrors = false,
  withEight = false,
): Packed {
  const key = `${s.key}|${bits}`;
  let p = s.alpha === 1 ? cache.get(key) : undefined;
  if (p) return p;
  const g = st.graph;
  const bs = st.opts.blockSize;
  const { W, K, N } = s;
  const search = st.opts.int4Scales === 'search';
  const both =
    bits === 4 && !search && withErrors ? quantizeInt4BlocksWithErrors(W, K, N, bs, !st.opts.int4Asymmetric, ERROR_COLUMNS, withEight) : undefined;
  const pre = bits === 8 ? s.packed?.eight : undefined;
  if (pre && s.packed) s.packed.eight = undefined;
  const blk =
    both?.blocks ??
    pre ??
    (bits === 8 ? quantizeInt8Blocks(W, K, N, bs) : search ? quantizeInt4BlocksSearch(W, K, N, bs) : quantizeInt4Blocks(W, K, N, bs, !st.opts.int4Asymmetric));
  const blob = bits === 8 ? bs : bs / 2;
  const scales = s.alpha === 1 ? blk.scales : blk.scales.map((x) => x * s.alpha);
  const bytes = blk.packed.length + scales.length * 4 + (blk.zeroPoints?.length ?? 0);
  const detail = { weight: wName, node: label, format: bits === 8 ? 'int8 blocks' : 'int4', blockSize: bs, K, N };
  p = {
    bq: addConst(g, `${wName}_Q${bits}`, new Tensor('', DataType.UINT8, [N, blk.kBlocks, blob], blk.packed)),
    // (the 8-bit blocks of a weight the int4 target raised are named apart from its 4-bit ones)
    sc: addConst(g, `${wName}${bits === 8 ? '_Q8' : ''}_scales`, Tensor.float32('', [N * blk.kBlocks], scales)),
    zp: blk.zeroPoints && addConst(g, `${wName}_zero_points`, new Tensor('', DataType.UINT8, [blk.zeroPoints.length], blk.zeroPoints)),
    kBlocks: blk.kBlocks,
    bytes,
    detail,
    blocks: blk,
    errors: both && { rows: both.rows, energy: both.energy },
    eight: both?.eight,
  };
  if (s.alpha === 1) cache.set(key, p);
  st.bytesAfter += bytes;
  st.details.push(detail);
  return p;
}

function applyMatMulNBits(
  st: QuantState,
  site: WeightSite,
  cache: Map<string, Packed>,
  k: number,
  bits: 4 | 8,
  withErrors: boolean,
  withEight: boolean,
): NBitsSite | string {
  const g = st.graph;
  const node = site.node;
  const plan = planMatMul(st, site, false);
  if (typeof plan === 'string') return plan;
  const { K, N } = plan;
  const bs = st.opts.blockSize;
  if (K < 16) return `K = ${K} is below the smallest MatMulNBits block (16)`;
  const wName = node.inputs[site.input];
  const label = nodeLabel(node);
  // a weight shared by several nodes (same orientation, alpha 1) is packed once
  const s = { W: plan.W, K, N, alpha: plan.alpha, key: `${st.weightKey(wName)}|${plan.transposed ? 'T' : ''}` };
  const counted = s.alpha === 1 && (cache.has(`${s.key}|4`) || cache.has(`${s.key}|8`));
  const p = packWeight(st, cache, s, wName, label, bits, withErrors, withEight);
  if (!counted) st.bytesBefore += site.tensor.byteLength;
  const inputs = [node.inputs[0], p.bq, p.sc];
  if (p.zp) inputs.push(p.zp);
  const product = plan.addAfter ? g.uniqueName(`${label}_product`) : plan.output;
  const y = plan.bias ? g.uniqueName(`${label}_MatMulNBits_out`) : product;
  const nbits: Node = {
    name: g.uniqueName(`${label}_Q4`),
    opType: 'MatMulNBits',
    domain: 'com.microsoft',
    inputs,
    outputs: [y],
    attributes: [
      intAttr('K', K),
      intAttr('N', N),
      intAttr('bits', bits),
      intAttr('block_size', bs),
      { name: 'accuracy_level', type: AttrType.INT, value: st.opts.accuracyLevel ?? 4 },
    ],
  };
  const nodes: Node[] = [nbits];
  if (plan.bias) {
    const b = addConst(g, `${label}_bias`, Tensor.float32('', [N], plan.bias));
    nodes.push({ name: g.uniqueName(`${label}_bias_Add`), opType: 'Add', domain: '', inputs: [y, b], outputs: [product], attributes: [] });
  }
  if (plan.addAfter) nodes.push(...addAfterNodes(st, label, product, plan.addAfter, plan.output));
  const input = node.inputs[0];
  const output = node.outputs[0];
  g.replaceNode(node, nodes);
  st.model.ensureOpset('com.microsoft', 1);
  dropIfUnused(st, wName);
  if (plan.biasSource) dropIfUnused(st, plan.biasSource);
  st.modified = true;
  return { k, node: nbits, input, output, ...s, bits, weight: wName, label, packed: p };
}

/**
 * Move a MatMulNBits of the rewrite between 4 and 8 bits (same blocks; bits = 8 has no zero
 * points): its weight is packed at the new width (once per weight), and the old constants go when
 * nothing reads them.
 */
export function setBits(
  st: QuantState,
  cache: Map<string, Packed>,
  site: NBitsSite,
  bits: 4 | 8,
  p = packWeight(st, cache, site, site.weight, site.label, bits),
): void {
  swapBlocks(st, cache, site, bits, p, nbitsOn);
}

/** Move an embedding table between 4 and 8 bits (the int4 target's choice; `p`: blocks packed ahead). */
function setTableBits(st: QuantState, cache: Map<string, Packed>, site: TableSite, bits: 4 | 8, p = packTable(st, cache, site, bits)): void {
  swapBlocks(st, cache, site, bits, p, gatherOn);
}

/** A site's node on other blocks (`on` makes it); the old blocks go when nothing reads them. */
function swapBlocks(
  st: QuantState,
  cache: Map<string, Packed>,
  site: { node: Node; bits: 4 | 8; packed: Packed; key: string },
  bits: 4 | 8,
  p: Packed,
  on: (n: Node, p: Packed, bits: 4 | 8) => Node,
): void {
  if (site.bits === bits) return;
  const old = site.packed;
  const oldKey = `${site.key}|${site.bits}`;
  const node = on(site.node, p, bits);
  st.graph.replaceNode(site.node, [node]);
  Object.assign(site, { node, bits, packed: p });
  dropBlocks(st, cache, oldKey, old);
}

/** The int4 target's view of a table at 4 bits: its blocks' noise-to-signal ratio (on up to ~2048 rows). */
function tableShare(st: QuantState, t: TableSite): number {
  const blk = t.packed.blocks;
  return blk ? int4RowsNoise(t.table, t.V, t.H, st.opts.blockSize, blk, Math.max(1, Math.floor(t.V / 2048))) : 0;
}

/** A GatherBlockQuantized node on other blocks (`bits` wide). */
function gatherOn(n: Node, p: Packed, bits: 4 | 8): Node {
  return { ...n, inputs: [p.bq, n.inputs[1], p.sc], attributes: n.attributes.map((a) => (a.name === 'bits' ? intAttr('bits', bits) : a)) };
}

/** A MatMulNBits node on other blocks (`bits` wide). */
function nbitsOn(n: Node, p: Packed, bits: 4 | 8): Node {
  return {
    ...n,
    inputs: [n.inputs[0], p.bq, p.sc, ...(p.zp ? [p.zp] : [])],
    attributes: n.attributes.map((a) => (a.name === 'bits' ? intAttr('bits', bits) : a)),
  };
}

/** An embedding table the rewrite turned into GatherBlockQuantized (4 bits, or 8 for the big models' reference). */
export interface TableSite {
  node: Node;
  /** the float table [V, H] */
  table: Float32Array;
  V: number;
  H: number;
  key: string;
  bits: 4 | 8;
  weight: string;
  label: string;
  packed: Packed;
}

/** The blocks of a table's rows at `bits` bits (symmetric; 8 bits: the default zero point 128), added once per table and width. */
function packTable(st: QuantState, cache: Map<string, Packed>, s: Pick<TableSite, 'table' | 'V' | 'H' | 'key' | 'weight' | 'label'>, bits: 4 | 8): Packed {
  const key = `${s.key}|${bits}`;
  let p = cache.get(key);
  if (p) return p;
  const { V, H } = s;
  const bs = st.opts.blockSize;
  // blocks run along each row (those of quantizeInt4Blocks / quantizeInt8Blocks on the table's
  // transpose [H, V], read in place)
  const blk = quantizeTableRows(s.table, V, H, bs, bits);
  const bytes = blk.packed.length + blk.scales.length * 4;
  const detail = { weight: s.weight, node: s.label, format: bits === 8 ? 'int8 blocks' : 'int4', blockSize: bs, rows: V, columns: H };
  p = {
    bq: addConst(st.graph, `${s.weight}_Q${bits}`, new Tensor('', DataType.UINT8, [V, bits === 8 ? H : H / 2], blk.packed)),
    sc: addConst(st.graph, `${s.weight}${bits === 8 ? '_Q8' : ''}_scales`, Tensor.float32('', [V, blk.kBlocks], blk.scales)),
    kBlocks: blk.kBlocks,
    bytes,
    detail,
    blocks: blk,
  };
  cache.set(key, p);
  st.bytesAfter += bytes;
  st.details.push(detail);
  return p;
}

/** Gather(table, ids) → GatherBlockQuantized(packed table, ids, scales): rows in blocks of bs at `bits` bits. */
function applyGatherBlockQuantized(st: QuantState, site: WeightSite, cache: Map<string, Packed>, bits: 4 | 8): TableSite | string {
  const g = st.graph;
  const node = site.node;
  const [V, H] = site.tensor.dims;
  const bs = st.opts.blockSize;
  if (H % bs !== 0) return `table row length ${H} is not a multiple of the block size ${bs}`;
  const wName = node.inputs[0];
  const s = { table: site.tensor.data as Float32Array, V, H, key: st.weightKey(wName), weight: wName, label: nodeLabel(node) };
  if (!cache.has(`${s.key}|4`) && !cache.has(`${s.key}|8`)) st.bytesBefore += site.tensor.byteLength;
  const p = packTable(st, cache, s, bits);
  const gbq: Node = {
    name: node.name || g.uniqueName(`${s.label}_Q4`),
    opType: 'GatherBlockQuantized',
    domain: 'com.microsoft',
    inputs: [p.bq, node.inputs[1], p.sc],
    outputs: [node.outputs[0]],
    attributes: [intAttr('gather_axis', 0), intAttr('quantize_axis', 1), intAttr('block_size', bs), intAttr('bits', bits)],
  };
  g.replaceNode(node, [gbq]);
  st.model.ensureOpset('com.microsoft', 1);
  dropIfUnused(st, wName);
  st.modified = true;
  return { ...s, node: gbq, bits, packed: p };
}

/** Drop a site's old blocks once no node reads them: their constants, bytes and line of the details. */
function dropBlocks(st: QuantState, cache: Map<string, Packed>, key: string, old: Packed): void {
  if (st.graph.consumers(old.bq).length) return;
  for (const n of [old.bq, old.sc, old.zp]) if (n) dropIfUnused(st, n);
  st.bytesAfter -= old.bytes;
  const i = st.details.indexOf(old.detail);
  if (i >= 0) st.details.splice(i, 1);
  if (cache.get(key) === old) cache.delete(key);
}

/**
 * The rewrite: every candidate (in graph order) becomes MatMulNBits at `bits` bits (Gather tables
 * GatherBlockQuantized). Returns the sites and the block caches (setBits, setTableBits).
 */
export function rewriteInt4(
  st: QuantState,
  bits: 4 | 8 = 4,
  withErrors = false,
  withEight = false,
): { sites: NBitsSite[]; cache: Map<string, Packed>; tableSites: TableSite[]; tables: Map<string, Packed> } {
  const cache = new Map<string, Packed>();
  const tables = new Map<string, Packed>();
  const sites: NBitsSite[] = [];
  const tableSites: TableSite[] = [];
  let k = 0;
  for (const { node, site } of candidates(st, INT4_OPS)) {
    const gather = node.opType === 'Gather';
    const r = gather ? applyGatherBlockQuantized(st, site, tables, bits) : applyMatMulNBits(st, site, cache, k, bits, withErrors, withEight);
    k++;
    if (typeof r === 'string') st.skip(node, r);
    else {
      st.count(node.opType);
      if ('table' in r) tableSites.push(r);
      else sites.push(r);
    }
  }
  return { sites, cache, tableSites, tables };
}

/**
 * int4: the reference outputs on a probe first (when there is a target), then the 4-bit
 * rewrite, then the MatMuls that cost the most move to 8 bits until the probe reaches the target.
 * Up to int4ProbeMaxBytes of float weights the reference is the float model; above, the model with
 * every weight in 8-bit blocks, on one session of the switched model (int4-probe.ts: its float
 * weights are never serialized). Above int4TargetMaxBytes the target is off unless asked for.
 */
export async function runInt4(st: QuantState): Promise<void> {
  const bytes = floatWeightBytes(st);
  const large = bytes > maxProbeBytes(st);
  const off = bytes > targetMaxBytes(st);
  const target = st.opts.int4Target ?? (off ? 0 : INT4_TARGET);
  if (off && st.opts.int4Target === undefined) noteLargeDefault(st, bytes);
  if (!(target > 0)) {
    rewriteInt4(st);
    st.count('int4EightBit', 0);
    return;
  }
  if (!large) {
    const probe = await probeFloat(st, INT4_OPS);
    const { sites, cache, tableSites, tables } = rewriteInt4(st, 4, !!probe);
    const candidates = tableSites.map((t) => ({ share: tableShare(st, t), raise: () => setTableBits(st, tables, t, 8) }));
    if (probe) await reachTarget(st, probe, target, sites, (s) => setBits(st, cache, s, 8), undefined, candidates);
    else st.count('int4EightBit', 0);
    warnEightBitShare(st, sites, target);
    return;
  }
  const { sites, cache, tableSites, tables } = rewriteInt4(st, 4, true, true);
  if (!sites.length) {
    // no MatMul to keep at 8 bits (as probeFloat for smaller models): nothing to probe for
    st.count('int4EightBit', 0);
    return;
  }
  // every weight's 8-bit blocks too (the probe's reference and the steps), and what the error
  // estimate needs of the float weights; then the float weights go before anything runs
  const eight = sites.map((s) => packWeight(st, cache, s, s.weight, s.label, 8));
  const tableEight = tableSites.map((t) => packTable(st, tables, t, 8));
  for (const s of sites) s.errors = siteErrors(s, st.opts.blockSize);
  const shares = tableSites.map((t) => tableShare(st, t));
  for (const s of sites) s.W = EMPTY;
  for (const t of tableSites) t.table = EMPTY;
  const switches = [
    ...sites.map((s, i) => ({ four: s.node, eight: nbitsOn(s.node, eight[i], 8) })),
    ...tableSites.map((t, i) => ({ four: t.node, eight: gatherOn(t.node, tableEight[i], 8) })),
  ];
  const raised = await probeSwitched(st, target, sites, switches, shares);
  if (!raised) st.count('int4EightBit', 0);
  for (let i = 0; i < sites.length; i++) if (raised?.sites.has(sites[i])) setBits(st, cache, sites[i], 8, eight[i]);
  for (let i = 0; i < tableSites.length; i++) if (raised?.tables.has(i)) setTableBits(st, tables, tableSites[i], 8, tableEight[i]);
  // the 8-bit blocks no node reads (once per block set: weights shared by several nodes)
  const unused = new Map<Packed, string>();
  for (let i = 0; i < sites.length; i++) unused.set(eight[i], `${sites[i].key}|8`);
  for (const [p, key] of unused) dropBlocks(st, cache, key, p);
  for (let i = 0; i < tableSites.length; i++) dropBlocks(st, tables, `${tableSites[i].key}|8`, tableEight[i]);
  warnEightBitShare(st, sites, target);
}

const EMPTY = new Float32Array(0);

function noteLargeDefault(st: QuantState, bytes: number): void {
  st.ctx.log.info(
    `int4: ${Math.round(bytes / 1e6)} MB of float weights: no fidelity probe by default above ${Math.round(targetMaxBytes(st) / 1e6)} MB (plain 4-bit blocks; the probe holds the weights at 4 and 8 bits and runs the model several times); --int4-target ${INT4_TARGET} asks for it (MatMuls kept at 8 bits until the probe reaches it, against the model in 8-bit blocks)`,
  );
  st.details.push({ int4Target: 0, probe: 'off: model too large for the default probe', weightBytes: bytes });
}

/**
 * The share of the MatMul weights at 8 bits (in the details as eightBitShare); from half of them on
 * a warning: the file is then near an int8 one in size, and int8 runs faster on CPU.
 */
function warnEightBitShare(st: QuantState, sites: NBitsSite[], target: number): void {
  let all = 0;
  let eight = 0;
  let n = 0;
  for (const s of sites) {
    all += s.K * s.N;
    if (s.bits === 8) {
      eight += s.K * s.N;
      n++;
    }
  }
  if (!n || !all) return;
  const share = eight / all;
  const detail = st.details.find((d) => 'int4Target' in d && 'eightBit' in d);
  if (detail) detail.eightBitShare = Number(share.toFixed(4));
  if (share < 0.5) return;
  st.ctx.log.warn(
    `int4 target ${target}: ${n} of ${sites.length} MatMuls (${(100 * share).toFixed(0)} % of the MatMul weights) are kept at 8 bits to reach it: the file is near an int8 one in size, and --quantize int8 would be about as small and faster on CPU (--int4-target 0: every MatMul at 4 bits, below the target)`,
  );
}

/**
 * The float weight bytes above which the int4 target's reference is the model in 8-bit blocks, on
 * one session of the switched model (int4-probe.ts), instead of the float model in sessions of its
 * own (int4ProbeMaxBytes, default INT4_PROBE_MAX_BYTES): with the float model as the reference the
 * probe on BERT-base (434 MB) took about +10 s of CPU and 4.1× the file in memory.
 */
export const INT4_PROBE_MAX_BYTES = 64_000_000;

/**
 * The float weight bytes above which the int4 target is off unless asked for (int4TargetMaxBytes,
 * default INT4_TARGET_MAX_BYTES; plain 4-bit blocks, with an info line). Up to it the probe runs by
 * default: on BERT-base (434 MB) it fits issue 17's budget for `compress --no-latency` (5 s, 2.5×
 * the file in memory; README, int4); above, the weights held at 4 and 8 bits and their session
 * cost more memory than a model of several GB leaves (the 2× budget of those models).
 */
export const INT4_TARGET_MAX_BYTES = 1_000_000_000;

function maxProbeBytes(st: QuantState): number {
  return st.opts.int4ProbeMaxBytes ?? INT4_PROBE_MAX_BYTES;
}

function targetMaxBytes(st: QuantState): number {
  return st.opts.int4TargetMaxBytes ?? INT4_TARGET_MAX_BYTES;
}

function floatWeightBytes(st: QuantState): number {
  let bytes = 0;
  for (const t of st.model.graph.initializers.values()) if (dtypeInfo(t.dtype).isFloat) bytes += t.byteLength;
  return bytes;
}
