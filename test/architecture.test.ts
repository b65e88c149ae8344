/**
 * The layer order of docs/architecture.md, enforced: every import in src/ follows the Layers table
 * (or is a listed known exception), third-party packages stay in their layers, files import each
 * other without cycles, and the table itself only points down.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SRC = join(ROOT, 'src');

interface Layer {
  rank: number;
  name: string;
  mayImport: Set<string>;
  packages: Set<string>;
}

interface Import {
  from: string; // file, relative to src/
  spec: string; // as written
  target?: string; // resolved file, relative to src/, for relative imports
  typeOnly: boolean;
}

/** The Layers table and the Known exceptions list of docs/architecture.md. */
function readDoc(text: string): { layers: Map<string, Layer>; exceptions: Set<string> } {
  const section = (title: string) => {
    const start = text.indexOf(`\n## ${title}\n`);
    if (start < 0) throw new Error(`docs/architecture.md has no "## ${title}" section`);
    const end = text.indexOf('\n## ', start + 4);
    return text.slice(start, end < 0 ? undefined : end);
  };
  const layers = new Map<string, Layer>();
  for (const line of section('Layers').split('\n')) {
    const cells = line.split('|').map((c) => c.trim());
    if (cells.length < 7 || !/^\d+$/.test(cells[1])) continue;
    const list = (c: string) => new Set(c.split(',').map((x) => x.trim()).filter((x) => x && x !== '—'));
    layers.set(cells[2], { rank: Number(cells[1]), name: cells[2], mayImport: list(cells[4]), packages: list(cells[5]) });
  }
  const exceptions = new Set<string>();
  for (const m of section('Known exceptions').matchAll(/^- `src\/([^`]+)` → `src\/([^`]+)`/gm)) exceptions.add(`${m[1]} -> ${m[2]}`);
  return { layers, exceptions };
}

/** The layer a file (relative to src/) belongs to: its top folder, `api` for src/index.ts. */
function layerOf(file: string): string {
  const parts = file.split('/');
  return parts.length === 1 ? (parts[0] === 'index.ts' ? 'api' : parts[0].replace(/\.ts$/, '')) : parts[0];
}

function packageOf(spec: string): string {
  return spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0];
}

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

/** Every import / export-from / dynamic import() / import type of a file, with whether it is erased at run time. */
function importsOf(file: string, text: string): Import[] {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true);
  const from = relative(SRC, file);
  const out: Import[] = [];
  const add = (spec: string, typeOnly: boolean) => {
    const target = spec.startsWith('.') ? relative(SRC, resolve(dirname(file), spec)).replace(/\.js$/, '.ts') : undefined;
    out.push({ from, spec, target, typeOnly });
  };
  const visit = (n: ts.Node) => {
    if (ts.isImportDeclaration(n) && ts.isStringLiteral(n.moduleSpecifier)) {
      const c = n.importClause;
      const named = c?.namedBindings && ts.isNamedImports(c.namedBindings) ? c.namedBindings.elements : undefined;
      const typeOnly = !!c && (c.isTypeOnly || (!c.name && !!named && named.length > 0 && named.every((e) => e.isTypeOnly)));
      add(n.moduleSpecifier.text, typeOnly);
    } else if (ts.isExportDeclaration(n) && n.moduleSpecifier && ts.isStringLiteral(n.moduleSpecifier)) {
      add(n.moduleSpecifier.text, n.isTypeOnly);
    } else if (ts.isCallExpression(n) && n.expression.kind === ts.SyntaxKind.ImportKeyword && n.arguments[0] && ts.isStringLiteral(n.arguments[0])) {
      add(n.arguments[0].text, false);
    } else if (ts.isImportTypeNode(n) && ts.isLiteralTypeNode(n.argument) && ts.isStringLiteral(n.argument.literal)) {
      add(n.argument.literal.text, true); // typeof import('…') in a type position
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return out;
}

/** Layer violations of a list of imports: `from-file -> target-layer` keys with a reason. */
function violations(layers: Map<string, Layer>, imports: Import[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const i of imports) {
    const a = layerOf(i.from);
    const la = layers.get(a);
    if (!la) {
      out.set(`${i.from} -> ?`, `${i.from} is in no layer of docs/architecture.md (${a})`);
      continue;
    }
    if (i.target) {
      const b = layerOf(i.target);
      if (a === b) continue;
      if (!layers.has(b)) out.set(`${i.from} -> ${b}`, `${i.target} is in no layer of docs/architecture.md`);
      else if (!la.mayImport.has(b)) out.set(`${i.from} -> ${b}`, `${a} may not import ${b} (${i.from} imports ${i.spec})`);
    } else if (!i.spec.startsWith('node:')) {
      const p = packageOf(i.spec);
      const owners = [...layers.values()].filter((l) => l.packages.has(p)).map((l) => l.name);
      if (!owners.includes(a)) out.set(`${i.from} -> ${p}`, `package ${p} may be imported only in ${owners.join(', ') || '(no layer)'} (${i.from})`);
    }
  }
  return out;
}

/** Cycles among files through imports that exist at run time (strongly connected components > 1). */
function runtimeCycles(imports: Import[]): string[][] {
  const g = new Map<string, string[]>();
  for (const i of imports) {
    if (!g.has(i.from)) g.set(i.from, []);
    if (i.target && !i.typeOnly) g.get(i.from)!.push(i.target);
  }
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  const connect = (v: string) => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of g.get(v) ?? []) {
      if (!index.has(w)) {
        connect(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1) out.push(scc.sort());
    }
  };
  for (const v of g.keys()) if (!index.has(v)) connect(v);
  return out;
}

const doc = readDoc(readFileSync(join(ROOT, 'docs/architecture.md'), 'utf8'));
const imports = walk(SRC).flatMap((f) => importsOf(f, readFileSync(f, 'utf8')));

describe('architecture (docs/architecture.md)', () => {
  it('the Layers table names every layer once and only points down', () => {
    expect(doc.layers.size).toBeGreaterThanOrEqual(10);
    for (const l of doc.layers.values()) {
      for (const t of l.mayImport) {
        expect(doc.layers.has(t), `${l.name} may import unknown layer ${t}`).toBe(true);
        expect(doc.layers.get(t)!.rank, `${l.name} (${l.rank}) may import ${t}, which is not below it`).toBeLessThan(l.rank);
      }
    }
  });

  it('every import in src/ follows the table, apart from the known exceptions', () => {
    const found = violations(doc.layers, imports);
    const unexpected = [...found].filter(([k]) => !doc.exceptions.has(k)).map(([, why]) => why);
    expect(unexpected, unexpected.join('\n')).toEqual([]);
  });

  it('every known exception still exists (remove fixed ones from the doc)', () => {
    const found = violations(doc.layers, imports);
    const stale = [...doc.exceptions].filter((k) => !found.has(k));
    expect(stale).toEqual([]);
  });

  it('no two files import each other in a cycle (type-only imports excepted)', () => {
    expect(runtimeCycles(imports)).toEqual([]);
  });

  it('no CLI command file imports another (shared pieces live in run / ui / format / measure)', () => {
    const commands = new Set(imports.filter((i) => i.from === 'cli/program.ts' && i.target?.startsWith('cli/')).map((i) => i.target!));
    commands.delete('cli/ui.ts');
    expect(commands.size).toBeGreaterThanOrEqual(4);
    const crossing = imports.filter((i) => commands.has(i.from) && i.target && commands.has(i.target) && i.target !== i.from);
    expect(crossing.map((i) => `${i.from} -> ${i.target}`)).toEqual([]);
  });

  it('the checker catches an upward import, a foreign package and a cycle', () => {
    const fake = (from: string, spec: string, target?: string): Import => ({ from, spec, target, typeOnly: false });
    const bad = violations(doc.layers, [
      fake('core/x.ts', '../passes/pass.js', 'passes/pass.ts'),
      fake('passes/y.ts', '../runtime/index.js', 'runtime/index.ts'),
      fake('math/z.ts', 'onnxruntime-node'),
      fake('ir/w.ts', '../math/quant.js', 'math/quant.ts'),
      fake('bench/v.ts', 'node:fs'),
    ]);
    expect([...bad.keys()].sort()).toEqual(['core/x.ts -> passes', 'math/z.ts -> onnxruntime-node', 'passes/y.ts -> runtime']);
    expect(runtimeCycles([fake('a/p.ts', './q.js', 'a/q.ts'), fake('a/q.ts', './p.js', 'a/p.ts')])).toEqual([['a/p.ts', 'a/q.ts']]);
    expect(runtimeCycles([fake('a/p.ts', './q.js', 'a/q.ts'), { ...fake('a/q.ts', './p.js', 'a/p.ts'), typeOnly: true }])).toEqual([]);
  });
});
