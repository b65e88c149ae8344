/**
 * Which activations static QDQ quantizes, beyond the inputs and outputs of the weight ops, so
 * that onnxruntime runs whole CNN chains on 8-bit tensors (QLinearConv → QLinearAdd → …) instead
 * of going back to float between them.
 *
 * Walking the graph in order, a tensor is "quantized" (gets one Q/DQ pair) when it is
 * - an activation input of a weight op (Conv / MatMul / Gemm), or the output of one;
 * - the output of a Relu / Clip folded into its producer: the activation is the only reader of an
 *   own-range output, and the calibrated range of the activation's output, once quantized, lies
 *   within the activation's bounds (Q then clamps as the activation would); the activation node
 *   goes and the producer's output is quantized with that range (no Q/DQ between them);
 * - the output of an op onnxruntime has an 8-bit kernel for, when all its activation inputs are
 *   quantized (so adding it costs no new Q/DQ on its inputs) and the output is not a graph output:
 *     own range   Add, Mul (QLinearAdd / QLinearMul), Concat, GlobalAveragePool, AveragePool,
 *                 Sigmoid, LeakyRelu (table kernels): the output is calibrated;
 *     same range  MaxPool, Reshape, Flatten, Transpose, Squeeze, Unsqueeze, SpaceToDepth,
 *                 DepthToSpace, Slice, Resize: the output shares its input's scale and zero point,
 *                 so onnxruntime drops the Q/DQ pair and runs the op on the 8-bit tensor (exact,
 *                 but for Resize's interpolation, which stays within its inputs' range).
 * HardSigmoid / HardSwish have no 8-bit kernel in onnxruntime: they stay float between a DQ and a
 * Q. Nodes outside the default domain, in subgraphs or excluded are never added.
 */
import type { Graph } from '../../ir/graph.js';
import type { Node } from '../../ir/node.js';
import { clampOf } from '../activations.js';
import { isOnnx } from './common.js';

/** Ops given an 8-bit kernel with their own output range (all float inputs must be quantized). */
export const OWN_RANGE_OPS: readonly string[] = ['Add', 'Mul', 'Concat', 'GlobalAveragePool', 'AveragePool', 'Sigmoid', 'LeakyRelu'];
/** Ops that move or select values: the output keeps the input's quantization (input 0 must be quantized). */
export const SAME_RANGE_OPS: readonly string[] = [
  'MaxPool',
  'Reshape',
  'Flatten',
  'Transpose',
  'Squeeze',
  'Unsqueeze',
  'SpaceToDepth',
  'DepthToSpace',
  'Slice',
  'Resize',
];

/** How a quantized tensor gets its scale and zero point. */
export type TensorQuant = { kind: 'own' } | { kind: 'same'; from: string };

export interface Fold {
  /** the Relu / Clip node removed */
  act: Node;
  /** its input (the producer's output), quantized with the activation output's range */
  from: string;
  lo: number;
  hi: number;
}

export interface Region {
  /** quantized tensors, in graph order, with where their range comes from */
  tensors: Map<string, TensorQuant>;
  /** activation folds, by the activation's output */
  folds: Map<string, Fold>;
  /** the 8-bit ops added (besides the weight ops) */
  ops: Node[];
}

export interface RegionInput {
  graph: Graph;
  /** weight ops being quantized, with their activation input names */
  weightOps: Map<Node, string[]>;
  /** whether a node may be touched (not excluded) */
  allowed(node: Node): boolean;
  /** whether the activation `fold` may be folded (after calibration: its range fits the bounds) */
  canFold(fold: Fold): boolean;
}

/** Walk the graph in order and collect the quantized tensors (see the file comment). */
export function quantRegion(input: RegionInput): Region {
  const { graph: g, weightOps } = input;
  const tensors = new Map<string, TensorQuant>();
  const folds = new Map<string, Fold>();
  const ops: Node[] = [];
  const own = new Set<string>(); // outputs with their own range from an op (fold candidates)
  for (const ins of weightOps.values()) for (const t of ins) tensors.set(t, { kind: 'own' });
  const isConst = (name: string) => g.constantValue(name) !== undefined;
  for (const node of g.nodes) {
    const out = node.outputs[0];
    if (!out || g.isGraphOutput(out)) continue;
    if (weightOps.has(node)) {
      tensors.set(out, { kind: 'own' });
      own.add(out);
      continue;
    }
    if (!isOnnx(node) || !input.allowed(node) || node.outputs.length !== 1) continue;
    const x = node.inputs[0];
    if ((node.opType === 'Relu' || node.opType === 'Clip') && own.has(x) && g.consumers(x).length === 1) {
      const c = clampOf(g, out);
      const fold = c && { act: node, from: x, lo: c.lo, hi: c.hi };
      if (fold && input.canFold(fold)) {
        tensors.delete(x);
        own.delete(x);
        tensors.set(out, { kind: 'own' });
        own.add(out);
        folds.set(out, fold);
        continue;
      }
    }
    if (OWN_RANGE_OPS.includes(node.opType)) {
      const acts = node.inputs.filter((i) => i);
      if (acts.length && acts.every((i) => tensors.has(i) && !isConst(i))) {
        tensors.set(out, { kind: 'own' });
        own.add(out);
        ops.push(node);
      }
    } else if (SAME_RANGE_OPS.includes(node.opType) && x && tensors.has(x)) {
      const src = tensors.get(x)!;
      tensors.set(out, { kind: 'same', from: src.kind === 'same' ? src.from : x });
      ops.push(node);
    }
  }
  return { tensors, folds, ops };
}
