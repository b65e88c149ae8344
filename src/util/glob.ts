/**
 * A small file glob (Node 20 has no `fs.glob`): `*` and `?` within one path segment, `[abc]` /
 * `[!abc]` / `[a-z]` classes, `{a,b}` alternatives and `**` for any number of folders (none
 * included). Like the shells, a wildcard does not match a name that starts with a dot unless the
 * pattern segment does, and `**` does not enter dot folders. Matches are files only, returned
 * sorted, spelled the way the pattern is (relative patterns give relative paths).
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** Does `text` contain glob syntax (`* ? [ ] { }`)? */
export function hasGlob(text: string): boolean {
  return /[*?[\]{}]/.test(text);
}

/** Expand `{a,b}` alternatives (nested ones too) into plain patterns. */
export function expandBraces(pattern: string): string[] {
  const open = pattern.indexOf('{');
  if (open < 0) return [pattern];
  let depth = 0;
  const cuts: number[] = [];
  for (let i = open; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '{') depth++;
    else if (c === '}' && --depth === 0) {
      const head = pattern.slice(0, open);
      const tail = pattern.slice(i + 1);
      const parts: string[] = [];
      let from = open + 1;
      for (const cut of [...cuts, i]) {
        parts.push(pattern.slice(from, cut));
        from = cut + 1;
      }
      return parts.flatMap((p) => expandBraces(head + p + tail));
    } else if (c === ',' && depth === 1) cuts.push(i);
  }
  return [pattern]; // unbalanced: taken literally
}

/** A regular expression for one path segment of a pattern (no `/`, no braces). */
export function segmentRegExp(segment: string): RegExp {
  let re = '';
  for (let i = 0; i < segment.length; i++) {
    const c = segment[i];
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const close = segment.indexOf(']', i + 2);
      if (close < 0) {
        re += '\\[';
        continue;
      }
      let body = segment.slice(i + 1, close);
      const negate = body[0] === '!' || body[0] === '^';
      if (negate) body = body.slice(1);
      re += `[${negate ? '^' : ''}${body.replace(/[\\\]]/g, '\\$&')}]`;
      i = close;
    } else re += c.replace(/[.+^$()|\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/** Does the relative `path` match `pattern` (both with `/` separators)? */
export function matchGlob(pattern: string, path: string): boolean {
  const names = path.split('/').filter(Boolean);
  return expandBraces(pattern).some((p) => matchSegments(p.split('/').filter(Boolean), names));
}

function matchSegments(segs: string[], names: string[]): boolean {
  if (segs.length === 0) return names.length === 0;
  if (segs[0] === '**') {
    for (let k = 0; k <= names.length; k++) {
      if (k > 0 && names[k - 1].startsWith('.')) break;
      if (matchSegments(segs.slice(1), names.slice(k))) return true;
    }
    return false;
  }
  if (names.length === 0) return false;
  return segmentMatches(segs[0], names[0]) && matchSegments(segs.slice(1), names.slice(1));
}

function segmentMatches(seg: string, name: string): boolean {
  if (!hasGlob(seg)) return seg === name;
  if (name.startsWith('.') && !seg.startsWith('.')) return false;
  return segmentRegExp(seg).test(name);
}

/** The folder part of a pattern before its first wildcard ('' for none): where matching starts. */
export function globBase(pattern: string): string {
  const segs = pattern.replace(/\\/g, '/').split('/');
  const lit: string[] = [];
  for (const s of segs.slice(0, -1)) {
    if (hasGlob(s)) break;
    lit.push(s);
  }
  if (!hasGlob(pattern)) return segs.slice(0, -1).join('/');
  return lit.join('/');
}

/** The files matching `pattern`, sorted. A pattern without wildcards gives itself when it is a file. */
export function expandGlob(pattern: string, cwd = process.cwd()): string[] {
  const out = new Set<string>();
  for (const p of expandBraces(pattern.replace(/\\/g, '/'))) {
    const absolute = p.startsWith('/');
    const segs = p.split('/').filter((s, i) => s !== '' && !(s === '.' && i > 0));
    walk(absolute ? '/' : '', segs, cwd, out);
  }
  return [...out].sort();
}

function kind(path: string): 'file' | 'dir' | undefined {
  try {
    const s = statSync(path);
    return s.isFile() ? 'file' : s.isDirectory() ? 'dir' : undefined;
  } catch {
    return undefined;
  }
}

function list(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** Match `segs` below `prefix` (as spelled in the result); `cwd` resolves relative prefixes. */
function walk(prefix: string, segs: string[], cwd: string, out: Set<string>): void {
  const abs = (p: string) => (p.startsWith('/') ? p : join(cwd, p || '.'));
  const at = (name: string) => (prefix === '' ? name : prefix.endsWith('/') ? prefix + name : `${prefix}/${name}`);
  if (segs.length === 0) {
    if (prefix && kind(abs(prefix)) === 'file') out.add(prefix);
    return;
  }
  const [seg, ...rest] = segs;
  if (seg === '**') {
    walk(prefix, rest, cwd, out);
    for (const name of list(abs(prefix))) {
      if (name.startsWith('.')) continue;
      const p = at(name);
      if (kind(abs(p)) === 'dir') walk(p, segs, cwd, out);
    }
    return;
  }
  if (!hasGlob(seg)) {
    const p = at(seg);
    if (rest.length === 0 || kind(abs(p)) === 'dir') walk(p, rest, cwd, out);
    return;
  }
  for (const name of list(abs(prefix))) {
    if (!segmentMatches(seg, name)) continue;
    const p = at(name);
    if (rest.length === 0) walk(p, rest, cwd, out);
    else if (kind(abs(p)) === 'dir') walk(p, rest, cwd, out);
  }
}
