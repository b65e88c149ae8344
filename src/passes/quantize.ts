/**
 * quantize: store weights (and, in the int8 modes, compute) in fewer bits.
 *
 * Types and modes (the rewrites are described in src/passes/quantize/*.ts)
 * - int8 / uint8, mode dynamic (default): MatMul / Gemm → DynamicQuantizeMatMul (or the standard
 *   DynamicQuantizeLinear + MatMulInteger form); Conv and Gather tables weight-only.
 * - int8 / uint8, mode static: QDQ around Conv / MatMul / Gemm with calibrated activation ranges.
 * - int8 / uint8, mode weight-only: 8-bit weights behind DequantizeLinear; compute stays float.
 * - fp16: float32 constants stored as float16 with a Cast back to float32.
 * - int4: MatMul / Gemm weights block-wise 4-bit in com.microsoft MatMulNBits (accuracy level 4:
 *   int8 compute), embedding tables in GatherBlockQuantized.
 *
 * Always: biases, norms and tensors below minElements stay float; nodes inside subgraphs, excluded
 * nodes and nodes the mode cannot handle are left as they are and listed in `skipped` with the
 * reason. Numerics follow r = s·(q − z) (src/math/quant.ts).
 */
import type { Model } from '../ir/model.js';
import type { Pass, PassContext, PassResult } from './pass.js';
import { definePass, optionSchema, parseWithSchema } from './options.js';
import { QuantState, type CalibrationMethod, type DynamicForm, type QuantizeOptions } from './quantize/common.js';
import { INT8_TARGET, runDynamicTarget } from './quantize/dynamic-target.js';
import { runFp16 } from './quantize/fp16.js';
import { INT4_PROBE_MAX_BYTES, INT4_TARGET_MAX_BYTES, runInt4 } from './quantize/int4.js';
import { quantizeSubgraphs } from './quantize/subgraphs.js';
import { INT4_TARGET } from './quantize/int4-mixed.js';
import { int4ToInt8Compute } from './quantize/int4-int8.js';
import { runStatic } from './quantize/static.js';
import { runWeightOnly } from './quantize/weight-only.js';
import { OP_QUANTIZERS } from './quantize/ops.js';
import { recurrentSkips } from './recurrent.js';

export type { QuantizeOptions, CalibrationMethod, DynamicForm };

/** An int8 / uint8 quantization mode: how the graph is rewritten (in its own file under quantize/). */
interface ModeDef {
  run: (st: QuantState) => void | Promise<void>;
  help: string;
  /** added to the type's suffix in the default output name (the default mode adds nothing: `_int8`) */
  suffix: string;
  /** extra statistics the mode reports */
  stats?: (o: QuantizeOptions) => Record<string, string>;
}

/**
 * The int8 / uint8 modes. A new mode is one row here and its file under src/passes/quantize/, which
 * holds its rewrite and its `OpRewrites` table (which op types it handles, and how).
 */
export const MODES = {
  dynamic: { run: runDynamicTarget, suffix: '', help: 'MatMul / Gemm → DynamicQuantizeMatMul (or DynamicQuantizeLinear + MatMulInteger); Conv and Gather weight-only' },
  static: { run: runStatic, suffix: '_static', help: 'QDQ around Conv / MatMul / Gemm with calibrated activation ranges (needs --calibration-data)', stats: (o) => ({ calibration: o.calibrationMethod }) },
  'weight-only': { run: runWeightOnly, suffix: '_weight_only', help: '8-bit weights behind DequantizeLinear; compute stays float' },
} satisfies Record<string, ModeDef>;
export type QuantizeMode = keyof typeof MODES;

/** What a type stores: int8 / uint8 run one of MODES; fp16 and int4 are weight formats with their own rewrite. */
interface TypeDef {
  suffix: string;
  /** the rewrite of a weight format (no mode) */
  run?: (st: QuantState) => void | Promise<void>;
}

/** The types, by --quantize value. */
export const TYPES = {
  int8: { suffix: '_int8' },
  uint8: { suffix: '_uint8' },
  fp16: { suffix: '_fp16', run: runFp16 },
  int4: { suffix: '_q4', run: runInt4 },
} satisfies Record<string, TypeDef>;
export type QuantizeType = keyof typeof TYPES;

const typeDef = (t: QuantizeType): TypeDef => TYPES[t];
const modeDef = (m: QuantizeMode): ModeDef => MODES[m];
const TYPE_NAMES = Object.keys(TYPES) as QuantizeType[];
const MODE_NAMES = Object.keys(MODES) as QuantizeMode[];

/** The quantize options, declared once: parsing, flags, `mlc passes` and the recipe JSON Schema derive from it. */
export const QUANTIZE_SCHEMA = optionSchema<QuantizeOptions>()({
  pass: 'quantize',
  options: [
    { key: 'type', type: 'enum', choices: TYPE_NAMES, default: 'int8', flag: '--quantize <type>', help: 'what the weights become: int8, uint8, fp16 or int4' },
    { key: 'mode', type: 'enum', choices: MODE_NAMES, flag: '--quantize-mode <mode>', help: `int8 / uint8 mode (default dynamic): ${MODE_NAMES.map((m) => `${m}: ${MODES[m].help}`).join('; ')}` },
    { key: 'calibrationMethod', type: 'enum', choices: ['minmax', 'percentile', 'entropy'], default: 'minmax', flag: '--calibration-method <method>', help: 'static calibration: minmax, percentile or entropy' },
    { key: 'percentile', type: 'number', min: 50, max: 100, exclusiveMin: true, default: 99.99, help: 'kept percentile for the percentile method' },
    { key: 'perChannel', type: 'boolean', default: true, flag: '--per-channel', negatable: 'one scale per weight tensor', help: 'per-channel weight scales' },
    { key: 'opTypes', type: 'list', flag: '--op-types <list>', help: 'comma-separated op types to quantize (default: MatMul, Gemm, Conv, Gather as the mode supports)' },
    { key: 'exclude', type: 'list', default: [], flag: '--exclude <names...>', sharedFlag: true, help: 'node or weight names / globs to leave alone' },
    { key: 'blockSize', type: 'integer', min: 16, default: 32, check: (n) => ((n & (n - 1)) === 0 ? undefined : 'a power of two ≥ 16'), flag: '--int4-block-size <n>', help: 'int4 block size along K, a power of two ≥ 16' },
    { key: 'int4Scales', type: 'enum', choices: ['rtn', 'search'], default: 'rtn', flag: '--int4-scales <how>', help: 'int4 block scales: rtn (default; the block extreme, as onnxruntime and transformers.js write them) or search (per block the scale and zero point of least squared error, zero points written; about 10x the quantization time)' },
    { key: 'int4Target', type: 'number', min: 0, max: 1, flag: '--int4-target <cosine>', help: `int4: keep at 8 bits (MatMulNBits / GatherBlockQuantized bits 8) the MatMuls and embedding tables whose 4-bit error costs the most, until the output cosine on a probe (2 samples of --calibration-data, else made-up inputs) to the float model reaches this (0: every MatMul at 4 bits, no model run; default ${INT4_TARGET} for models of up to ${INT4_TARGET_MAX_BYTES / 1e6} MB of float weights, 0 above; above ${INT4_PROBE_MAX_BYTES / 1e6} MB it compares with the model in 8-bit blocks)` },
    { key: 'int8Target', type: 'number', min: 0, max: 1, flag: '--int8-target <cosine>', help: `dynamic int8 / uint8: leave float the MatMuls whose 8-bit weights and activations cost the most, until the output cosine on a probe (2 samples of --calibration-data, else made-up inputs) to the float model reaches this (default 0: every MatMul 8-bit, no model run; mlc variants uses ${INT8_TARGET})` },
    { key: 'int4ProbeMaxBytes', type: 'integer', min: 0, help: `int4: float weight bytes above which the target compares with the model in 8-bit blocks instead of the float model, on one session of a model that switches each weight between 4 and 8 bits (default ${INT4_PROBE_MAX_BYTES / 1e6} MB)` },
    { key: 'int4TargetMaxBytes', type: 'integer', min: 0, help: `int4: float weight bytes above which the target is off unless --int4-target is given (default ${INT4_TARGET_MAX_BYTES / 1e6} MB)` },
    { key: 'int4Asymmetric', type: 'boolean', default: false, help: 'int4 rtn with zero points (else symmetric)' },
    { key: 'accuracyLevel', type: 'integer', min: 0, max: 4, flag: '--int4-accuracy-level <n>', help: 'int4: MatMulNBits accuracy_level, 4 lets onnxruntime compute in int8, 0 dequantizes to float32 (default 4; with --int4-compute auto, 0 on x86 CPUs without VNNI, where it measured faster)' },
    { key: 'int4Compute', type: 'enum', choices: ['auto', 'nbits', 'int8'], default: 'nbits', flag: '--int4-compute <how>', help: 'int4 compute path: nbits (default: MatMulNBits, the same file on every machine), int8 (the 4-bit weights requantized to int8 when the session starts, DynamicQuantizeMatMul; same file size; 0.57x fp32 on x86 without VNNI where nbits is 1.1x) or auto (chosen by the CPU of the machine running mlc: int8 on x86 without VNNI, else nbits)' },
    { key: 'minElements', type: 'integer', min: 1, default: 128, help: 'weights with fewer elements stay float' },
    { key: 'dynamicForm', type: 'enum', choices: ['contrib', 'standard'], default: 'contrib', help: 'contrib (DynamicQuantizeMatMul) | standard (DynamicQuantizeLinear + MatMulInteger)' },
    { key: 'calibrationSamples', type: 'integer', min: 1, default: 1000, help: 'calibration samples used at most' },
    { key: 'calibrationBatch', type: 'integer', min: 1, default: 64, help: 'calibration batch size' },
    { key: 'reduceRange', type: 'boolean', default: false, flag: '--reduce-range', help: '7-bit int8 weights (dynamic / static): exact on x86 CPUs without VNNI, whose int8 kernels saturate' },
    {
      key: 'pairSafe',
      type: 'boolean',
      default: true,
      flag: '--pair-safe',
      negatable: 'int8 weights scaled to the full [-127, 127] (their products can saturate on x86 CPUs without VNNI)',
      help: 'int8 weights (dynamic and static MatMul / Gemm / Conv) scaled so that no two weights onnxruntime pairs along K add up past 128 codes: the uint8 × int8 product is exact on x86 CPUs without VNNI too (whose kernels add such pairs in 16 bits and saturate), at about half a bit of weight precision (--reduce-range: a whole bit)',
    },
  ],
  finish(v, fail) {
    const type = v.type as QuantizeType;
    const format = typeDef(type).run !== undefined;
    if (format && v.mode !== undefined && v.mode !== 'weight-only') fail('mode', `${JSON.stringify(v.mode)} does not apply to ${type} (a weight-only format)`);
    const opTypes = v.opTypes as string[] | undefined;
    if (opTypes && !opTypes.length) fail('opTypes', 'is empty');
    if (opTypes && type !== 'fp16') {
      // fp16 filters constants by the op types reading them (any op type); the others pick nodes
      const known = Object.keys(OP_QUANTIZERS);
      const bad = opTypes.filter((t) => !known.includes(t));
      if (bad.length) fail('opTypes', `lists ${bad.join(', ')}, which cannot be quantized (quantizable: ${known.join(', ')})`);
    }
    return {
      type,
      mode: format ? 'weight-only' : ((v.mode as QuantizeMode | undefined) ?? 'dynamic'),
      calibrationMethod: v.calibrationMethod as CalibrationMethod,
      percentile: v.percentile as number,
      perChannel: v.perChannel as boolean,
      opTypes,
      exclude: v.exclude as string[],
      blockSize: v.blockSize as number,
      int4Scales: v.int4Scales as 'search' | 'rtn',
      int4Target: v.int4Target as number | undefined,
      int8Target: v.int8Target as number | undefined,
      int4ProbeMaxBytes: v.int4ProbeMaxBytes as number | undefined,
      int4TargetMaxBytes: v.int4TargetMaxBytes as number | undefined,
      int4Asymmetric: v.int4Asymmetric as boolean,
      accuracyLevel: v.accuracyLevel as number | undefined,
      int4Compute: v.int4Compute as 'auto' | 'nbits' | 'int8',
      minElements: v.minElements as number,
      dynamicForm: v.dynamicForm as DynamicForm,
      calibrationSamples: v.calibrationSamples as number,
      calibrationBatch: v.calibrationBatch as number,
      reduceRange: v.reduceRange as boolean,
      pairSafe: v.pairSafe as boolean,
    };
  },
  cli: {
    triggers: ['quantize', 'quantizeMode'],
    /** `_int8` (dynamic), `_int8_static`, `_int8_weight_only`, `_uint8…`, `_fp16`, `_q4` */
    outputSuffix(options) {
      const o = parseQuantizeOptions(options);
      const t = typeDef(o.type);
      return t.suffix + (t.run ? '' : modeDef(o.mode).suffix);
    },
  },
});

export function parseQuantizeOptions(raw: unknown): QuantizeOptions {
  return parseWithSchema(QUANTIZE_SCHEMA, raw);
}

/**
 * int4's CPU-dependent choices (only with int4Compute 'auto': by default the written file does not
 * depend on the machine that ran mlc, whose CPU may not be the one that serves the model, and a
 * recipe re-runs to the same bytes anywhere), resolved from ctx.cpu (src/runtime/cpu.ts via the caller). On x86
 * without VNNI (AMD EPYC AVX2, measured with benchmarks/fastq.bench.mjs) MatMulNBits ran at
 * 1.0× fp32 with accuracy level 0 and 1.15× with level 4, the int8 path at 0.56×: auto picks int8
 * compute there and level 0 for a forced nbits. Elsewhere (VNNI, ARM dot products, or unknown)
 * MatMulNBits with level 4, onnxruntime's documented fast path.
 */
function int4Choices(options: QuantizeOptions, ctx: PassContext): { compute: 'nbits' | 'int8'; accuracyLevel: number } {
  const slow = ctx.cpu?.int8Saturates === true;
  const compute = options.int4Compute === 'auto' ? (slow ? 'int8' : 'nbits') : options.int4Compute;
  return { compute, accuracyLevel: options.accuracyLevel ?? (slow && options.int4Compute === 'auto' ? 0 : 4) };
}

async function runQuantize(model: Model, options: QuantizeOptions, ctx: PassContext): Promise<PassResult> {
  const int4 = options.type === 'int4' ? int4Choices(options, ctx) : undefined;
  const st = new QuantState(model, int4 ? { ...options, accuracyLevel: int4.accuracyLevel } : options, ctx);
  const format = typeDef(options.type).run;
  const before = new Set(model.graph.nodes);
  const run = format ?? modeDef(options.mode).run;
  await run(st);
  // subgraphs (If / Loop / Scan bodies) the same way, except static QDQ (it records skips there)
  // and fp16 (which stores every float constant, subgraphs included); int4's probe runs once, on
  // the main graph's choice: subgraphs get plain 4-bit
  if (options.type !== 'fp16' && (format || options.mode !== 'static')) await quantizeSubgraphs(st, run, { ...st.opts, int4Target: 0, int8Target: 0 });
  if (int4?.compute === 'int8') int4ToInt8Compute(st, ctx.cpu?.int8Saturates === true, before);
  // (fp16 stores every float constant, these included)
  if (options.type !== 'fp16') for (const k of recurrentSkips(model, 'quantized')) st.skip(k.node, k.reason);

  const g = model.graph;
  if (st.modified) {
    st.syncLegacyInputs();
    g.topoSort();
    const defined = g.definedNames();
    g.valueInfo = g.valueInfo.filter((v) => defined.has(v.name));
  }
  const quantized = Object.entries(st.counts)
    .filter(([k]) => /^[A-Z]/.test(k))
    .reduce((s, [, v]) => s + v, 0);
  const stats: Record<string, number | string> = {
    type: options.type,
    mode: options.mode,
    quantized: options.type === 'fp16' ? (st.counts.initializers ?? 0) + (st.counts.constants ?? 0) : quantized,
    ...st.counts,
    weightBytesBefore: st.bytesBefore,
    weightBytesAfter: st.bytesAfter,
  };
  if (st.bytesBefore > 0) stats.weightRatio = Math.round((st.bytesAfter / st.bytesBefore) * 10000) / 10000;
  if (!typeDef(options.type).run) Object.assign(stats, modeDef(options.mode).stats?.(options));
  if (int4) {
    stats.int4Compute = int4.compute;
    if (int4.compute === 'nbits') stats.int4AccuracyLevel = int4.accuracyLevel;
  }
  if (options.reduceRange && (options.mode === 'dynamic' || options.mode === 'static') && (options.type === 'int8' || options.type === 'uint8')) {
    stats.reduceRange = 'true';
  }
  return { modified: st.modified, stats, skipped: st.skipped, details: st.details.length ? st.details : undefined };
}

export const quantizePass: Pass<QuantizeOptions> = definePass(QUANTIZE_SCHEMA, {
  describe: 'int8/uint8 (dynamic, static QDQ with calibration, weight-only), fp16 and int4 (MatMulNBits) quantization',
  run: runQuantize,
});

export default quantizePass;
