/**
 * Sharding a fleet run across CI jobs: shard i of n takes the i-th of n contiguous slices of the
 * sorted list (sizes differ by at most one), so every job computes the same split on its own.
 *
 * Where the shard comes from, first found wins:
 * - `--shard i/n` (1-based, as Playwright and Jest spell it; a GitHub Actions matrix passes its
 *   values this way: `--shard ${{ matrix.shard }}/4`);
 * - GitLab `parallel:` jobs: `CI_NODE_INDEX` (1-based) and `CI_NODE_TOTAL`;
 * - Kubernetes indexed Jobs: `JOB_COMPLETION_INDEX` (0-based) with the total from `--shard-total`
 *   or `MLC_SHARD_TOTAL` (the Job's `completions`; Kubernetes does not put it in the pod's env).
 */
import { MlcError } from '../core/errors.js';

export interface Shard {
  /** 1-based */
  index: number;
  total: number;
  /** where it was read from, for messages: '--shard', 'GitLab CI_NODE_INDEX/CI_NODE_TOTAL', … */
  source: string;
}

function int(text: string | undefined, what: string): number {
  const n = Number(text);
  if (text === undefined || text.trim() === '' || !Number.isInteger(n)) throw new MlcError('USAGE', `${what} must be an integer, got "${text}"`);
  return n;
}

function checked(index: number, total: number, source: string): Shard {
  if (total < 1) throw new MlcError('USAGE', `${source}: the shard total must be at least 1, got ${total}`);
  if (index < 1 || index > total) throw new MlcError('USAGE', `${source}: shard ${index} is not in 1..${total}`);
  return { index, total, source };
}

/** `i/n` → {index: i, total: n}; 1 ≤ i ≤ n. */
export function parseShard(text: string, source = '--shard'): Shard {
  const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(text);
  if (!m) throw new MlcError('USAGE', `${source}: expected i/n (e.g. 2/4), got "${text}"`);
  return checked(Number(m[1]), Number(m[2]), source);
}

/**
 * The shard to run: the flag, else the CI engine's environment, else undefined (everything).
 * `total` is `--shard-total` (for Kubernetes indexed Jobs).
 */
export function resolveShard(flag: string | undefined, env: NodeJS.ProcessEnv, total?: number): Shard | undefined {
  if (flag !== undefined) {
    if (total !== undefined) throw new MlcError('USAGE', '--shard-total goes with JOB_COMPLETION_INDEX, not with --shard i/n');
    return parseShard(flag);
  }
  if (env.CI_NODE_INDEX !== undefined && env.CI_NODE_TOTAL !== undefined) {
    const source = 'GitLab CI_NODE_INDEX/CI_NODE_TOTAL';
    return checked(int(env.CI_NODE_INDEX, 'CI_NODE_INDEX'), int(env.CI_NODE_TOTAL, 'CI_NODE_TOTAL'), source);
  }
  if (env.JOB_COMPLETION_INDEX !== undefined) {
    const source = 'Kubernetes JOB_COMPLETION_INDEX';
    const n = total ?? (env.MLC_SHARD_TOTAL !== undefined ? int(env.MLC_SHARD_TOTAL, 'MLC_SHARD_TOTAL') : undefined);
    if (n === undefined) {
      throw new MlcError('USAGE', `${source} is set but not the number of shards: pass --shard-total <n> or set MLC_SHARD_TOTAL (the Job's completions)`);
    }
    return checked(int(env.JOB_COMPLETION_INDEX, 'JOB_COMPLETION_INDEX') + 1, n, source);
  }
  if (total !== undefined) throw new MlcError('USAGE', '--shard-total needs JOB_COMPLETION_INDEX in the environment (a Kubernetes indexed Job)');
  return undefined;
}

/** The shard's slice of `items` (already sorted): contiguous, sizes differing by at most one. */
export function takeShard<T>(items: readonly T[], shard: Shard | undefined): T[] {
  if (!shard) return [...items];
  const from = Math.floor(((shard.index - 1) * items.length) / shard.total);
  const to = Math.floor((shard.index * items.length) / shard.total);
  return items.slice(from, to);
}
