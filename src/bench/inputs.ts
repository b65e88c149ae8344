/**
 * Inputs for measurements: slices of a data set, or tensors synthesized from the model's input
 * metadata.
 *
 * Dimension 0 of every input is the batch dimension. `resolveShapes` is strict: a dynamic batch
 * takes the batch size asked for, any other dynamic dimension comes from `--shape` or the data
 * file, else it throws naming the input. `planShapes` (what the measurements use when there is no
 * data) also takes what the model says, in this order, per dynamic dimension:
 *   1. `--shape name=d0,d1,...` for that input (its dimension 0 is the batch);
 *   2. the input's own entry in the graph's value_info, where that gives a fixed size;
 *   3. dimension 0 → the batch (1 for latency, `--batch-size` for throughput);
 *   4. a symbolic name (dim_param) resolved elsewhere: given by `--shape` for another input, or the
 *      name of another input's dimension 0 (→ the batch), e.g. a state [2, batch, 64];
 *   5. a batch-like name (batch, batch_size, bs, b, n) → the batch;
 *   6. a dimension after the batch of a cache input (a float input whose name has the word past,
 *      cache or pkv: `past_key_values.0.key`, `cache_v`), when its name is no plain dimension of
 *      another input → 0, an empty cache, as transformers.js feeds a decoder at its first step
 *      (the measurements then time the prompt: the sequence below with nothing cached);
 *   7. an expression of names resolved here, e.g. "past_sequence_length + 1";
 *   8. a sequence-like name → SEQUENCE_LENGTH (128; the measurements halve it while onnxruntime
 *      cannot run the model at that length): one of its words (split at _ - . spaces,
 *      digits and camelCase) is seq, seqlen, sequence, len, length, time, t, timesteps, steps,
 *      tokens, token, frames or positions; so are the dynamic dimensions after the batch of an
 *      int32 / int64 / bool input (token ids, masks and positions are sequences, not images);
 *   9. anything else (an image's height and width, "unk__12") stays unknown: the measurements that
 *      run the model are skipped with one warning naming the input and --shape.
 * Values (`synthesizeFeeds`): floats seeded uniform [0, 1); int / bool inputs whose name has "mask"
 * are ones; integer inputs whose name has "position" count 0, 1, ... along the last axis; integer
 * inputs that reach a Gather's indices (through Cast / Reshape / Unsqueeze / ...) take seeded ids in
 * [0, min(rows of the gathered table, 1000)); an integer input named sr / sample_rate /
 * sampling_rate is 16000; every other integer or bool is zero.
 */
import { MlcError } from '../core/errors.js';
import { DataType, dtypeName, numElements } from '../ir/dtype.js';
import type { Model } from '../ir/model.js';
import { attrInt } from '../ir/node.js';
import { Dim, elemTypeOf, shapeOf } from '../ir/types.js';
import { floatToHalf, floatToBfloat16 } from '../math/float16.js';
import { seededRng } from '../core/rng.js';
import type { Dataset, Feed, Feeds } from '../core/types.js';

export type { Feed, Feeds };
export type ShapeOverrides = Record<string, number[]>;

/** `--shape name=1,3,224,224` (repeatable; also `name:1x3x224x224`). */
export function parseShapeFlags(values: string | string[] | undefined): ShapeOverrides {
  const out: ShapeOverrides = {};
  const list = values === undefined ? [] : Array.isArray(values) ? values : [values];
  for (const v of list) {
    const m = /^\s*([^=:]+?)\s*[=:]\s*([\d\s,x×]+)\s*$/.exec(v);
    if (!m) throw new MlcError('USAGE', `--shape: cannot read "${v}" (expected name=1,3,224,224)`);
    const dims = m[2]
      .split(/[,x×]/)
      .map((s) => s.trim())
      .filter((s) => s !== '')
      .map(Number);
    if (!dims.length || dims.some((d) => !Number.isInteger(d) || d < 0)) {
      throw new MlcError('USAGE', `--shape: "${v}" has an invalid dimension (expected non-negative integers)`);
    }
    out[m[1]] = dims;
  }
  return out;
}

/** How synthesized values fill an input (see the file comment). */
export type Fill = { kind: 'random' } | { kind: 'zeros' } | { kind: 'ones' } | { kind: 'positions' } | { kind: 'ids'; max: number } | { kind: 'value'; value: number };

export interface InputSpec {
  name: string;
  elemType: DataType;
  dtype: string;
  /** undefined when the model does not declare a shape */
  shape?: Dim[];
  /** fixed sizes the graph's value_info gives for this input where `shape` has none */
  valueInfoShape?: Dim[];
  /** how synthesized values fill it (default: random floats, zero integers) */
  fill?: Fill;
}

/** The model's real inputs; one that is not a tensor throws UNSUPPORTED (or is left out with `tensorsOnly`). */
export function inputSpecs(model: Model, opts: { tensorsOnly?: boolean } = {}): InputSpec[] {
  const real = model.graph.realInputs();
  return (opts.tensorsOnly ? real.filter((v) => v.type?.kind === 'tensor') : real).map((v) => {
    const t = v.type;
    if (!t || t.kind !== 'tensor') {
      throw new MlcError('UNSUPPORTED', `input "${v.name}" is not a tensor (${t?.kind ?? 'no type'}); mlc can only measure tensor inputs`);
    }
    const elemType = elemTypeOf(v)!;
    const spec: InputSpec = { name: v.name, elemType, dtype: dtypeName(elemType), shape: shapeOf(v) };
    const vi = shapeOf(model.graph.valueInfo.find((x) => x.name === v.name));
    if (vi && spec.shape && vi.length === spec.shape.length && vi.some((d, i) => isDynamic(spec.shape![i]) && !isDynamic(d))) spec.valueInfoShape = vi;
    const fill = fillFor(model, spec);
    if (fill) spec.fill = fill;
    return spec;
  });
}

const INT_TYPES = new Set([DataType.INT8, DataType.INT16, DataType.INT32, DataType.INT64, DataType.UINT8, DataType.UINT16, DataType.UINT32, DataType.UINT64]);
/** ops a token id passes through on its way to an embedding Gather */
const ID_PASSTHROUGH = new Set(['Cast', 'Identity', 'Reshape', 'Unsqueeze', 'Squeeze', 'Flatten', 'Expand', 'Clip']);
const MAX_SYNTH_ID = 1000;

function fillFor(model: Model, s: InputSpec): Fill | undefined {
  const isInt = INT_TYPES.has(s.elemType);
  if (!isInt && s.elemType !== DataType.BOOL) return undefined;
  if (/mask/i.test(s.name)) return { kind: 'ones' };
  if (!isInt) return undefined;
  if (/position/i.test(s.name)) return { kind: 'positions' };
  if (/^(sr|sample_?rate|sampling_?rate)$/i.test(s.name)) return { kind: 'value', value: 16000 };
  const rows = gatherRows(model, s.name);
  if (rows !== undefined && rows > 0) return { kind: 'ids', max: Math.min(rows, MAX_SYNTH_ID) };
  return undefined;
}

/** Rows of the smallest constant table an input indexes with Gather (through pass-through ops). */
function gatherRows(model: Model, input: string): number | undefined {
  const g = model.graph;
  let best: number | undefined;
  const seen = new Set<string>();
  const queue = [input];
  while (queue.length) {
    const name = queue.shift()!;
    if (seen.has(name) || seen.size > 64) continue;
    seen.add(name);
    for (const n of g.consumers(name)) {
      if (n.domain !== '' && n.domain !== 'ai.onnx') continue;
      if (n.opType === 'Gather' && n.inputs[1] === name && n.inputs[0] !== name) {
        const table = g.constantValue(n.inputs[0]);
        if (!table || table.dims.length === 0) continue;
        let axis = attrInt(n, 'axis', 0);
        if (axis < 0) axis += table.dims.length;
        const rows = table.dims[axis];
        if (rows !== undefined) best = best === undefined ? rows : Math.min(best, rows);
      } else if (ID_PASSTHROUGH.has(n.opType) && n.inputs[0] === name && n.outputs[0]) {
        queue.push(n.outputs[0]);
      }
    }
  }
  return best;
}

const isDynamic = (d: Dim | undefined) => typeof d !== 'number' || d < 0;

const fmtShape = (s: Dim[] | undefined) => (s ? `[${s.map((d) => (d === null ? '?' : d)).join(', ')}]` : 'unknown');

/**
 * True when the batch size is ours to choose: some input's first dimension is dynamic (or an input
 * declares no shape). Scalars carry no batch; an input whose first dimension is fixed beside a
 * dynamic one (a recurrent state [2, batch, 64]) keeps it.
 */
export function hasDynamicBatch(specs: InputSpec[]): boolean {
  return specs.some((s) => !s.shape || (s.shape.length > 0 && isDynamic(s.shape[0])));
}

/**
 * Concrete dims for each input at batch size `batch` (applied where dim 0 is dynamic).
 * `dataDims`: dims of the data arrays by input name (their dim 0 is ignored).
 */
export function resolveShapes(
  specs: InputSpec[],
  batch: number,
  overrides: ShapeOverrides = {},
  dataDims: Record<string, readonly number[]> = {},
): Record<string, number[]> {
  for (const k of Object.keys(overrides)) {
    if (!specs.some((s) => s.name === k)) {
      throw new MlcError('USAGE', `--shape ${k}=...: the model has no input "${k}" (inputs: ${specs.map((s) => s.name).join(', ')})`);
    }
  }
  // symbolic dims named by overrides or data
  const symbols = new Map<string, number>();
  for (const s of specs) {
    const given = overrides[s.name] ?? dataDims[s.name];
    if (!given || !s.shape) continue;
    s.shape.forEach((d, i) => {
      if (i > 0 && typeof d === 'string' && given[i] !== undefined && !symbols.has(d)) symbols.set(d, given[i]);
    });
  }
  const out: Record<string, number[]> = {};
  for (const s of specs) {
    const ov = overrides[s.name];
    if (ov) {
      if (s.shape) {
        if (ov.length !== s.shape.length) {
          throw new MlcError('USAGE', `--shape ${s.name}=${ov.join(',')}: the model's input has rank ${s.shape.length} ${fmtShape(s.shape)}`);
        }
        s.shape.forEach((d, i) => {
          if (!isDynamic(d) && d !== ov[i]) {
            throw new MlcError('USAGE', `--shape ${s.name}=${ov.join(',')}: dimension ${i} is fixed to ${d} in the model ${fmtShape(s.shape)}`);
          }
        });
      }
      const dims = [...ov];
      if ((!s.shape || isDynamic(s.shape[0])) && dims.length > 0) dims[0] = batch;
      out[s.name] = dims;
      continue;
    }
    if (!s.shape) {
      const dd = dataDims[s.name];
      if (dd && dd.length > 0) {
        out[s.name] = [batch, ...dd.slice(1)];
        continue;
      }
      throw new MlcError('USAGE', `input "${s.name}" has no declared shape; give it with --shape ${s.name}=1,...`);
    }
    const dims: number[] = [];
    const missing: string[] = [];
    s.shape.forEach((d, i) => {
      if (!isDynamic(d)) dims.push(d as number);
      else if (i === 0) dims.push(batch);
      else if (dataDims[s.name]?.[i] !== undefined) dims.push(dataDims[s.name][i]);
      else if (typeof d === 'string' && symbols.has(d)) dims.push(symbols.get(d)!);
      else {
        missing.push(typeof d === 'string' ? `"${d}" (dimension ${i})` : `dimension ${i}`);
        dims.push(-1);
      }
    });
    if (missing.length) {
      const example = s.shape.map((d, i) => (i === 0 ? 1 : isDynamic(d) ? 'N' : d)).join(',');
      throw new MlcError(
        'USAGE',
        `input "${s.name}" ${fmtShape(s.shape)} has dynamic ${missing.join(', ')}; give the shape with --shape ${s.name}=${example} or pass --data`,
      );
    }
    out[s.name] = dims;
  }
  return out;
}

/** Default size of a sequence-like dimension nobody gave (see the file comment). */
export const SEQUENCE_LENGTH = 128;

const SEQ_WORDS = new Set(['seq', 'seqlen', 'sequence', 'len', 'length', 'time', 't', 'timesteps', 'steps', 'tokens', 'token', 'frames', 'positions']);
const BATCH_WORDS = new Set(['batch', 'batchsize', 'bs', 'b', 'n']);

/** Words of a dimension name: split at non-letters and camelCase boundaries, lower case. */
export function dimWords(name: string): string[] {
  return name
    .replace(/([a-z])([A-Z])/g, '$1 $2')
    .split(/[^A-Za-z]+/)
    .filter(Boolean)
    .map((w) => w.toLowerCase());
}

export const isSequenceName = (name: string): boolean => dimWords(name).some((w) => SEQ_WORDS.has(w));
const CACHE_WORDS = new Set(['past', 'cache', 'pkv']);
/** A decoder's cache input (past keys and values, a state cache): a float input named with past / cache / pkv. */
const isCacheInput = (s: InputSpec): boolean =>
  s.elemType !== DataType.INT64 && s.elemType !== DataType.INT32 && s.elemType !== DataType.BOOL && dimWords(s.name).some((w) => CACHE_WORDS.has(w));
const isBatchName = (name: string): boolean => {
  if (/[+*/()]/.test(name)) return false; // an expression ("2*batch") is not the batch
  const w = dimWords(name);
  return w.some((x) => BATCH_WORDS.has(x)) && w.every((x) => BATCH_WORDS.has(x) || x === 'size');
};

/** A size, or "the batch" (resolved per measurement). */
type Size = number | 'batch';

/** Evaluate a dim_param expression such as "past_sequence_length + 1" or "2*s0"; undefined if it is not one. */
function evalExpression(expr: string, lookup: (name: string) => Size | undefined): Size | undefined {
  // an operator other than a hyphen inside a name ("sequence-length" is a name)
  if (!/[+*/()]/.test(expr) && !/\s-|-\s*\d/.test(expr)) return undefined;
  const tokens = expr.match(/\s*([A-Za-z_][A-Za-z0-9_.]*|\d+|[+\-*/()])/g);
  if (!tokens || tokens.join('').replace(/\s/g, '') !== expr.replace(/\s/g, '')) return undefined;
  const t = tokens.map((x) => x.trim());
  let i = 0;
  let usesBatch = false;
  const atom = (): number | undefined => {
    const tok = t[i++];
    if (tok === undefined) return undefined;
    if (tok === '(') {
      const v = sum();
      return t[i++] === ')' ? v : undefined;
    }
    if (tok === '-') {
      const v = atom();
      return v === undefined ? undefined : -v;
    }
    if (/^\d+$/.test(tok)) return Number(tok);
    if (/^[A-Za-z_]/.test(tok)) {
      const v = lookup(tok);
      if (v === 'batch') usesBatch = true;
      return typeof v === 'number' ? v : undefined;
    }
    return undefined;
  };
  const product = (): number | undefined => {
    let v = atom();
    while (v !== undefined && (t[i] === '*' || t[i] === '/')) {
      const op = t[i++];
      const r = atom();
      if (r === undefined || (op === '/' && r === 0)) return undefined;
      v = op === '*' ? v * r : Math.floor(v / r);
    }
    return v;
  };
  const sum = (): number | undefined => {
    let v = product();
    while (v !== undefined && (t[i] === '+' || t[i] === '-')) {
      const op = t[i++];
      const r = product();
      if (r === undefined) return undefined;
      v = op === '+' ? v + r : v - r;
    }
    return v;
  };
  const v = sum();
  if (usesBatch || v === undefined || i !== t.length || !Number.isInteger(v) || v < 0) return undefined;
  return v;
}

export interface ShapePlan {
  /** concrete dims of every input at batch size `batch` (throws when `unknown` is not empty) */
  at(batch: number): Record<string, number[]>;
  /** inputs with dimensions mlc cannot choose, each with what it misses */
  unknown: { name: string; shape?: Dim[]; missing: string[] }[];
  /** how each dynamic dimension other than the batch was chosen, e.g. `ids: "seq" = 128 (sequence-like name)` */
  chosen: string[];
  /** whether some dimension took the default sequence length */
  sequenceGuessed: boolean;
}

/** Check `--shape` values against the model's inputs (names, ranks, fixed dims); throws USAGE. */
export function checkShapeOverrides(specs: InputSpec[], overrides: ShapeOverrides): void {
  for (const k of Object.keys(overrides)) {
    if (!specs.some((s) => s.name === k)) {
      throw new MlcError('USAGE', `--shape ${k}=...: the model has no input "${k}" (inputs: ${specs.map((s) => s.name).join(', ')})`);
    }
  }
  for (const s of specs) {
    const ov = overrides[s.name];
    if (!ov || !s.shape) continue;
    if (ov.length !== s.shape.length) {
      throw new MlcError('USAGE', `--shape ${s.name}=${ov.join(',')}: the model's input has rank ${s.shape.length} ${fmtShape(s.shape)}`);
    }
    s.shape.forEach((d, i) => {
      if (!isDynamic(d) && d !== ov[i]) {
        throw new MlcError('USAGE', `--shape ${s.name}=${ov.join(',')}: dimension ${i} is fixed to ${d} in the model ${fmtShape(s.shape)}`);
      }
    });
  }
}

/**
 * Shapes for synthesized inputs, from `--shape` and what the model says (the rules in the file
 * comment). Never throws for a dimension it cannot choose: that input is listed in `unknown`.
 */
export function planShapes(specs: InputSpec[], overrides: ShapeOverrides = {}, sequenceLength = SEQUENCE_LENGTH): ShapePlan {
  checkShapeOverrides(specs, overrides);
  const given = new Map<string, Size>(); // symbols fixed by --shape or by a leading position
  for (const s of specs) {
    const ov = overrides[s.name];
    s.shape?.forEach((d, i) => {
      if (typeof d !== 'string' || d === '') return;
      if (i === 0) given.set(d, 'batch');
      else if (ov && !given.has(d)) given.set(d, ov[i]);
    });
  }
  // symbols used after the batch by integer / bool inputs are sequences
  const tokenSymbols = new Set<string>();
  const isTokenInput = (s: InputSpec) => s.elemType === DataType.INT64 || s.elemType === DataType.INT32 || s.elemType === DataType.BOOL;
  for (const s of specs) if (isTokenInput(s)) s.shape?.forEach((d, i) => i > 0 && typeof d === 'string' && d !== '' && tokenSymbols.add(d));
  // symbols after the batch of cache inputs only (not a plain dimension of another input): the cached length
  const cacheSymbols = new Set<string>();
  const otherSymbols = new Set<string>();
  for (const s of specs) {
    const into = isCacheInput(s) ? cacheSymbols : otherSymbols;
    s.shape?.forEach((d, i) => {
      if (i > 0 && typeof d === 'string' && d !== '') into.add(d);
    });
  }
  for (const d of otherSymbols) cacheSymbols.delete(d);

  const why = new Map<string, string>();
  let usedSequence = false;
  const resolving = new Set<string>();
  const symbol = (name: string): Size | undefined => {
    if (given.has(name)) return given.get(name);
    if (resolving.has(name)) return undefined;
    resolving.add(name);
    let v: Size | undefined;
    if (isBatchName(name)) {
      v = 'batch';
      why.set(name, 'batch-like name');
    } else if (cacheSymbols.has(name)) {
      v = 0;
      why.set(name, 'a cache input: empty');
    } else if ((v = evalExpression(name, symbol)) !== undefined) {
      why.set(name, 'expression');
    } else if (isSequenceName(name)) {
      v = sequenceLength;
      usedSequence = true;
      why.set(name, 'sequence-like name');
    } else if (tokenSymbols.has(name)) {
      v = sequenceLength;
      usedSequence = true;
      why.set(name, 'a sequence of an integer input');
    }
    resolving.delete(name);
    if (v !== undefined) given.set(name, v);
    return v;
  };

  const plan: (Size | undefined)[][] = [];
  const unknown: ShapePlan['unknown'] = [];
  const chosen: string[] = [];
  for (const s of specs) {
    const ov = overrides[s.name];
    if (!s.shape) {
      if (ov) plan.push(ov.map((d, i) => (i === 0 ? 'batch' : d)));
      else {
        plan.push([]);
        unknown.push({ name: s.name, missing: ['its shape (the model declares none)'] });
      }
      continue;
    }
    const missing: string[] = [];
    const dims = s.shape.map((d, i): Size | undefined => {
      if (!isDynamic(d)) return d as number;
      if (i === 0) return 'batch';
      if (ov) return ov[i];
      const vi = s.valueInfoShape?.[i];
      if (typeof vi === 'number' && vi >= 0) {
        chosen.push(`${s.name}: dimension ${i} = ${vi} (value_info)`);
        return vi;
      }
      const v = typeof d === 'string' && d !== '' ? symbol(d) : isCacheInput(s) ? 0 : isTokenInput(s) ? sequenceLength : undefined;
      if ((d === null || d === '') && v) usedSequence = true;
      if (v === undefined) missing.push(typeof d === 'string' && d !== '' ? `"${d}" (dimension ${i})` : `dimension ${i}`);
      else if (typeof d === 'string' && why.has(d)) chosen.push(`${s.name}: "${d}" = ${v} (${why.get(d)})`);
      else if (d === null || d === '') chosen.push(`${s.name}: dimension ${i} = ${v} (${v === 0 ? 'a cache input: empty' : 'a sequence of an integer input'})`);
      return v;
    });
    plan.push(dims);
    if (missing.length) unknown.push({ name: s.name, shape: s.shape, missing });
  }
  return {
    unknown,
    chosen: [...new Set(chosen)],
    sequenceGuessed: usedSequence,
    at(batch: number) {
      if (unknown.length) throw new MlcError('USAGE', unknownShapeMessage(unknown));
      const out: Record<string, number[]> = {};
      specs.forEach((s, k) => (out[s.name] = plan[k].map((d) => (d === 'batch' ? batch : d!))));
      return out;
    },
  };
}

/** One sentence naming the inputs whose dimensions are unknown and the --shape flag to give them. */
export function unknownShapeMessage(unknown: ShapePlan['unknown']): string {
  const parts = unknown.map((u) => (u.shape ? `input "${u.name}" ${fmtShape(u.shape)} has dynamic ${u.missing.join(', ')}` : `input "${u.name}" declares no shape`));
  const examples = unknown.map((u) => `--shape ${u.name}=${u.shape ? u.shape.map((d, i) => (i === 0 ? 1 : isDynamic(d) ? 'N' : d)).join(',') : '1,...'}`);
  return `${parts.join('; ')}; give ${unknown.length > 1 ? 'them' : 'it'} with ${examples.join(' ')} or pass --data`;
}

/** Feeds with seeded values: floats uniform in [0, 1); integers and bools as `spec.fill` says (default zero). */
export function synthesizeFeeds(specs: InputSpec[], shapes: Record<string, number[]>, seed = 1): Feeds {
  const rng = seededRng(seed);
  const feeds: Feeds = {};
  for (const s of specs) {
    const dims = shapes[s.name];
    const n = numElements(dims);
    let data: ArrayLike<number> | ArrayLike<bigint>;
    switch (s.elemType) {
      case DataType.FLOAT: {
        const a = new Float32Array(n);
        for (let i = 0; i < n; i++) a[i] = rng();
        data = a;
        break;
      }
      case DataType.DOUBLE: {
        const a = new Float64Array(n);
        for (let i = 0; i < n; i++) a[i] = rng();
        data = a;
        break;
      }
      case DataType.FLOAT16:
      case DataType.BFLOAT16: {
        const a = new Uint16Array(n);
        const conv = s.elemType === DataType.FLOAT16 ? floatToHalf : floatToBfloat16;
        for (let i = 0; i < n; i++) a[i] = conv(rng());
        data = a;
        break;
      }
      case DataType.INT64:
        data = fillInts(new BigInt64Array(n), s.fill, dims, rng, BigInt);
        break;
      case DataType.UINT64:
        data = fillInts(new BigUint64Array(n), s.fill, dims, rng, BigInt);
        break;
      case DataType.INT32:
        data = fillInts(new Int32Array(n), s.fill, dims, rng, Number);
        break;
      case DataType.UINT32:
        data = fillInts(new Uint32Array(n), s.fill, dims, rng, Number);
        break;
      case DataType.INT16:
        data = fillInts(new Int16Array(n), s.fill, dims, rng, Number);
        break;
      case DataType.UINT16:
        data = fillInts(new Uint16Array(n), s.fill, dims, rng, Number);
        break;
      case DataType.INT8:
        data = fillInts(new Int8Array(n), s.fill, dims, rng, Number);
        break;
      case DataType.UINT8:
      case DataType.BOOL:
        data = fillInts(new Uint8Array(n), s.fill, dims, rng, Number);
        break;
      default:
        throw new MlcError('UNSUPPORTED', `input "${s.name}" has dtype ${s.dtype}, which mlc cannot synthesize; pass --data`);
    }
    feeds[s.name] = { dtype: s.dtype, dims, data };
  }
  return feeds;
}

/** Whether `synthesizeFeeds` can make values of this dtype. */
export function canSynthesize(s: InputSpec): boolean {
  return SYNTH_TYPES.has(s.elemType);
}
const SYNTH_TYPES = new Set([DataType.FLOAT, DataType.DOUBLE, DataType.FLOAT16, DataType.BFLOAT16, DataType.BOOL, ...INT_TYPES]);

function fillInts<T extends { [i: number]: V; length: number }, V>(a: T, fill: Fill | undefined, dims: number[], rng: () => number, conv: (x: number) => V): T {
  const n = a.length;
  switch (fill?.kind) {
    case 'ones':
      for (let i = 0; i < n; i++) a[i] = conv(1);
      break;
    case 'value':
      for (let i = 0; i < n; i++) a[i] = conv(fill.value);
      break;
    case 'positions': {
      const last = dims.length ? dims[dims.length - 1] : 1;
      for (let i = 0; i < n; i++) a[i] = conv(last > 0 ? i % last : 0);
      break;
    }
    case 'ids':
      for (let i = 0; i < n; i++) a[i] = conv(Math.min(fill.max - 1, Math.floor(rng() * fill.max)));
      break;
    default:
      break; // zeros
  }
  return a;
}

type AnyArray = ArrayLike<number> | ArrayLike<bigint>;

function sliceRows(data: AnyArray, rowSize: number, start: number, end: number): AnyArray {
  const d = data as unknown as { subarray?: (a: number, b: number) => AnyArray; slice: (a: number, b: number) => AnyArray };
  if (typeof d.subarray === 'function') return d.subarray(start * rowSize, end * rowSize);
  return Array.prototype.slice.call(data, start * rowSize, end * rowSize) as AnyArray;
}

/**
 * Rows [start, start + count) of every input of the data set, as feeds. Rows past the end wrap
 * around to the start (so a batch can be filled from a small data set).
 */
export function datasetFeeds(data: Dataset, specs: InputSpec[], start: number, count: number): Feeds {
  if (data.count <= 0) throw new MlcError('INPUT', 'the data set has no samples');
  const feeds: Feeds = {};
  for (const s of specs) {
    const arr = data.inputs[s.name];
    if (!arr) {
      throw new MlcError('INPUT', `the data has no array for input "${s.name}" (it has: ${Object.keys(data.inputs).join(', ') || 'none'})`);
    }
    const rows = arr.dims[0] ?? 1;
    const rowSize = rows > 0 ? arr.data.length / rows : 0;
    const dims = [count, ...arr.dims.slice(1)];
    if (start + count <= rows) {
      feeds[s.name] = { dtype: arr.dtype, dims, data: sliceRows(arr.data, rowSize, start, start + count) };
      continue;
    }
    // wrap around: copy row by row into a fresh array of the same kind
    const Ctor = (arr.data as unknown as { constructor: new (n: number) => AnyArray }).constructor;
    const isTyped = ArrayBuffer.isView(arr.data);
    const out: AnyArray = isTyped ? new Ctor(count * rowSize) : new Array(count * rowSize);
    const w = out as unknown as { [i: number]: number | bigint };
    for (let r = 0; r < count; r++) {
      const src = (start + r) % rows;
      for (let k = 0; k < rowSize; k++) w[r * rowSize + k] = (arr.data as unknown as { [i: number]: number | bigint })[src * rowSize + k];
    }
    feeds[s.name] = { dtype: arr.dtype, dims, data: out };
  }
  return feeds;
}

/** Dims of the data arrays, by input name (for shape resolution). */
export function dataDimsOf(data: Dataset | undefined): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  if (data) for (const [k, v] of Object.entries(data.inputs)) out[k] = v.dims;
  return out;
}

/** How many made-up samples `madeUpData` makes by default (the fidelity check of `mlc variants`). */
export const MADE_UP_SAMPLES = 8;

/**
 * Made-up samples for a fidelity check when the user gave no data: `count` seeded samples (seed 7)
 * shaped as the measurements shape them (`planShapes`, `synthesizeFeeds`). `tryRun` runs the model
 * on the first `tryCount` of them; while it fails and mlc chose the sequence length, the length is
 * halved. Returns the samples and what the successful `tryRun` returned (so the check run can be
 * the caller's reference run). The fidelity data of `mlc variants` and the int4 target's probe
 * without --calibration-data (through the passes' `ctx.madeUpData`). Throws MlcError('USAGE') when
 * no shape can be chosen or the model never runs.
 */
export async function madeUpData<T>(
  model: Model,
  shapes: ShapeOverrides,
  tryRun: (feeds: Feeds) => Promise<T>,
  count = MADE_UP_SAMPLES,
  tryCount = count,
): Promise<{ data: Dataset; result: T }> {
  const specs = inputSpecs(model);
  for (let len = SEQUENCE_LENGTH; ; len = Math.floor(len / 2)) {
    const plan = planShapes(specs, shapes, len);
    if (plan.unknown.length) throw new MlcError('USAGE', `cannot make up inputs for the fidelity check (${plan.unknown.map((u) => u.name).join(', ')} unknown): give --shape or --data`);
    const feeds = synthesizeFeeds(specs, plan.at(count), 7);
    // a fixed batch dimension wins over count
    const rows = Object.values(feeds)[0]?.dims[0] ?? count;
    const data: Dataset = { inputs: feeds as Dataset['inputs'], count: rows };
    try {
      return { data, result: await tryRun(tryCount < rows ? datasetFeeds(data, specs, 0, tryCount) : feeds) };
    } catch (err) {
      if (!plan.sequenceGuessed || len <= 1 || !(err instanceof MlcError)) {
        throw new MlcError('USAGE', `onnxruntime cannot run the model on made-up inputs (${(err as Error).message.split('\n')[0]}): give --shape or --data`);
      }
    }
  }
}
