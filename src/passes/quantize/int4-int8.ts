/**
 * int4 storage, int8 compute: after the int4 rewrite, each MatMulNBits written by this run becomes
 *
 *   B8 = Cast_int8(Round(((q − c) + (c − z))·r))     [K, N], from constants only (unpackNodes)
 *   Y  = com.microsoft DynamicQuantizeMatMul(A, B8, s_col, , bias?)
 *
 * with q the 4-bit codes, z the block zero points (default c = 8), r = s_block / s_col and s_col
 * the output column's largest same-signed sum over the row pairs (2j, 2j + 1) / 127 (pair-safe,
 * the default: exact on CPUs whose u8·s8 kernels saturate too, see math/quant.ts PairLayout), or
 * its largest |w| / qmax with --no-pair-safe (qmax = 127, or 64 on CPUs that saturate) and with
 * --reduce-range (64). The file keeps the 4-bit codes (re-laid out [K, N] with two columns per
 * byte, int8Layout), one float factor per block (in place of the block scale), the zero points
 * one byte per block when there are any, and s_col: about the MatMulNBits size. The subgraph in
 * front of the DynamicQuantizeMatMul reads only constants, so onnxruntime's constant folding runs
 * it once when the session starts and the product runs on the int8 GEMM.
 *
 * Why: on x86 CPUs without VNNI onnxruntime's MatMulNBits is no faster than the float MatMul
 * (accuracy level 4 slower still), while its u8·s8 GEMM is about 2× the float one; the
 * requantization adds an error of at most s_col / 2 per weight, small beside the 4-bit blocks'
 * own (the column's largest block is requantized exactly when qmax = 64: its values are 8·q).
 * A following Add of a constant [N] bias is folded into the DynamicQuantizeMatMul.
 *
 * Ops: Cast, Gather, Sub, Mul, Add, Round, Reshape, Slice (Round needs opset 11).
 */
import { DataType } from '../../ir/dtype.js';
import { attrInt, type Node } from '../../ir/node.js';
import { Tensor } from '../../ir/tensor.js';
import { pairSum } from '../../math/quant.js';
import { type QuantState, addConst, dropIfUnused, floatConstant, intAttr, isOnnx, nodeLabel } from './common.js';
import { moveResidualBias } from './residual-bias.js';

/**
 * A MatMulNBits weight (B [N, kBlocks, blob], block scales, zero points) in the layout the int8
 * path unpacks with few ops: codes `[kBlocks, bs, N′]` (N′ = N rounded up to even; 4-bit: two
 * neighbouring columns per byte, column 2j in the low nibble; 8-bit: one byte each), the block
 * factors r = s_block / s_col `[kBlocks, N′]`, the block zero points `[kBlocks, N′]` (only when the
 * weight had any) and the column scales s_col = max_k |w[k, n]| / qmax `[N]`.
 */
export function int8Layout(
  packed: Uint8Array,
  scales: Float32Array,
  zp: Uint8Array | undefined,
  dims: { K: number; N: number; bits: number; bs: number },
  qmax: number,
  pairs = false,
): { codes: Uint8Array; ratio: Float32Array; zero?: Uint8Array; colScale: Float32Array } {
  const { K, N, bits, bs } = dims;
  const kBlocks = Math.ceil(K / bs);
  const blob = bits === 4 ? bs / 2 : bs;
  const zs = bits === 4 ? Math.ceil(kBlocks / 2) : kBlocks;
  const N2 = N + (N & 1);
  const zeroOf = (n: number, b: number): number => {
    if (!zp) return bits === 4 ? 8 : 128;
    return bits === 4 ? (zp[n * zs + (b >> 1)] >> ((b & 1) * 4)) & 15 : zp[n * zs + b];
  };
  const rows = kBlocks * bs;
  const colScale = new Float32Array(N);
  const ratio = new Float32Array(kBlocks * N2);
  const zero = zp ? new Uint8Array(kBlocks * N2) : undefined;
  // padding (rows past K, the column past an odd N) is sliced off after the unpacking: left 0
  const codes = new Uint8Array(bits === 4 ? (rows * N2) / 2 : rows * N2);
  const colMax = new Float32Array(N);
  // pairs: the largest same-signed sum of rows (2j, 2j + 1) of each column instead (math/quant.ts
  // PairLayout 'rows'; blocks are even, so no pair straddles two), in code units per block
  // tiles of 64 columns × one block: the [N, kBlocks, blob] reads and the [rows, N2] writes both
  // stay within a few cache lines per row
  for (let n0 = 0; n0 < N; n0 += 64) {
    const n1 = Math.min(N, n0 + 64);
    for (let b = 0; b < kBlocks; b++) {
      const len = Math.min(bs, K - b * bs);
      for (let n = n0; n < n1; n++) {
        const z = zeroOf(n, b);
        if (zero) zero[b * N2 + n] = z;
        const base = (n * kBlocks + b) * blob;
        const shift = (n & 1) * 4;
        let qm = 0;
        const at0 = b * bs * N2 + n; // element (k = b·bs, n) of the [rows, N2] layout
        if (bits === 4) {
          // one packed byte = rows k, k + 1 of column n: nibbles into bytes (k·N2 + n) / 2 and one row on
          const half = N2 >> 1;
          let o = at0 >> 1;
          for (let j = 0; j < len >> 1; j++, o += N2) {
            const p = packed[base + j];
            const lo = p & 15;
            const hi = p >> 4;
            const d0 = pairs ? pairSum(lo - z, hi - z) : lo > z ? lo - z : z - lo;
            const d1 = pairs ? 0 : hi > z ? hi - z : z - hi;
            if (d0 > qm) qm = d0;
            if (d1 > qm) qm = d1;
            codes[o] |= lo << shift;
            codes[o + half] |= hi << shift;
          }
          if (len & 1) {
            const lo = packed[base + (len >> 1)] & 15;
            const d0 = lo > z ? lo - z : z - lo;
            if (d0 > qm) qm = d0;
            codes[o] |= lo << shift;
          }
        } else {
          for (let i = 0, at = at0; i < len; i++, at += N2) {
            const q = packed[base + i];
            const d = pairs ? (i & 1 ? 0 : pairSum(q - z, i + 1 < len ? packed[base + i + 1] - z : 0)) : q > z ? q - z : z - q;
            if (d > qm) qm = d;
            codes[at] = q;
          }
        }
        const v = qm * Math.abs(scales[n * kBlocks + b]);
        if (v > colMax[n]) colMax[n] = v;
      }
    }
  }
  for (let n = 0; n < N; n++) {
    colScale[n] = colMax[n] > 0 ? colMax[n] / qmax : 1;
    for (let b = 0; b < kBlocks; b++) ratio[b * N2 + n] = scales[n * kBlocks + b] / colScale[n];
  }
  return { codes, ratio, zero, colScale };
}

/** MatMulNBits nodes of this run → int8 DynamicQuantizeMatMul over their constant-folded 4-bit weights. */
export function int4ToInt8Compute(st: QuantState, saturates: boolean, keep: ReadonlySet<Node>): void {
  const g = st.graph;
  if (st.opset < 11) {
    st.count('int4ComputeKeptNBits');
    return;
  }
  // pair-safe (the default): every pair of rows within 127 codes, on every CPU; else 64 (7 bits) where the kernels saturate
  const pairs = st.opts.pairSafe && !st.opts.reduceRange;
  const qmax = st.opts.reduceRange || (saturates && !pairs) ? 64 : 127;
  const biased = new Set<string>();
  /** the int8 [K, N] weight and its column scales, per (B, scales, zp) triple */
  const cache = new Map<string, { b8: string; scale: string }>();
  const consts = new Map<string, string>();
  for (const node of [...g.nodes]) {
    if (node.opType !== 'MatMulNBits' || node.domain !== 'com.microsoft' || keep.has(node)) continue;
    const [A, B, S, Z = '', ...rest] = node.inputs;
    if (rest.some((x) => x !== '')) continue; // g_idx / bias inputs: not written by mlc
    const K = attrInt(node, 'K', 0);
    const N = attrInt(node, 'N', 0);
    const bits = attrInt(node, 'bits', 4);
    const bs = attrInt(node, 'block_size', 0);
    const bt = st.constant(B);
    const sc = st.constant(S);
    const zt = Z ? st.constant(Z) : undefined;
    if (!bt || !sc || (Z && !zt) || (bits !== 4 && bits !== 8) || bt.dtype !== DataType.UINT8 || sc.dtype !== DataType.FLOAT) continue;
    const label = nodeLabel(node);
    const key = `${B}|${S}|${Z}`;
    let w = cache.get(key);
    const nodes: Node[] = [];
    if (!w) {
      const l = int8Layout(bt.data as Uint8Array, sc.data as Float32Array, zt?.data as Uint8Array | undefined, { K, N, bits, bs }, qmax, pairs);
      const kBlocks = Math.ceil(K / bs);
      const N2 = N + (N & 1);
      const cols = bits === 4 ? [N2 / 2, 2] : [N2];
      const codes = addConst(g, `${B}_codes`, new Tensor('', DataType.UINT8, [kBlocks, bs, ...cols.slice(0, 1)], l.codes));
      const ratio = addConst(g, `${B}_block_ratio`, Tensor.float32('', [kBlocks, 1, ...cols], l.ratio));
      const zero = l.zero && addConst(g, `${B}_block_zero`, new Tensor('', DataType.UINT8, [kBlocks, 1, ...cols], l.zero));
      const scale = addConst(g, `${B}_int8_scale`, Tensor.float32('', [N], l.colScale));
      const b8 = g.uniqueName(`${B}_int8`);
      nodes.push(...unpackNodes(st, label, { codes, ratio, zero, K, N, bits, bs, out: b8 }, consts));
      w = { b8, scale };
      cache.set(key, w);
      st.bytesAfter += l.codes.length + l.ratio.length * 4 + (l.zero?.length ?? 0) + N * 4;
      st.bytesAfter -= bt.byteLength + sc.byteLength + (zt?.byteLength ?? 0);
    }
    // a following Add of a constant [N] vector is the bias
    const y = node.outputs[0];
    const users = g.consumers(y);
    let out = y;
    let bias = '';
    let add: Node | undefined;
    if (users.length === 1 && !g.isGraphOutput(y) && users[0].opType === 'Add' && isOnnx(users[0]) && users[0].inputs.length === 2) {
      const other = users[0].inputs[0] === y ? users[0].inputs[1] : users[0].inputs[0];
      const c = floatConstant(st, other);
      if (other !== y && c && c.dims.length === 1 && c.dims[0] === N) {
        add = users[0];
        bias = other;
        out = add.outputs[0];
      }
    }
    const dq: Node = {
      name: g.uniqueName(`${label}_int8`),
      opType: 'DynamicQuantizeMatMul',
      domain: 'com.microsoft',
      inputs: bias ? [A, w.b8, w.scale, '', bias] : [A, w.b8, w.scale],
      outputs: [out],
      attributes: [],
    };
    if (bias) biased.add(dq.name);
    g.replaceNode(node, [...nodes, dq]);
    if (add) g.removeNode(add);
    for (const x of [B, S, Z]) if (x) dropIfUnused(st, x);
    st.count('int4Int8Compute');
  }
  const moved = moveResidualBias(st, biased);
  if (moved) st.count('residualBiasReordered', moved);
}

interface Unpack {
  codes: string;
  ratio: string;
  zero?: string;
  K: number;
  N: number;
  bits: number;
  bs: number;
  out: string;
}

/**
 * The constant subgraph (int8Layout's tensors → int8 [K, N]), few ops over the whole weight as
 * onnxruntime keeps each folded value as a new initializer: 4-bit codes through a Gather of a
 * 256-entry table of the two nibbles' values minus 8 (float [kB, bs, N′/2, 2]); 8-bit codes Cast
 * minus 128. Then (· + (c − z))·r with the block factors (the zero-point term on [kB, 1, N′] only),
 * Round, Cast to int8, Reshape to [kB·bs, N′] and a Slice to [K, N] when padded.
 */
function unpackNodes(st: QuantState, label: string, u: Unpack, consts: Map<string, string>): Node[] {
  const g = st.graph;
  const { K, N, bits, bs } = u;
  const kBlocks = Math.ceil(K / bs);
  const N2 = N + (N & 1);
  const nodes: Node[] = [];
  const op = (opType: string, inputs: string[], attributes: Node['attributes'] = []): string => {
    const o = g.uniqueName(`${label}_w_${opType}`);
    nodes.push({ name: o, opType, domain: '', inputs, outputs: [o], attributes });
    return o;
  };
  // small constants (shapes, the nibble table, the default zero point) are shared by every weight of the run
  const shared = (key: string, make: () => Tensor): string => {
    let name = consts.get(key);
    if (!name) {
      name = addConst(g, `int4_int8_${key.replace(/[^0-9a-z]+/gi, '_')}`, make());
      consts.set(key, name);
    }
    return name;
  };
  const i64 = (v: number[]) => shared(`i64 ${v.join(' ')}`, () => Tensor.int64('', [v.length], v));
  const f32 = (v: number) => shared(`f32 ${v}`, () => Tensor.float32('', [], [v]));
  const cast = (x: string, to: DataType) => op('Cast', [x], [intAttr('to', to)]);
  const center = bits === 4 ? 8 : 128;
  let w: string;
  if (bits === 4) {
    const table = shared('nibbles', () => {
      const t = new Float32Array(512);
      for (let b = 0; b < 256; b++) {
        t[2 * b] = (b & 15) - 8;
        t[2 * b + 1] = (b >> 4) - 8;
      }
      return Tensor.float32('', [256, 2], t);
    });
    w = op('Gather', [table, cast(u.codes, DataType.INT32)], [intAttr('axis', 0)]);
  } else w = op('Sub', [cast(u.codes, DataType.FLOAT), f32(center)]);
  let r = u.ratio;
  if (u.zero) {
    // (q − z)·r = (q − c)·r + (c − z)·r: the second term per block (small), added after the product
    const off = op('Mul', [op('Sub', [f32(center), cast(u.zero, DataType.FLOAT)]), u.ratio]);
    w = op('Add', [op('Mul', [w, r]), off]);
    r = '';
  }
  if (r) w = op('Mul', [w, r]);
  let q8 = op('Reshape', [cast(op('Round', [w]), DataType.INT8), i64([kBlocks * bs, N2])]);
  if (kBlocks * bs !== K || N2 !== N) q8 = op('Slice', [q8, i64([0, 0]), i64([K, N]), i64([0, 1])]);
  nodes[nodes.length - 1].outputs = [u.out];
  return nodes;
}
