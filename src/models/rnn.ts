/**
 * A recurrent sequence classifier as torch.onnx writes `nn.LSTM` / `nn.GRU(batch_first=True)`
 * followed by a Linear on the last hidden state:
 *
 *   input [batch, sequence, features] → Transpose to [sequence, batch, features]
 *   → LSTM / GRU (W [dirs, G·hidden, in], R [dirs, G·hidden, hidden], B [dirs, 2·G·hidden];
 *     GRU with linear_before_reset = 1 as torch writes it), per layer; between layers Y
 *     [sequence, dirs, batch, hidden] → Transpose → Reshape to [sequence, batch, dirs·hidden]
 *   → the last layer's Y_h [dirs, batch, hidden] → Transpose → Reshape [batch, dirs·hidden]
 *   → Gemm (transB = 1) → `logits` [batch, classes]
 *
 * Weights uniform in ±1/√hidden (torch's init). The sequence axis is `sequence` with
 * `dynamicSequence`, else `seq`.
 */
import { DataType } from '../ir/dtype.js';
import { ModelBuilder } from '../ir/builder.js';
import type { Model } from '../ir/model.js';
import { AttrType } from '../ir/node.js';
import { type CommonOptions, type SampleArray, checkOpset, finish, floatSample, floatType, uniformRng } from './common.js';

export interface RnnOptions extends CommonOptions {
  cell?: 'LSTM' | 'GRU';
  features?: number;
  hidden?: number;
  layers?: number;
  bidirectional?: boolean;
  seq?: number;
  dynamicSequence?: boolean;
  classes?: number;
}

export function buildRnn(opts: RnnOptions = {}): Model {
  const cell = opts.cell ?? 'LSTM';
  if (cell !== 'LSTM' && cell !== 'GRU') throw new RangeError(`cell ${String(cell)}: LSTM or GRU`);
  const features = opts.features ?? 64;
  const hidden = opts.hidden ?? 128;
  const layers = opts.layers ?? 1;
  const dirs = opts.bidirectional ? 2 : 1;
  const seq = opts.seq ?? 32;
  const classes = opts.classes ?? 10;
  const opset = opts.opset ?? 17;
  checkOpset(opset);
  const gates = cell === 'LSTM' ? 4 : 3;
  const rng = uniformRng(opts.seed ?? 42);
  const k = 1 / Math.sqrt(hidden);
  const u = (n: number, bound: number) => Float32Array.from({ length: n }, () => (2 * rng() - 1) * bound);
  const b = new ModelBuilder({ opset, name: cell.toLowerCase() });
  const low = cell.toLowerCase();

  const x0 = b.input('input', DataType.FLOAT, ['batch', opts.dynamicSequence ? 'sequence' : seq, features]);
  let x = b.op('Transpose', [x0], { perm: [1, 0, 2] }, { name: '/Transpose' });
  let inF = features;
  let yh = '';
  for (let l = 0; l < layers; l++) {
    const W = b.init(`onnx::${cell}_W_${l}`, [dirs, gates * hidden, inF], u(dirs * gates * hidden * inF, k));
    const R = b.init(`onnx::${cell}_R_${l}`, [dirs, gates * hidden, hidden], u(dirs * gates * hidden * hidden, k));
    const B = b.init(`onnx::${cell}_B_${l}`, [dirs, 2 * gates * hidden], u(dirs * 2 * gates * hidden, k));
    const attrs: Record<string, number | string> = { direction: dirs === 2 ? 'bidirectional' : 'forward', hidden_size: hidden };
    if (cell === 'GRU') attrs.linear_before_reset = 1;
    const outs = b.opN(cell, [x, W, R, B], attrs, { name: `/${low}/${cell}${l ? '_' + l : ''}`, outputs: cell === 'LSTM' ? 3 : 2 });
    yh = outs[1];
    if (l < layers - 1) {
      const t = b.op('Transpose', [outs[0]], { perm: [0, 2, 1, 3] }, { name: `/${low}/Transpose_${l}` });
      x = b.op('Reshape', [t, b.ints(`/${low}/Constant_${l}`, [0, 0, -1])], {}, { name: `/${low}/Reshape_${l}` });
      inF = dirs * hidden;
    }
  }
  const last = b.op('Reshape', [b.op('Transpose', [yh], { perm: [1, 0, 2] }, { name: '/Transpose_1' }), b.ints('/Constant', [0, -1])], {}, { name: '/Reshape' });
  const fw = b.init('fc.weight', [classes, dirs * hidden], u(classes * dirs * hidden, 1 / Math.sqrt(dirs * hidden)));
  const fb = b.init('fc.bias', [classes], u(classes, 1 / Math.sqrt(dirs * hidden)));
  const logits = b.op('Gemm', [last, fw, fb], { alpha: 1, beta: 1, transB: 1 }, { name: '/fc/Gemm', types: { alpha: AttrType.FLOAT, beta: AttrType.FLOAT } });
  b.output(logits, floatType(opts), ['batch', classes], 'logits');
  return finish(b, opts);
}

export function rnnInputs(opts: RnnOptions, batch: number, seed = 1, seqLen = opts.seq ?? 32): Record<string, SampleArray> {
  return { input: floatSample([batch, seqLen, opts.features ?? 64], floatType(opts), uniformRng(seed)) };
}
