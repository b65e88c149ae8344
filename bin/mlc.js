#!/usr/bin/env node
// mlc command-line entry: runs the compiled CLI (npm install / npm run build produce dist/).
try {
  await import('../dist/cli/main.js');
} catch (err) {
  if (err && err.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes('dist/cli/main.js')) {
    process.stderr.write('mlc: not built yet; run `npm run build` in the mlc folder\n');
    process.exitCode = 3;
  } else {
    throw err;
  }
}
