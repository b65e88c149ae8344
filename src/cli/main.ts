/** Entry point of the `mlc` binary (bin/mlc.js imports this). */
import { run } from './program.js';

// `mlc inspect big.onnx --json | head`: a closed pipe is not an error worth a stack trace
for (const s of [process.stdout, process.stderr]) {
  s.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
}

process.exitCode = await run(process.argv.slice(2));
