/**
 * A pool of worker processes (`child_process.fork`), one task per worker at a time.
 *
 * Processes rather than threads: each model is loaded by one worker only, so memory is bounded by
 * `jobs` models at once, and a native crash (onnxruntime, tfjs) takes down one worker, not the
 * run: its task is reported as crashed and a fresh worker takes the next task. A worker whose
 * resident memory has grown past `recycleRssBytes` after a task is replaced as well.
 *
 * Protocol (IPC messages): the pool sends `{type: 'task', id, payload}`; the worker answers
 * `{type: 'done', id, result, rss, maxRss}`. `serveTasks` is the worker's side.
 */
import { fork, type ChildProcess } from 'node:child_process';

export interface PoolOptions<P, R> {
  /** number of worker processes (at most the number of tasks) */
  jobs: number;
  /** the worker module (a .js file that calls `serveTasks`) */
  worker: string;
  /** environment of the workers (default: the parent's) */
  env?: NodeJS.ProcessEnv;
  /** Node's flags for the workers (default: the parent's, `process.execArgv`) */
  execArgv?: string[];
  /** replace a worker whose RSS is above this after a task (default: never) */
  recycleRssBytes?: number;
  /** the result of a task whose worker died: `how` is the exit code or the signal */
  crashed(payload: P, how: string): R;
  onStart?(index: number, payload: P, worker: number): void;
  onDone?(index: number, payload: P, result: R, worker: number): void;
}

export interface WorkerStats {
  /** worker slot (1-based; a replaced worker keeps its slot) */
  worker: number;
  tasks: number;
  /** the largest peak RSS of the slot's processes, bytes */
  peakRssBytes: number;
  /** processes started in this slot (more than one after a crash or a recycle) */
  processes: number;
  /** CPU time (user + system) of the slot's processes up to their last finished task, ms */
  cpuMs: number;
}

interface DoneMessage<R> {
  type: 'done';
  id: number;
  result: R;
  rss: number;
  maxRss: number;
  /** the process's CPU time so far, ms */
  cpuMs: number;
}

/** Run every payload through the workers; results in the order of the payloads. */
export async function runPool<P, R>(payloads: readonly P[], opts: PoolOptions<P, R>): Promise<{ results: R[]; workers: WorkerStats[] }> {
  const results: R[] = new Array(payloads.length);
  if (payloads.length === 0) return { results, workers: [] };
  const jobs = Math.max(1, Math.min(opts.jobs, payloads.length));
  const stats: WorkerStats[] = Array.from({ length: jobs }, (_, i) => ({ worker: i + 1, tasks: 0, peakRssBytes: 0, processes: 0, cpuMs: 0 }));
  let next = 0;

  const slot = (s: WorkerStats): Promise<void> =>
    new Promise((resolveSlot) => {
      let child: ChildProcess | undefined;
      let current = -1;
      let cpuBefore = 0; // CPU time of the slot's earlier processes
      const start = () => {
        cpuBefore = s.cpuMs;
        s.processes++;
        const c = fork(opts.worker, [], { env: opts.env ?? process.env, execArgv: opts.execArgv ?? process.execArgv, stdio: ['ignore', 2, 2, 'ipc'] });
        child = c;
        c.on('message', (m: DoneMessage<R>) => {
          if (m?.type !== 'done' || m.id !== current) return;
          const i = current;
          current = -1;
          s.tasks++;
          s.peakRssBytes = Math.max(s.peakRssBytes, m.maxRss);
          s.cpuMs = cpuBefore + Math.round(m.cpuMs);
          results[i] = m.result;
          opts.onDone?.(i, payloads[i], m.result, s.worker);
          if (opts.recycleRssBytes !== undefined && m.rss > opts.recycleRssBytes && next < payloads.length) {
            child = undefined;
            c.removeAllListeners('exit');
            c.disconnect();
            start();
          }
          feed();
        });
        c.on('exit', (code, signal) => {
          if (child !== c) return;
          child = undefined;
          if (current >= 0) {
            const i = current;
            current = -1;
            s.tasks++;
            results[i] = opts.crashed(payloads[i], signal ?? `exit code ${code}`);
            opts.onDone?.(i, payloads[i], results[i], s.worker);
          }
          if (next < payloads.length) {
            start();
            feed();
          } else resolveSlot();
        });
      };
      const feed = () => {
        if (!child) return;
        if (next >= payloads.length) {
          const c = child;
          child = undefined;
          c.once('exit', () => resolveSlot());
          c.disconnect();
          return;
        }
        current = next++;
        opts.onStart?.(current, payloads[current], s.worker);
        child.send({ type: 'task', id: current, payload: payloads[current] });
      };
      start();
      feed();
    });

  await Promise.all(stats.map(slot));
  return { results, workers: stats };
}

/**
 * The worker's side: run `handler` on each task the pool sends, one at a time, and exit when the
 * pool disconnects. A handler that throws crashes the worker (the pool reports the task).
 */
export function serveTasks<P, R>(handler: (payload: P) => Promise<R>): void {
  if (!process.send) throw new Error('serveTasks: not started by runPool (no IPC channel)');
  let queue = Promise.resolve();
  process.on('message', (m: { type?: string; id?: number; payload?: P }) => {
    if (m?.type !== 'task') return;
    queue = queue.then(async () => {
      const result = await handler(m.payload as P);
      const usage = process.resourceUsage();
      const cpuMs = (usage.userCPUTime + usage.systemCPUTime) / 1000;
      process.send!({ type: 'done', id: m.id, result, rss: process.memoryUsage.rss(), maxRss: usage.maxRSS * 1024, cpuMs });
    });
  });
  process.on('disconnect', () => {
    void queue.finally(() => process.exit(0));
  });
}
