/**
 * quantize: store weights (and, in the int8 modes, compute) in fewer bits.
 *
 * Types and modes (the rewrites are described in src/passes/quantize/*.ts)
 * - int8 / uint8, mode dynamic (default): MatMul / Gemm → DynamicQuantizeMatMul (or the standard
 *   DynamicQuantizeLinear + MatMulInteger form); Conv and Gather tables weight-only.
 * - int8 / uint8, mode static: QDQ around Conv / MatMul / Gemm with calibrated activation ranges.
 * - int8 / uint8, mode weight-only: 8-bit weights behind DequantizeLinear; compute stays float.
 * - fp16: float32 constants stored as float16 with a Cast back to float32.
 * - int4: MatMul / Gemm weights block-wise 4-bit in com.microsoft MatMulNBits.
 *
 * Always: biases, norms and tensors below minElements stay float; nodes inside subgraphs, excluded
 * nodes and nodes the mode cannot handle are left as they are and listed in `skipped` with the
 * reason. Numerics follow r = s·(q − z) (src/math/quant.ts).
 */
import { MlcError } from '../errors.js';
import type { Model } from '../ir/model.js';
import type { Pass, PassContext, PassResult } from './pass.js';
import {
  QuantState,
  type CalibrationMethod,
  type DynamicForm,
  type QuantizeMode,
  type QuantizeOptions,
  type QuantizeType,
} from './quantize/common.js';
import { runDynamic } from './quantize/dynamic.js';
import { runFp16 } from './quantize/fp16.js';
import { runInt4 } from './quantize/int4.js';
import { runStatic } from './quantize/static.js';
import { runWeightOnly } from './quantize/weight-only.js';
import { OP_QUANTIZERS } from './quantize/ops.js';

export type { QuantizeOptions, QuantizeType, QuantizeMode, CalibrationMethod, DynamicForm };

const TYPES: QuantizeType[] = ['int8', 'uint8', 'fp16', 'int4'];
const MODES: QuantizeMode[] = ['dynamic', 'static', 'weight-only'];
const METHODS: CalibrationMethod[] = ['minmax', 'percentile', 'entropy'];
const FORMS: DynamicForm[] = ['contrib', 'standard'];
const SUFFIX: Record<QuantizeType, string> = { int8: '_int8', uint8: '_uint8', fp16: '_fp16', int4: '_q4' };

function usage(msg: string): never {
  throw new MlcError('USAGE', `quantize: ${msg}`);
}

function oneOf<T extends string>(key: string, v: unknown, allowed: readonly T[], dflt: T): T {
  if (v === undefined || v === null) return dflt;
  if (typeof v !== 'string' || !allowed.includes(v as T)) usage(`${key} must be one of ${allowed.join(', ')} (got ${JSON.stringify(v)})`);
  return v as T;
}

function num(key: string, v: unknown, dflt: number, check: (n: number) => boolean, what: string): number {
  if (v === undefined || v === null) return dflt;
  const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isFinite(n) || !check(n)) usage(`${key} must be ${what} (got ${JSON.stringify(v)})`);
  return n;
}

function bool(key: string, v: unknown, dflt: boolean): boolean {
  if (v === undefined || v === null) return dflt;
  if (typeof v === 'boolean') return v;
  if (v === 'true') return true;
  if (v === 'false') return false;
  usage(`${key} must be true or false (got ${JSON.stringify(v)})`);
}

function list(key: string, v: unknown): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  const items = typeof v === 'string' ? v.split(',') : Array.isArray(v) ? v.flatMap((x) => (typeof x === 'string' ? x.split(',') : [x])) : undefined;
  if (!items || items.some((x) => typeof x !== 'string')) usage(`${key} must be a list of names`);
  return (items as string[]).map((x) => x.trim()).filter(Boolean);
}

export function parseQuantizeOptions(raw: unknown): QuantizeOptions {
  if (raw === undefined || raw === null) raw = {};
  if (typeof raw !== 'object' || Array.isArray(raw)) usage('options must be an object');
  const r = raw as Record<string, unknown>;
  const known = new Set([
    'type', 'mode', 'calibrationMethod', 'percentile', 'perChannel', 'opTypes', 'exclude', 'blockSize',
    'int4Asymmetric', 'accuracyLevel', 'minElements', 'dynamicForm', 'calibrationSamples', 'calibrationBatch',
    'reduceRange',
  ]);
  for (const k of Object.keys(r)) if (!known.has(k)) usage(`unknown option "${k}" (known: ${[...known].join(', ')})`);
  const type = oneOf('type', r.type, TYPES, 'int8');
  if ((type === 'fp16' || type === 'int4') && r.mode !== undefined && r.mode !== 'weight-only') {
    usage(`mode ${JSON.stringify(r.mode)} does not apply to ${type} (a weight-only format)`);
  }
  const mode = type === 'fp16' || type === 'int4' ? 'weight-only' : oneOf('mode', r.mode, MODES, 'dynamic');
  const opTypes = list('opTypes', r.opTypes);
  if (opTypes && !opTypes.length) usage('opTypes is empty');
  if (opTypes && type !== 'fp16') {
    // fp16 filters constants by the op types reading them (any op type); the others pick nodes
    const known = Object.keys(OP_QUANTIZERS);
    const bad = opTypes.filter((t) => !known.includes(t));
    if (bad.length) usage(`opTypes: ${bad.join(', ')} cannot be quantized (quantizable: ${known.join(', ')})`);
  }
  return {
    type,
    mode,
    calibrationMethod: oneOf('calibrationMethod', r.calibrationMethod, METHODS, 'minmax'),
    percentile: num('percentile', r.percentile, 99.99, (n) => n > 50 && n <= 100, 'a number in (50, 100]'),
    perChannel: bool('perChannel', r.perChannel, true),
    opTypes,
    exclude: list('exclude', r.exclude) ?? [],
    blockSize: num('blockSize', r.blockSize, 32, (n) => Number.isInteger(n) && n >= 16 && (n & (n - 1)) === 0, 'a power of two ≥ 16'),
    int4Asymmetric: bool('int4Asymmetric', r.int4Asymmetric, false),
    accuracyLevel: num('accuracyLevel', r.accuracyLevel, 0, (n) => Number.isInteger(n) && n >= 0 && n <= 4, 'an integer 0..4'),
    minElements: num('minElements', r.minElements, 128, (n) => Number.isInteger(n) && n >= 1, 'a positive integer'),
    dynamicForm: oneOf('dynamicForm', r.dynamicForm, FORMS, 'contrib'),
    calibrationSamples: num('calibrationSamples', r.calibrationSamples, 1000, (n) => Number.isInteger(n) && n >= 1, 'a positive integer'),
    calibrationBatch: num('calibrationBatch', r.calibrationBatch, 64, (n) => Number.isInteger(n) && n >= 1, 'a positive integer'),
    reduceRange: bool('reduceRange', r.reduceRange, false),
  };
}

async function runQuantize(model: Model, options: QuantizeOptions, ctx: PassContext): Promise<PassResult> {
  const st = new QuantState(model, options, ctx);
  if (options.type === 'fp16') runFp16(st);
  else if (options.type === 'int4') runInt4(st);
  else if (options.mode === 'dynamic') runDynamic(st);
  else if (options.mode === 'weight-only') runWeightOnly(st);
  else await runStatic(st);

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
  if (options.mode === 'static') stats.calibration = options.calibrationMethod;
  if (options.reduceRange && (options.mode === 'dynamic' || options.mode === 'static') && (options.type === 'int8' || options.type === 'uint8')) {
    stats.reduceRange = 'true';
  }
  return { modified: st.modified, stats, skipped: st.skipped, details: st.details.length ? st.details : undefined };
}

export const quantizePass: Pass<QuantizeOptions> = {
  name: 'quantize',
  describe: 'int8/uint8 (dynamic, static QDQ with calibration, weight-only), fp16 and int4 (MatMulNBits) quantization',
  options: {
    type: 'int8 | uint8 | fp16 | int4 (default int8)',
    mode: 'dynamic | static | weight-only, for int8/uint8 (default dynamic)',
    calibrationMethod: 'minmax | percentile | entropy, for static (default minmax)',
    percentile: 'kept percentile for the percentile method (default 99.99)',
    perChannel: 'per-channel weight scales (default true)',
    opTypes: 'op types to quantize (default: MatMul, Gemm, Conv, Gather as the mode supports)',
    exclude: 'node or weight names / globs to leave alone',
    blockSize: 'int4 block size, a power of two ≥ 16 (default 32)',
    int4Asymmetric: 'int4 with zero points (default false: symmetric)',
    accuracyLevel: 'MatMulNBits accuracy_level 0..4 (default 0)',
    minElements: 'weights with fewer elements stay float (default 128)',
    dynamicForm: 'contrib (DynamicQuantizeMatMul, default) | standard (DynamicQuantizeLinear + MatMulInteger)',
    calibrationSamples: 'calibration samples used at most (default 1000)',
    calibrationBatch: 'calibration batch size (default 64)',
    reduceRange: '7-bit weights in dynamic / static int8 (default false): avoids u8·s8 saturation on x86 CPUs without VNNI',
  },
  parseOptions: parseQuantizeOptions,
  run: runQuantize,
  cli: {
    flags: [
      { flags: '--quantize <type>', description: 'quantize weights: int8, uint8, fp16 or int4', choices: TYPES },
      { flags: '--quantize-mode <mode>', description: 'int8/uint8 mode: dynamic (default), static (needs --calibration-data) or weight-only', choices: MODES },
      { flags: '--calibration-method <method>', description: 'static calibration: minmax (default), percentile (99.99) or entropy', choices: METHODS },
      { flags: '--per-channel', description: 'per-channel weight scales (default)' },
      { flags: '--no-per-channel', description: 'one scale per weight tensor' },
      { flags: '--op-types <list>', description: 'comma-separated op types to quantize (e.g. MatMul,Gemm)' },
      { flags: '--int4-block-size <n>', description: 'int4 block size along K (power of two ≥ 16)', defaultValue: '32' },
      { flags: '--reduce-range', description: '7-bit int8 weights (dynamic / static): exact on x86 CPUs without VNNI, whose int8 kernels saturate' },
    ],
    fromFlags(flags) {
      if (flags.quantize === undefined && flags.quantizeMode === undefined) return undefined;
      const raw: Record<string, unknown> = { type: flags.quantize ?? 'int8' };
      if (flags.quantizeMode !== undefined) raw.mode = flags.quantizeMode;
      if (flags.calibrationMethod !== undefined) raw.calibrationMethod = flags.calibrationMethod;
      if (flags.perChannel !== undefined) raw.perChannel = flags.perChannel;
      if (flags.opTypes !== undefined) raw.opTypes = flags.opTypes;
      if (flags.exclude !== undefined) raw.exclude = flags.exclude;
      if (flags.int4BlockSize !== undefined) raw.blockSize = flags.int4BlockSize;
      if (flags.reduceRange) raw.reduceRange = true;
      return raw;
    },
    outputSuffix(options) {
      const t = (options as Partial<QuantizeOptions> | undefined)?.type ?? 'int8';
      return SUFFIX[t as QuantizeType] ?? '_int8';
    },
  },
};

export default quantizePass;
