/**
 * Target checks: will a model run where it ships, and at what cost?
 *
 * - `webgpu`: every node is looked up in onnxruntime-web's WebGPU op coverage
 *   (src/runtime/webgpu-ops.ts, kept as data with the onnxruntime-web version it describes). A node
 *   with no WebGPU kernel — an op or opset the provider lacks, or int8 data through an op that has
 *   no int8 kernel — falls back to the CPU; every value that crosses between a CPU node and a GPU
 *   node is one CPU↔GPU copy per run (onnxruntime inserts a MemcpyFromHost / MemcpyToHost node
 *   for each value and direction). onnxruntime also keeps int64 index arithmetic (Shape → Gather →
 *   Unsqueeze chains) on the CPU by its own choice; that is no missing kernel and is not counted.
 * - `wasm` and `node`: the model is loaded into that runtime (onnxruntime-web's wasm backend in
 *   this process, or onnxruntime-node): a kernel the build lacks (the wasm build has no signed-weight
 *   ConvInteger, for one) fails the load, and the check fails with onnxruntime's message.
 *
 * A failed check is a failed gate (exit 1), not a surprise in production.
 */
import { MlcError } from '../core/errors.js';
import { DataType } from '../ir/dtype.js';
import type { Graph } from '../ir/graph.js';
import type { Model } from '../ir/model.js';
import { subgraphsOf } from '../ir/node.js';
import { elemTypeOf } from '../ir/types.js';
import { WEBGPU_MS_OPS, WEBGPU_NO_INT8, WEBGPU_ONNX_OPS, WEBGPU_OPS_VERSION } from '../runtime/webgpu-ops.js';

export const TARGETS = ['node', 'wasm', 'webgpu'] as const;
export type TargetName = (typeof TARGETS)[number];

export function parseTarget(v: string): TargetName {
  if (!(TARGETS as readonly string[]).includes(v)) throw new MlcError('USAGE', `--target: unknown target "${v}" (choose from ${TARGETS.join(', ')})`);
  return v as TargetName;
}

export interface Fallback {
  node: string;
  op: string;
  reason: string;
}

export interface TargetCheck {
  target: TargetName;
  /** what the check is based on: the runtime and version it loaded the model in, or the op coverage data */
  basis: string;
  /** nodes that leave the target (webgpu: run on the CPU) */
  fallbacks: Fallback[];
  /** CPU↔GPU copies per run the fallbacks imply (webgpu; 0 otherwise) */
  copies: number;
  /** why the model cannot run on the target at all (wasm / node: the load error); null when it can */
  error: string | null;
  passed: boolean;
}

function opsetOf(model: Model, domain: string): number {
  return model.opsetVersion(domain === 'ai.onnx' ? '' : domain) ?? (domain === '' || domain === 'ai.onnx' ? 1 : 1);
}

/** Element types the graph declares or holds: initializers, inputs, outputs, value_info. */
function knownTypes(g: Graph, into = new Map<string, DataType>()): Map<string, DataType> {
  for (const [name, t] of g.initializers) into.set(name, t.dtype);
  for (const v of [...g.inputs, ...g.outputs, ...g.valueInfo]) {
    const et = elemTypeOf(v);
    if (et !== undefined && !into.has(v.name)) into.set(v.name, et);
  }
  return into;
}

/** Why a node has no WebGPU kernel, or null when it has one. */
function webgpuGap(model: Model, op: string, domain: string, inputTypes: (DataType | undefined)[]): string | null {
  const d = domain === 'ai.onnx' ? '' : domain;
  const table = d === '' ? WEBGPU_ONNX_OPS : d === 'com.microsoft' ? WEBGPU_MS_OPS : undefined;
  if (!table) return `no WebGPU kernels in domain ${d}`;
  const range = table[op];
  const opset = opsetOf(model, d);
  if (!range) return `no WebGPU kernel for ${d ? `${d}.` : ''}${op}`;
  if (opset < range[0] || (range[1] !== undefined && opset > range[1])) {
    return `no WebGPU kernel for ${op} at opset ${opset} (has ${range[0]}${range[1] !== undefined ? `–${range[1]}` : '+'})`;
  }
  if (WEBGPU_NO_INT8.has(op) && inputTypes.some((t) => t === DataType.INT8)) return `no int8 WebGPU kernel for ${op}`;
  return null;
}

/** The webgpu check from the op coverage data (no browser needed). */
export function checkWebgpu(model: Model): TargetCheck {
  const fallbacks: Fallback[] = [];
  const onCpu = new Set<string>(); // values produced on the CPU
  const producedOnGpu = new Set<string>();
  const copies = new Set<string>();
  const visit = (g: Graph, types: Map<string, DataType>) => {
    for (const n of g.nodes) {
      const gap = webgpuGap(model, n.opType, n.domain, n.inputs.map((i) => types.get(i)));
      const cpu = gap !== null;
      if (cpu) fallbacks.push({ node: n.name || `${n.opType} (unnamed)`, op: n.opType, reason: gap });
      for (const i of n.inputs) {
        if (!i || g.initializers.has(i)) continue;
        // a value made on one side and read on the other is copied across, once per direction
        if (cpu && producedOnGpu.has(i)) copies.add(`${i}→cpu`);
        if (!cpu && onCpu.has(i)) copies.add(`${i}→gpu`);
      }
      for (const o of n.outputs) if (o) (cpu ? onCpu : producedOnGpu).add(o);
      for (const sg of subgraphsOf(n)) visit(sg, knownTypes(sg, new Map(types)));
    }
  };
  visit(model.graph, knownTypes(model.graph));
  return {
    target: 'webgpu',
    basis: `onnxruntime-web ${WEBGPU_OPS_VERSION} WebGPU op coverage (src/runtime/webgpu-ops.ts)`,
    fallbacks,
    copies: copies.size,
    error: null,
    passed: fallbacks.length === 0,
  };
}

/** Check `model` against a target: webgpu from the op data, wasm / node by loading it there. */
export async function checkTarget(model: Model, target: TargetName): Promise<TargetCheck> {
  if (target === 'webgpu') return checkWebgpu(model);
  const { openSession } = await import('../runtime/runtimes.js');
  let basis = 'onnxruntime-node';
  if (target === 'wasm') {
    const { ortWebVersion } = await import('../runtime/web.js');
    basis = `onnxruntime-web ${(await ortWebVersion()) ?? ''} wasm in Node`.replace('  ', ' ');
  }
  try {
    const s = await openSession(target, model, { optimization: 'basic' });
    await s.release();
    return { target, basis, fallbacks: [], copies: 0, error: null, passed: true };
  } catch (err) {
    if (!(err instanceof MlcError) || err.code !== 'INPUT') throw err;
    return { target, basis, fallbacks: [], copies: 0, error: err.message, passed: false };
  }
}

/** One line per failed check (stderr), or the summary of a passed one. */
export function targetLine(c: TargetCheck): string {
  if (c.error) return `target ${c.target}: FAILED: the model does not load there: ${c.error}`;
  if (c.target !== 'webgpu') return `target ${c.target}: passed (the model loads in ${c.basis})`;
  if (c.passed) return `target webgpu: passed (0 nodes fall back to the CPU, 0 copies; ${c.basis})`;
  const ops = new Map<string, number>();
  for (const f of c.fallbacks) ops.set(f.op, (ops.get(f.op) ?? 0) + 1);
  const list = [...ops].map(([op, k]) => `${k} ${op}`).join(', ');
  return `target webgpu: FAILED: ${c.fallbacks.length} node${c.fallbacks.length === 1 ? '' : 's'} fall back to the CPU (${list}), ${c.copies} CPU↔GPU cop${c.copies === 1 ? 'y' : 'ies'} per run`;
}
