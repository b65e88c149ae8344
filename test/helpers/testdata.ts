/**
 * The ONNX project's test models (Debian package libonnx-testdata). Suites that need them skip
 * with a one-line notice when the package is absent, so `npm test` passes on a fresh clone;
 * `MLC_REQUIRE_TESTDATA=1` (set by .ci/run) turns the absence into a failure.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

export const TESTDATA = '/usr/share/libonnx-testdata/data';

let noticed = false;

/** Whether the test models are installed; throws when they are required and missing. */
export function haveTestdata(): boolean {
  if (existsSync(TESTDATA)) return true;
  const hint = `libonnx-testdata is not installed (${TESTDATA} missing): apt-get install -y libonnx-testdata`;
  if (process.env.MLC_REQUIRE_TESTDATA === '1') throw new Error(`${hint} (MLC_REQUIRE_TESTDATA=1)`);
  if (!noticed) {
    noticed = true;
    process.stderr.write(`skipping the suites that need ${hint}\n`);
  }
  return false;
}

/** The suites of test models with a `model.onnx` each. */
export const TESTDATA_SUITES = ['node', 'pytorch-converted', 'pytorch-operator', 'simple'];

/** Every `<suite>/<test>/model.onnx` of the test data, sorted within each suite. */
export function testdataModels(): string[] {
  const out: string[] = [];
  for (const s of TESTDATA_SUITES) {
    const dir = join(TESTDATA, s);
    if (!existsSync(dir)) continue;
    for (const d of readdirSync(dir).sort()) {
      const p = join(dir, d, 'model.onnx');
      if (existsSync(p)) out.push(p);
    }
  }
  return out;
}
