import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { runPool } from '../../src/fleet/pool.js';
import { ROOT, ensureBuilt, tempDir } from '../cli/helpers.js';

let worker: string;

beforeAll(() => {
  ensureBuilt();
  worker = join(tempDir('mlc-pool-'), 'worker.mjs');
  // a task is {ms, crash?, alloc?}: waits, optionally dies (as a native crash would), answers its pid
  writeFileSync(
    worker,
    `import { serveTasks } from ${JSON.stringify(pathToFileURL(join(ROOT, 'dist/fleet/pool.js')).href)};
serveTasks(async (t) => {
  if (t.crash) process.kill(process.pid, 'SIGKILL');
  const keep = t.alloc ? Buffer.alloc(t.alloc, 1) : null;
  await new Promise((r) => setTimeout(r, t.ms));
  return { pid: process.pid, n: t.n, kept: keep ? keep.length : 0, execArgv: process.execArgv, uv: process.env.UV_THREADPOOL_SIZE };
});`,
  );
});

type Task = { n: number; ms: number; crash?: boolean; alloc?: number };
type Result = { pid: number; n: number; crashed?: string; execArgv?: string[]; uv?: string };

describe('worker pool', () => {
  it('runs every task once, in as many processes as jobs, results in task order', async () => {
    const tasks: Task[] = Array.from({ length: 9 }, (_, n) => ({ n, ms: 30 + ((n * 37) % 50) }));
    const busy = new Set<number>();
    let most = 0;
    const { results, workers } = await runPool<Task, Result>(tasks, {
      jobs: 3,
      worker,
      crashed: (t, how) => ({ pid: 0, n: t.n, crashed: how }),
      onStart: (_i, _t, w) => {
        busy.add(w);
        most = Math.max(most, busy.size);
      },
      onDone: (_i, _t, _r, w) => busy.delete(w),
    });
    expect(results.map((r) => r.n)).toEqual(tasks.map((t) => t.n));
    expect(new Set(results.map((r) => r.pid)).size).toBe(3);
    expect(most).toBe(3);
    expect(workers.map((w) => w.tasks).reduce((a, b) => a + b)).toBe(9);
    for (const w of workers) {
      expect(w.peakRssBytes).toBeGreaterThan(10e6);
      expect(w.cpuMs).toBeGreaterThan(0);
    }
  });

  it('a crashed worker fails its task only; a fresh process takes the next', async () => {
    const tasks: Task[] = [{ n: 0, ms: 5 }, { n: 1, ms: 5, crash: true }, { n: 2, ms: 5 }, { n: 3, ms: 5 }];
    const { results, workers } = await runPool<Task, Result>(tasks, { jobs: 1, worker, crashed: (t, how) => ({ pid: 0, n: t.n, crashed: how }) });
    expect(results.map((r) => r.crashed ?? 'ok')).toEqual(['ok', 'SIGKILL', 'ok', 'ok']);
    expect(results[2].pid).not.toBe(results[0].pid);
    expect(workers[0].processes).toBe(2);
  });

  it('replaces a worker whose memory grew past the limit', async () => {
    const tasks: Task[] = [{ n: 0, ms: 5, alloc: 200e6 }, { n: 1, ms: 5 }];
    const { results, workers } = await runPool<Task, Result>(tasks, { jobs: 1, worker, recycleRssBytes: 150e6, crashed: (t, how) => ({ pid: 0, n: t.n, crashed: how }) });
    expect(results[1].pid).not.toBe(results[0].pid);
    expect(workers[0].processes).toBe(2);
    expect(workers[0].peakRssBytes).toBeGreaterThan(200e6);
  });

  it('starts workers with the flags and environment it is given', async () => {
    const { results } = await runPool<Task, Result>([{ n: 0, ms: 1 }], {
      jobs: 1,
      worker,
      env: { ...process.env, UV_THREADPOOL_SIZE: '1' },
      execArgv: ['--single-threaded'],
      crashed: (t, how) => ({ pid: 0, n: t.n, crashed: how }),
    });
    expect(results[0].execArgv).toEqual(['--single-threaded']);
    expect(results[0].uv).toBe('1');
  });

  it('no tasks, no workers', async () => {
    expect(await runPool([], { jobs: 2, worker, crashed: () => 0 })).toEqual({ results: [], workers: [] });
  });
});
