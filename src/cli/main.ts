/** Entry point of the `mlc` binary (bin/mlc.js imports this). */
import { run } from './program.js';

process.exitCode = await run(process.argv.slice(2));
