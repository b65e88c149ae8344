/**
 * The browser runtime: onnxruntime-web's wasm backend in headless Chromium (Debian's chromium;
 * .ci/run installs it). One browser for the whole file: the sessions share it.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cloneModel } from '../../src/ir/clone.js';
import { cosine } from '../../src/math/stats.js';
import { buildEncoder, encoderInputs } from '../../src/models/index.js';
import { loadModel } from '../../src/onnx/index.js';
import { silentLogger, seededRng } from '../../src/passes/pass.js';
import { getPass } from '../../src/passes/registry.js';
import { variantSteps } from '../../src/passes/variants.js';
import { createSession } from '../../src/runtime/index.js';
import { hasChromium } from '../../src/runtime/browser.js';
import { openSession } from '../../src/runtime/runtimes.js';
import { ROOT } from '../cli/helpers.js';

const haveChromium = hasChromium();

function ramp(n: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => ((i * 37) % 101) / 101);
}

describe.skipIf(!haveChromium)('the browser runtime (onnxruntime-web in headless Chromium)', () => {
  it('gives the MNIST fixtures and the BERT-like encoder (fp32, q8, q4, q4f16) the outputs onnxruntime-node gives, and times runs in the page', async () => {
    const models = await Promise.all(['mnist-mlp.onnx', 'mnist-cnn.onnx'].map((f) => loadModel(join(ROOT, 'fixtures', f))));
    const feeds = { input: { dtype: 'float', dims: [4, 784], data: ramp(4 * 784) } };
    // both browser sessions open together: one Chromium serves them
    const sessions = await Promise.all(models.map((m) => openSession('browser', m)));
    try {
      for (let i = 0; i < models.length; i++) {
        const node = await createSession(models[i]);
        const a = (await node.run(feeds)).logits;
        await node.release();
        const b = (await sessions[i].run(feeds)).logits;
        expect(b.dims).toEqual([4, 10]);
        const d = Math.max(...Array.from(a.data as Float32Array, (x, k) => Math.abs(x - (b.data as Float32Array)[k])));
        expect(d).toBeLessThan(1e-4);
        const only = await sessions[i].run(feeds, ['logits']);
        expect(Object.keys(only)).toEqual(['logits']);
        const ms = await sessions[i].time!(feeds);
        expect(ms).toBeGreaterThan(0);
        expect(ms).toBeLessThan(5000);
      }
      await expect(sessions[0].run({ input: { dtype: 'float', dims: [1, 5], data: ramp(5) } })).rejects.toThrow(
        /^onnxruntime-web \(browser\) failed to run the model in Chromium: .*input/,
      );

      // the BERT-like encoder (int64 token ids, mask, token types) and its transformers.js variants
      const opts = { hidden: 32, heads: 2, ffn: 64, layers: 2, seq: 16, vocab: 100, attentionMask: true, tokenTypes: 2, dynamicSequence: true, seed: 7 };
      const enc = buildEncoder(opts);
      const feedsE = encoderInputs(opts, 2, 3, 16);
      for (const dtype of ['fp32', 'q8', 'q4', 'q4f16'] as const) {
        const m = cloneModel(enc);
        for (const st of variantSteps(dtype, false)) {
          const pass = getPass(st.pass);
          await pass.run(m, pass.parseOptions(st.options), { log: silentLogger, rng: seededRng(1) } as never);
        }
        const node = await createSession(m);
        const a = (await node.run(feedsE)).output;
        await node.release();
        const s = await openSession('browser', m);
        sessions.push(s);
        const b = (await s.run(feedsE)).output;
        expect(b.dims).toEqual(a.dims);
        if (dtype === 'fp32') {
          const d = Math.max(...Array.from(a.data as Float32Array, (x, k) => Math.abs(x - (b.data as Float32Array)[k])));
          expect(d).toBeLessThan(1e-4);
        } else {
          // integer kernels differ (onnxruntime-node's u8·s8 ones saturate on x86-64 without VNNI; wasm's do not)
          expect(cosine(a.data as Float32Array, b.data as Float32Array), dtype).toBeGreaterThan(0.999);
        }
      }
    } finally {
      for (const s of sessions) await s.release();
    }
  });
});
