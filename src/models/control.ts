/**
 * A model with control flow, as exporters write data-dependent branches (torch.jit script,
 * tf2onnx's tf.cond / tf.while_loop): weights live both in the main graph and inside subgraphs,
 * and subgraphs read main-graph weights by name (outer scope).
 *
 *   input [batch, features] → Gemm (transB = 1) → Relu → h [batch, hidden]
 *   If (ReduceSum(h) > 0):  then  MatMul(h, branch.then.weight [outer]) + Add(then bias, a
 *                                 Constant inside the branch) → Relu
 *                           else  MatMul(h, branch.else.weight [outer]) → Tanh
 *   Loop `trips` times over the state s:  s ← Tanh(MatMul(s, loop.weight [outer]) + loop.bias
 *                                          [an initializer of the body])
 *   → MatMul(head.weight) + Add(head.bias) → `logits` [batch, classes]
 *
 * Passes that do not look into subgraphs must leave them exactly as they are (the weights they
 * read too, or at least keep every name the subgraphs use).
 */
import { DataType } from '../ir/dtype.js';
import { ModelBuilder } from '../ir/builder.js';
import { Graph } from '../ir/graph.js';
import type { Model } from '../ir/model.js';
import { setAttr } from '../ir/node.js';
import { Tensor } from '../ir/tensor.js';
import { tensorType } from '../ir/types.js';
import { type CommonOptions, type SampleArray, checkOpset, finish, floatSample, floatType, normalArray, uniformRng } from './common.js';

export interface ControlFlowOptions extends CommonOptions {
  features?: number;
  hidden?: number;
  classes?: number;
  /** Loop iterations (default 3) */
  trips?: number;
}

export function buildControlFlow(opts: ControlFlowOptions = {}): Model {
  const features = opts.features ?? 64;
  const hidden = opts.hidden ?? 64;
  const classes = opts.classes ?? 10;
  const trips = opts.trips ?? 3;
  const opset = opts.opset ?? 17;
  checkOpset(opset);
  const rng = uniformRng(opts.seed ?? 42);
  const b = new ModelBuilder({ opset, name: 'control_flow' });
  const w = (name: string, dims: number[], std: number) => b.init(name, dims, normalArray(rng, dims.reduce((a, c) => a * c, 1), std));

  const x = b.input('input', DataType.FLOAT, ['batch', features]);
  const h = b.op('Relu', [b.op('Gemm', [x, w('fc_in.weight', [hidden, features], Math.sqrt(2 / features)), w('fc_in.bias', [hidden], 0.02)], { transB: 1 }, { name: '/fc_in/Gemm' })], {}, { name: '/Relu' });

  // a subgraph: its own names come from the root's namespace (ONNX wants them unique model-wide)
  const sub = (name: string): Graph => {
    const g = new Graph(name);
    g.parent = b.graph;
    return g;
  };
  const node = (g: Graph, op: string, inputs: string[], name: string, attrs: Record<string, unknown> = {}): string => {
    const out = g.uniqueName(`${name}_output_0`);
    const n = g.makeNode(op, inputs, [out], [], { name });
    for (const [k, v] of Object.entries(attrs)) setAttr(n, k, v as never);
    return out;
  };

  const thenW = w('branch.then.weight', [hidden, hidden], Math.sqrt(2 / hidden));
  const elseW = w('branch.else.weight', [hidden, hidden], Math.sqrt(1 / hidden));
  const thenG = sub('then_branch');
  {
    const bias = node(thenG, 'Constant', [], '/If/then/Constant', { value: Tensor.float32('then_bias', [hidden], normalArray(rng, hidden, 0.02)) });
    const y = node(thenG, 'Relu', [node(thenG, 'Add', [node(thenG, 'MatMul', [h, thenW], '/If/then/MatMul'), bias], '/If/then/Add')], '/If/then/Relu');
    thenG.outputs.push({ name: y, type: tensorType(DataType.FLOAT, ['batch', hidden]) });
  }
  const elseG = sub('else_branch');
  {
    const y = node(elseG, 'Tanh', [node(elseG, 'MatMul', [h, elseW], '/If/else/MatMul')], '/If/else/Tanh');
    elseG.outputs.push({ name: y, type: tensorType(DataType.FLOAT, ['batch', hidden]) });
  }
  const total = b.op('ReduceSum', [h], { keepdims: 0 }, { name: '/ReduceSum' });
  const cond = b.op('Greater', [total, b.init('/Constant', [], [0])], {}, { name: '/Greater' });
  const branched = b.op('If', [cond], { then_branch: thenG, else_branch: elseG }, { name: '/If' });

  const loopW = w('loop.weight', [hidden, hidden], Math.sqrt(1 / hidden));
  const body = sub('loop_body');
  {
    const iter = body.uniqueName('iteration_num');
    const condIn = body.uniqueName('cond_in');
    const sIn = body.uniqueName('state_in');
    body.inputs.push(
      { name: iter, type: tensorType(DataType.INT64, []) },
      { name: condIn, type: tensorType(DataType.BOOL, []) },
      { name: sIn, type: tensorType(DataType.FLOAT, ['batch', hidden]) },
    );
    const bias = body.addInitializer(Tensor.float32('loop.bias', [hidden], normalArray(rng, hidden, 0.02)));
    const condOut = node(body, 'Identity', [condIn], '/Loop/body/Identity');
    const s = node(body, 'Tanh', [node(body, 'Add', [node(body, 'MatMul', [sIn, loopW], '/Loop/body/MatMul'), bias], '/Loop/body/Add')], '/Loop/body/Tanh');
    body.outputs.push({ name: condOut, type: tensorType(DataType.BOOL, []) }, { name: s, type: tensorType(DataType.FLOAT, ['batch', hidden]) });
  }
  const looped = b.op('Loop', [b.init('/Loop/trip_count', [], [trips], DataType.INT64), '', branched], { body }, { name: '/Loop' });

  const mm = b.op('MatMul', [looped, w('head.weight', [hidden, classes], Math.sqrt(1 / hidden))], {}, { name: '/head/MatMul' });
  const logits = b.op('Add', [mm, w('head.bias', [classes], 0.02)], {}, { name: '/head/Add' });
  b.output(logits, floatType(opts), ['batch', classes], 'logits');
  return finish(b, opts);
}

export function controlFlowInputs(opts: ControlFlowOptions, batch: number, seed = 1): Record<string, SampleArray> {
  return { input: floatSample([batch, opts.features ?? 64], floatType(opts), uniformRng(seed)) };
}
