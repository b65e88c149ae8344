#!/usr/bin/env node
/**
 * The published build (`npm run bundle`, run by `npm pack` / `npm publish` through `prepack`):
 * - lib/cli.js, lib/index.js, lib/data.js: src/ bundled by rolldown (dependencies stay imports).
 *   Every `await import()` of src/ stays a split point (a chunk under lib/chunks/), so that
 *   `mlc inspect` loads neither onnxruntime nor tfjs, as from dist/.
 * - lib/types/: the .d.ts files tsc wrote to dist/ that the two typed entry points (index, data)
 *   reach, in the same layout (the relative imports between them still resolve).
 * Tests and benchmarks keep using src/ and dist/ (tsc); run `npm run build` first (this does).
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { build } from 'rolldown';

const ROOT = resolve(import.meta.dirname, '..');
const LIB = join(ROOT, 'lib');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
const deps = [...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.peerDependencies ?? {})];

rmSync(LIB, { recursive: true, force: true });
await build({
  cwd: ROOT,
  // includeDependenciesRecursively: false needs it (the entries' exports are kept as they are)
  preserveEntrySignatures: 'allow-extension',
  input: { cli: 'src/cli/main.ts', index: 'src/index.ts', data: 'src/data/index.ts' },
  platform: 'node',
  // node built-ins and every package (dependencies, optional peers) stay imports
  external: (id) => id.startsWith('node:') || deps.some((d) => id === d || id.startsWith(`${d}/`)),
  logLevel: 'warn',
  // a module both imported and lazily imported stays where it is: expected here, not news
  onLog: (level, log, handle) => {
    if (log.code !== 'INEFFECTIVE_DYNAMIC_IMPORT') handle(level, log);
  },
  output: {
    dir: LIB,
    format: 'esm',
    entryFileNames: '[name].js',
    chunkFileNames: 'chunks/[name].js',
    minify: false,
    // few files: mlc's code in one shared chunk, except what imports a heavy package at its top
    // (onnxruntime-node: src/runtime/index.ts and src/bench/index.ts, which imports it; tfjs: src/train),
    // which stays in chunks that load only when a command needs them, and the entry modules
    // (src/cli/main.ts runs the CLI when evaluated; src/index.ts imports src/runtime lazily)
    codeSplitting: {
      // a group holds the modules it names, not their dependencies (those go to 'mlc')
      includeDependenciesRecursively: false,
      groups: [
        // only the modules that import onnxruntime-node at their top: the runtime registry, the
        // WebGPU op data and the web runtimes (which load their packages when called) are light
        { name: 'runtime', test: /[\\/]src[\\/](runtime[\\/](index|profile)\.ts|bench[\\/]index\.ts)$/ },
        { name: 'train', test: /[\\/]src[\\/]train[\\/]/ },
        // mlc sensitivity / tune: import src/runtime at their top
        { name: 'tune', test: /[\\/]src[\\/]tune[\\/]/ },
        { name: 'mlc', test: (id) => /[\\/]src[\\/]/.test(id) && !/[\\/]src[\\/](index|cli[\\/]main)\.ts$/.test(id) },
      ],
    },
  },
});

// Facades: rolldown gives every `await import()` of a module that lives in a shared chunk a file
// of its own that only re-exports from that chunk (about 20 files of 100–300 bytes). Each such
// import becomes an import of the chunk itself, picking the same names, and the facade goes.
const CHUNKS = join(LIB, 'chunks');
const libFiles = () => [
  ...readdirSync(LIB).filter((f) => f.endsWith('.js')).map((f) => join(LIB, f)),
  ...readdirSync(CHUNKS).filter((f) => f.endsWith('.js')).map((f) => join(CHUNKS, f)),
];
let inlined = 0;
for (const name of readdirSync(CHUNKS).filter((f) => f.endsWith('.js'))) {
  const file = join(CHUNKS, name);
  const text = readFileSync(file, 'utf8').trim();
  const m = /^((?:import \{[^}]*\} from "\.\/[\w.-]+\.js";\s*)+)export \{([^}]*)\};$/.exec(text);
  if (!m) continue;
  // local name → [chunk, name in the chunk]
  const from = new Map();
  for (const im of m[1].matchAll(/import \{([^}]*)\} from "\.\/([\w.-]+\.js)";/g)) {
    for (const part of im[1].split(',').map((x) => x.trim()).filter(Boolean)) {
      const [orig, local = orig] = part.split(/\s+as\s+/);
      from.set(local, [im[2], orig]);
    }
  }
  const exported = m[2].split(',').map((x) => x.trim()).filter(Boolean).map((part) => {
    const [local, as = local] = part.split(/\s+as\s+/);
    return [as, local];
  });
  const importers = libFiles().filter((f) => f !== file);
  const rel = (f) => (dirname(f) === CHUNKS ? './' : './chunks/');
  // a facade imported statically anywhere stays
  if (importers.some((f) => readFileSync(f, 'utf8').includes(`from "${rel(f)}${name}"`))) continue;
  for (const f of importers) {
    const src = readFileSync(f, 'utf8');
    const call = `import("${rel(f)}${name}")`;
    if (!src.includes(call)) continue;
    const chunks = [...new Set(exported.map(([, local]) => from.get(local)[0]))];
    const picks = exported.map(([as, local]) => {
      const [chunk, orig] = from.get(local);
      return `${JSON.stringify(as)}: m${chunks.indexOf(chunk)}[${JSON.stringify(orig)}]`;
    });
    const loads = chunks.map((c) => `import("${rel(f)}${c}")`).join(', ');
    const args = chunks.map((_, i) => `m${i}`).join(', ');
    writeFileSync(f, src.split(call).join(`Promise.all([${loads}]).then(([${args}]) => ({ ${picks.join(', ')} }))`));
  }
  rmSync(file);
  inlined++;
}

// the .d.ts closure of the typed entry points. passes/registry.d.ts derives RecipeStep from the
// passes' schemas (RecipeStepOf<typeof …_SCHEMA>), which would pull in every pass's declarations:
// the copy carries the union written out from the same schemas instead
const { passes } = await import(join(ROOT, 'dist/passes/registry.js'));
const { recipeStepTypeScript } = await import(join(ROOT, 'dist/passes/options.js'));
const rewrite = {
  'passes/registry.d.ts': (text) => {
    const out = text
      .replace(/^import (type )?\{ [A-Z_]+_SCHEMA \} from '\.\/[a-z]+\.js';\n/gm, '')
      .replace(/^import type \{ RecipeStepOf \} from '\.\/options\.js';\n/m, '')
      .replace(/^export type RecipeStep = RecipeStepOf<[^;]+>;$/m, `export type RecipeStep =\n  | ${recipeStepTypeScript(passes.map((p) => p.schema))};`);
    if (/_SCHEMA|RecipeStepOf/.test(out)) throw new Error('bundle: passes/registry.d.ts changed shape; update scripts/bundle.mjs');
    return out;
  },
};
const seen = new Set();
const texts = new Map();
const queue = ['index.d.ts', 'data/index.d.ts'];
while (queue.length) {
  const f = queue.pop();
  if (seen.has(f)) continue;
  seen.add(f);
  const text = (rewrite[f] ?? ((t) => t))(readFileSync(join(ROOT, 'dist', f), 'utf8'));
  texts.set(f, text);
  for (const m of text.matchAll(/(?:from\s+|import\()\s*['"](\.{1,2}\/[^'"]+)['"]/g)) {
    queue.push(relative(join(ROOT, 'dist'), resolve(join(ROOT, 'dist', dirname(f)), m[1].replace(/\.js$/, '.d.ts'))));
  }
}
for (const f of seen) {
  mkdirSync(dirname(join(LIB, 'types', f)), { recursive: true });
  writeFileSync(join(LIB, 'types', f), texts.get(f));
}
process.stdout.write(`lib/: 3 entry points, ${readdirSync(CHUNKS).length} chunks (${inlined} re-export facades inlined), ${seen.size} declaration files\n`);
