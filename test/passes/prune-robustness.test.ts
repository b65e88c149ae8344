/**
 * Robustness: every libonnx-testdata model either comes out of each prune pattern as a model
 * onnxruntime-node loads, or is left untouched / skipped cleanly (unloadable inputs are skipped).
 */
import { haveTestdata } from '../helpers/testdata.js';
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { Model } from '../../src/ir/index.js';
import { loadModel } from '../../src/onnx/index.js';
import { parsePruneOptions, runPrune } from '../../src/passes/prune.js';
import { checkModelLoads } from '../../src/runtime/index.js';

function testdataModels(): string[] {
  try {
    return execFileSync('dpkg', ['-L', 'libonnx-testdata'], { encoding: 'utf8' })
      .split('\n')
      .filter((l) => l.endsWith('/model.onnx'));
  } catch {
    return [];
  }
}

const models = testdataModels();

describe.skipIf(!haveTestdata() || models.length === 0)('prune on libonnx-testdata models', () => {
  it(
    'gives a model onnxruntime loads, or a clean skip',
    async () => {
      const counts = { models: models.length, unloadable: 0, modified: 0, ortRejectsOriginal: 0 };
      const failures: string[] = [];
      for (const path of models) {
        let original: Model;
        try {
          original = await loadModel(path);
        } catch {
          counts.unloadable++;
          continue;
        }
        for (const pattern of ['unstructured', 'channel', '2:4']) {
          const m = await loadModel(path);
          let modified: boolean;
          try {
            const r = await runPrune(m, parsePruneOptions({ sparsity: pattern === '2:4' ? undefined : 0.5, pattern, sparseStorage: pattern === 'unstructured' }));
            modified = r.modified;
          } catch (e) {
            failures.push(`${path} [${pattern}]: threw ${(e as Error).message}`);
            continue;
          }
          if (!modified) continue;
          counts.modified++;
          try {
            await checkModelLoads(m);
          } catch (e) {
            // only a regression if ORT loads the original
            try {
              await checkModelLoads(original);
            } catch {
              counts.ortRejectsOriginal++;
              continue;
            }
            failures.push(`${path} [${pattern}]: ${(e as Error).message.split('\n')[0]}`);
          }
        }
      }
      console.log('prune robustness:', JSON.stringify(counts));
      expect(failures).toEqual([]);
      expect(counts.modified).toBeGreaterThan(0);
    },
    240_000,
  );
});
