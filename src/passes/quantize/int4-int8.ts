/**
 * int4 storage, int8 compute: after the int4 rewrite, each MatMulNBits written by this run becomes
 *
 *   B8 = Transpose(Cast_int8(Round(unpack(B_packed) − z) · s / s_col))      (constants only)
 *   Y  = com.microsoft DynamicQuantizeMatMul(A, B8, s_col, , bias?)
 *
 * The file keeps the 4-bit blocks (the same packed bytes, block scales and zero points
 * MatMulNBits reads: the size does not change); the small subgraph in front of the
 * DynamicQuantizeMatMul reads only constants, so onnxruntime's constant folding runs it once when
 * the session starts and the product runs on the int8 GEMM with the weight requantized per
 * output column (s_col = the column's largest |w| / qmax, qmax = 127, or 64 on CPUs whose u8·s8
 * kernels saturate, as --reduce-range).
 *
 * Why: on x86 CPUs without VNNI onnxruntime's MatMulNBits is no faster than the float MatMul
 * (accuracy level 4 slower still), while its u8·s8 GEMM is about 2× the float one; the
 * requantization adds an error of at most s_col / 2 per weight, small beside the 4-bit blocks'
 * own (the column's largest block is requantized exactly when qmax = 64: its values are 8·q).
 * A following Add of a constant [N] bias is folded into the DynamicQuantizeMatMul.
 *
 * The unpacking uses integer Div / Mod by 16 on int32 (opset ≥ 11 ops; Round needs 11).
 */
import { DataType } from '../../ir/dtype.js';
import { attrInt, type Node } from '../../ir/node.js';
import { AttrType } from '../../ir/node.js';
import { Tensor } from '../../ir/tensor.js';
import { type QuantState, addConst, floatConstant, intAttr, isOnnx, nodeLabel } from './common.js';
import { moveResidualBias } from './residual-bias.js';

/** The dequantized [K, N]-column maxima of a MatMulNBits weight (per output column n: max_k |w[k, n]|). */
export function nbitsColumnMax(
  packed: Uint8Array,
  scales: Float32Array,
  zp: Uint8Array | undefined,
  K: number,
  N: number,
  bits: number,
  bs: number,
): Float32Array {
  const kBlocks = Math.ceil(K / bs);
  const blob = bits === 4 ? bs / 2 : bs;
  const zs = bits === 4 ? Math.ceil(kBlocks / 2) : kBlocks;
  const out = new Float32Array(N);
  for (let n = 0; n < N; n++) {
    let m = 0;
    for (let b = 0; b < kBlocks; b++) {
      let z = bits === 4 ? 8 : 128;
      if (zp) z = bits === 4 ? (zp[n * zs + (b >> 1)] >> ((b & 1) * 4)) & 15 : zp[n * zs + b];
      const s = scales[n * kBlocks + b];
      const base = (n * kBlocks + b) * blob;
      const len = Math.min(bs, K - b * bs);
      for (let i = 0; i < len; i++) {
        const q = bits === 4 ? (packed[base + (i >> 1)] >> ((i & 1) * 4)) & 15 : packed[base + i];
        const v = Math.abs((q - z) * s);
        if (v > m) m = v;
      }
    }
    out[n] = m;
  }
  return out;
}

/** MatMulNBits nodes of this run → int8 DynamicQuantizeMatMul over their constant-folded 4-bit weights. */
export function int4ToInt8Compute(st: QuantState, saturates: boolean, keep: ReadonlySet<Node>): void {
  const g = st.graph;
  if (st.opset < 11) {
    st.count('int4ComputeKeptNBits');
    return;
  }
  const qmax = saturates || st.opts.reduceRange ? 64 : 127;
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
      const colMax = nbitsColumnMax(bt.data as Uint8Array, sc.data as Float32Array, zt?.data as Uint8Array | undefined, K, N, bits, bs);
      const sCol = colMax.map((m) => (m > 0 ? m / qmax : 1));
      const scale = addConst(g, `${B}_int8_scale`, Tensor.float32('', [N], sCol));
      const b8 = g.uniqueName(`${B}_int8`);
      nodes.push(...unpackNodes(st, label, { B, S, Z, K, N, bits, bs, scale, out: b8 }, consts));
      w = { b8, scale };
      cache.set(key, w);
      st.bytesAfter += N * 4;
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
    st.count('int4Int8Compute');
  }
  const moved = moveResidualBias(st, biased);
  if (moved) st.count('residualBiasReordered', moved);
}

interface Unpack {
  B: string;
  S: string;
  Z: string;
  K: number;
  N: number;
  bits: number;
  bs: number;
  scale: string;
  out: string;
}

/** The constant subgraph: packed blocks → float [N, K] weights → int8 per column → [K, N]. */
function unpackNodes(st: QuantState, label: string, u: Unpack, consts: Map<string, string>): Node[] {
  const g = st.graph;
  const { K, N, bits, bs } = u;
  const kBlocks = Math.ceil(K / bs);
  const nodes: Node[] = [];
  const t = (s: string) => g.uniqueName(`${label}_w_${s}`);
  const op = (opType: string, inputs: string[], attributes: Node['attributes'] = [], tag = opType): string => {
    const o = t(tag);
    nodes.push({ name: g.uniqueName(`${label}_w_${opType}`), opType, domain: '', inputs, outputs: [o], attributes });
    return o;
  };
  // small constants (shapes, 16, the default zero point) are shared by every weight of the run
  const shared = (key: string, make: () => Tensor): string => {
    let name = consts.get(key);
    if (!name) {
      name = addConst(g, `int4_int8_${key.replace(/[^0-9a-z]+/gi, '_')}`, make());
      consts.set(key, name);
    }
    return name;
  };
  const i64 = (_: string, v: number[]) => shared(`i64 ${v.join(' ')}`, () => Tensor.int64('', [v.length], v));
  const f32 = (_: string, v: number) => shared(`f32 ${v}`, () => Tensor.float32('', [], [v]));
  const sixteen = shared('i32 16', () => new Tensor('', DataType.INT32, [], new Int32Array([16])));
  const cast = (x: string, to: DataType) => op('Cast', [x], [intAttr('to', to)]);
  /** uint8 bytes [..., n] → their nibbles [rows, 2n], low first, as float */
  const nibbles = (x: string, dims: number[]): string => {
    const xi = cast(x, DataType.INT32);
    const lo = op('Reshape', [op('Mod', [xi, sixteen]), i64('nib_shape', [...dims, 1])]);
    const hi = op('Reshape', [op('Div', [xi, sixteen]), i64('nib_shape', [...dims, 1])]);
    return cast(op('Concat', [lo, hi], [intAttr('axis', dims.length)]), DataType.FLOAT);
  };
  // q: float [N, kBlocks, bs]
  const q = bits === 4 ? op('Reshape', [nibbles(u.B, [N, kBlocks, bs / 2]), i64('blocks', [N, kBlocks, bs])]) : cast(u.B, DataType.FLOAT);
  let z: string;
  if (!u.Z) z = f32('zero_point', bits === 4 ? 8 : 128);
  else if (bits === 4) {
    const zs = Math.ceil(kBlocks / 2);
    const all = op('Reshape', [nibbles(u.Z, [N, zs]), i64('zp_all', [N, 2 * zs])]);
    const sliced = 2 * zs === kBlocks ? all : op('Slice', [all, i64('zero', [0]), i64('kblocks', [kBlocks]), i64('one', [1])]);
    z = op('Reshape', [sliced, i64('zp_shape', [N, kBlocks, 1])]);
  } else z = op('Reshape', [cast(u.Z, DataType.FLOAT), i64('zp_shape', [N, kBlocks, 1])]);
  const s = op('Reshape', [u.S, i64('scale_shape', [N, kBlocks, 1])]);
  let w = op('Reshape', [op('Mul', [op('Sub', [q, z]), s]), i64('rows', [N, kBlocks * bs])]);
  if (kBlocks * bs !== K) w = op('Slice', [w, i64('zero', [0]), i64('k', [K]), i64('one', [1])]);
  const col = op('Reshape', [u.scale, i64('col_shape', [N, 1])]);
  const q8 = cast(op('Round', [op('Div', [w, col])]), DataType.INT8);
  nodes.push({ name: g.uniqueName(`${label}_w_Transpose`), opType: 'Transpose', domain: '', inputs: [q8], outputs: [u.out], attributes: [{ name: 'perm', type: AttrType.INTS, value: [1, 0] }] });
  return nodes;
}
