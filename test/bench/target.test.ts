/** --target: the webgpu op-coverage check (checked against onnxruntime-web's own placements), and the wasm / node load checks. */
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { checkTarget, checkWebgpu } from '../../src/bench/target.js';
import { DataType, type Model, ModelBuilder } from '../../src/ir/index.js';
import { buildEncoder } from '../../src/models/index.js';
import { loadModel, saveModel } from '../../src/onnx/index.js';
import { hasChromium, webgpuPlacements } from '../../src/runtime/browser.js';
import { ensureBuilt, mlc, tempDir } from '../cli/helpers.js';

beforeAll(() => ensureBuilt());

/** x [2, 8] → op → y, with an 8×4 weight. */
function oneOp(kind: 'matmulinteger' | 'dq' | 'transpose21' | 'gather-int8'): Model {
  const b = new ModelBuilder({ opset: kind === 'transpose21' ? 21 : 17 });
  if (kind === 'gather-int8') {
    const ids = b.input('ids', DataType.INT64, [3]);
    const table = b.init('table', [5, 4], Int8Array.from({ length: 20 }, (_, i) => i - 10), DataType.INT8);
    const g = b.op('Gather', [table, ids]);
    b.output(b.op('DequantizeLinear', [g, b.init('s', [], [0.1])]), DataType.FLOAT, [3, 4], 'y');
    return b.build();
  }
  const x = b.input('x', DataType.FLOAT, [2, 8]);
  if (kind === 'transpose21') {
    b.output(b.op('Relu', [b.op('Transpose', [x], { perm: [1, 0] })]), DataType.FLOAT, [8, 2], 'y');
    return b.build();
  }
  const w = b.init('w', [8, 4], Int8Array.from({ length: 32 }, (_, i) => (i % 7) - 3), DataType.INT8);
  if (kind === 'dq') {
    b.output(b.op('Relu', [b.op('MatMul', [x, b.op('DequantizeLinear', [w, b.init('s', [], [0.05])])])]), DataType.FLOAT, [2, 4], 'y');
    return b.build();
  }
  const [q, scale, zp] = b.opN('DynamicQuantizeLinear', [b.op('Relu', [x])], {}, { outputs: 3 });
  const mm = b.op('MatMulInteger', [q, w, zp]);
  const f = b.op('Mul', [b.op('Cast', [mm], { to: DataType.FLOAT }), scale]);
  b.output(b.op('Relu', [f]), DataType.FLOAT, [2, 4], 'y');
  return b.build();
}

describe('checkWebgpu (op coverage data)', () => {
  it('integer ops fall back with their copies; DequantizeLinear stays; opsets and int8 data matter', () => {
    const mi = checkWebgpu(oneOp('matmulinteger'));
    expect(mi.passed).toBe(false);
    expect(mi.fallbacks.map((f) => f.op).sort()).toEqual(['DynamicQuantizeLinear', 'MatMulInteger']);
    // Relu(GPU) → DQL(CPU): 1 copy; MatMulInteger(CPU) → Cast(GPU) and DQL's scale → Mul(GPU): 2 more
    expect(mi.copies).toBe(3);
    expect(checkWebgpu(oneOp('dq'))).toMatchObject({ passed: true, fallbacks: [], copies: 0 });
    const t = checkWebgpu(oneOp('transpose21'));
    expect(t.fallbacks).toEqual([expect.objectContaining({ op: 'Transpose', reason: expect.stringMatching(/opset 21/) })]);
    expect(t.copies).toBe(1);
    expect(checkWebgpu(oneOp('gather-int8')).fallbacks).toEqual([expect.objectContaining({ op: 'Gather', reason: 'no int8 WebGPU kernel for Gather' })]);
  });

  it('wasm and node targets load the model there', async () => {
    expect(await checkTarget(oneOp('dq'), 'wasm')).toMatchObject({ passed: true, error: null });
    const b = new ModelBuilder();
    b.output(b.op('NoSuchOp', [b.input('x', DataType.FLOAT, [2])]), DataType.FLOAT, [2], 'y');
    const bad = await checkTarget(b.build(), 'wasm');
    expect(bad.passed).toBe(false);
    expect(bad.error).toMatch(/NoSuchOp/);
  });
});

describe('--target on mlc compress and mlc inspect', () => {
  it('compress --quantize int8 --target webgpu writes uint8 weight-only (0 fallbacks); inspect fails a dynamic int8 model (exit 1)', async () => {
    const d = tempDir();
    try {
      const src = join(d, 'enc.onnx');
      await saveModel(buildEncoder({ hidden: 32, heads: 2, ffn: 64, layers: 1, seq: 8, vocab: 50, attentionMask: true, tokenTypes: 2, dynamicSequence: true, seed: 5 }), src);
      const r = mlc(['compress', src, '--quantize', 'int8', '--target', 'webgpu', '-o', join(d, 'gpu.onnx'), '--no-latency', '--json']);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toMatch(/--target webgpu: int8 dynamic → uint8 weight-only/);
      const doc = JSON.parse(r.stdout);
      expect(doc.target).toMatchObject({ target: 'webgpu', passed: true, fallbacks: [], copies: 0 });
      const ops = (await loadModel(join(d, 'gpu.onnx'))).graph.nodes.map((n) => n.opType);
      expect(ops).toContain('DequantizeLinear');
      expect(ops).not.toContain('DynamicQuantizeMatMul');

      expect(mlc(['compress', src, '--quantize', 'int8', '-o', join(d, 'dyn.onnx'), '--no-latency', '-q']).code).toBe(0);
      const i = mlc(['inspect', join(d, 'dyn.onnx'), '--target', 'webgpu']);
      expect(i.code).toBe(1);
      expect(i.stdout).toMatch(/target webgpu: FAILED: \d+ nodes fall back to the CPU \(.*DynamicQuantizeMatMul.*\), \d+ CPU↔GPU copies per run/);
      // a failed target after compress: the model is written, exit 1
      const g = mlc(['compress', join(d, 'dyn.onnx'), '-o', join(d, 'copy.onnx'), '--no-latency', '--target', 'webgpu']);
      expect(g.code).toBe(1);
      expect(g.stderr).toMatch(/target webgpu: FAILED/);
      expect(readdirSync(d).sort()).toEqual(['copy.onnx', 'dyn.onnx', 'enc.onnx', 'gpu.onnx']);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });
});

describe.skipIf(!hasChromium())('the op coverage data against onnxruntime-web webgpu itself', () => {
  it('on the encoder in every quantize format: the data finds exactly the nodes that leave WebGPU for want of a kernel', async () => {
    const base = buildEncoder({ hidden: 32, heads: 2, ffn: 64, layers: 1, seq: 8, vocab: 50, attentionMask: true, tokenTypes: 2, dynamicSequence: true, seed: 5 });
    const d = tempDir();
    try {
      const src = join(d, 'enc.onnx');
      await saveModel(base, src);
      const flags: Record<string, string[]> = {
        int8: ['--quantize', 'int8'],
        wo8: ['--quantize', 'int8', '--quantize-mode', 'weight-only'],
        wou8: ['--quantize', 'uint8', '--quantize-mode', 'weight-only'],
        // MatMulNBits (the WebGPU format) whatever this CPU's --int4-compute auto picks
        q4: ['--quantize', 'int4', '--int4-compute', 'nbits'],
        fp16: ['--quantize', 'fp16'],
      };
      const models: Model[] = [base];
      for (const [k, f] of Object.entries(flags)) {
        const out = join(d, `${k}.onnx`);
        expect(mlc(['compress', src, ...f, '-o', out, '--no-latency', '-q']).code).toBe(0);
        models.push(await loadModel(out));
      }
      const placed = await webgpuPlacements(models);
      const cpuOf = (i: number) => new Set((placed[i].byProvider.CPUExecutionProvider ?? []).map((n) => n.name));
      // what onnxruntime keeps on the CPU by its own choice in the float model (int64 index math)
      const byChoice = cpuOf(0);
      expect(checkWebgpu(base).fallbacks).toEqual([]);
      for (let i = 1; i < models.length; i++) {
        const predicted = new Set(checkWebgpu(models[i]).fallbacks.map((f) => f.node));
        const actual = cpuOf(i);
        for (const n of predicted) expect(actual.has(n), `${Object.keys(flags)[i - 1]}: ${n}`).toBe(true);
        for (const n of actual) if (!predicted.has(n)) expect(byChoice.has(n), `${Object.keys(flags)[i - 1]}: ${n} on the CPU`).toBe(true);
      }
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });
});
