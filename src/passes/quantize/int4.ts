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
 * - With int4Target (a cosine) and calibration data, the MatMuls whose 4-bit error costs the most
 *   on a probe stay at 8 bits (MatMulNBits bits = 8, same blocks) until the probe's cosine to the
 *   float model reaches the target (int4-mixed.ts).
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
import { DataType } from '../../ir/dtype.js';
import type { Node } from '../../ir/node.js';
import { AttrType } from '../../ir/node.js';
import { Tensor } from '../../ir/tensor.js';
import { quantizeInt4BlocksSearch, quantizeInt8Blocks } from '../../math/blockquant.js';
import { quantizeInt4Blocks } from '../../math/quant.js';
import { QuantState, addConst, dropIfUnused, intAttr, nodeLabel, transpose2d } from './common.js';
import { addAfterNodes, planMatMul } from './dynamic.js';
import type { OpRewrites, WeightSite } from './ops.js';

/** int4: MatMulNBits for MatMul / Gemm, GatherBlockQuantized for embedding tables. */
export const INT4_OPS: OpRewrites = { MatMul: 'matmul-nbits', Gemm: 'matmul-nbits', Gather: 'gather-block-quantized' };
import { chooseEightBit } from './int4-mixed.js';
import { candidates } from './weight-only.js';

type Packed = { bq: string; sc: string; zp?: string; kBlocks: number };

function applyMatMulNBits(st: QuantState, site: WeightSite, cache: Map<string, Packed>, bits: 4 | 8): string | undefined {
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
  const key = `${st.weightKey(wName)}|${plan.transposed ? 'T' : ''}|${bits}`;
  let p = plan.alpha === 1 ? cache.get(key) : undefined;
  if (!p) {
    const blk =
      bits === 8
        ? quantizeInt8Blocks(plan.W, K, N, bs)
        : st.opts.int4Scales === 'search'
          ? quantizeInt4BlocksSearch(plan.W, K, N, bs)
          : quantizeInt4Blocks(plan.W, K, N, bs, !st.opts.int4Asymmetric);
    const blob = bits === 8 ? bs : bs / 2;
    const scales = plan.alpha === 1 ? blk.scales : blk.scales.map((s) => s * plan.alpha);
    p = {
      bq: addConst(g, `${wName}_Q${bits}`, new Tensor('', DataType.UINT8, [N, blk.kBlocks, blob], blk.packed)),
      sc: addConst(g, `${wName}_scales`, Tensor.float32('', [N * blk.kBlocks], scales)),
      zp: blk.zeroPoints && addConst(g, `${wName}_zero_points`, new Tensor('', DataType.UINT8, [blk.zeroPoints.length], blk.zeroPoints)),
      kBlocks: blk.kBlocks,
    };
    if (plan.alpha === 1) cache.set(key, p);
    st.bytesBefore += site.tensor.byteLength;
    st.bytesAfter += blk.packed.length + scales.length * 4 + (blk.zeroPoints?.length ?? 0);
    st.details.push({ weight: wName, node: label, format: bits === 8 ? 'int8 blocks' : 'int4', blockSize: bs, K, N });
  }
  const inputs = [node.inputs[0], p.bq, p.sc];
  if (p.zp) inputs.push(p.zp);
  const product = plan.addAfter ? g.uniqueName(`${label}_product`) : plan.output;
  const y = plan.bias ? g.uniqueName(`${label}_MatMulNBits_out`) : product;
  const nodes: Node[] = [
    {
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
    },
  ];
  if (plan.bias) {
    const b = addConst(g, `${label}_bias`, Tensor.float32('', [N], plan.bias));
    nodes.push({ name: g.uniqueName(`${label}_bias_Add`), opType: 'Add', domain: '', inputs: [y, b], outputs: [product], attributes: [] });
  }
  if (plan.addAfter) nodes.push(...addAfterNodes(st, label, product, plan.addAfter, plan.output));
  g.replaceNode(node, nodes);
  st.model.ensureOpset('com.microsoft', 1);
  dropIfUnused(st, wName);
  if (plan.biasSource) dropIfUnused(st, plan.biasSource);
  st.modified = true;
  return undefined;
}

/** Gather(table, ids) → GatherBlockQuantized(packed table, ids, scales): 4-bit rows in blocks of bs. */
function applyGatherBlockQuantized(st: QuantState, site: WeightSite, cache: Map<string, Packed>): string | undefined {
  const g = st.graph;
  const node = site.node;
  const [V, H] = site.tensor.dims;
  const bs = st.opts.blockSize;
  if (H % bs !== 0) return `table row length ${H} is not a multiple of the block size ${bs}`;
  const wName = node.inputs[0];
  const key = st.weightKey(wName);
  let p = cache.get(key);
  if (!p) {
    // rows of the table are the columns of its transpose [H, V]: blocks run along each row
    const blk = quantizeInt4Blocks(transpose2d(site.tensor.data as Float32Array, V, H), H, V, bs, true);
    p = {
      bq: addConst(g, `${wName}_Q4`, new Tensor('', DataType.UINT8, [V, H / 2], blk.packed)),
      sc: addConst(g, `${wName}_scales`, Tensor.float32('', [V, blk.kBlocks], blk.scales)),
      kBlocks: blk.kBlocks,
    };
    cache.set(key, p);
    st.bytesBefore += site.tensor.byteLength;
    st.bytesAfter += blk.packed.length + blk.scales.length * 4;
    st.details.push({ weight: wName, node: nodeLabel(node), format: 'int4', blockSize: bs, rows: V, columns: H });
  }
  g.replaceNode(node, [
    {
      name: node.name || g.uniqueName(`${nodeLabel(node)}_Q4`),
      opType: 'GatherBlockQuantized',
      domain: 'com.microsoft',
      inputs: [p.bq, node.inputs[1], p.sc],
      outputs: [node.outputs[0]],
      attributes: [intAttr('gather_axis', 0), intAttr('quantize_axis', 1), intAttr('block_size', bs), intAttr('bits', 4)],
    },
  ]);
  st.model.ensureOpset('com.microsoft', 1);
  dropIfUnused(st, wName);
  st.modified = true;
  return undefined;
}

/**
 * The rewrite: candidate k (in graph order) becomes MatMulNBits with bitsOf(k) bits (4 or 8; Gather
 * tables always 4), or stays as it is when bitsOf(k) is 0 (the probes of int4-mixed.ts).
 */
export function rewriteInt4(st: QuantState, bitsOf: (k: number) => 0 | 4 | 8 = () => 4): void {
  const cache = new Map<string, Packed>();
  const tables = new Map<string, Packed>();
  let k = 0;
  for (const { node, site } of candidates(st, INT4_OPS)) {
    const bits = bitsOf(k++);
    if (bits === 0) continue;
    const why = node.opType === 'Gather' ? applyGatherBlockQuantized(st, site, tables) : applyMatMulNBits(st, site, cache, bits);
    if (why) st.skip(node, why);
    else st.count(node.opType);
  }
}

export async function runInt4(st: QuantState): Promise<void> {
  const eight = st.opts.int4Target === undefined ? new Set<number>() : await chooseEightBit(st, rewriteInt4, INT4_OPS);
  rewriteInt4(st, (k) => (eight.has(k) ? 8 : 4));
}
