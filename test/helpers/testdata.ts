/**
 * The ONNX project's test models (Debian package libonnx-testdata). Suites that need them skip
 * with a one-line notice when the package is absent, so `npm test` passes on a fresh clone;
 * `MLC_REQUIRE_TESTDATA=1` (set by .ci/run) turns the absence into a failure.
 */
import { existsSync } from 'node:fs';

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
