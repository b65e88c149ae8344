import { describe, expect, it } from 'vitest';
import { ModelBuilder } from '../../src/ir/builder.js';
import { cloneModel } from '../../src/ir/clone.js';
import { fingerprintModel } from '../../src/ir/fingerprint.js';
import { DataType } from '../../src/ir/dtype.js';
import { Graph } from '../../src/ir/graph.js';
import { Tensor } from '../../src/ir/tensor.js';
import { subgraphsOf } from '../../src/ir/node.js';
import { buildControlFlow } from '../../src/models/control.js';
import { buildEncoder } from '../../src/models/encoder.js';
import { decodeModel, modelToBytes } from '../../src/onnx/index.js';

const small = () => buildControlFlow({ features: 4, hidden: 8, classes: 3, seed: 1 });

describe('fingerprintModel', () => {
  it('is the same for a model, its clone and its load(save()) copy, and for the same builder call', () => {
    const m = small();
    const f = fingerprintModel(m);
    expect(f).toMatch(/^[0-9a-f]{64}$/);
    expect(fingerprintModel(cloneModel(m))).toBe(f);
    expect(fingerprintModel(small())).toBe(f);
    expect(fingerprintModel(m)).toBe(f); // reading it changes nothing
    const enc = buildEncoder({ hidden: 8, heads: 2, ffn: 16, layers: 1, seq: 4, vocab: 10, attentionMask: true });
    const again = decodeModel(modelToBytes(enc), 'enc');
    expect(fingerprintModel(decodeModel(modelToBytes(again), 'again'))).toBe(fingerprintModel(again));
  });

  it('changes with any edit, inside subgraphs too', () => {
    const f = fingerprintModel(small());
    const sub = (m: ReturnType<typeof small>): Graph => subgraphsOf(m.graph.nodes.find((n) => n.opType === 'Loop')!)[0];
    const edits: ((m: ReturnType<typeof small>) => void)[] = [
      (m) => void ((m.graph.initializers.get('loop.weight')!.data as Float32Array)[0] += 1e-6),
      (m) => void ((sub(m).initializers.values().next().value!.data as Float32Array)[1] *= -1),
      (m) => void (sub(m).nodes[1].name = 'renamed'),
      (m) => void (m.opsetImports[0].version = 18),
      (m) => void (m.graph.inputs[0].type = undefined),
      (m) => void (m.docString = 'x'),
      (m) => void m.graph.nodes.reverse(),
    ];
    for (const e of edits) {
      const m = small();
      e(m);
      expect(fingerprintModel(m)).not.toBe(f);
    }
  });

  it('large tensors (the fast path): any single changed element, swapped elements, unaligned views', () => {
    const m = small();
    const big = new Float32Array(100_003).map((_, i) => Math.sin(i));
    m.graph.addInitializer(Tensor.float32('big', [big.length], big));
    const f = fingerprintModel(m);
    const data = m.graph.initializers.get('big')!.data as Float32Array;
    for (const i of [0, 1, 2, 3, 4, 50_000, 100_000, 100_002]) {
      const old = data[i];
      data[i] = old + 1e-3;
      expect(fingerprintModel(m)).not.toBe(f);
      data[i] = old;
    }
    [data[10], data[14]] = [data[14], data[10]]; // same lane, swapped
    expect(fingerprintModel(m)).not.toBe(f);
    [data[10], data[14]] = [data[14], data[10]];
    expect(fingerprintModel(m)).toBe(f);
    // a tensor viewing a buffer at an odd offset (zero-copy loads do that)
    const raw = new Uint8Array(70_001 + 3);
    raw.forEach((_, i) => (raw[i] = i * 7));
    const view = raw.subarray(3);
    m.graph.addInitializer(new Tensor('bytes', DataType.UINT8, [view.length], view));
    const g = fingerprintModel(m);
    view[70_000] ^= 1;
    expect(fingerprintModel(m)).not.toBe(g);
  });
});

describe('fingerprintModel with sampleAbove', () => {
  it('hashes large tensors from windows: a change in a window shows, the same model gives the same print, small tensors stay exact', () => {
    const make = () => {
      const b = new ModelBuilder();
      const x = b.input('x', DataType.FLOAT, [1, 512]);
      b.output(b.op('MatMul', [b.op('Add', [x, b.init('bias', [512], new Float32Array(512))]), b.init('w', [512, 512], new Float32Array(512 * 512).map((_, i) => i % 7))]), DataType.FLOAT);
      return b.build();
    };
    const a = make();
    const opts = { sampleAbove: 1 << 16 };
    expect(fingerprintModel(a, opts)).toBe(fingerprintModel(make(), opts));
    const w = a.graph.initializers.get('w')!.data as Float32Array;
    w[0] = 99; // the first window
    expect(fingerprintModel(a, opts)).not.toBe(fingerprintModel(make(), opts));
    const c = make();
    (c.graph.initializers.get('bias')!.data as Float32Array)[3] = 1; // 2 kB: hashed whole
    expect(fingerprintModel(c, opts)).not.toBe(fingerprintModel(make(), opts));
    // the exact print (no sampleAbove) sees any word; the sampled one is a different digest of the same model
    const d = make();
    (d.graph.initializers.get('w')!.data as Float32Array)[1000] = 5;
    expect(fingerprintModel(d)).not.toBe(fingerprintModel(make()));
  });
});
