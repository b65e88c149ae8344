/**
 * The fleet config file, the way size-limit's `.size-limit.json` works: `mlc.config.json` (or
 * `mlc.config.mjs`, whose default export is the same value) lists entries
 *
 *   { "name"?: "eta models", "path": "models/eta/**\/*.onnx" | [globs…],
 *     "recipe": "recipes/int8.json"  |  "passes": [{"pass": "quantize", "options": {…}}],
 *     "data"?: "eval.npz", "calibrationData"?: "calib.npz",
 *     "budgets"?: { "maxSize": "2MB", "maxGzipSize": …, "maxAccuracyDrop": 0.5, "minAccuracy": …,
 *                   "minAgreement": "99%", "maxLatency": "5ms", "minSpeedup": 1.5 },
 *     "output"?: "dist/{dir}/{name}.int8.onnx" }
 *
 * either as a list or as `{ "entries": [...] }`. The budgets are the gates of `GATES`
 * (src/bench/gates.ts), with the flags' units and parsers. Paths are relative to the config file.
 * `output` is a template: `{name}` is the model's name without `.onnx`, `{dir}` its folder relative
 * to the glob's fixed part; without it, outputs go beside the inputs with the default names.
 *
 * `validateConfig` checks the file against `configJsonSchema()` key by key (unknown keys with a
 * did-you-mean, types, budget values, the recipe's passes and options) and names the entry and
 * the key in every error.
 */
import { stat } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { MlcError } from '../core/errors.js';
import { readJsonFile } from '../util/fs.js';
import { GATES, parseGateFlags, type GateLimits } from '../bench/gates.js';
import { didYouMean, explainOptionError, recipeJsonSchema } from '../passes/options.js';
import type { Pass } from '../passes/pass.js';

export const CONFIG_FILES = ['mlc.config.json', 'mlc.config.mjs'] as const;

export interface RecipeStep {
  pass: string;
  options: Record<string, unknown>;
}

export interface ConfigEntry {
  /** 1-based */
  index: number;
  /** how errors and reports name the entry: its name, else its first path */
  label: string;
  paths: string[];
  /** a recipe file, resolved against the config's folder */
  recipe?: string;
  /** an inline recipe */
  passes?: RecipeStep[];
  data?: string;
  calibrationData?: string;
  /** the budgets as written (flag values), by GATES key */
  budgets: Record<string, string>;
  /** the parsed limits */
  limits: GateLimits;
  output?: string;
}

type KeyType = 'string' | 'paths' | 'steps' | 'budgets';

/** The entry keys: the schema the file is checked against. */
const ENTRY_KEYS: Record<string, { type: KeyType; help: string }> = {
  name: { type: 'string', help: 'how reports name the entry (default: its first path)' },
  path: { type: 'paths', help: 'a model file or glob ("models/**/*.onnx"), or a list of them' },
  recipe: { type: 'string', help: 'a recipe file: a JSON list of {"pass": name, "options": {...}}' },
  passes: { type: 'steps', help: 'the recipe inline: a list of {"pass": name, "options": {...}}' },
  data: { type: 'string', help: 'evaluation data (.npz / .npy / test_data_set folder)' },
  calibrationData: { type: 'string', help: 'calibration data for quantization' },
  budgets: { type: 'budgets', help: `the gates, by name: ${GATES.map((g) => g.key).join(', ')}` },
  output: { type: 'string', help: 'output path template: {dir} (relative to the glob) and {name} (without .onnx), e.g. dist/{dir}/{name}.int8.onnx' },
};

const BUDGET_KEYS = GATES.map((g) => g.key as string);

/** The JSON Schema of the config file (`mlc check --json-schema`). */
export function configJsonSchema(passes: readonly Pass<any>[]): Record<string, unknown> {
  const steps = recipeJsonSchema(passes.flatMap((p) => (p.schema ? [p.schema] : [])));
  const budget = { anyOf: [{ type: 'number' }, { type: 'string' }] };
  const prop = (type: KeyType, help: string): Record<string, unknown> => {
    switch (type) {
      case 'string':
        return { type: 'string', description: help };
      case 'paths':
        return { description: help, anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' }, minItems: 1 }] };
      case 'steps':
        return { ...steps, description: help };
      case 'budgets':
        return {
          type: 'object',
          description: help,
          additionalProperties: false,
          properties: Object.fromEntries(GATES.map((g) => [g.key, { ...budget, description: g.description.replace(/^fail/, 'fail the model') }])),
        };
    }
  };
  const entry = {
    type: 'object',
    required: ['path'],
    additionalProperties: false,
    properties: Object.fromEntries(Object.entries(ENTRY_KEYS).map(([k, v]) => [k, prop(v.type, v.help)])),
    oneOf: [{ required: ['recipe'] }, { required: ['passes'] }],
  };
  const entries = { type: 'array', items: entry, minItems: 1 };
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    title: 'mlc.config.json',
    anyOf: [entries, { type: 'object', required: ['entries'], additionalProperties: false, properties: { $schema: { type: 'string' }, entries } }],
  };
}

/** The config file in `dir`, if any (mlc.config.json first). */
export async function findConfig(dir: string): Promise<string | undefined> {
  for (const name of CONFIG_FILES) {
    const p = join(dir, name);
    if (await stat(p).then((s) => s.isFile(), () => false)) return p;
  }
  return undefined;
}

/** Read the file's value: JSON, or the default export of an ES module (.mjs / .js). */
export async function readConfigFile(file: string): Promise<unknown> {
  if (/\.(mjs|js)$/i.test(file)) {
    try {
      const mod = (await import(pathToFileURL(resolve(file)).href)) as { default?: unknown };
      if (mod.default === undefined) throw new MlcError('INPUT', `${file}: no default export (export default [ {path, recipe, budgets}, … ])`);
      return typeof mod.default === 'function' ? await (mod.default as () => unknown)() : mod.default;
    } catch (err) {
      if (err instanceof MlcError) throw err;
      throw new MlcError('INPUT', `${file}: cannot load: ${(err as Error).message}`);
    }
  }
  return readJsonFile(file);
}

const typeName = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'a list' : typeof v === 'object' ? 'an object' : `a ${typeof v}`);

/**
 * Check the file's value and resolve its paths (relative to `dir`, the config's folder);
 * `getPass` looks up recipe passes (their options are parsed here, so a typo fails before any work).
 */
export function validateConfig(doc: unknown, file: string, dir: string, getPass: (name: string) => Pass<any>): ConfigEntry[] {
  const fail = (where: string, problem: string): never => {
    throw new MlcError('USAGE', `${file}: ${where}${problem}`);
  };
  let list: unknown = doc;
  if (doc && typeof doc === 'object' && !Array.isArray(doc)) {
    const extra = Object.keys(doc).filter((k) => k !== 'entries' && k !== '$schema');
    if (extra.length) fail('', `unknown key "${extra[0]}" at the top (a list of entries, or {"entries": [...]})`);
    list = (doc as { entries?: unknown }).entries;
  }
  if (!Array.isArray(list) || list.length === 0) fail('', 'must be a non-empty list of entries {"path": glob, "recipe": file, "budgets": {...}} (or {"entries": [...]})');
  const rel = (p: string) => (isAbsolute(p) ? p : join(dir, p));
  return (list as unknown[]).map((raw, i) => {
    let at = `entry ${i + 1}: `;
    if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return fail(at, `must be an object, not ${typeName(raw)}`);
    const e = raw as Record<string, unknown>;
    const paths = typeof e.path === 'string' ? [e.path] : Array.isArray(e.path) && e.path.length && e.path.every((p) => typeof p === 'string') ? (e.path as string[]) : undefined;
    const label = typeof e.name === 'string' ? e.name : paths ? paths.join(', ') : '';
    at = `entry ${i + 1}${label ? ` (${label})` : ''}: `;
    for (const k of Object.keys(e)) {
      if (ENTRY_KEYS[k]) continue;
      const near = didYouMean(k, [...Object.keys(ENTRY_KEYS), ...BUDGET_KEYS]);
      const hint = near ? (BUDGET_KEYS.includes(near) ? ` (did you mean "budgets": {"${near}": …}?)` : ` (did you mean "${near}"?)`) : '';
      fail(at, `unknown key "${k}"${hint}`);
    }
    if (!paths) fail(at, `"path" must be a file or glob, or a non-empty list of them, not ${e.path === undefined ? 'missing' : typeName(e.path)}`);
    for (const k of ['name', 'recipe', 'data', 'calibrationData', 'output']) {
      if (e[k] !== undefined && (typeof e[k] !== 'string' || e[k] === '')) fail(at, `"${k}" must be a non-empty string, not ${typeName(e[k])}`);
    }
    if ((e.recipe === undefined) === (e.passes === undefined)) fail(at, 'give exactly one of "recipe" (a file) and "passes" (a list of {"pass", "options"})');
    let passes: RecipeStep[] | undefined;
    if (e.passes !== undefined) {
      if (!Array.isArray(e.passes)) fail(at, `"passes" must be a list of {"pass": name, "options": {...}}, not ${typeName(e.passes)}`);
      passes = (e.passes as unknown[]).map((s, j) => {
        const step = s as { pass?: unknown; options?: unknown } | null;
        if (!step || typeof step !== 'object' || typeof step.pass !== 'string') return fail(at, `passes[${j}] must be an object with a "pass" name`);
        if (step.options !== undefined && (step.options === null || typeof step.options !== 'object' || Array.isArray(step.options))) {
          fail(at, `passes[${j}] (${step.pass}): "options" must be an object`);
        }
        return { pass: step.pass, options: (step.options ?? {}) as Record<string, unknown> };
      });
      checkSteps(passes, `${file} entry ${i + 1} "passes"`, getPass);
    }
    const budgets: Record<string, string> = {};
    let limits: GateLimits = {};
    if (e.budgets !== undefined) {
      if (!e.budgets || typeof e.budgets !== 'object' || Array.isArray(e.budgets)) fail(at, `"budgets" must be an object, not ${typeName(e.budgets)}`);
      for (const [k, v] of Object.entries(e.budgets as Record<string, unknown>)) {
        const gate = GATES.find((g) => g.key === k);
        if (!gate) {
          const near = didYouMean(k, BUDGET_KEYS);
          fail(at, `budgets.${k} is not a budget${near ? ` (did you mean "${near}"?)` : ''}; the budgets: ${BUDGET_KEYS.join(', ')}`);
        }
        if (typeof v !== 'number' && typeof v !== 'string') fail(at, `budgets.${k} must be a number or a string like "5MB", not ${typeName(v)}`);
        budgets[k] = String(v);
        try {
          limits = { ...limits, ...parseGateFlags({ [k]: String(v) }) };
        } catch (err) {
          fail(at, `budgets.${k}: ${(err as Error).message.replace(/^--[a-z-]+: /, '')}`);
        }
        for (const need of gate!.needs) {
          if ((need === 'data' || need === 'labels') && e.data === undefined) fail(at, `budgets.${k} needs "data"${need === 'labels' ? ' with labels' : ''}`);
        }
      }
    }
    const output = e.output as string | undefined;
    if (output !== undefined && !output.includes('{name}')) fail(at, `"output" must contain {name} (one file per model), e.g. "dist/{dir}/{name}.int8.onnx"`);
    return {
      index: i + 1,
      label: label || String(i + 1),
      paths: paths!.map(rel),
      ...(e.recipe !== undefined ? { recipe: rel(e.recipe as string) } : {}),
      ...(passes ? { passes } : {}),
      ...(e.data !== undefined ? { data: rel(e.data as string) } : {}),
      ...(e.calibrationData !== undefined ? { calibrationData: rel(e.calibrationData as string) } : {}),
      budgets,
      limits,
      ...(output !== undefined ? { output: rel(output) } : {}),
    };
  });
}

/** Parse each step's options with its pass (an unknown pass or option names `origin`, the step and the key). */
export function checkSteps(steps: readonly RecipeStep[], origin: string, getPass: (name: string) => Pass<any>): void {
  steps.forEach((s, j) => {
    let pass: Pass<any>;
    try {
      pass = getPass(s.pass);
    } catch (err) {
      throw new MlcError('USAGE', `${origin}: step ${j + 1}: ${(err as Error).message}`);
    }
    try {
      pass.parseOptions(s.options);
    } catch (err) {
      throw explainOptionError(err, pass.schema, { kind: 'recipe', file: origin, step: j + 1 });
    }
  });
}

/** Read a recipe file named by an entry (a JSON list of steps) and check its steps. */
export async function checkRecipeFile(entry: ConfigEntry, file: string, getPass: (name: string) => Pass<any>): Promise<void> {
  if (!entry.recipe) return;
  const doc = await readConfigFile(entry.recipe).catch((err: Error) => {
    throw new MlcError('INPUT', `${file}: entry ${entry.index} (${entry.label}): "recipe": ${err.message}`);
  });
  if (!Array.isArray(doc) || doc.some((s) => !s || typeof s !== 'object' || typeof s.pass !== 'string')) {
    throw new MlcError('USAGE', `${file}: entry ${entry.index} (${entry.label}): recipe ${entry.recipe} must be a JSON list of {"pass": name, "options": {...}}`);
  }
  checkSteps(
    doc.map((s: { pass: string; options?: Record<string, unknown> }) => ({ pass: s.pass, options: s.options ?? {} })),
    entry.recipe,
    getPass,
  );
}

/** `output` with `{dir}` and `{name}` filled in. */
export function fillOutput(template: string, dir: string, name: string): string {
  return template.replace(/\{dir\}/g, dir || '.').replace(/\{name\}/g, name);
}
