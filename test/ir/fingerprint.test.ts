import { describe, expect, it } from 'vitest';
import { cloneModel } from '../../src/ir/clone.js';
import { fingerprintModel } from '../../src/ir/fingerprint.js';
import { Graph } from '../../src/ir/graph.js';
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
});
