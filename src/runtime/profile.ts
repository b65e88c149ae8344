/**
 * Per-node time from onnxruntime's profiler: a session created with `enableProfiling` writes a
 * Chrome-trace JSON file when profiling ends; its `Node` events named `<node>_kernel_time` carry
 * each node's duration (µs). The session runs the graph as written (graph optimizations off):
 * onnxruntime's fusions and layout changes (MatMul + Add → Gemm, NCHWc Convs) rename or merge nodes,
 * and the shares are wanted per node of the model. A share is then that of the unoptimized graph.
 * With `optimization: 'all'` the session runs the graph onnxruntime optimized (what a user's
 * session runs); the time by op type (`ops`, the events' `args.op_name`) then says where it goes.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { MlcError } from '../core/errors.js';
import type { Model } from '../ir/model.js';
import { modelToBytes } from '../onnx/index.js';
import { errorMessage, type Feed, type OrtTensorCtor, toOrtTensor } from './feeds.js';
import { ortOptions } from './index.js';

export interface NodeProfile {
  /** mean µs per run, by node name */
  nodes: Map<string, number>;
  /** mean µs per run, by op type (the kernel's op name) */
  ops: Map<string, number>;
  /** mean µs per run over every kernel (named nodes or not) */
  totalUs: number;
}

interface TraceEvent {
  cat?: string;
  name?: string;
  dur?: number;
  args?: { op_name?: string };
}

/** Sum the `_kernel_time` events of a profile by node name and by op type (µs, over every run in the file). */
export function nodeTimes(events: readonly TraceEvent[]): { nodes: Map<string, number>; ops: Map<string, number>; totalUs: number } {
  const nodes = new Map<string, number>();
  const ops = new Map<string, number>();
  let totalUs = 0;
  for (const e of events) {
    if (e.cat !== 'Node' || typeof e.name !== 'string' || !e.name.endsWith('_kernel_time') || typeof e.dur !== 'number') continue;
    const name = e.name.slice(0, -'_kernel_time'.length);
    nodes.set(name, (nodes.get(name) ?? 0) + e.dur);
    const op = e.args?.op_name ?? '?';
    ops.set(op, (ops.get(op) ?? 0) + e.dur);
    totalUs += e.dur;
  }
  return { nodes, ops, totalUs };
}

/**
 * Run `model` `runs` times on `feeds` at 1 thread and return each node's (and op type's) mean time
 * per run (the first, cold run included). `optimization`: onnxruntime's graph optimizations
 * (default 'disabled': the model's own nodes).
 */
export async function profileNodes(
  model: Model,
  feeds: Record<string, Feed>,
  runs = 20,
  opts: { optimization?: 'all' | 'disabled' } = {},
): Promise<NodeProfile> {
  const dir = await mkdtemp(join(tmpdir(), 'mlc-profile-'));
  try {
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(modelToBytes(model), {
        ...ortOptions({ optimization: opts.optimization ?? 'disabled' }),
        enableProfiling: true,
        profileFilePrefix: join(dir, 'profile'),
      });
    } catch (e) {
      throw new MlcError('INPUT', `onnxruntime cannot load the model: ${errorMessage(e)}`, { cause: e });
    }
    try {
      const ortFeeds: Record<string, ort.Tensor> = {};
      for (const [k, f] of Object.entries(feeds)) ortFeeds[k] = toOrtTensor(ort.Tensor as unknown as OrtTensorCtor<ort.Tensor>, k, f);
      for (let i = 0; i < runs; i++) await session.run(ortFeeds);
      session.endProfiling();
    } finally {
      await session.release();
    }
    const file = (await readdir(dir)).find((f) => f.endsWith('.json'));
    if (!file) throw new MlcError('INTERNAL', 'onnxruntime wrote no profile');
    const { nodes, ops, totalUs } = nodeTimes(JSON.parse(await readFile(join(dir, file), 'utf8')) as TraceEvent[]);
    for (const m of [nodes, ops]) for (const [k, v] of m) m.set(k, v / runs);
    return { nodes, ops, totalUs: totalUs / runs };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
