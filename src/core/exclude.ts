/** `--exclude` patterns: globs over node and weight names (`*` any run, `?` one character). */

/** Glob match for --exclude (`*` any run, `?` one char). */
export function globMatch(pattern: string, name: string): boolean {
  const re = new RegExp('^' + pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.') + '$');
  return re.test(name);
}

/** Does `name` match any of `patterns`? */
export function isExcluded(name: string, patterns: readonly string[] | undefined): boolean {
  return !!patterns && patterns.some((p) => globMatch(p, name));
}
