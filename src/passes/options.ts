/**
 * Pass options, declared once. A pass lists its options as a schema ({key, type, default, flag,
 * help, …}); from it come the option parser (recipe and API input), the `mlc compress` flags and
 * how flags map to options, the `mlc passes` listing, and a JSON Schema of recipes.
 *
 * Parsing rules, the same for every pass:
 * - unknown keys are rejected, with a did-you-mean when one is close;
 * - numbers must be numbers (a recipe's "0.9" is refused, naming the key; flags, which are strings,
 *   are converted by flagsToOptions); a `fraction` also takes a percentage ("50%" = 0.5); ranges
 *   are checked and named in the message;
 * - booleans take true / false (not the strings "true" / "false");
 * - lists take an array or a string, and every item is split on commas ("a,b" = ["a", "b"]);
 * - a missing option takes its default (none: left undefined), then the pass's `finish` applies
 *   the rules that tie options together.
 * Errors are OptionError (MlcError USAGE) carrying the pass and the key, so that the CLI can name
 * the flag the user typed, or the recipe step and key (see explainOptionError).
 */
import { MlcError } from '../core/errors.js';

interface SpecBase {
  /** the option's key in a recipe (camelCase) */
  key: string;
  help: string;
  /**
   * the `mlc compress` flag in commander syntax ('--prune <sparsity>', '--per-channel'); absent:
   * recipe only
   */
  flag?: string;
  /** the flag is defined by `mlc compress` itself (e.g. --exclude): read, not registered */
  sharedFlag?: boolean;
}

export type OptionSpec =
  | (SpecBase & {
      type: 'number' | 'integer' | 'fraction';
      default?: number;
      min?: number;
      max?: number;
      /** min / max themselves are not allowed */
      exclusiveMin?: boolean;
      exclusiveMax?: boolean;
      /** an extra rule, e.g. a power of two: returns what the value must be when it fails */
      check?: (v: number) => string | undefined;
    })
  | (SpecBase & { type: 'boolean'; default?: boolean; /** also registers --no-<flag>, with this help */ negatable?: string })
  | (SpecBase & { type: 'enum'; choices: readonly string[]; default?: string; /** 'channel' also matches 'Channel' */ caseInsensitive?: boolean })
  | (SpecBase & { type: 'string'; default?: string; /** extra accepted form beyond choices, e.g. N:M */ pattern?: RegExp; patternHelp?: string })
  | (SpecBase & { type: 'list'; default?: readonly string[] });

export type OptionValues = Record<string, number | boolean | string | string[] | undefined>;

/** A `mlc compress` flag that only asks for the pass (e.g. --distill), mapped to no option. */
export interface TriggerFlag {
  flag: string;
  help: string;
}

export interface OptionSchema<O> {
  pass: string;
  options: readonly OptionSpec[];
  /** cross-option rules and computed defaults; throw with `fail(key, problem)` (key '' when no one option is at fault) */
  finish?: (v: OptionValues, fail: (key: string, problem: string) => never) => O;
  cli?: {
    /** commander keys of flags whose presence asks for the pass (--prune, --prune-pattern, …) */
    triggers: readonly string[];
    /** flags that only ask for the pass */
    extraFlags?: readonly TriggerFlag[];
    /** suffix of the default output name when this pass runs alone */
    outputSuffix: (options: unknown) => string;
  };
}

/**
 * `optionSchema<Options>()({ pass: 'prune', options: [...] })`: a schema whose pass name, keys,
 * types and choices keep their literal types, so that the typed recipe step (RecipeStepOf) derives
 * from it; it is still an OptionSchema<Options> for the parser.
 */
export function optionSchema<O>() {
  return <const S extends OptionSchema<O>>(schema: S): S => schema;
}

/** The value a recipe (or the API) may give for one option spec. */
type SpecInput<S> = S extends { type: 'number' | 'integer' }
  ? number
  : S extends { type: 'fraction' }
    ? number | `${number}%`
    : S extends { type: 'boolean' }
      ? boolean
      : S extends { type: 'enum'; choices: readonly (infer C)[] }
        ? C
        : S extends { type: 'list' }
          ? string | readonly string[]
          : S extends { type: 'string' }
            ? string
            : never;

/** The options object of a recipe step, from a schema made by `optionSchema`: every key optional, typed by its spec. */
export type OptionsInput<Sch> = Sch extends { options: readonly (infer S)[] }
  ? { [X in S as X extends { key: infer K extends string } ? K : never]?: SpecInput<X> }
  : never;

/** A recipe step of one pass: `{ pass: 'prune', options?: { sparsity?: number | '90%', … } }`. */
export type RecipeStepOf<Sch> = Sch extends { pass: infer N extends string } ? { pass: N; options?: OptionsInput<Sch> } : never;

/** A bad option value: names the pass and the key; the CLI rewrites it to name the flag or the recipe step. */
export class OptionError extends MlcError {
  constructor(
    readonly pass: string,
    readonly key: string,
    readonly problem: string,
    message = key ? `${pass}: ${key} ${problem}` : `${pass}: ${problem}`,
  ) {
    super('USAGE', message);
    this.name = 'OptionError';
  }
}

/** The long flag of a commander flag string: '--prune <sparsity>' → '--prune'. */
export function longFlag(flag: string): string {
  return flag.split(/[ ,]+/).find((x) => x.startsWith('--')) ?? flag;
}

/** commander's key for a flag: '--prune-keep-first-last' → 'pruneKeepFirstLast'. */
export function flagKey(flag: string): string {
  return longFlag(flag)
    .replace(/^--(no-)?/, '')
    .replace(/-([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
}

const show = (v: unknown) => JSON.stringify(v);

function range(s: Extract<OptionSpec, { type: 'number' | 'integer' | 'fraction' }>): string {
  const what = s.type === 'integer' ? 'an integer' : 'a number';
  const lo = s.min, hi = s.max;
  if (lo !== undefined && hi !== undefined) return `${what} in ${s.exclusiveMin ? '(' : '['}${lo}, ${hi}${s.exclusiveMax ? ')' : ']'}`;
  if (lo !== undefined) return `${what} ${s.exclusiveMin ? '>' : '≥'} ${lo}`;
  if (hi !== undefined) return `${what} ${s.exclusiveMax ? '<' : '≤'} ${hi}`;
  return what;
}

/** Levenshtein distance (for did-you-mean). */
function distance(a: string, b: string): number {
  const d = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = d[0];
    d[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = d[j];
      d[j] = Math.min(d[j] + 1, d[j - 1] + 1, prev + (a[i - 1].toLowerCase() === b[j - 1].toLowerCase() ? 0 : 1));
      prev = cur;
    }
  }
  return d[b.length];
}

/** The closest of `known` to `name`, if close enough to be a likely typo. */
export function didYouMean(name: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of known) {
    const dd = distance(name, k);
    if (dd < bestD) [best, bestD] = [k, dd];
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(best.length / 3)) ? best : undefined;
}

function parseValue(s: OptionSpec, v: unknown, fail: (problem: string) => never): OptionValues[string] {
  switch (s.type) {
    case 'number':
    case 'integer':
    case 'fraction': {
      // JSON numbers only (a recipe's "0.9" is a string: refused, as the JSON Schema does); a
      // fraction also takes a percentage string. Flags arrive as numbers (flagsToOptions).
      let n: number;
      if (typeof v === 'number') n = v;
      else if (s.type === 'fraction' && typeof v === 'string' && /^\s*[0-9.]+\s*%\s*$/.test(v)) n = Number(v.trim().slice(0, -1).trim()) / 100;
      else {
        const numeric = typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v));
        fail(`must be ${range(s)}${s.type === 'fraction' ? ' (or a percentage)' : ''} (got ${show(v)}${numeric ? `, a string: write ${v.trim()} without quotes` : ''})`);
      }
      const ok =
        Number.isFinite(n) &&
        (s.type !== 'integer' || Number.isInteger(n)) &&
        (s.min === undefined || (s.exclusiveMin ? n > s.min : n >= s.min)) &&
        (s.max === undefined || (s.exclusiveMax ? n < s.max : n <= s.max));
      if (!ok) fail(`must be ${range(s)}${s.type === 'fraction' ? ' (or a percentage)' : ''} (got ${show(v)})`);
      const extra = s.check?.(n);
      if (extra) fail(`must be ${extra} (got ${show(v)})`);
      return n;
    }
    case 'boolean':
      if (typeof v === 'boolean') return v;
      return fail(`must be a boolean, true or false (got ${show(v)}${v === 'true' || v === 'false' ? `, a string: write ${v} without quotes` : ''})`);
    case 'enum': {
      const t = typeof v === 'string' ? (s.caseInsensitive ? v.trim().toLowerCase() : v.trim()) : undefined;
      if (t === undefined || !s.choices.includes(t)) return fail(`must be one of ${s.choices.join(', ')} (got ${show(v)})`);
      return t;
    }
    case 'string':
      if (typeof v !== 'string' || v.trim() === '') return fail(`must be a non-empty string (got ${show(v)})`);
      return v.trim();
    case 'list': {
      const items = typeof v === 'string' ? [v] : Array.isArray(v) ? v : undefined;
      if (!items || items.some((x) => typeof x !== 'string')) return fail(`must be a list of names (got ${show(v)})`);
      return (items as string[]).flatMap((x) => x.split(',')).map((x) => x.trim()).filter(Boolean);
    }
  }
}

/** Parse raw options (a recipe's or the API's, or flags mapped by flagsToOptions) against a schema. */
export function parseWithSchema<O>(schema: OptionSchema<O>, raw: unknown): O {
  const { pass } = schema;
  if (raw === undefined || raw === null) raw = {};
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new MlcError('USAGE', `${pass}: options must be an object`);
  const r = raw as Record<string, unknown>;
  const keys = schema.options.map((s) => s.key);
  for (const k of Object.keys(r)) {
    if (keys.includes(k)) continue;
    const near = didYouMean(k, keys);
    const hint = near ? ` (did you mean "${near}"?)` : '';
    throw new OptionError(pass, k, `is not an option${hint}`, `${pass}: unknown option "${k}"${hint}; known: ${keys.join(', ')}`);
  }
  const values: OptionValues = {};
  for (const s of schema.options) {
    const v = r[s.key];
    const fail = (problem: string): never => {
      throw new OptionError(pass, s.key, problem);
    };
    values[s.key] = v === undefined || v === null || (v === '' && s.type !== 'list') ? (s.default as OptionValues[string]) : parseValue(s, v, fail);
    if (Array.isArray(values[s.key])) values[s.key] = [...(values[s.key] as string[])];
  }
  const fail = (key: string, problem: string): never => {
    throw new OptionError(pass, key, problem);
  };
  return schema.finish ? schema.finish(values, fail) : (values as O);
}

/** The `mlc compress` flags the schema contributes (shared ones, like --exclude, excluded). */
export function schemaFlags(schema: OptionSchema<unknown>): { flags: string; description: string; choices?: string[] }[] {
  const out: { flags: string; description: string; choices?: string[] }[] = [];
  for (const t of schema.cli?.extraFlags ?? []) out.push({ flags: t.flag, description: t.help });
  for (const s of schema.options) {
    if (!s.flag || s.sharedFlag) continue;
    const shown = s.default !== undefined && s.default !== false && !(Array.isArray(s.default) && !s.default.length);
    const dflt = shown ? ` (default ${Array.isArray(s.default) ? s.default.join(',') : s.default})` : '';
    out.push({ flags: s.flag, description: s.help + dflt, ...(s.type === 'enum' ? { choices: [...s.choices] } : {}) });
    if (s.type === 'boolean' && s.negatable) out.push({ flags: s.flag.replace(/^--/, '--no-'), description: s.negatable });
  }
  return out;
}

/**
 * Raw options from parsed `mlc compress` flags (commander camelCase keys), or undefined when no
 * trigger flag is set. A boolean flag set to false only counts when it is negatable (--no-x).
 */
export function flagsToOptions(schema: OptionSchema<unknown>, flags: Record<string, unknown>): Record<string, unknown> | undefined {
  const cli = schema.cli;
  if (!cli) return undefined;
  const set = (k: string) => flags[k] !== undefined && flags[k] !== null && flags[k] !== false;
  if (!cli.triggers.some(set)) return undefined;
  const raw: Record<string, unknown> = {};
  for (const s of schema.options) {
    if (!s.flag) continue;
    const v = flags[flagKey(s.flag)];
    if (v === undefined || v === null) continue;
    if (v === false && !(s.type === 'boolean' && s.negatable)) continue;
    raw[s.key] = isNumeric(s) ? flagNumber(s, v) : v;
  }
  return raw;
}

function isNumeric(s: OptionSpec): s is Extract<OptionSpec, { type: 'number' | 'integer' | 'fraction' }> {
  return s.type === 'number' || s.type === 'integer' || s.type === 'fraction';
}

/** A numeric flag's string as a number ("0.9" → 0.9); a percentage, or text that is no number, stays for the parser to judge. */
function flagNumber(s: OptionSpec, v: unknown): unknown {
  if (typeof v !== 'string') return v;
  const t = v.trim();
  if (t === '' || (s.type === 'fraction' && t.endsWith('%'))) return v;
  const n = Number(t);
  return Number.isFinite(n) ? n : v;
}

/**
 * The flags of a pass that does not run which the user typed (`typed(commander key)`): each as a
 * warning that says what would make it count (`--prune-scope does nothing without --prune or …`),
 * or, with a recipe, that the recipe's options apply instead. Shared flags (--exclude) are the
 * caller's business.
 */
export function idleFlags(schema: OptionSchema<unknown>, typed: (key: string) => boolean, recipe?: string): string[] {
  const cli = schema.cli;
  if (!cli) return [];
  const all = [...schema.options.filter((s) => s.flag && !s.sharedFlag).map((s) => s.flag!), ...(cli.extraFlags ?? []).map((t) => t.flag)];
  const triggers = all.filter((f) => cli.triggers.includes(flagKey(f))).map(longFlag);
  const out: string[] = [];
  for (const f of all) {
    const key = flagKey(f);
    if (!typed(key) || (!recipe && cli.triggers.includes(key))) continue;
    out.push(
      recipe
        ? `${longFlag(f)} does nothing with --recipe (set ${schema.pass} options in ${recipe})`
        : `${longFlag(f)} does nothing without ${triggers.join(' or ')} (the ${schema.pass} pass does not run)`,
    );
  }
  return out;
}

/** Option help for `mlc passes` (key → help with its default). */
export function schemaHelp(schema: OptionSchema<unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const s of schema.options) {
    const kind = s.type === 'enum' ? s.choices.join(' | ') : s.type;
    const dflt = s.default !== undefined && !(Array.isArray(s.default) && !s.default.length) ? `; default ${Array.isArray(s.default) ? s.default.join(',') : s.default}` : '';
    out[s.key] = `${s.help} (${kind}${dflt})`;
  }
  return out;
}

/** JSON Schema (draft 2020-12) of one pass's options object. */
export function optionsJsonSchema(schema: OptionSchema<unknown>): Record<string, unknown> {
  const properties: Record<string, unknown> = {};
  for (const s of schema.options) {
    let p: Record<string, unknown>;
    switch (s.type) {
      case 'number':
      case 'integer':
      case 'fraction': {
        const n: Record<string, unknown> = { type: s.type === 'integer' ? 'integer' : 'number' };
        if (s.min !== undefined) n[s.exclusiveMin ? 'exclusiveMinimum' : 'minimum'] = s.min;
        if (s.max !== undefined) n[s.exclusiveMax ? 'exclusiveMaximum' : 'maximum'] = s.max;
        p = s.type === 'fraction' ? { anyOf: [n, { type: 'string', pattern: '^\\s*[0-9.]+\\s*%\\s*$' }] } : n;
        break;
      }
      case 'boolean':
        p = { type: 'boolean' };
        break;
      case 'enum':
        p = { enum: [...s.choices] };
        break;
      case 'string':
        p = { type: 'string', minLength: 1 };
        break;
      case 'list':
        p = { anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }] };
        break;
    }
    p.description = s.help;
    if (s.default !== undefined) p.default = s.default;
    properties[s.key] = p;
  }
  return { type: 'object', properties, additionalProperties: false };
}

/**
 * JSON Schema of a recipe file over the given passes: a list of {pass, options} steps, or
 * {"$schema": …, "steps": [that list]} (the form that can name the schema, for editors). The
 * package ships it as mlc.schema.json (`mlc passes --json-schema` prints the same).
 */
export function recipeJsonSchema(schemas: readonly OptionSchema<unknown>[]): Record<string, unknown> {
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    title: 'mlc recipe',
    description: 'The passes to run, in order (mlc compress --recipe file.json): a list of steps, or {"$schema": ..., "steps": [...]}.',
    oneOf: [
      { $ref: '#/$defs/steps' },
      {
        type: 'object',
        properties: { $schema: { type: 'string' }, steps: { $ref: '#/$defs/steps' } },
        required: ['steps'],
        additionalProperties: false,
      },
    ],
    $defs: {
      steps: {
        type: 'array',
        items: {
          oneOf: schemas.map((s) => ({
            type: 'object',
            properties: { pass: { const: s.pass }, options: optionsJsonSchema(s) },
            required: ['pass'],
            additionalProperties: false,
          })),
        },
      },
    },
  };
}

/**
 * The recipe step union as TypeScript source (what RecipeStepOf gives for these schemas, written
 * out): the published declarations carry it in place of RecipeStepOf<typeof …_SCHEMA>, so that
 * they need not ship every pass's declarations (scripts/bundle.mjs).
 */
export function recipeStepTypeScript(schemas: readonly OptionSchema<unknown>[]): string {
  const q = (v: string) => `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  const valueType = (s: OptionSpec): string => {
    switch (s.type) {
      case 'number':
      case 'integer':
        return 'number';
      case 'fraction':
        return 'number | `${number}%`';
      case 'boolean':
        return 'boolean';
      case 'enum':
        return s.choices.map(q).join(' | ');
      case 'list':
        return 'string | readonly string[]';
      case 'string':
        return 'string';
    }
  };
  return schemas
    .map((sch) => `{ pass: ${q(sch.pass)}; options?: { ${sch.options.map((s) => `${s.key}?: ${valueType(s)};`).join(' ')} } }`)
    .join('\n  | ');
}

/** Where options came from, for error messages. */
export type OptionOrigin = { kind: 'flags' } | { kind: 'recipe'; file: string; step: number };

/**
 * Rewrite an option error for the user: from flags it names the flag they typed
 * (`--prune-scope: must be one of …`); from a recipe, the file, step and key. Other errors pass
 * through unchanged.
 */
export function explainOptionError(err: unknown, schema: OptionSchema<unknown> | undefined, origin: OptionOrigin): unknown {
  if (!(err instanceof OptionError)) {
    if (origin.kind === 'recipe' && err instanceof MlcError && err.code === 'USAGE') {
      return new MlcError('USAGE', `recipe ${origin.file}: step ${origin.step}: ${err.message}`, { cause: err });
    }
    return err;
  }
  if (origin.kind === 'recipe') {
    const what = err.key ? `option "${err.key}" ${err.problem}` : err.problem;
    return new MlcError('USAGE', `recipe ${origin.file}: step ${origin.step} (${err.pass}): ${what}`, { cause: err });
  }
  const spec = schema?.options.find((s) => s.key === err.key);
  if (spec?.flag) return new MlcError('USAGE', `${longFlag(spec.flag)}: ${err.problem}`, { cause: err });
  return err;
}

/**
 * A pass whose option surfaces all derive from its schema: `options` (help for `mlc passes`),
 * `parseOptions`, and `cli` (flags, fromFlags, outputSuffix). The result is a Pass.
 */
export function definePass<O, M, C, R>(
  schema: OptionSchema<O>,
  p: { describe: string; run: (model: M, options: O, ctx: C) => Promise<R> },
) {
  const cli = schema.cli;
  return {
    name: schema.pass,
    describe: p.describe,
    options: schemaHelp(schema as OptionSchema<unknown>),
    schema,
    parseOptions: (raw: unknown): O => parseWithSchema(schema, raw),
    run: p.run,
    cli: cli
      ? {
          flags: schemaFlags(schema as OptionSchema<unknown>),
          fromFlags: (flags: Record<string, unknown>) => flagsToOptions(schema as OptionSchema<unknown>, flags),
          outputSuffix: cli.outputSuffix,
        }
      : undefined,
  };
}
