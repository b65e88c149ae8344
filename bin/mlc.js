#!/usr/bin/env node
// mlc command-line entry. Installed from the package, it runs the bundle (lib/cli.js, built by
// `npm run bundle` at pack time); in a clone (src/ beside lib/), the tsc build (dist/, `npm run build`).
import { existsSync } from 'node:fs';

const clone = existsSync(new URL('../src/cli/main.ts', import.meta.url));
const entry = clone ? '../dist/cli/main.js' : '../lib/cli.js';
try {
  await import(entry);
} catch (err) {
  if (err && err.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes(entry.slice(3))) {
    process.stderr.write(`mlc: not built yet; run \`npm run ${clone ? 'build' : 'bundle'}\` in the mlc folder\n`);
    process.exitCode = 3;
  } else {
    throw err;
  }
}
