/**
 * `mlc compress model.onnx -o out.onnx` (a plain re-export, no --shape, no --data) on every model of
 * the ONNX project's test suites (libonnx-testdata): it exits 0 for every model onnxruntime-node can
 * load, whatever its inputs (dynamic dims, sequences, strings, values made-up inputs cannot satisfy),
 * and exits 2 with nothing written only for the models onnxruntime rejects.
 *
 * The real CLI runs in-process (`run(argv)` from src/cli/program.ts), with stdout captured, so the
 * exit codes are the ones users get without spawning a thousand node processes. The outputs being
 * bit-identical to the inputs' is test/onnx/roundtrip-testdata.test.ts's job.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import { run } from '../../src/cli/program.js';
import { createSession } from '../../src/runtime/index.js';
import { TESTDATA, haveTestdata, testdataModels } from '../helpers/testdata.js';


async function ortLoads(path: string): Promise<boolean> {
  try {
    await (await createSession(path)).release();
    return true;
  } catch {
    return false;
  }
}

describe.skipIf(!haveTestdata())('plain re-export of every libonnx-testdata model', () => {
  it('exits 0 on every model onnxruntime loads (no --shape, no --data); 2 with nothing written on the others', { timeout: 600_000 }, async () => {
    const models = testdataModels();
    expect(models.length).toBeGreaterThan(500);
    const tmp = mkdtempSync(join(tmpdir(), 'mlc-reexport-'));
    const stdout: string[] = [];
    const stderr: string[] = [];
    const out = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: unknown) => (stdout.push(String(chunk)), true));
    const err = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: unknown) => (stderr.push(String(chunk)), true));
    onTestFinished(() => {
      out.mockRestore();
      err.mockRestore();
      process.exitCode = 0;
      rmSync(tmp, { recursive: true, force: true });
    });
    const failed: string[] = [];
    const notMeasured: string[] = [];
    let ok = 0;
    let measured = 0;
    let refused = 0;
    const t0 = performance.now();
    for (const path of models) {
      const name = path.slice(TESTDATA.length + 1, -'/model.onnx'.length);
      const target = join(tmp, `${name.replace(/\//g, '_')}.onnx`);
      stdout.length = 0;
      stderr.length = 0;
      const code = await run(['compress', path, '-o', target, '--json', '--runs', '1', '--warmup', '0', '--batch-size', '2']);
      process.exitCode = 0;
      const errText = stderr.join('');
      if (code === 0) {
        ok++;
        if (!existsSync(target)) failed.push(`${name}: exit 0 but no output`);
        let doc: { before?: { latencyMs: unknown } } = {};
        try {
          doc = JSON.parse(stdout.join(''));
        } catch {
          failed.push(`${name}: stdout is not one JSON document`);
        }
        if (doc.before?.latencyMs) measured++;
        else notMeasured.push(`${name}: ${errText.trim().split('\n')[0]}`);
        if (/\n\s+at /.test(errText)) failed.push(`${name}: a stack trace on stderr`);
        continue;
      }
      if (code === 2 && /onnxruntime cannot load the input model/.test(errText) && !(await ortLoads(path))) {
        refused++;
        if (existsSync(target)) failed.push(`${name}: exit 2 but an output was written`);
        continue;
      }
      failed.push(`${name}: exit ${code}: ${errText.trim().split('\n')[0]}`);
    }
    const s = ((performance.now() - t0) / 1000).toFixed(0);
    console.log(
      `libonnx-testdata plain re-export: ${models.length} models in ${s} s, ${ok} exit 0 (${measured} with latency measured, the others with one warning), ` +
        `${refused} refused (onnxruntime cannot load them), ${failed.length} failed`,
    );
    if (process.env.MLC_REEXPORT_VERBOSE) console.log(notMeasured.join('\n'));
    expect(failed, failed.slice(0, 20).join('\n')).toEqual([]);
    expect(ok).toBeGreaterThan(models.length / 2);
    expect(measured).toBeGreaterThan(ok / 2);
  });
});
