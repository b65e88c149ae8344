/**
 * Dynamic 8-bit quantization: weights int8 (symmetric) or uint8 (asymmetric) per output column,
 * activations quantized to uint8 at run time.
 *
 * Rewrites
 * - MatMul (constant B [K, N]) and Gemm (transA = 0, constant B, any C) become
 *     contrib form:  com.microsoft DynamicQuantizeMatMul(A, B_q, b_scale, b_zp?, bias?)
 *     standard form: DynamicQuantizeLinear(A) → MatMulInteger → Cast → Mul(a_scale·b_scale) → Add bias
 *   A following Add of a constant [N] bias is folded into the node (MatMul + Add → one op); Gemm's
 *   alpha is folded into b_scale and beta into the bias. Y = (s_a·(A_q − z_a)) · (s_b·(B_q − z_b)) + bias.
 *   A Gemm C that is not a constant [N] / [1, N] vector or scalar (computed, or a full matrix) is
 *   added after the product: Y = product + beta·C (Add, with a Mul for beta ≠ 1).
 * - B is found through src/ir/constants.ts (behind Identity / Cast / Reshape / Transpose …); a
 *   weight several nodes read (also through different Identity outputs) is quantized once.
 * - Conv: weight-only (dq-weight; compute stays float). Gather tables: gather-dq.
 * - A tied embedding (a Gather table the LM head also reads as MatMul(h, Transpose(table)) or
 *   Gemm(h, table, transB = 1)) is quantized once, one scale per row: see TiedTable.
 *
 * Refuses (skipped with the reason): Gemm with transA = 1, MatMul
 * with a known 1-D input, the standard form below opset 11, and everything weight-only refuses.
 */
import { deflateRawSync } from 'node:zlib';
import { DataType } from '../../ir/dtype.js';
import { AttrType, attrFloat, attrInt, type Node } from '../../ir/node.js';
import { Tensor } from '../../ir/tensor.js';
import { quantizeTensor } from '../../math/quant.js';
import {
  QuantState,
  addConst,
  dropIfUnused,
  floatConstant,
  intAttr,
  intTensor,
  isOnnx,
  nodeLabel,
  rankOf,
  scalarOrVector,
  transpose2d,
} from './common.js';
import { rewriteOf, type OpRewrites, type WeightSite } from './ops.js';

/** dynamic: MatMul / Gemm get integer compute; Conv and recurrent weights and Gather tables are stored 8-bit (weight-only). */
export const DYNAMIC_OPS: OpRewrites = { MatMul: 'dynamic-matmul', Gemm: 'dynamic-matmul', Conv: 'dq-weight', Gather: 'gather-dq', LSTM: 'dq-weight', GRU: 'dq-weight', RNN: 'dq-weight' };
import { moveResidualBias } from './residual-bias.js';
import { applyDqWeight, applyGatherDq, bytesOf, candidates, weightFormat, type GatherEntry } from './weight-only.js';

interface QuantWeight {
  q: string;
  zp?: string;
  scale: Float32Array;
  perChannel: boolean;
  /** the scale initializer for alpha = 1, shared by the nodes reading this weight */
  scaleName?: string;
}

/** The MatMul-view of a MatMul / Gemm node: W [K, N], folded alpha and bias, or why not. */
interface MatMulPlan {
  W: Float32Array;
  K: number;
  N: number;
  transposed: boolean;
  alpha: number;
  bias?: Float32Array;
  /** the bias tensor's name (to drop if unused) */
  biasSource?: string;
  /** Add node folded into the rewrite */
  foldedAdd?: Node;
  /** Gemm's C when it is not a constant [N] vector: added (times beta) after the product */
  addAfter?: { name: string; beta: number };
  output: string;
}

export function planMatMul(st: QuantState, site: WeightSite, foldAdd: boolean): MatMulPlan | string {
  const g = st.graph;
  const node = site.node;
  const t = site.tensor;
  if (node.opType === 'Gemm') {
    if (attrInt(node, 'transA', 0)) return 'Gemm with transA = 1';
    const transB = attrInt(node, 'transB', 0) !== 0;
    const K = transB ? t.dims[1] : t.dims[0];
    const N = transB ? t.dims[0] : t.dims[1];
    const W = transB ? transpose2d(t.data as Float32Array, t.dims[0], t.dims[1]) : (t.data as Float32Array);
    const alpha = attrFloat(node, 'alpha', 1);
    const beta = attrFloat(node, 'beta', 1);
    const plan: MatMulPlan = { W, K, N, transposed: transB, alpha, output: node.outputs[0] };
    const cName = node.inputs[2];
    if (cName) {
      const c = floatConstant(st, cName);
      const vector = c && ((c.dims.length === 1 && c.dims[0] === N) || (c.dims.length === 2 && c.dims[0] === 1 && c.dims[1] === N));
      const scalar = c && c.size === 1 && c.dims.length <= 2;
      if (c && (vector || scalar)) {
        const b = new Float32Array(N);
        const cd = c.data as Float32Array;
        for (let i = 0; i < N; i++) b[i] = beta * cd[scalar ? 0 : i];
        plan.bias = b;
        plan.biasSource = cName;
      } else {
        // a computed (or full-matrix) C: the product is quantized, C is added after it
        plan.addAfter = { name: cName, beta };
      }
    }
    return plan;
  }
  const aRank = rankOf(g, node.inputs[0]);
  if (aRank !== undefined && aRank < 2) return `input ${node.inputs[0]} is 1-D`;
  const plan: MatMulPlan = { W: t.data as Float32Array, K: t.dims[0], N: t.dims[1], transposed: false, alpha: 1, output: node.outputs[0] };
  if (foldAdd) {
    const out = node.outputs[0];
    const users = g.consumers(out);
    if (users.length === 1 && !g.isGraphOutput(out)) {
      const add = users[0];
      if (add.opType === 'Add' && isOnnx(add) && add.inputs.length === 2 && add.inputs[0] !== add.inputs[1]) {
        const other = add.inputs[0] === out ? add.inputs[1] : add.inputs[0];
        const c = floatConstant(st, other);
        if (c && c.dims.length === 1 && c.dims[0] === plan.N) {
          plan.bias = Float32Array.from(c.data as Float32Array);
          plan.biasSource = other;
          plan.foldedAdd = add;
          plan.output = add.outputs[0];
        }
      }
    }
  }
  return plan;
}

function quantizeMatMulWeight(st: QuantState, base: string, plan: MatMulPlan): QuantWeight {
  const g = st.graph;
  const { qtype, symmetric } = weightFormat(st);
  // per-column scales are plain inputs of the MatMul rewrite: no opset requirement
  const axis = st.opts.perChannel ? 1 : undefined;
  const qt = quantizeTensor(plan.W, [plan.K, plan.N], { qtype, symmetric, axis, reduceRange: st.opts.reduceRange, pairs: st.opts.pairSafe ? 'rows' : undefined });
  const q = storeCompressible(st, base, qt.q, plan);
  const perChannel = axis !== undefined;
  const zeroIsZero = qt.zeroPoint.every((z) => z === 0);
  const zp = zeroIsZero ? undefined : addConst(g, `${base}_zero_point`, intTensor('', qt.zeroPoint, perChannel ? [plan.N] : []));
  return { q, zp, scale: qt.scale, perChannel };
}

/**
 * Add the quantized [K, N] weight. A sparse (pruned) weight that came as [N, K] (Gemm transB = 1)
 * often deflates better in that layout — the zeros of an input that no neuron uses repeat at the
 * same offsets row after row — so when it does, it is stored as [N, K] behind a Transpose, which
 * onnxruntime folds when the session starts. Only the file's compressed size changes.
 */
function storeCompressible(st: QuantState, base: string, q: Int8Array | Uint8Array, plan: MatMulPlan): string {
  const g = st.graph;
  const { K, N } = plan;
  if (plan.transposed && zeroShare(q) >= 0.5) {
    const t = q instanceof Int8Array ? new Int8Array(q.length) : new Uint8Array(q.length);
    for (let k = 0; k < K; k++) for (let n = 0; n < N; n++) t[n * K + k] = q[k * N + n];
    const size = (a: Int8Array | Uint8Array) => deflateRawSync(new Uint8Array(a.buffer, a.byteOffset, a.byteLength)).length;
    if (size(t) < size(q)) {
      const stored = addConst(g, `${base}_quantized_t`, intTensor('', t, [N, K]));
      const out = g.uniqueName(`${base}_quantized`);
      g.makeNode('Transpose', [stored], [out], [{ name: 'perm', type: AttrType.INTS, value: [1, 0] }], { name: `${base}_quantized_Transpose`, before: g.nodes[0] });
      return out;
    }
  }
  return addConst(g, `${base}_quantized`, intTensor('', q, [K, N]));
}

function zeroShare(q: Int8Array | Uint8Array): number {
  const b = q instanceof Uint8Array ? q : new Uint8Array(q.buffer, q.byteOffset, q.length);
  let zeros = 0;
  for (let i = 0; i < b.length; i++) if (b[i] === 0) zeros++;
  return b.length ? zeros / b.length : 0;
}

/** Rewrite one MatMul / Gemm; returns a skip reason or undefined. */
function applyDynamicMatMul(st: QuantState, site: WeightSite, cache: Map<string, QuantWeight>, written: Set<string>): string | undefined {
  const g = st.graph;
  const node = site.node;
  const form = st.opts.dynamicForm;
  if (form === 'standard' && st.opset < 11) return `ai.onnx opset ${st.opset} < 11 has no DynamicQuantizeLinear`;
  const plan = planMatMul(st, site, true);
  if (typeof plan === 'string') return plan;
  const wName = node.inputs[site.input];
  const key = `${st.weightKey(wName)}|${plan.transposed ? 'T' : ''}`;
  let qw = cache.get(key);
  const fresh = !qw;
  if (!qw) {
    qw = quantizeMatMulWeight(st, wName, plan);
    cache.set(key, qw);
    st.bytesBefore += site.tensor.byteLength;
    st.bytesAfter += bytesOf(g, [qw.q, ...(qw.zp ? [qw.zp] : [])]);
  }
  const label = nodeLabel(node);
  let scale = plan.alpha === 1 ? qw.scaleName : undefined;
  if (!scale) {
    const scaleVals = plan.alpha === 1 ? qw.scale : qw.scale.map((s) => s * plan.alpha);
    scale = addConst(g, `${wName}_scale`, scalarOrVector('', scaleVals, qw.perChannel));
    st.bytesAfter += bytesOf(g, [scale]);
    if (plan.alpha === 1) qw.scaleName = scale;
  }
  const bias = plan.bias ? addConst(g, `${label}_bias`, Tensor.float32('', [plan.N], plan.bias)) : undefined;
  const A = node.inputs[0];
  const finalOut = plan.output;
  const productOut = plan.addAfter ? g.uniqueName(`${label}_product`) : finalOut;
  let newNodes: Node[];
  if (form === 'contrib') {
    const inputs = [A, qw.q, scale, qw.zp ?? '', bias ?? ''];
    while (inputs[inputs.length - 1] === '') inputs.pop();
    newNodes = [
      { name: g.uniqueName(`${label}_quant`), opType: 'DynamicQuantizeMatMul', domain: 'com.microsoft', inputs, outputs: [productOut], attributes: [] },
    ];
    st.model.ensureOpset('com.microsoft', 1);
  } else {
    const aq = g.uniqueName(`${A}_quantized`);
    const as = g.uniqueName(`${A}_scale`);
    const az = g.uniqueName(`${A}_zero_point`);
    const acc = g.uniqueName(`${label}_int32`);
    const accF = g.uniqueName(`${label}_int32_float`);
    const s = g.uniqueName(`${label}_output_scale`);
    const y = bias ? g.uniqueName(`${label}_output`) : productOut;
    const mmInputs = [aq, qw.q, az, ...(qw.zp ? [qw.zp] : [])];
    newNodes = [
      { name: g.uniqueName(`${label}_DynamicQuantizeLinear`), opType: 'DynamicQuantizeLinear', domain: '', inputs: [A], outputs: [aq, as, az], attributes: [] },
      { name: g.uniqueName(`${label}_MatMulInteger`), opType: 'MatMulInteger', domain: '', inputs: mmInputs, outputs: [acc], attributes: [] },
      { name: g.uniqueName(`${label}_Cast`), opType: 'Cast', domain: '', inputs: [acc], outputs: [accF], attributes: [intAttr('to', DataType.FLOAT)] },
      { name: g.uniqueName(`${label}_scale_Mul`), opType: 'Mul', domain: '', inputs: [as, scale], outputs: [s], attributes: [] },
      { name: g.uniqueName(`${label}_Mul`), opType: 'Mul', domain: '', inputs: [accF, s], outputs: [y], attributes: [] },
    ];
    if (bias) newNodes.push({ name: g.uniqueName(`${label}_bias_Add`), opType: 'Add', domain: '', inputs: [y, bias], outputs: [productOut], attributes: [] });
  }
  // the node that adds the bias (the fused op, or the standard form's last Add)
  if (bias) written.add(newNodes[newNodes.length - 1].name);
  if (plan.addAfter) newNodes.push(...addAfterNodes(st, label, productOut, plan.addAfter, finalOut));
  g.replaceNode(node, newNodes);
  if (plan.foldedAdd) g.removeNode(plan.foldedAdd);
  dropIfUnused(st, wName);
  if (plan.biasSource) dropIfUnused(st, plan.biasSource);
  st.modified = true;
  if (fresh) st.details.push({ weight: wName, node: label, format: weightFormat(st).qtype, form, axis: qw.perChannel ? 'column' : 'tensor' });
  return undefined;
}

/** Y = product + beta·C for a Gemm C that was not folded as a bias. */
export function addAfterNodes(st: QuantState, label: string, product: string, c: { name: string; beta: number }, out: string): Node[] {
  const g = st.graph;
  const nodes: Node[] = [];
  let cIn = c.name;
  if (c.beta !== 1) {
    const beta = addConst(g, `${label}_beta`, Tensor.float32('', [], [c.beta]));
    cIn = g.uniqueName(`${label}_C_scaled`);
    nodes.push({ name: g.uniqueName(`${label}_beta_Mul`), opType: 'Mul', domain: '', inputs: [c.name, beta], outputs: [cIn], attributes: [] });
  }
  nodes.push({ name: g.uniqueName(`${label}_C_Add`), opType: 'Add', domain: '', inputs: [product, cIn], outputs: [out], attributes: [] });
  st.count('gemmCAddedAfter');
  return nodes;
}

/**
 * A tied embedding: one table [V, H] read by a Gather (token embeddings) and, transposed, as the
 * weight of a MatMul / Gemm (the LM head: MatMul(h, Transpose(table)) or Gemm(h, table, transB)).
 * It is quantized once, one scale per row (token): the Gather reads int8 rows and scales them
 * (Gather(q) → Cast → [Sub Gather(z)] → Mul Unsqueeze(Gather(s))), the LM head's
 * DynamicQuantizeMatMul reads Transpose(q) with those scales per column (onnxruntime folds the
 * Transpose when the session starts). Without this the table would be stored twice in 8 bits.
 */
interface TiedTable {
  q: string;
  /** Transpose(q): the [H, V] weight of the LM head */
  qT: string;
  scale: string;
  scaleVals: Float32Array;
  zp?: string;
  zpFloat?: string;
}

function tiedKeys(st: QuantState, cands: { node: Node; site: WeightSite }[]): Set<string> {
  const tables = new Set<string>();
  const heads = new Set<string>();
  for (const { node, site } of cands) {
    const key = st.weightKey(node.inputs[site.input]);
    if (node.opType === 'Gather') tables.add(key);
    else if (node.opType === 'Gemm' && attrInt(node, 'transB', 0) && !attrInt(node, 'transA', 0)) heads.add(key);
    else {
      const m = /^T\[1,0\]\((.*)\)$/.exec(key);
      if (m && (node.opType === 'MatMul' || !attrInt(node, 'transB', 0))) heads.add(m[1]);
    }
  }
  return new Set([...tables].filter((k) => heads.has(k)));
}

function tiedTable(st: QuantState, name: string, t: Tensor, cache: Map<string, TiedTable>): TiedTable {
  const key = st.weightKey(name);
  let e = cache.get(key);
  if (e) return e;
  const g = st.graph;
  const { qtype, symmetric } = weightFormat(st);
  const [V, H] = t.dims;
  const qt = quantizeTensor(t.data as Float32Array, [V, H], { qtype, symmetric, axis: 0, reduceRange: st.opts.reduceRange, pairs: st.opts.pairSafe ? 'columns' : undefined });
  const q = addConst(g, `${name}_quantized`, intTensor('', qt.q, [V, H]));
  const scale = addConst(g, `${name}_scale`, Tensor.float32('', [V], qt.scale));
  const zeroIsZero = qt.zeroPoint.every((z) => z === 0);
  const zp = zeroIsZero ? undefined : addConst(g, `${name}_zero_point`, intTensor('', qt.zeroPoint, [V]));
  const zpFloat = zeroIsZero ? undefined : addConst(g, `${name}_zero_point_float`, Tensor.float32('', [V], Float32Array.from(qt.zeroPoint)));
  const qT = g.uniqueName(`${name}_quantized_T`);
  g.makeNode('Transpose', [q], [qT], [{ name: 'perm', type: AttrType.INTS, value: [1, 0] }], { name: `${name}_quantized_Transpose`, before: g.nodes[0] });
  e = { q, qT, scale, scaleVals: qt.scale, zp, zpFloat };
  cache.set(key, e);
  st.bytesBefore += t.byteLength;
  st.bytesAfter += bytesOf(g, [q, scale, ...(zp ? [zp, zpFloat!] : [])]);
  st.details.push({ weight: name, node: 'tied embedding', format: qtype, axis: 'row', readers: 'Gather + LM head' });
  st.count('tiedEmbeddings');
  st.modified = true;
  return e;
}

/** Gather(table, ids) → the dequantized rows of the tied table. */
function applyTiedGather(st: QuantState, site: WeightSite, e: TiedTable): void {
  const g = st.graph;
  const node = site.node;
  const ids = node.inputs[1];
  const out = node.outputs[0];
  const label = nodeLabel(node);
  const name = (s: string) => g.uniqueName(`${out}_${s}`);
  const rows = name('quantized');
  const gathered = (src: string, tag: string): { nodes: Node[]; out: string } => {
    const o = name(tag);
    const u = name(`${tag}_unsqueezed`);
    const unsq: Node =
      st.opset >= 13
        ? { name: g.uniqueName(`${label}_${tag}_Unsqueeze`), opType: 'Unsqueeze', domain: '', inputs: [o, addConst(g, `${label}_${tag}_axes`, Tensor.int64('', [1], [-1]))], outputs: [u], attributes: [] }
        : { name: g.uniqueName(`${label}_${tag}_Unsqueeze`), opType: 'Unsqueeze', domain: '', inputs: [o], outputs: [u], attributes: [{ name: 'axes', type: AttrType.INTS, value: [-1] }] };
    return { nodes: [{ name: g.uniqueName(`${label}_${tag}_Gather`), opType: 'Gather', domain: '', inputs: [src, ids], outputs: [o], attributes: [intAttr('axis', 0)] }, unsq], out: u };
  };
  const casted = name('float');
  const nodes: Node[] = [
    { ...node, inputs: [e.q, ids], outputs: [rows], attributes: [...node.attributes] },
    { name: g.uniqueName(`${label}_Cast`), opType: 'Cast', domain: '', inputs: [rows], outputs: [casted], attributes: [intAttr('to', DataType.FLOAT)] },
  ];
  let x = casted;
  if (e.zpFloat) {
    const z = gathered(e.zpFloat, 'zero_point');
    const centered = name('centered');
    nodes.push(...z.nodes, { name: g.uniqueName(`${label}_Sub`), opType: 'Sub', domain: '', inputs: [casted, z.out], outputs: [centered], attributes: [] });
    x = centered;
  }
  const s = gathered(e.scale, 'scale');
  nodes.push(...s.nodes, { name: g.uniqueName(`${label}_Mul`), opType: 'Mul', domain: '', inputs: [x, s.out], outputs: [out], attributes: [] });
  const table = node.inputs[0];
  g.replaceNode(node, nodes);
  dropIfUnused(st, table);
  st.modified = true;
}

export function runDynamic(st: QuantState): void {
  const done = new Map<string, string>();
  const gatherCache = new Map<string, GatherEntry>();
  const mmCache = new Map<string, QuantWeight>();
  const tiedCache = new Map<string, TiedTable>();
  const written = new Set<string>();
  const cands = [...candidates(st, DYNAMIC_OPS)];
  const tied = tiedKeys(st, cands);
  for (const { node, site } of cands) {
    const rw = rewriteOf(DYNAMIC_OPS, node.opType);
    const wName = node.inputs[site.input];
    const wKey = st.weightKey(wName);
    if (rw === 'dynamic-matmul') {
      // the LM head of a tied embedding: its [K, N] weight is the table transposed
      const gemmT = node.opType === 'Gemm' && attrInt(node, 'transB', 0) !== 0;
      const tableKey = gemmT ? wKey : /^T\[1,0\]\((.*)\)$/.exec(wKey)?.[1];
      if (tableKey && tied.has(tableKey) && !(node.opType === 'Gemm' && attrInt(node, 'transA', 0))) {
        // the value the Transpose reads (MatMul), or the Gemm's B itself
        const tableName = gemmT ? wName : st.consts.info(wName)!.chain.find((n) => n.opType === 'Transpose')!.inputs[0];
        const table = gemmT ? site.tensor : st.constant(tableName);
        if (table && table.dims.length === 2) {
          const e = tiedTable(st, tableName, table, tiedCache);
          mmCache.set(`${wKey}|${gemmT ? 'T' : ''}`, { q: e.qT, zp: e.zp, scale: e.scaleVals, perChannel: true, scaleName: e.scale });
        }
      }
      const why = applyDynamicMatMul(st, site, mmCache, written);
      if (why) {
        st.skip(node, why);
        continue;
      }
      st.count(node.opType);
      continue;
    }
    if (rw === 'gather-dq' && tied.has(wKey)) applyTiedGather(st, site, tiedTable(st, wName, site.tensor, tiedCache));
    else if (rw === 'gather-dq') applyGatherDq(st, site, gatherCache);
    else applyDqWeight(st, site, done);
    st.count(`${node.opType}(weight-only)`);
  }
  const moved = moveResidualBias(st, written);
  if (moved) st.count('residualBiasReordered', moved);
}
