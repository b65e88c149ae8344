/**
 * cluster — weight sharing (Deep Compression's trained quantization; TFMOT's weight clustering):
 * the non-zero values of each MatMul / Gemm / Conv weight are replaced by the nearest of k shared
 * values (1-D k-means, src/math/kmeans.ts), zeros stay exactly zero, and the weight is stored as
 * small integer indices into a codebook that onnxruntime expands back to floats at load time.
 *
 * Rewrites, per weight W (float32 or float16, in the main graph):
 *   - k-means of W's non-zero values (per layer, or one codebook shared by all layers), init
 *     `linear` (default, the paper's best), `kmeans++` or `density`;
 *   - weighting `activation` (clusterWeights): weighted k-means, each value weighted by the mean
 *     square of the input it multiplies on samples, E[x²] — the diagonal of the layer's Hessian
 *     XᵀX/n of the output's squared error, so that moving w by δ costs ≈ δ²·E[x²] at the layer's
 *     output (Hessian-weighted k-means, Choi et al. 2017): centroids sit where the weights on
 *     busy inputs are, and weights reading an input that is always zero do not pull them;
 *   - allocate `sensitivity` (per-layer codebooks): the number of values differs per weight, from
 *     the measured output error of clustering each weight alone at each bit count (allocateBits),
 *     at the same average index bits per non-zero as `clusters` asks;
 *   - with epochs > 0 and training data: the centroids are fine-tuned by distillation with the
 *     assignments and the zeros fixed (gradients summed per cluster, src/train/distill.ts `ties`);
 *   - storage (`storage`):
 *       dense    idx uint8 [dims of W] (0 = the zero, 1..k the centroids)
 *                → Cast(int32) → Gather(codebook [k+1]) → W
 *       sparse   the non-zero entries only, in W's row-major order: gap uint8 [m] (distance from
 *                the previous entry, the first from 0; a gap over 255 gets filler entries of
 *                index 0) and idx uint8 [m] → CumSum(Cast(gap, int64)) = positions,
 *                Gather(codebook, Cast(idx, int32)) = values, ScatterElements into
 *                ConstantOfShape([n]) zeros, Reshape to W's dims (opset ≥ 11)
 *       auto     (default) per weight the smaller of the two, measured: both layouts' bytes are
 *                deflated (level 9) and brotli-compressed, and the layout with the smaller sum
 *                wins. On sparse weights (≥ ~80 % zeros) `sparse` wins: its gap stream costs about
 *                H(p)/p bits per non-zero, while the dense stream pays deflate's ≥ 1 bit per literal
 *                and a match per zero run; on dense weights `dense` wins (no gap stream at all);
 *       float    the clustered values stay float32/float16 weights (for passes that come after,
 *                or to measure what sharing alone buys under gzip).
 *     Every node of these chains has constant inputs only, so onnxruntime's constant folding
 *     turns them back into the float weight when the session is created: inference runs the
 *     original MatMul / Gemm / Conv at the original speed, and every runtime that implements the
 *     standard ops loads the file. Codes are numbered by frequency (rankCodes). Indices are
 *     bytes, not packed 4-bit pairs: measured on the
 *     MNIST MLP at 95 % sparsity with 15 values (sparse form; deepcompression.bench.mjs prints
 *     both), packing two indices per byte
 *     shrinks the index streams by 5 % under gzip (6,858 → 6,494 B) and 1 % under brotli
 *     (6,451 → 6,409 B), under 2 % of the file, and would need unpacking ops per weight: the
 *     entropy coders already spend about the entropy per index; on the LeNet-5 fixture with
 *     ranked codes, the joint index stream packed in halves (byte i = code i | code h+i << 4,
 *     expanded by Div, Mod and Concat) made the file larger: gzip 5,542 → 5,562 B, brotli 4,760 →
 *     4,885 B. DequantizeLinear (for an evenly
 *     spaced codebook) is not used: onnxruntime's constant folding skips DequantizeLinear by
 *     default (kept for its QDQ fusions), so the weight would be dequantized at every run, and k-means codebooks are not
 *     evenly spaced anyway.
 *
 * With `joint`, one chain expands all weights instead of one per weight: the sparse weights' non-zeros
 * get positions in one flat buffer of all their elements (each weight after the one before), one
 * gap and one index stream, one ScatterElements of the codes (1 + cluster) into int32 zeros, Split
 * into the weights' index arrays, then per weight Reshape and Gather of its codebook; the codebooks
 * (and half biases) are one vector Split by size. On a LeNet-5 stored in ~6 kB the per-weight
 * chains' nodes and tensor headers are ~1/10 of the gzip size; joint takes 48 → 31 nodes and 26 → 13
 * initializers (gzip 5,804 → 5,619 B, brotli 5,053 → 4,934 B). Dense weights keep their own
 * Cast → Gather.
 *
 * With `byteBiases` (joint only) those biases are int8 on one grid instead, scale max |b| / 127 over
 * all of them, one Cast and one Mul before their Split: on the LeNet-5 (236 biases, max |b| 0.33,
 * mean 0.07) the rounding is ≤ 0.0013 against float16's 472 B of nearly incompressible bytes.
 *
 * With `half`, the codebooks and the biases of clustered Gemm / Conv layers are stored as float16
 * and Cast to float (folded at load like the rest): on a LeNet-5 stored in ~8 kB they are ~10 % of
 * the gzip size, and their float16 rounding (relative 2^-11) is far below the weights' sharing error.
 *
 * The report's details give, per weight, the Huffman code of its indices — the dense stream
 * (one symbol per weight) and the paper's sparse form (gaps and indices, each coded on its own) —
 * as the lower bound that the compressed file is compared against.
 *
 * Left alone, with a Skip: excluded weights, embedding tables, weights shared with other kinds of
 * readers (as prune), weights of other float types, weights with no non-zero value, and weights
 * with at most k distinct non-zero values that are already stored (storage `float`).
 * Refuses (USAGE): epochs > 0 without training data.
 */
import { brotliCompressSync, constants as zc, deflateRawSync } from 'node:zlib';
import { MlcError } from '../core/errors.js';
import { DataType } from '../ir/dtype.js';
import type { Graph } from '../ir/graph.js';
import type { Model } from '../ir/model.js';
import { AttrType, type Node } from '../ir/node.js';
import { Tensor } from '../ir/tensor.js';
import { floatToHalf } from '../math/float16.js';
import { huffmanBits, type KMeansInit, kmeans1d } from '../math/kmeans.js';
import { takeDataset } from '../data/batch.js';
import { DISTILL_DEFAULTS } from './distill.js';
import { definePass, optionSchema, parseWithSchema } from './options.js';
import type { Pass, PassContext, PassResult, Skip } from './pass.js';
import { type Layer, markLegacyInitializers, materializeLayers, selectLayers } from './prune/layers.js';
import { inputSquares } from './prune/criterion.js';
import { recurrentSkips } from './recurrent.js';

export type ClusterStorage = 'auto' | 'dense' | 'sparse' | 'float';

export interface ClusterOptions {
  /** shared values per weight (besides the zero), 1 ≤ k ≤ 255 */
  clusters: number;
  init: KMeansInit;
  codebook: 'layer' | 'shared';
  storage: ClusterStorage;
  /** distillation epochs fine-tuning the centroids (0: none) */
  epochs: number;
  lr: number;
  batchSize: number;
  exclude: string[];
  /** store the codebooks and the clustered layers' biases as float16 (Cast back to float at load) */
  half: boolean;
  /**
   * one expansion chain for all weights: the sparse weights' gap and index streams concatenated
   * (one scatter, then Split), the codebooks (and half biases) in one float vector Split by size
   */
  joint: boolean;
  /** (with joint) the clustered layers' biases as int8 on one grid, scale max |b| / 127, Cast and Mul back */
  byteBiases: boolean;
  /**
   * uniform: every weight gets `clusters` values; sensitivity: `clusters` sets the average index
   * bits per non-zero weight (log2(clusters + 1)) and each weight gets its own, from the measured
   * output error of clustering it alone (needs samples: training or calibration data)
   */
  allocate: 'uniform' | 'sensitivity';
  /** none: plain k-means; activation: each value weighted by E[x²] of the input it multiplies (clusterWeights) */
  weighting: 'none' | 'activation';
}

/** The cluster options, declared once: parsing, flags, `mlc passes` and the recipe JSON Schema derive from it. */
export const CLUSTER_SCHEMA = optionSchema<ClusterOptions>()({
  pass: 'cluster',
  options: [
    { key: 'clusters', type: 'integer', min: 1, max: 255, flag: '--cluster <k>', help: 'share k values per weight (k-means of its non-zero values; zeros stay zero), 1 ≤ k ≤ 255' },
    { key: 'bits', type: 'integer', min: 1, max: 8, flag: '--cluster-bits <b>', help: 'share 2^b − 1 values per weight (b bits per index, one code for the zero); instead of --cluster' },
    { key: 'init', type: 'enum', choices: ['linear', 'kmeans++', 'density'], default: 'linear', flag: '--cluster-init <init>', help: 'k-means initialization: linear (evenly spaced between min and max), kmeans++ or density (quantiles)' },
    { key: 'codebook', type: 'enum', choices: ['layer', 'shared'], default: 'layer', flag: '--cluster-codebook <scope>', help: 'one codebook per weight (layer) or one for all weights (shared)' },
    { key: 'storage', type: 'enum', choices: ['auto', 'dense', 'sparse', 'float'], default: 'auto', flag: '--cluster-storage <form>', help: 'indices stored dense (uint8 per weight), sparse (gap-coded non-zeros), auto (the smaller under gzip + brotli, per weight) or float (clustered float weights)' },
    { key: 'epochs', type: 'integer', min: 0, default: 0, flag: '--cluster-epochs <n>', help: 'distillation epochs fine-tuning the shared values, assignments and zeros fixed (needs --train-data)' },
    { key: 'lr', type: 'number', min: 0, max: 1, exclusiveMin: true, default: 1e-4, help: 'Adam learning rate of the centroid fine-tuning' },
    { key: 'batchSize', type: 'integer', min: 1, default: DISTILL_DEFAULTS.batchSize, help: 'mini-batch size of the centroid fine-tuning' },
    { key: 'exclude', type: 'list', default: [], flag: '--exclude <names...>', sharedFlag: true, help: 'node or weight names (globs) to leave alone' },
    { key: 'allocate', type: 'enum', choices: ['uniform', 'sensitivity'], default: 'uniform', flag: '--cluster-allocate <how>', help: 'uniform: every weight gets the same number of values; sensitivity: that number sets the average bits per non-zero weight, and each weight gets more or fewer bits from the measured output error of clustering it alone (needs --train-data or --calibration-data)' },
    { key: 'weighting', type: 'enum', choices: ['none', 'activation'], default: 'none', flag: '--cluster-weighting <w>', help: 'none: plain k-means; activation: k-means weighted by the mean square of the input each weight multiplies on samples of --train-data or --calibration-data (the diagonal of the layer Hessian: Hessian-weighted k-means)' },
    { key: 'half', type: 'boolean', default: false, flag: '--cluster-half', help: 'store the codebooks and the biases of clustered Gemm / Conv layers as float16 (Cast to float, folded at load): half their bytes' },
    { key: 'byteBiases', type: 'boolean', default: false, flag: '--cluster-byte-biases', help: 'with --cluster-joint: store the biases of clustered Gemm / Conv layers as int8 on one grid (scale max |b| / 127; Cast and Mul, folded at load): a quarter of their float32 bytes' },
    { key: 'joint', type: 'boolean', default: false, flag: '--cluster-joint', help: 'one expansion chain for all weights: the sparse index streams concatenated and split after one scatter, the codebooks (and half biases) in one vector (fewer nodes and tensors: smaller small models)' },
  ],
  finish(v, fail) {
    if (v.clusters !== undefined && v.bits !== undefined) fail('bits', 'cannot be combined with clusters: give one of --cluster and --cluster-bits');
    const clusters = v.clusters !== undefined ? (v.clusters as number) : v.bits !== undefined ? 2 ** (v.bits as number) - 1 : undefined;
    if (clusters === undefined) fail('clusters', 'is required (e.g. --cluster 15 or --cluster-bits 4)');
    if (v.byteBiases && !v.joint) fail('byteBiases', 'works with joint (--cluster-joint): the biases share one grid in the joint vector');
    if (v.allocate === 'sensitivity' && v.codebook === 'shared') fail('allocate', 'sensitivity gives each weight its own codebook size: use it with codebook layer');
    return {
      clusters: clusters!,
      init: v.init as KMeansInit,
      codebook: v.codebook as ClusterOptions['codebook'],
      storage: v.storage as ClusterStorage,
      epochs: v.epochs as number,
      lr: v.lr as number,
      batchSize: v.batchSize as number,
      exclude: v.exclude as string[],
      half: v.half as boolean,
      joint: v.joint as boolean,
      byteBiases: v.byteBiases as boolean,
      allocate: v.allocate as ClusterOptions['allocate'],
      weighting: v.weighting as ClusterOptions['weighting'],
    };
  },
  cli: { triggers: ['cluster', 'clusterBits'], outputSuffix: () => '_clustered' },
});

export function parseClusterOptions(raw: unknown): ClusterOptions {
  return parseWithSchema(CLUSTER_SCHEMA, raw);
}

/** A weight being clustered. */
interface Item {
  layer: Layer;
  /** positions of the non-zero values */
  nz: Int32Array;
  /** cluster (0-based) of each non-zero value */
  assign: Uint16Array;
  /** the codebook this weight reads (shared items share the array) */
  centroids: Float64Array;
  sse: number;
}

const round4 = (x: number) => Math.round(x * 1e4) / 1e4;

/** Write `values` into a float tensor (float32 or float16). */
function writeFloats(t: Tensor, values: ArrayLike<number>): void {
  if (t.dtype === DataType.FLOAT16) {
    const d = t.data as Uint16Array;
    for (let i = 0; i < values.length; i++) d[i] = floatToHalf(values[i]);
  } else (t.data as Float32Array).set(values);
}

/** Write an item's shared values (centroid of each non-zero, zeros elsewhere) into its weight. */
function writeClustered(it: Item): void {
  const t = it.layer.tensor;
  const out = new Float64Array(t.size);
  for (let j = 0; j < it.nz.length; j++) out[it.nz[j]] = it.centroids[it.assign[j]];
  writeFloats(t, out);
}

/** Values of a codebook as the weight's dtype stores them (float16 rounds). */
function codebookTensor(name: string, dtype: DataType, values: ArrayLike<number>): Tensor {
  if (dtype === DataType.FLOAT16) return new Tensor(name, dtype, [values.length], Uint16Array.from(values, (v) => floatToHalf(v)));
  return Tensor.float32(name, [values.length], values);
}

/** The dense index stream of a weight: 0 for a zero, 1 + cluster otherwise. */
function denseIndices(n: number, it: Item): Uint8Array {
  const idx = new Uint8Array(n);
  for (let j = 0; j < it.nz.length; j++) idx[it.nz[j]] = it.assign[j] + 1;
  return idx;
}

/** The sparse streams: gaps (first from position 0, fillers of index 0 for gaps over 255) and indices. */
export function sparseStreams(nz: ArrayLike<number>, codes: ArrayLike<number>): { gap: Uint8Array; idx: Uint8Array } {
  const gap: number[] = [];
  const idx: number[] = [];
  let prev = 0;
  for (let j = 0; j < nz.length; j++) {
    let d = nz[j] - prev;
    while (d > 255) {
      gap.push(255);
      idx.push(0);
      d -= 255;
    }
    gap.push(d);
    idx.push(codes[j]);
    prev = nz[j];
  }
  return { gap: Uint8Array.from(gap), idx: Uint8Array.from(idx) };
}

/** deflate (level 9) plus brotli (quality 11 up to 4 MB, else 9) bytes of a layout's streams. */
function compressedCost(parts: Uint8Array[]): { gzip: number; brotli: number } {
  const all = Buffer.concat(parts);
  const quality = all.length <= 4_000_000 ? 11 : 9;
  return {
    gzip: deflateRawSync(all, { level: 9 }).length,
    brotli: brotliCompressSync(all, { params: { [zc.BROTLI_PARAM_QUALITY]: quality, [zc.BROTLI_PARAM_SIZE_HINT]: all.length } }).length,
  };
}

/**
 * A node of an expansion chain. Names cost bytes in a file this small (a LeNet-5 is a few kB), so
 * the nodes are unnamed (ONNX allows it) and the values between them get short unique names.
 */
function node(opType: string, inputs: string[], outputs: string[], attributes: Node['attributes'] = []): Node {
  return { name: '', opType, domain: '', inputs, outputs, attributes };
}

const intAttr = (name: string, value: number) => ({ name, type: AttrType.INT, value });

/** Remove the initializer `w` (and its graph input entry, old exporters list weights there). */
function dropInitializer(g: Graph, w: string): void {
  g.initializers.delete(w);
  const legacyInput = g.inputs.findIndex((i) => i.name === w);
  if (legacyInput >= 0) g.inputs.splice(legacyInput, 1);
}

/** A Split of the 1-D value `x` into parts of `sizes` named `outputs` (split as an input from opset 13, an attribute before). */
function splitNode(g: Graph, x: string, sizes: number[], outputs: string[], opset: number): Node {
  if (opset >= 13) return node('Split', [x, g.addInitializer(Tensor.int64('split', [sizes.length], sizes))], outputs, [intAttr('axis', 0)]);
  return node('Split', [x], outputs, [intAttr('axis', 0), { name: 'split', type: AttrType.INTS, value: sizes }]);
}

/** A float vector of the joint chain: a codebook or a bias, the value `name` that readers read. */
interface JointFloat {
  name: string;
  /** the dtype it is stored in (float16 with half) and the dtype readers get */
  stored: DataType;
  dtype: DataType;
  values: ArrayLike<number>;
  /** stored int8: the values are integers, readers get them times this scale */
  scale?: number;
}

/**
 * The joint float vectors: per (stored, read) dtype one initializer holding them all, Cast when
 * the dtypes differ, Split by size into the readers' names. Returns the nodes, to run first.
 */
function jointFloats(g: Graph, entries: JointFloat[], opset: number): Node[] {
  const nodes: Node[] = [];
  const groups = new Map<string, JointFloat[]>();
  for (const e of entries) {
    const key = `${e.stored}:${e.dtype}`;
    groups.set(key, [...(groups.get(key) ?? []), e]);
  }
  for (const group of groups.values()) {
    const { stored, dtype } = group[0];
    const all = group.flatMap((e) => Array.from(e.values));
    if (group.length === 1 && stored === dtype) {
      g.initializers.set(group[0].name, codebookTensor(group[0].name, stored, all));
      continue;
    }
    const scale = group[0].scale;
    let x = g.addInitializer(stored === DataType.INT8 ? new Tensor('bytes', stored, [all.length], Int8Array.from(all)) : codebookTensor('floats', stored, all));
    if (stored !== dtype) {
      const c = group.length > 1 || scale !== undefined ? g.uniqueName('c') : group[0].name;
      nodes.push(node('Cast', [x], [c], [intAttr('to', dtype)]));
      x = c;
    }
    if (scale !== undefined) {
      const c = group.length > 1 ? g.uniqueName('c') : group[0].name;
      nodes.push(node('Mul', [x, g.addInitializer(codebookTensor('scale', dtype, [scale]))], [c]));
      x = c;
    }
    if (group.length > 1) nodes.push(splitNode(g, x, group.map((e) => e.values.length), group.map((e) => e.name), opset));
  }
  return nodes;
}

/** The int8 entries of the joint vector on one grid: scale = max |v| / 127, values rounded to it. */
function byteGrid(entries: JointFloat[]): void {
  const bytes = entries.filter((e) => e.stored === DataType.INT8);
  let max = 0;
  for (const e of bytes) for (let i = 0; i < e.values.length; i++) max = Math.max(max, Math.abs(e.values[i]));
  const scale = max > 0 ? max / 127 : 1;
  for (const e of bytes) {
    e.values = Array.from(e.values, (v) => Math.round(v / scale));
    e.scale = scale;
  }
}

/** A sparse weight of the joint chain: positions of its non-zeros, their codes (1 + cluster), its codebook. */
interface JointSparse {
  t: Tensor;
  nz: Int32Array;
  codes: Uint8Array;
  cb: string;
}

/**
 * The sparse weights in one chain: positions in one flat buffer of all their elements (each weight
 * after the one before), one gap and one index stream, one ScatterElements of the codes into int32
 * zeros, Split into the weights' index arrays, then per weight Reshape and Gather of its codebook.
 * Returns the nodes (to run first) and the bytes of the streams.
 */
function jointSparse(g: Graph, list: JointSparse[], axis0: () => string, opset: number): { nodes: Node[]; bytes: number } {
  const total = list.reduce((s, e) => s + e.t.size, 0);
  const nz = new Int32Array(list.reduce((s, e) => s + e.nz.length, 0));
  const codes = new Uint8Array(nz.length);
  let off = 0;
  let j = 0;
  for (const e of list) {
    for (let i = 0; i < e.nz.length; i++, j++) [nz[j], codes[j]] = [off + e.nz[i], e.codes[i]];
    off += e.t.size;
  }
  const sp = sparseStreams(nz, codes);
  const gap = g.addInitializer(new Tensor('cluster_gap', DataType.UINT8, [sp.gap.length], sp.gap));
  const idx = g.addInitializer(new Tensor('cluster_idx', DataType.UINT8, [sp.idx.length], sp.idx));
  const n = g.addInitializer(Tensor.int64('cluster_n', [1], [total]));
  const [gap64, pos, i32, zeros, flat] = Array.from({ length: 5 }, () => g.uniqueName('c'));
  const nodes = [
    node('Cast', [gap], [gap64], [intAttr('to', DataType.INT64)]),
    node('CumSum', [gap64, axis0()], [pos]),
    node('Cast', [idx], [i32], [intAttr('to', DataType.INT32)]),
    node('ConstantOfShape', [n], [zeros], [{ name: 'value', type: AttrType.TENSOR, value: new Tensor('', DataType.INT32, [1]) }]),
    node('ScatterElements', [zeros, pos, i32], [flat]),
  ];
  const parts = list.length > 1 ? list.map(() => g.uniqueName('c')) : [flat];
  if (list.length > 1) nodes.push(splitNode(g, flat, list.map((e) => e.t.size), parts, opset));
  list.forEach((e, i) => {
    dropInitializer(g, e.t.name);
    const shaped = g.uniqueName('c');
    nodes.push(node('Reshape', [parts[i], g.addInitializer(Tensor.int64(`${e.t.name}_dims`, [e.t.dims.length], e.t.dims))], [shaped]));
    nodes.push(node('Gather', [e.cb, shaped], [e.t.name]));
  });
  return { nodes, bytes: sp.gap.length + sp.idx.length };
}

/**
 * Codes in order of frequency: the cluster with the most members gets code 1, the next code 2, …
 * (each codebook's values permuted in place, the assignments of every weight reading it renumbered).
 * Free (the codebook order is arbitrary) and it helps the entropy coders: deflate codes all the
 * bytes of a small file with one Huffman table, and the gap stream's most frequent bytes are the
 * small values too, so ranked codes share the table's short codes instead of competing for them.
 * Measured on the LeNet-5 fixture at 94.5 % sparsity (the stored model of deepcompression.bench):
 * the joint index stream's zeroth-order entropy 1,303 → 1,212 B (the layers' codes line up too),
 * the file 5,608 → 5,542 B gzip, 4,816 → 4,760 B brotli, outputs identical.
 */
function rankCodes(items: Item[]): void {
  const readers = new Map<Float64Array, Item[]>();
  for (const it of items) readers.set(it.centroids, [...(readers.get(it.centroids) ?? []), it]);
  for (const [c, its] of readers) {
    const count = new Float64Array(c.length);
    for (const it of its) for (const a of it.assign) count[a]++;
    const order = Array.from(c.keys()).sort((a, b) => count[b] - count[a] || a - b);
    const rank = new Uint16Array(c.length);
    order.forEach((old, r) => {
      rank[old] = r;
    });
    c.set(order.map((old) => c[old]));
    for (const it of its) for (let j = 0; j < it.assign.length; j++) it.assign[j] = rank[it.assign[j]];
  }
}

/**
 * Replace the initializer `w` by indices + codebook and the nodes that expand them (output name
 * `w`, so every reader stays as it is). Returns the bytes of the stored tensors.
 */
function writeStorage(g: Graph, t: Tensor, form: 'dense' | 'sparse', streams: { idx: Uint8Array; gap?: Uint8Array }, cbName: string, axis0: () => string): number {
  const w = t.name;
  const first = g.nodes.findIndex((n) => n.inputs.includes(w));
  const at = first >= 0 ? g.nodes[first] : undefined;
  dropInitializer(g, w);
  const nodes: Node[] = [];
  let bytes = streams.idx.length;
  if (form === 'dense') {
    const idx = g.addInitializer(new Tensor(`${w}_idx`, DataType.UINT8, [...t.dims], streams.idx));
    const i32 = g.uniqueName('c');
    nodes.push(node('Cast', [idx], [i32], [intAttr('to', DataType.INT32)]));
    nodes.push(node('Gather', [cbName, i32], [w]));
  } else {
    const gapT = streams.gap!;
    bytes += gapT.length;
    const gap = g.addInitializer(new Tensor(`${w}_gap`, DataType.UINT8, [gapT.length], gapT));
    const idx = g.addInitializer(new Tensor(`${w}_idx`, DataType.UINT8, [streams.idx.length], streams.idx));
    const shape = g.addInitializer(Tensor.int64(`${w}_n`, [1], [t.size]));
    const dims = g.addInitializer(Tensor.int64(`${w}_dims`, [t.dims.length], t.dims));
    const [gap64, pos, i32, vals, zeros, flat] = Array.from({ length: 6 }, () => g.uniqueName('c'));
    const zero = new Tensor('', t.dtype, [1]);
    nodes.push(node('Cast', [gap], [gap64], [intAttr('to', DataType.INT64)]));
    nodes.push(node('CumSum', [gap64, axis0()], [pos]));
    nodes.push(node('Cast', [idx], [i32], [intAttr('to', DataType.INT32)]));
    nodes.push(node('Gather', [cbName, i32], [vals]));
    nodes.push(node('ConstantOfShape', [shape], [zeros], [{ name: 'value', type: AttrType.TENSOR, value: zero }]));
    nodes.push(node('ScatterElements', [zeros, pos, vals], [flat]));
    nodes.push(node('Reshape', [flat, dims], [w]));
  }
  const pos = at ? g.nodes.indexOf(at) : g.nodes.length;
  g.nodes.splice(pos, 0, ...nodes);
  g.touch();
  return bytes;
}

/** Samples the sensitivity measurement runs on. */
const SENSITIVITY_SAMPLES = 256;

/**
 * Bits per weight from measured sensitivity. For each weight and each bit count b in
 * [b̄ − 2, b̄ + 2] ∩ [1, 8] (b̄ = log2(clusters + 1)), the weight alone is clustered to 2^b − 1
 * values and the model's first output is compared with the unclustered model's on up to 256
 * samples: e_l(b) = mean squared difference. Then, from every weight at the most bits, greedily
 * take one bit from the weight whose error grows least per index bit saved, (e_l(b − 1) −
 * e_l(b)) / n_l with n_l its non-zeros, until the average bits per non-zero is b̄ (errors of
 * different weights assumed to add up, as in Hessian-free mixed-precision allocation). Small,
 * sensitive layers (first convolutions) end with more values, large tolerant ones (the big fully
 * connected layers) with fewer, at the same index bytes. Returns clusters per item.
 */
async function allocateBits(
  model: Model,
  items: Item[],
  valuesOf: Map<Item, Float64Array>,
  weightsOf: Map<Item, Float64Array> | undefined,
  opts: ClusterOptions,
  ctx?: PassContext,
): Promise<Map<Item, number>> {
  const data = ctx?.calibration ?? ctx?.train;
  if (!data || !ctx?.run) throw new MlcError('USAGE', 'cluster: allocate sensitivity measures the output error on samples and needs --train-data or --calibration-data');
  const feeds = takeDataset(data, SENSITIVITY_SAMPLES).inputs;
  const output = model.graph.outputs[0].name;
  const run = async () => (await ctx.run!(model, feeds, [output]))[output].data as Float32Array;
  materializeLayers(model.graph, items.map((it) => it.layer));
  const ref = await run();
  const mean = Math.log2(opts.clusters + 1);
  const lo = Math.max(1, Math.floor(mean) - 2);
  const hi = Math.min(8, Math.ceil(mean) + 2);
  const err = new Map<Item, Float64Array>();
  for (const it of items) {
    const t = it.layer.tensor;
    const data = t.data as Float32Array | Uint16Array;
    const saved = data.slice();
    const e = new Float64Array(hi + 1);
    for (let b = lo; b <= hi; b++) {
      const r = kmeans1d(valuesOf.get(it)!, 2 ** b - 1, { init: opts.init, rng: ctx.rng, weights: weightsOf?.get(it) });
      writeClustered({ ...it, assign: r.assign, centroids: r.centroids });
      const y = await run();
      let s = 0;
      for (let i = 0; i < y.length; i++) s += (y[i] - ref[i]) ** 2;
      e[b] = s / y.length;
    }
    data.set(saved);
    err.set(it, e);
  }
  const bits = new Map<Item, number>(items.map((it) => [it, hi]));
  const total = items.reduce((s, it) => s + it.nz.length, 0);
  let used = hi * total;
  while (used > mean * total + 1e-9) {
    let best: Item | undefined;
    let bestCost = Infinity;
    for (const it of items) {
      const b = bits.get(it)!;
      if (b <= lo) continue;
      const e = err.get(it)!;
      const cost = (e[b - 1] - e[b]) / it.nz.length;
      if (cost < bestCost) [best, bestCost] = [it, cost];
    }
    if (!best) break;
    bits.set(best, bits.get(best)! - 1);
    used -= best.nz.length;
  }
  return new Map(items.map((it) => [it, 2 ** bits.get(it)! - 1]));
}

/** Samples the activation weighting measures its input statistics on. */
const WEIGHTING_SAMPLES = 512;

/**
 * Weighting `activation`: for each item, the weight of each non-zero value in k-means, E[x²] of
 * the input feature it multiplies (MatMul / Gemm: its input column; Conv: its input channel) on
 * the first WEIGHTING_SAMPLES samples of the model as it is (inputSquares of prune/criterion.ts).
 * A weight whose input cannot be measured gets weights 1 (plain k-means). Returns the weights and
 * how many items were measured.
 */
async function clusterWeights(model: Model, items: Item[], ctx?: PassContext): Promise<{ weights: Map<Item, Float64Array>; measured: number }> {
  const data = ctx?.calibration ?? ctx?.train;
  if (!data || !ctx?.run) throw new MlcError('USAGE', 'cluster: weighting activation measures the inputs on samples and needs --train-data or --calibration-data');
  const { squares, measured } = await inputSquares(model, items.map((it) => it.layer), data, ctx.run, WEIGHTING_SAMPLES);
  const weights = new Map<Item, Float64Array>();
  items.forEach((it, k) => {
    const sq = squares[k];
    weights.set(it, Float64Array.from(it.nz, (i) => (sq ? sq(i) : 1)));
  });
  return { weights, measured };
}

/** A Cast of the float16 initializer `h` to float, first in the graph; returns its output. */
function castToFloat(g: Graph, h: string): string {
  const out = g.uniqueName('c');
  g.nodes.unshift(node('Cast', [h], [out], [intAttr('to', DataType.FLOAT)]));
  g.touch();
  return out;
}

/**
 * The float32 biases of clustered Gemm / Conv layers (input 2) stored as float16 and cast back
 * under their own name (the readers stay as they are); only biases that no other node reads.
 * With `joint`, the biases are added to the joint float vectors instead (as int8 with `bytes`,
 * put on one grid by byteGrid). Returns how many.
 */
function halfBiases(g: Graph, items: Item[], joint?: JointFloat[], bytes = false): number {
  let n = 0;
  const done = new Set<string>();
  for (const it of items) {
    for (const l of it.layer.group ?? [it.layer]) {
      const b = l.node.inputs[2];
      if ((l.op !== 'Gemm' && l.op !== 'Conv') || !b || done.has(b)) continue;
      const t = g.initializers.get(b);
      if (!t || t.dtype !== DataType.FLOAT || g.isGraphInput(b) || g.isGraphOutput(b)) continue;
      if (g.consumers(b).some((c) => (c.opType !== 'Gemm' && c.opType !== 'Conv') || c.inputs.indexOf(b) !== 2)) continue;
      done.add(b);
      g.initializers.delete(b);
      n++;
      if (joint) {
        joint.push({ name: b, stored: bytes ? DataType.INT8 : DataType.FLOAT16, dtype: DataType.FLOAT, values: t.toNumbers() });
        continue;
      }
      const h = g.addInitializer(new Tensor(`${b}_h`, DataType.FLOAT16, [...t.dims], Uint16Array.from(t.toNumbers(), (v) => floatToHalf(v))));
      g.nodes.unshift(node('Cast', [h], [b], [intAttr('to', DataType.FLOAT)]));
      g.touch();
    }
  }
  return n;
}

export async function runCluster(model: Model, opts: ClusterOptions, ctx?: PassContext): Promise<PassResult> {
  const g = model.graph;
  if (opts.epochs > 0 && !ctx?.train) throw new MlcError('USAGE', 'cluster: epochs > 0 fine-tunes the shared values and needs training data (--train-data)');
  markLegacyInitializers(g, model.irVersion);
  const sel = selectLayers(g, { exclude: opts.exclude, includeEmbeddings: false, keepFirstLast: false });
  const skipped: Skip[] = [...sel.skipped];
  const candidates: Layer[] = [];
  for (const l of sel.layers) {
    if (l.tensor.dtype !== DataType.FLOAT && l.tensor.dtype !== DataType.FLOAT16) {
      skipped.push({ node: l.label, reason: `weight ${l.weightName} is ${DataType[l.tensor.dtype]} (float32 and float16 are clustered)` });
      continue;
    }
    candidates.push(l);
  }
  const stats: PassResult['stats'] = { clusters: opts.clusters, init: opts.init, codebook: opts.codebook, storage: opts.storage };
  const details: Record<string, unknown>[] = [];
  const rng = ctx?.rng ?? Math.random;

  // --- non-zero values and k-means -------------------------------------------------------------
  const items: Item[] = [];
  const valuesOf = new Map<Item, Float64Array>();
  for (const l of candidates) {
    const v = l.tensor.toNumbers();
    let m = 0;
    for (let i = 0; i < v.length; i++) if (v[i] !== 0) m++;
    if (m === 0) {
      skipped.push({ node: l.label, reason: `weight ${l.weightName} has no non-zero value` });
      continue;
    }
    const nz = new Int32Array(m);
    const vals = new Float64Array(m);
    for (let i = 0, j = 0; i < v.length; i++) if (v[i] !== 0) [nz[j], vals[j++]] = [i, v[i]];
    const item: Item = { layer: l, nz, assign: new Uint16Array(m), centroids: new Float64Array(0), sse: 0 };
    valuesOf.set(item, vals);
    items.push(item);
  }
  let weightsOf: Map<Item, Float64Array> | undefined;
  if (opts.weighting === 'activation' && items.length) {
    const w = await clusterWeights(model, items, ctx);
    weightsOf = w.weights;
    stats.weighting = 'activation';
    stats.weightedLayers = w.measured;
  }
  if (opts.codebook === 'shared') {
    // one codebook per dtype (float32 and float16 weights cannot share a Gather)
    for (const dtype of [DataType.FLOAT, DataType.FLOAT16]) {
      const group = items.filter((it) => it.layer.tensor.dtype === dtype);
      if (!group.length) continue;
      const all = new Float64Array(group.reduce((s, it) => s + it.nz.length, 0));
      const allWeights = weightsOf ? new Float64Array(all.length) : undefined;
      let o = 0;
      for (const it of group) {
        all.set(valuesOf.get(it)!, o);
        allWeights?.set(weightsOf!.get(it)!, o);
        o += it.nz.length;
      }
      const r = kmeans1d(all, opts.clusters, { init: opts.init, rng, weights: allWeights });
      o = 0;
      for (const it of group) {
        it.assign = r.assign.slice(o, o + it.nz.length);
        it.centroids = r.centroids;
        o += it.nz.length;
      }
    }
  } else {
    const ks = opts.allocate === 'sensitivity' ? await allocateBits(model, items, valuesOf, weightsOf, opts, ctx) : undefined;
    if (ks) stats.allocatedBits = items.map((it) => `${it.layer.weightName}:${Math.log2(ks.get(it)! + 1)}`).join(',');
    for (const it of items) {
      const r = kmeans1d(valuesOf.get(it)!, ks?.get(it) ?? opts.clusters, { init: opts.init, rng, weights: weightsOf?.get(it) });
      it.assign = r.assign;
      it.centroids = r.centroids;
    }
  }
  // already shared values with nothing to store differently: leave the weight as it is
  const todo = items.filter((it) => {
    const same = it.centroids.length === new Set(valuesOf.get(it)).size && opts.storage === 'float';
    if (same) skipped.push({ node: it.layer.label, reason: `weight ${it.layer.weightName} has at most ${opts.clusters} distinct non-zero values already` });
    return !same;
  });
  if (!todo.length) {
    stats.layersClustered = 0;
    skipped.push(...recurrentSkips(model, 'clustered'));
    return { modified: false, stats, skipped };
  }
  materializeLayers(g, todo.map((it) => it.layer));

  for (const it of todo) writeClustered(it);

  // --- fine-tuning of the shared values ----------------------------------------------------------
  if (opts.epochs > 0 && ctx?.train) {
    const tuned = await fineTune(model, todo, opts, ctx, skipped);
    if (tuned) Object.assign(stats, tuned);
  }
  for (const it of todo) {
    const v = valuesOf.get(it)!;
    let sse = 0;
    for (let j = 0; j < it.nz.length; j++) sse += (v[j] - it.centroids[it.assign[j]]) ** 2;
    it.sse = sse;
  }

  // --- storage -----------------------------------------------------------------------------------
  if (opts.storage !== 'float') rankCodes(todo);
  const sharedNames = new Map<Float64Array, string>();
  let bytesBefore = 0;
  let bytesAfter = 0;
  let huffDense = 0;
  let huffSparse = 0;
  const opset = model.opsetVersion('') ?? 1;
  let axisName: string | undefined;
  const axis0 = () => (axisName ??= g.addInitializer(Tensor.int64('cluster_axis0', [], [0])));
  // joint: the codebooks (and half biases) and the sparse weights gathered for one chain
  const floats: JointFloat[] | undefined = opts.joint ? [] : undefined;
  const joint: JointSparse[] | undefined = opts.joint && opset >= 11 ? [] : undefined;
  for (const it of todo) {
    const t = it.layer.tensor;
    const w = t.name;
    const hasZero = it.nz.length < t.size;
    const dense = denseIndices(t.size, it);
    const sp = sparseStreams(it.nz, Uint8Array.from(it.assign, (a) => a + 1));
    const hd = huffmanBits(dense);
    const hs = huffmanBits(sp.gap) + huffmanBits(sp.idx);
    huffDense += hd;
    huffSparse += hs;
    bytesBefore += t.byteLength;
    const det: Record<string, unknown> = {
      node: it.layer.label,
      weight: w,
      dims: t.dims.join('x'),
      nonzero: it.nz.length,
      clusters: it.centroids.length,
      rmse: Number(Math.sqrt(it.sse / it.nz.length).toPrecision(4)),
      huffmanDenseBytes: Math.ceil(hd / 8),
      huffmanSparseBytes: Math.ceil(hs / 8),
    };
    let form: 'dense' | 'sparse' | 'float' = opts.storage === 'auto' ? 'dense' : opts.storage;
    if (form === 'sparse' && opset < 11) {
      skipped.push({ node: it.layer.label, reason: `sparse storage needs opset 11 (CumSum, ScatterElements); ${w} stored dense` });
      form = 'dense';
    }
    if (opts.storage === 'auto' && hasZero && opset >= 11) {
      const cd = compressedCost([dense]);
      const cs = compressedCost([sp.gap, sp.idx]);
      Object.assign(det, { denseGzip: cd.gzip, denseBrotli: cd.brotli, sparseGzip: cs.gzip, sparseBrotli: cs.brotli });
      if (cs.gzip + cs.brotli < cd.gzip + cd.brotli) form = 'sparse';
    }
    det.storage = form;
    details.push(det);
    if (form === 'float') {
      bytesAfter += t.byteLength;
      continue;
    }
    // the codebook: 0 first (the pruned weights), then the centroids
    let cb = sharedNames.get(it.centroids);
    if (!cb) {
      const half = opts.half && t.dtype === DataType.FLOAT;
      const cbName = opts.codebook === 'shared' ? 'codebook' : `${w}_cb`;
      const stored = half ? DataType.FLOAT16 : t.dtype;
      if (floats) floats.push({ name: (cb = g.uniqueName(cbName)), stored, dtype: t.dtype, values: [0, ...it.centroids] });
      else {
        cb = g.addInitializer(codebookTensor(cbName, stored, [0, ...it.centroids]));
        if (half) cb = castToFloat(g, cb);
      }
      sharedNames.set(it.centroids, cb);
      bytesAfter += (it.centroids.length + 1) * (half || t.dtype === DataType.FLOAT16 ? 2 : 4);
    }
    if (joint && form === 'sparse') joint.push({ t, nz: it.nz, codes: Uint8Array.from(it.assign, (a) => a + 1), cb });
    else bytesAfter += writeStorage(g, t, form, form === 'dense' ? { idx: dense } : sp, cb, axis0);
  }
  if (opts.byteBiases) stats.byteBiases = halfBiases(g, todo, floats, true);
  else if (opts.half) stats.halfBiases = halfBiases(g, todo, floats);
  if (floats) byteGrid(floats);
  if (floats || joint?.length) {
    // the joint chain runs first (its inputs are all constants)
    const first = floats ? jointFloats(g, floats, opset) : [];
    const sparse = joint?.length ? jointSparse(g, joint, axis0, opset) : { nodes: [], bytes: 0 };
    bytesAfter += sparse.bytes;
    g.nodes.unshift(...first, ...sparse.nodes);
    stats.jointSparseWeights = joint?.length ?? 0;
  }
  g.removeUnusedInitializers();
  g.touch();
  Object.assign(stats, {
    layersClustered: todo.length,
    weightBytesBefore: bytesBefore,
    weightBytesAfter: bytesAfter,
    huffmanDenseBytes: Math.ceil(huffDense / 8),
    huffmanSparseBytes: Math.ceil(huffSparse / 8),
  });
  ctx?.log.debug(`cluster: ${todo.length} weight(s) clustered to ${opts.clusters} shared values`);
  skipped.push(...recurrentSkips(model, 'clustered'));
  return { modified: true, stats, skipped, details };
}

/**
 * Fine-tune the centroids by distillation with assignments and zeros fixed; on success the items'
 * centroids take the trained values. Returns stats, or undefined when training was skipped.
 */
async function fineTune(model: Model, items: Item[], opts: ClusterOptions, ctx: PassContext, skipped: Skip[]): Promise<Record<string, number | string> | undefined> {
  if (!ctx.run) throw new MlcError('INTERNAL', 'cluster: fine-tuning needs ctx.run (onnxruntime) for the teacher');
  // cluster ids: one range per codebook, so a shared codebook's centroid sums the gradients of
  // its members in every weight
  const ties = new Map<string, Int32Array>();
  const offsets = new Map<Float64Array, number>();
  let next = 0;
  for (const it of items) {
    if (it.layer.tensor.dtype !== DataType.FLOAT) continue;
    let off = offsets.get(it.centroids);
    if (off === undefined) {
      offsets.set(it.centroids, (off = next));
      next += it.centroids.length;
    }
    const a = new Int32Array(it.layer.tensor.size).fill(-1);
    for (let j = 0; j < it.nz.length; j++) a[it.nz[j]] = off + it.assign[j];
    ties.set(it.layer.tensor.name, a);
  }
  if (!ties.size) return undefined;
  const { distill } = await import('../train/distill.js');
  const { UntrainableNodeError, untrainableNodes } = await import('../train/executor.js');
  const bad = untrainableNodes(model);
  if (bad.length) {
    skipped.push({ node: bad[0].node, reason: `centroids not fine-tuned: distillation cannot train this model (${bad[0].reason})` });
    return undefined;
  }
  const teacher = ctx.original ?? model;
  const d = DISTILL_DEFAULTS;
  let rep: Awaited<ReturnType<typeof distill>>;
  try {
    rep = await distill(
      teacher,
      model,
      { epochs: opts.epochs, batchSize: opts.batchSize, lr: opts.lr, temperature: d.temperature, alpha: d.alpha, valSplit: d.valSplit, backend: d.backend, keepZeros: true, augment: d.augment, ties },
      ctx,
    );
  } catch (e) {
    if (e instanceof UntrainableNodeError || (e instanceof MlcError && e.code === 'UNSUPPORTED')) {
      skipped.push({ node: '(model)', reason: `centroids not fine-tuned: ${e.message}` });
      return undefined;
    }
    throw e;
  }
  // read the trained shared values back (every member of a cluster holds the same value; the
  // mean guards against float noise)
  const sums = new Map<Float64Array, { s: Float64Array; c: Float64Array }>();
  for (const it of items) {
    if (!ties.has(it.layer.tensor.name)) continue;
    let acc = sums.get(it.centroids);
    if (!acc) sums.set(it.centroids, (acc = { s: new Float64Array(it.centroids.length), c: new Float64Array(it.centroids.length) }));
    const v = it.layer.tensor.data as Float32Array;
    for (let j = 0; j < it.nz.length; j++) {
      acc.s[it.assign[j]] += v[it.nz[j]];
      acc.c[it.assign[j]] += 1;
    }
  }
  for (const [c, acc] of sums) for (let j = 0; j < c.length; j++) if (acc.c[j] > 0) c[j] = acc.s[j] / acc.c[j];
  for (const it of items) writeClustered(it);
  const pct = (x: number | null) => (x === null ? 'n/a' : round4(x));
  return {
    tuneEpochs: rep.epochs,
    tuneBestEpoch: rep.bestEpoch,
    tuneSeconds: Math.round(rep.seconds * 10) / 10,
    tuneMetric: rep.metric,
    tuneValBefore: pct(rep.studentValBefore),
    tuneValAfter: pct(rep.studentValAfter),
    tiedWeights: rep.tiedWeights,
  };
}

export const clusterPass: Pass<ClusterOptions> = definePass(CLUSTER_SCHEMA, {
  describe: 'Weight sharing: k-means codebooks for MatMul, Gemm and Conv weights (zeros kept), optional centroid fine-tuning, indices stored for gzip / brotli',
  run: (model, options, ctx) => runCluster(model, options, ctx),
});

export default clusterPass;
