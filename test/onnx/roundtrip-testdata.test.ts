/**
 * Round trip on the ONNX project's own test models (Debian package libonnx-testdata):
 * for every model onnxruntime-node can load, load → save with mlc → run both on the folder's
 * test_data_set_0 inputs → the outputs must be bit-identical.
 */
import { TESTDATA, haveTestdata, testdataModels } from '../helpers/testdata.js';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { decodeTensorProto, loadModel, modelToBytes, saveModel } from '../../src/onnx/index.js';
import type { Graph, Model } from '../../src/ir/index.js';
import { subgraphsOf } from '../../src/ir/index.js';
import { Output, Session, createSession, feedFromTensor, Feed } from '../../src/runtime/index.js';

const ROOT = TESTDATA;

function sameBytes(a: Output, b: Output): string | undefined {
  if (a.dtype !== b.dtype) return `dtype ${a.dtype} vs ${b.dtype}`;
  if (a.dims.join(',') !== b.dims.join(',')) return `dims [${a.dims}] vs [${b.dims}]`;
  if (Array.isArray(a.data) || Array.isArray(b.data)) {
    return JSON.stringify(a.data) === JSON.stringify(b.data) ? undefined : 'string values differ';
  }
  const x = a.data as Exclude<Output['data'], string[]>;
  const y = b.data as Exclude<Output['data'], string[]>;
  const bx = Buffer.from(x.buffer, x.byteOffset, x.byteLength);
  const by = Buffer.from(y.buffer, y.byteOffset, y.byteLength);
  return bx.equals(by) ? undefined : 'values differ';
}

function compare(a: Record<string, Output>, b: Record<string, Output>): string | undefined {
  const ka = Object.keys(a).sort().join(',');
  const kb = Object.keys(b).sort().join(',');
  if (ka !== kb) return `outputs ${ka} vs ${kb}`;
  for (const k of Object.keys(a)) {
    const d = sameBytes(a[k], b[k]);
    if (d) return `${k}: ${d}`;
  }
  return undefined;
}

async function runOrUndefined(s: Session, feeds: Record<string, Feed>): Promise<Record<string, Output> | string> {
  try {
    return await s.run(feeds);
  } catch (e) {
    return (e as Error).message;
  }
}

/** Does any graph of the model hold an initializer of at least `bytes` bytes? */
function hasInitializerOf(model: Model, bytes: number): boolean {
  const visit = (g: Graph): boolean =>
    [...g.initializers.values()].some((t) => t.dtype !== 8 && t.byteLength >= bytes) || g.nodes.some((n) => subgraphsOf(n).some(visit));
  return visit(model.graph);
}

describe.skipIf(!haveTestdata())('round trip on libonnx-testdata', () => {
  it('keeps every model ORT can run bit-identical', { timeout: 600_000 }, async () => {
    if (!existsSync(ROOT)) {
      throw new Error(`libonnx-testdata is not installed (${ROOT} missing): apt-get install -y libonnx-testdata`);
    }
    const models = testdataModels();
    expect(models.length, 'libonnx-testdata models found').toBeGreaterThan(500);

    const tmp = mkdtempSync(join(tmpdir(), 'mlc-roundtrip-'));
    onTestFinished(() => rmSync(tmp, { recursive: true, force: true }));
    let withExternal = 0;
    let loaded = 0;
    let roundTripped = 0;
    const skippedLoad: string[] = [];
    const skippedRun: string[] = [];
    const skippedFeeds: string[] = [];
    const nondeterministic: string[] = [];
    const failed: string[] = [];
    const warnings: string[] = [];

    for (const path of models) {
      const name = path.slice(ROOT.length + 1, -'/model.onnx'.length);
      let orig: Session;
      try {
        orig = await createSession(path);
      } catch {
        skippedLoad.push(name);
        continue;
      }
      loaded++;
      const sessions: Session[] = [orig];
      try {
        let bytes: Uint8Array;
        let model;
        try {
          model = await loadModel(path, { warn: (w) => warnings.push(w) });
          bytes = modelToBytes(model);
        } catch (e) {
          failed.push(`${name}: mlc load/save: ${(e as Error).message}`);
          continue;
        }
        // a second load → save gives the same bytes (nothing drifts)
        const again = modelToBytes(await loadModel(bytes));
        if (!Buffer.from(again).equals(Buffer.from(bytes))) {
          failed.push(`${name}: a second load → save changes the bytes`);
          continue;
        }
        let copy: Session;
        try {
          copy = await createSession(bytes);
          sessions.push(copy);
        } catch (e) {
          failed.push(`${name}: ORT rejects the saved model: ${(e as Error).message}`);
          continue;
        }
        // feeds from test_data_set_0: input_K.pb is the K-th graph input that is not an initializer
        const dir = join(path, '..', 'test_data_set_0');
        const inputs = model.graph.realInputs().map((v) => v.name);
        const feeds: Record<string, Feed> = {};
        let feedError: string | undefined;
        if (existsSync(dir)) {
          const files = readdirSync(dir).filter((f) => /^input_\d+\.pb$/.test(f));
          files.sort((a, b) => Number(a.slice(6, -3)) - Number(b.slice(6, -3)));
          for (const f of files) {
            const k = Number(f.slice(6, -3));
            try {
              const t = decodeTensorProto(readFileSync(join(dir, f)));
              const key = t.name && inputs.includes(t.name) ? t.name : inputs[k];
              feeds[key] = feedFromTensor(t);
            } catch (e) {
              feedError = (e as Error).message; // e.g. a SequenceProto input
            }
          }
        }
        if (feedError) {
          // sequence / optional inputs are stored as SequenceProto / OptionalProto, not TensorProto
          skippedFeeds.push(`${name}: ${feedError}`);
          continue;
        }
        const a = await runOrUndefined(orig, feeds);
        if (typeof a === 'string') {
          skippedRun.push(`${name}: ${a.split('\n')[0]}`);
          continue;
        }
        const b = await runOrUndefined(copy, feeds);
        if (typeof b === 'string') {
          failed.push(`${name}: the saved model fails to run: ${b}`);
          continue;
        }
        const diff = compare(a, b);
        if (diff) {
          // random ops (RandomNormal without seed, Dropout in training mode, ...) differ run to run
          const again = await runOrUndefined(orig, feeds);
          if (typeof again !== 'string' && compare(a, again)) {
            nondeterministic.push(name);
            continue;
          }
          failed.push(`${name}: ${diff}`);
          continue;
        }
        // the same through a file with external data (small threshold so that most models use it)
        if (hasInitializerOf(model, 64)) {
          const out = join(tmp, `${name.replace(/\//g, '_')}.onnx`);
          await saveModel(model, out, { externalData: true, externalThreshold: 64 });
          let viaFile: Session;
          try {
            viaFile = await createSession(out);
            sessions.push(viaFile);
          } catch (e) {
            failed.push(`${name}: ORT rejects the model saved with external data: ${(e as Error).message}`);
            continue;
          }
          const c = await runOrUndefined(viaFile, feeds);
          const d = typeof c === 'string' ? c : compare(a, c);
          if (d) {
            failed.push(`${name}: with external data: ${d}`);
            continue;
          }
          withExternal++;
        }
        roundTripped++;
      } finally {
        for (const s of sessions) await s.release();
      }
    }

    console.log(
      `libonnx-testdata round trip: ${models.length} models, ${loaded} loaded by ORT, ` +
        `${roundTripped} bit-identical (${withExternal} of them also via a file with external data), ${skippedLoad.length} skipped (ORT cannot load the original), ` +
        `${skippedRun.length} skipped (ORT cannot run the original on test_data_set_0), ` +
        `${skippedFeeds.length} skipped (test inputs are sequences/optionals, not tensors), ` +
        `${nondeterministic.length} nondeterministic (original differs from itself), ${failed.length} failed`,
    );
    if (process.env.MLC_ROUNDTRIP_VERBOSE) console.log([...skippedLoad, ...skippedRun, ...skippedFeeds, ...nondeterministic, ...warnings].join('\n'));
    if (warnings.length) console.log(`warnings while loading: ${warnings.length}, e.g. ${warnings[0]}`);
    expect(failed, failed.slice(0, 20).join('\n')).toEqual([]);
    expect(loaded).toBeGreaterThan(models.length / 2);
    expect(roundTripped).toBeGreaterThan(loaded / 2);
  });
});
