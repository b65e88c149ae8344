/**
 * lowrank — truncated-SVD factorization of MatMul / Gemm / Conv weights.
 *
 * A constant weight S (stored rows×cols; a Conv filter [Cout, Cin, k…] as [Cout, Cin·Πk]) is
 * replaced by two factors S ≈ P·Q with P = U_r·Σ_r [rows, r] and Q = V_rᵀ [r, cols] (the best
 * rank-r approximation, Eckart–Young), and its node by two nodes:
 *   - MatMul(x, W[K,N])        → MatMul(MatMul(x, P[K,r]), Q[r,N])        (batched x keeps working)
 *   - MatMul(W[M,K], x)        → MatMul(P[M,r], MatMul(Q[r,K], x))
 *   - Gemm(x, W, C; transA, transB, α, β) → Gemm(x, ·; transA, α) then Gemm(·, ·, C; β): the first
 *     keeps transA and α, the second takes the bias C with β; with transB = 1 the factors are used
 *     transposed (x·Sᵀ = (x·Qᵀ)·Pᵀ), so the stored layout convention is kept. A constant A input
 *     (Gemm(W, x)) is handled the same way from the left.
 *   - Conv(x, W[Cout,Cin,k…], b; group 1) → Conv(x, Q as [r,Cin,k…]) with the original strides,
 *     pads, dilations, auto_pad, then a 1×1 Conv(·, P as [Cout,r,1…], b) carrying the bias.
 * Rank: `ratio` → r = round(ratio · min(rows, cols)); `energy` → the smallest r whose singular
 * values keep that fraction of Σσ² (= ‖S‖_F²). A weight read by several nodes (tied weights) is
 * factored once and every reader is rewritten, if all of them can be. Weights are found through
 * src/ir/constants.ts (behind Identity / Cast / Reshape / Transpose …); readers of one tensor through
 * different Identity outputs share it, and the chain goes once nothing reads it.
 *
 * Left alone, with a Skip: nodes with no constant weight, non-float32/float64 or non-2-D weights,
 * grouped Convs, weights also read by a node that cannot be rewritten (other op, excluded, other
 * role) or that are graph outputs, Gemm before opset 11, and weights whose factorization would save
 * less than `minSaving` of their parameters (params before = rows·cols, after = r·(rows + cols)).
 * Only the main graph is rewritten (not If / Loop bodies).
 *
 * Data-aware mode (`dataAware`, needs calibration data; opt-in): for a MatMul / Gemm whose weight
 * multiplies an activation from the right (y = x·W), the factorization minimizes the error on the
 * data, ‖X·(W − A·B)‖_F, instead of ‖W − A·B‖_F: with C = XᵀX + λI = L·Lᵀ (Cholesky;
 * λ = 1e-3 · mean diag C), take the truncated SVD of Lᵀ·W = U Σ Vᵀ and set A = L⁻ᵀ·U_r·Σ_r,
 * B = V_rᵀ (the whitened SVD of SVD-LLM / ASVD). `energy` then means the share of ‖X·W‖² the
 * factors keep. Other readers (Conv, constant on the left, shared weights) use the plain SVD.
 */
import { MlcError } from '../core/errors.js';
import { DataType } from '../ir/dtype.js';
import type { Graph } from '../ir/graph.js';
import type { Model } from '../ir/model.js';
import { attrInt, AttrType, isOnnxDomain, type Attribute, type Node } from '../ir/node.js';
import { Constants } from '../ir/constants.js';
import { Tensor } from '../ir/tensor.js';
import { countParams } from '../ir/params.js';
import { tensorType } from '../ir/types.js';
import { cholesky, gemm, solveLowerTransposed, transpose } from '../math/matmul.js';
import { relativeError, scaledLeft, truncatedSvd, type SvdMethod } from '../math/svd.js';
import { budgetBatch, feedBatches, streamActivations } from './activations.js';
import { definePass, optionSchema, parseWithSchema } from './options.js';
import { isExcluded, type Pass, type PassContext, type PassResult, type Skip } from './pass.js';
import { recurrentSkips } from './recurrent.js';

export interface LowRankOptions {
  /** rank = ratio · min(rows, cols), 0 < ratio ≤ 1 (exactly one of ratio / energy) */
  ratio?: number;
  /** rank = smallest keeping this fraction of Σσ², 0 < energy ≤ 1 */
  energy?: number;
  /** factor a weight only if it saves at least this share of its parameters, 0 ≤ x < 1 */
  minSaving: number;
  svd: SvdMethod;
  /** node or weight names (globs) to leave alone */
  exclude: string[];
  /** randomized SVD: oversampling (default max(10, r/10)) and power iterations (default 3) */
  oversample?: number;
  powerIters?: number;
  /** whiten by input-activation statistics from ctx.calibration (or ctx.train) */
  dataAware?: boolean;
  /** samples used for the activation statistics (default 512) */
  dataSamples?: number;
}

/** The lowrank options, declared once: parsing, flags, `mlc passes` and the recipe JSON Schema derive from it. */
export const LOWRANK_SCHEMA = optionSchema<LowRankOptions>()({
  pass: 'lowrank',
  options: [
    { key: 'ratio', type: 'fraction', min: 0, max: 1, exclusiveMin: true, flag: '--lowrank <ratio>', help: 'rank as a share of min(rows, cols), 0 < ratio ≤ 1 (or energy)' },
    { key: 'energy', type: 'fraction', min: 0, max: 1, exclusiveMin: true, flag: '--lowrank-energy <fraction>', help: 'per weight, the smallest rank keeping this fraction of Σσ², 0 < energy ≤ 1 (or ratio)' },
    { key: 'minSaving', type: 'fraction', min: 0, max: 1, exclusiveMax: true, default: 0.1, flag: '--lowrank-min-saving <fraction>', help: 'factor a weight only if it saves at least this share of its parameters' },
    { key: 'svd', type: 'enum', choices: ['auto', 'exact', 'randomized'], caseInsensitive: true, default: 'auto', flag: '--svd <method>', help: 'SVD engine: auto (randomized for large weights), exact (ml-matrix) or randomized' },
    { key: 'exclude', type: 'list', default: [], flag: '--exclude <names...>', sharedFlag: true, help: 'node or weight names (globs) to leave alone' },
    { key: 'oversample', type: 'integer', min: 0, help: 'randomized SVD oversampling (default max(10, rank/10))' },
    { key: 'powerIters', type: 'integer', min: 0, help: 'randomized SVD power iterations (default 3)' },
    { key: 'dataAware', type: 'boolean', default: false, flag: '--lowrank-data-aware', help: 'factor against input activations from --calibration-data (minimizes the error on the data)' },
    { key: 'dataSamples', type: 'integer', min: 1, help: 'samples for the activation statistics in data-aware mode (default 512)' },
  ],
  finish(v, fail) {
    if ((v.ratio === undefined) === (v.energy === undefined)) {
      fail('', 'give exactly one of a rank ratio (--lowrank) or an energy fraction (--lowrank-energy)');
    }
    const o: LowRankOptions = { minSaving: v.minSaving as number, svd: v.svd as SvdMethod, exclude: v.exclude as string[] };
    if (v.ratio !== undefined) o.ratio = v.ratio as number;
    if (v.energy !== undefined) o.energy = v.energy as number;
    if (v.oversample !== undefined) o.oversample = v.oversample as number;
    if (v.powerIters !== undefined) o.powerIters = v.powerIters as number;
    if (v.dataAware) o.dataAware = true;
    if (v.dataSamples !== undefined) o.dataSamples = v.dataSamples as number;
    return o;
  },
  cli: { triggers: ['lowrank', 'lowrankEnergy'], outputSuffix: () => '_lowrank' },
});

export function parseLowRankOptions(raw: unknown): LowRankOptions {
  return parseWithSchema(LOWRANK_SCHEMA, raw);
}

/** How a node reads its weight S (stored rows×cols). */
type Role =
  | { op: 'matmul'; side: 'right' | 'left' } // x·S or S·x
  | { op: 'gemm'; side: 'right' | 'left'; trans: boolean } // weight is input B (right) or A (left)
  | { op: 'conv' };

interface Site {
  node: Node;
  weight: string;
  role: Role;
}

const WEIGHT_TYPES = new Set([DataType.FLOAT, DataType.DOUBLE]);

/** The candidate this node is, a reason it cannot be one, or undefined for other ops. */
function analyse(model: Model, n: Node, constOf: (name: string) => Tensor | undefined): Site | string | undefined {
  if (!isOnnxDomain(n)) return undefined;
  const weightCheck = (t: Tensor, want: number | 'conv'): string | undefined => {
    if (!WEIGHT_TYPES.has(t.dtype)) return `weight ${t.name} is ${DataType[t.dtype].toLowerCase()}, only float32/float64 weights are factored`;
    if (want === 'conv') return t.dims.length >= 3 ? undefined : `weight ${t.name} is ${t.dims.length}-D`;
    return t.dims.length === want ? undefined : `weight ${t.name} is ${t.dims.length}-D, not 2-D`;
  };
  switch (n.opType) {
    case 'MatMul': {
      const b = constOf(n.inputs[1]);
      const a = constOf(n.inputs[0]);
      if (b && b.dims.length === 2 && WEIGHT_TYPES.has(b.dtype)) return { node: n, weight: n.inputs[1], role: { op: 'matmul', side: 'right' } };
      if (a && a.dims.length === 2 && WEIGHT_TYPES.has(a.dtype)) return { node: n, weight: n.inputs[0], role: { op: 'matmul', side: 'left' } };
      if (b) return weightCheck(b, 2);
      if (a) return weightCheck(a, 2);
      return 'no constant weight';
    }
    case 'Gemm': {
      if ((model.opsetVersion('') ?? 0) < 11) return 'Gemm before opset 11 (its C input is required)';
      const b = constOf(n.inputs[1]);
      const a = constOf(n.inputs[0]);
      if (b) {
        const bad = weightCheck(b, 2);
        return bad ?? { node: n, weight: n.inputs[1], role: { op: 'gemm', side: 'right', trans: attrInt(n, 'transB', 0) !== 0 } };
      }
      if (a) {
        const bad = weightCheck(a, 2);
        return bad ?? { node: n, weight: n.inputs[0], role: { op: 'gemm', side: 'left', trans: attrInt(n, 'transA', 0) !== 0 } };
      }
      return 'no constant weight';
    }
    case 'Conv': {
      const w = constOf(n.inputs[1]);
      if (!w) return 'no constant weight';
      const bad = weightCheck(w, 'conv');
      if (bad) return bad;
      const group = attrInt(n, 'group', 1);
      if (group !== 1) return `grouped conv (group=${group})`;
      return { node: n, weight: n.inputs[1], role: { op: 'conv' } };
    }
    default:
      return undefined;
  }
}

interface Factors {
  rank: number;
  P: Tensor; // rows×r (Conv: [Cout, r, 1…])
  Q: Tensor; // r×cols (Conv: [r, Cin, k…])
}

/** Rewrite one reader of the factored weight into two nodes. */
function rewrite(g: Graph, site: Site, f: Factors): void {
  const n = site.node;
  const base = n.name || n.opType;
  const mid = g.uniqueName(`${base}_lowrank`);
  const name1 = g.uniqueName(`${base}_lr1`);
  const name2 = g.uniqueName(`${base}_lr2`);
  const P = f.P.name;
  const Q = f.Q.name;
  const mk = (opType: string, inputs: string[], outputs: string[], attributes: Attribute[], name: string): Node => ({
    name,
    opType,
    domain: n.domain,
    inputs,
    outputs,
    attributes,
  });
  const int = (name: string, value: number): Attribute => ({ name, type: AttrType.INT, value });
  const flt = (name: string, value: number): Attribute => ({ name, type: AttrType.FLOAT, value });
  const out = n.outputs[0];
  let first: Node;
  let second: Node;
  const role = site.role;
  if (role.op === 'matmul') {
    const x = role.side === 'right' ? n.inputs[0] : n.inputs[1];
    if (role.side === 'right') {
      first = mk('MatMul', [x, P], [mid], [], name1); // x·P
      second = mk('MatMul', [mid, Q], [out], [], name2); // (x·P)·Q
    } else {
      first = mk('MatMul', [Q, x], [mid], [], name1); // Q·x
      second = mk('MatMul', [P, mid], [out], [], name2); // P·(Q·x)
    }
  } else if (role.op === 'gemm') {
    const alpha = n.attributes.find((a) => a.name === 'alpha');
    const beta = n.attributes.find((a) => a.name === 'beta');
    const transA = attrInt(n, 'transA', 0);
    const transB = attrInt(n, 'transB', 0);
    const C = n.inputs[2] ?? '';
    const a1: Attribute[] = alpha ? [flt('alpha', Number(alpha.value))] : [];
    const a2: Attribute[] = C && beta ? [flt('beta', Number(beta.value))] : [];
    const t = role.trans ? 1 : 0;
    if (role.side === 'right') {
      // α·op(X)·S (t=0) or α·op(X)·Sᵀ (t=1), S = P·Q
      const x = n.inputs[0];
      const [w1, w2] = t ? [Q, P] : [P, Q]; // op(S) = op(w1)·op(w2) with the same trans flag
      first = mk('Gemm', [x, w1], [mid], [...a1, int('transA', transA), int('transB', t)], name1);
      second = mk('Gemm', C ? [mid, w2, C] : [mid, w2], [out], [...a2, int('transB', t)], name2);
    } else {
      // α·S·op(X) (t=0) or α·Sᵀ·op(X) (t=1), S = P·Q
      const x = n.inputs[1];
      const [w1, w2] = t ? [P, Q] : [Q, P]; // op(S) = op(w2)·op(w1)
      first = mk('Gemm', [w1, x], [mid], [...a1, int('transA', t), int('transB', transB)], name1);
      second = mk('Gemm', C ? [w2, mid, C] : [w2, mid], [out], [...a2, int('transA', t)], name2);
    }
  } else {
    const x = n.inputs[0];
    const bias = n.inputs[2] ?? '';
    const spatial = f.Q.dims.length - 2;
    const attrs1 = n.attributes.filter((a) => a.name !== 'group').map((a) => ({ ...a }));
    first = mk('Conv', [x, Q], [mid], attrs1, name1);
    const ks: Attribute = { name: 'kernel_shape', type: AttrType.INTS, value: new Array(spatial).fill(1) };
    second = mk('Conv', bias ? [mid, P, bias] : [mid, P], [out], [ks], name2);
  }
  g.replaceNode(n, [first, second]);
}

/** A type alias (not an interface) so that it is a PassResult detail record as it is. */
type Detail = {
  weight: string;
  nodes: string[];
  op: string;
  shape: number[];
  rank: number;
  maxRank: number;
  energyKept: number;
  paramsBefore: number;
  paramsAfter: number;
  relError: number;
  svd: 'exact' | 'randomized';
  /** data-aware: factored against input-activation statistics */
  whitened: boolean;
  ms: number;
};

function round(x: number, d = 6): number {
  const f = 10 ** d;
  return Math.round(x * f) / f;
}

export async function runLowRank(model: Model, opts: LowRankOptions, ctx?: PassContext): Promise<PassResult> {
  const g = model.graph;
  // weights behind Identity / Cast / Reshape / Transpose … count too (src/ir/constants.ts); IR < 4
  // lists every initializer as an input, and there it is still a weight
  const legacy = model.irVersion < 4;
  const consts = new Constants(g, { legacyInitializers: legacy });
  const constOf = (name: string): Tensor | undefined => consts.get(name);
  const paramsBefore = countParams(model).params;
  const skipped: Skip[] = [];
  const details: Detail[] = [];
  const groups = new Map<string, Site[]>();
  for (const n of [...g.nodes]) {
    const a = analyse(model, n, constOf);
    if (a === undefined) continue;
    const label = n.name || n.opType;
    if (typeof a === 'string') {
      skipped.push({ node: label, reason: a });
      continue;
    }
    // one group per weight value: readers of one tensor through different Identity outputs share it
    const key = consts.info(a.weight)?.key ?? a.weight;
    let l = groups.get(key);
    if (!l) groups.set(key, (l = []));
    l.push(a);
  }

  const whiteners = opts.dataAware ? await activationWhiteners(model, groups, opts, ctx) : new Map<Node, Float64Array>();

  let svdMs = 0;
  let factoredBefore = 0;
  let factoredAfter = 0;
  for (const sites of groups.values()) {
    ctx?.signal?.throwIfAborted();
    const weight = sites[0].weight;
    const names = [...new Set(sites.map((s) => s.weight))];
    const labels = sites.map((s) => s.node.name || s.node.opType);
    const skipAll = (reason: string) => {
      for (const l of labels) skipped.push({ node: l, reason });
    };
    const excluded = sites.filter((s) => isExcluded(s.node.name, opts.exclude) || isExcluded(s.weight, opts.exclude));
    if (excluded.length) {
      for (const s of sites) {
        const reason = excluded.includes(s) ? 'excluded' : `weight ${weight} is shared with an excluded node`;
        skipped.push({ node: s.node.name || s.node.opType, reason });
      }
      continue;
    }
    // other readers of the weight (also through the Identity / Reshape / … chain it comes from)
    const outside = consts.outsideReaders(names, sites.map((s) => s.node));
    const foreign = outside.filter((r): r is Node => r !== 'graph output');
    if (foreign.length) {
      skipAll(`weight ${weight} is also read by ${foreign.map((r) => `${r.name || '?'} (${r.opType})`).slice(0, 3).join(', ')}`);
      continue;
    }
    if (sites.some((s) => s.role.op !== sites[0].role.op && (s.role.op === 'conv' || sites[0].role.op === 'conv'))) {
      skipAll(`weight ${weight} is read both as a Conv filter and as a matrix`);
      continue;
    }
    if (outside.length) {
      skipAll(`weight ${weight} is a graph output`);
      continue;
    }
    const t = constOf(weight)!;
    const rows = t.dims[0];
    const cols = t.size / rows;
    const kmin = Math.min(rows, cols);
    const before = rows * cols;
    if (before === 0) {
      skipAll(`weight ${weight} is empty`);
      continue;
    }
    const saving = (r: number) => 1 - (r * (rows + cols)) / before;
    // largest rank that still saves minSaving: r·(rows + cols) ≤ (1 − minSaving)·rows·cols
    const maxRank = Math.min(kmin, Math.floor(((1 - opts.minSaving) * before) / (rows + cols) + 1e-9));
    const shapeStr = t.dims.join('×');
    let rank: number | undefined;
    if (opts.ratio !== undefined) {
      rank = Math.max(1, Math.min(kmin, Math.round(opts.ratio * kmin)));
      if (rank > maxRank) {
        skipAll(`rank ${rank} of ${shapeStr} saves ${(100 * saving(rank)).toFixed(1)}% of its parameters (< ${(100 * opts.minSaving).toFixed(0)}%)`);
        continue;
      }
    } else if (maxRank < 1) {
      skipAll(`${shapeStr} cannot save ${(100 * opts.minSaving).toFixed(0)}% of its parameters at any rank`);
      continue;
    }

    const t0 = performance.now();
    const data = t.dtype === DataType.FLOAT ? (t.data as Float32Array) : (t.data as Float64Array);
    const svdOpts = {
      method: opts.svd,
      rank,
      energy: opts.energy,
      maxRank: opts.energy !== undefined ? maxRank : undefined,
      oversample: opts.oversample,
      powerIters: opts.powerIters,
      rng: ctx?.rng,
    };
    const stat = sites.length === 1 ? whiteners.get(sites[0].node) : undefined;
    let svd: ReturnType<typeof truncatedSvd>;
    let P64: Float64Array;
    let Q64: Float64Array;
    if (stat) {
      // whitened: x·W with W = S (K×N) or Sᵀ (Gemm transB = 1)
      const transposed = sites[0].role.op === 'gemm' && sites[0].role.trans;
      const K = transposed ? cols : rows;
      const N = transposed ? rows : cols;
      const W = transposed ? transpose(Float64Array.from(data), rows, cols) : data;
      const M = new Float64Array(K * N);
      gemm(true, false, K, N, K, 1, stat, W, 0, M); // Lᵀ·W (L lower triangular, K×K)
      svd = truncatedSvd(M, K, N, svdOpts);
      const A = solveLowerTransposed(stat, K, scaledLeft(svd), svd.rank); // L⁻ᵀ·U_r·Σ_r (K×r)
      // W ≈ A·B; S = W (P = A, Q = B) or S = Wᵀ (P = Bᵀ, Q = Aᵀ)
      P64 = transposed ? transpose(svd.Vt, svd.rank, N) : A;
      Q64 = transposed ? transpose(A, K, svd.rank) : svd.Vt;
    } else {
      svd = truncatedSvd(data, rows, cols, svdOpts);
      // S ≈ P·Q, P = U_r Σ_r (rows×r), Q = V_rᵀ (r×cols)
      P64 = scaledLeft(svd);
      Q64 = svd.Vt;
    }
    if (!svd.reached) {
      const need = svd.neededRank !== undefined ? `rank ${svd.neededRank}` : `a rank above ${maxRank}`;
      skipAll(`keeping ${opts.energy} of the ${stat ? 'output energy (on the data)' : 'energy'} of ${shapeStr} needs ${need}, which saves < ${(100 * opts.minSaving).toFixed(0)}% of its parameters`);
      svdMs += performance.now() - t0;
      continue;
    }
    const r = svd.rank;
    const store = (v: Float64Array): Float32Array | Float64Array => (t.dtype === DataType.FLOAT ? Float32Array.from(v) : v);
    const Pd = store(P64);
    const Qd = store(Q64);
    const relError = relativeError(data, rows, cols, Pd, Qd, r);
    const isConv = sites[0].role.op === 'conv';
    const pDims = isConv ? [rows, r, ...t.dims.slice(2).map(() => 1)] : [rows, r];
    const qDims = isConv ? [r, ...t.dims.slice(1)] : [r, cols];
    const P = new Tensor(`${weight}_lowrank_u`, t.dtype, pDims, Pd);
    const Q = new Tensor(`${weight}_lowrank_v`, t.dtype, qDims, Qd);
    g.addInitializer(P);
    g.addInitializer(Q);
    if (legacy) {
      g.inputs.push({ name: P.name, type: tensorType(t.dtype, [...P.dims]) });
      g.inputs.push({ name: Q.name, type: tensorType(t.dtype, [...Q.dims]) });
    }
    for (const s of sites) rewrite(g, s, { rank: r, P, Q });
    for (const n of names) consts.removeIfUnused(n);
    const ms = performance.now() - t0;
    svdMs += ms;
    const after = r * (rows + cols);
    factoredBefore += before;
    factoredAfter += after;
    details.push({
      weight,
      nodes: labels,
      op: sites[0].node.opType,
      shape: [...t.dims],
      rank: r,
      maxRank,
      energyKept: round(svd.energyKept),
      paramsBefore: before,
      paramsAfter: after,
      relError: round(relError),
      svd: svd.method,
      whitened: !!stat,
      ms: Math.round(ms),
    });
    ctx?.log.debug(`lowrank: ${weight} ${shapeStr} → rank ${r} (${svd.method}, energy ${svd.energyKept.toFixed(4)}, rel. error ${relError.toFixed(4)}, ${Math.round(ms)} ms)`);
  }

  const modified = details.length > 0;
  const paramsAfter = modified ? countParams(model).params : paramsBefore;
  const stats: Record<string, number | string> = {
    weightsFactored: details.length,
    nodesRewritten: details.reduce((s, d) => s + d.nodes.length, 0),
    skipped: skipped.length,
    factoredParamsBefore: factoredBefore,
    factoredParamsAfter: factoredAfter,
    paramsBefore,
    paramsAfter,
    paramsRatio: paramsBefore ? round(paramsAfter / paramsBefore, 4) : 1,
    svdMs: Math.round(svdMs),
    randomizedSvds: details.filter((d) => d.svd === 'randomized').length,
  };
  if (opts.ratio !== undefined) stats.ratio = opts.ratio;
  if (opts.energy !== undefined) stats.energy = opts.energy;
  skipped.push(...recurrentSkips(model, 'factored'));
  return { modified, stats, skipped, details };
}

/**
 * Data-aware mode: for every weight read by exactly one node as x·W (MatMul right, Gemm B), the
 * lower Cholesky factor L (K×K, row-major) of C = XᵀX + λI over the calibration samples, with
 * λ = 1e-3 · mean diag C (so inputs that never vary still get a small weight).
 */
async function activationWhiteners(model: Model, groups: Map<string, Site[]>, opts: LowRankOptions, ctx?: PassContext): Promise<Map<Node, Float64Array>> {
  const data = ctx?.calibration ?? ctx?.train;
  if (!data || !ctx?.run) {
    throw new MlcError('USAGE', 'lowrank: the data-aware mode needs data (--calibration-data or --train-data)');
  }
  const sites: Site[] = [];
  for (const ss of groups.values()) {
    if (ss.length !== 1 || isExcluded(ss[0].weight, opts.exclude) || isExcluded(ss[0].node.name, opts.exclude)) continue;
    const role = ss[0].role;
    if ((role.op === 'matmul' || role.op === 'gemm') && role.side === 'right') sites.push(ss[0]);
  }
  const out = new Map<Node, Float64Array>();
  if (!sites.length) return out;
  const names = [...new Set(sites.map((s) => s.node.inputs[0]))];
  // C accumulated batch by batch (Σ_b X_bᵀX_b = XᵀX): one batch of activations alive at a time
  const grams = new Map<Site, { C: Float64Array; K: number }>();
  let perSample: number | undefined;
  const batch = budgetBatch(64, STREAM_BYTES, () => perSample);
  await streamActivations(ctx.run, model, names, feedBatches(model, data, { samples: opts.dataSamples ?? 512, batch }), (acts, feeds) => {
    if (perSample === undefined) {
      const n = Math.max(1, Object.values(feeds)[0]?.dims[0] ?? 1);
      perSample = names.reduce((sum, k) => sum + 4 * (acts[k]?.data.length ?? 0), 0) / n;
    }
    for (const s of sites) {
      const a = acts[s.node.inputs[0]];
      if (!a) continue;
      const transA = s.role.op === 'gemm' && attrInt(s.node, 'transA', 0) !== 0;
      const K = transA ? a.dims[0] : a.dims[a.dims.length - 1];
      let g = grams.get(s);
      if (!g) grams.set(s, (g = { C: new Float64Array(K * K), K }));
      if (g.K !== K) continue;
      const rowsX = a.data.length / K;
      // C += op(X)ᵀ·op(X): X stored [rows, K], or [K, M] with transA
      if (transA) gemm(false, true, K, K, rowsX, 1, a.data, a.data, 1, g.C);
      else gemm(true, false, K, K, rowsX, 1, a.data, a.data, 1, g.C);
    }
  }, ctx.signal);
  for (const s of sites) {
    const g = grams.get(s);
    if (!g) continue;
    const { C, K } = g;
    let mean = 0;
    for (let i = 0; i < K; i++) mean += C[i * K + i] / K;
    const lambda = 1e-3 * mean + 1e-12;
    for (let i = 0; i < K; i++) C[i * K + i] += lambda;
    out.set(s.node, cholesky(C, K));
  }
  return out;
}

/** Bytes of input activations one data-aware batch may copy out of the runtime. */
const STREAM_BYTES = 256 * 2 ** 20;

export const lowrankPass: Pass<LowRankOptions> = definePass(LOWRANK_SCHEMA, {
  describe: 'Factor MatMul / Gemm / Conv weights into two low-rank factors (truncated SVD)',
  run: (model, options, ctx) => runLowRank(model, options, ctx),
});

export default lowrankPass;
