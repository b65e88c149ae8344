/**
 * A fleet worker process (forked by src/cli/fleet.ts through src/fleet/pool.ts): runs one
 * `mlc compress <model> --json …` at a time, in-process, with stdout and stderr captured, and
 * answers with the exit code and the captured text. The model's whole pipeline is the ordinary CLI
 * one; this file only captures.
 *
 * One core per worker: the gzip and brotli figures run on this thread (`compressInline`; an
 * ordinary `mlc compress` overlaps them with the passes in the thread pool), the pool starts
 * workers with a thread pool of one (`UV_THREADPOOL_SIZE`) and onnxruntime sessions use one
 * intra-op and one inter-op thread unless `--threads` says otherwise (the passes' sessions too:
 * `setDefaultPassThreads(1)`; a lone `mlc compress` gives them one thread per core). So `--jobs N` keeps N cores
 * busy and no more.
 */
import { compressInline } from '../bench/size.js';
import { serveTasks } from '../fleet/pool.js';
import { setDefaultPassThreads } from '../index.js';
import { run } from './program.js';

interface Task {
  argv: string[];
}

compressInline(true);
setDefaultPassThreads(1);

serveTasks(async (task: Task) => {
  const out: string[] = [];
  const err: string[] = [];
  const stdoutWrite = process.stdout.write;
  const stderrWrite = process.stderr.write;
  const capture = (into: string[]) =>
    ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      into.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
      const cb = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
      cb?.();
      return true;
    }) as typeof process.stdout.write;
  process.stdout.write = capture(out);
  process.stderr.write = capture(err);
  let code: number;
  try {
    code = await run(task.argv);
  } finally {
    process.stdout.write = stdoutWrite;
    process.stderr.write = stderrWrite;
    process.exitCode = 0;
  }
  return { code, stdout: out.join(''), stderr: err.join('') };
});
