/**
 * Patterns of repository and tag names: the one dialect Berth has, for permissions (auth/permissions.ts,
 * `team/*:pull,push`) and retention rules (registry/retention.ts, `team/*`, keep `{latest,v*}`):
 *   *      any run of characters, "/" included: `team/*` is every repository under team/ at any depth,
 *          `*` every repository (`**` means the same, so patterns written for globs keep working)
 *   ?      exactly one character
 *   {a,b}  one of the alternatives, each a pattern itself (not nested)
 * Everything else stands for itself ("." is a dot). A pattern matches a whole name, never a part.
 * Why "*" crosses "/": a repository name's path is a naming convention, not a permission boundary, and
 * a grant on `team/*` that silently skipped `team/app/api` would be the surprise to avoid.
 */

const compiled = new Map<string, RegExp>();

/** A pattern's syntax problem, or null when it is well formed. */
export function patternProblem(pattern: string): string | null {
  let depth = 0;
  for (const c of pattern) {
    if (c === '{') depth += 1;
    else if (c === '}') depth -= 1;
    if (depth < 0 || depth > 1) return 'braces must pair up and not nest';
  }
  return depth === 0 ? null : 'braces must pair up and not nest';
}

function toRegExp(pattern: string): RegExp {
  let source = '';
  let inBraces = false;
  for (const c of pattern) {
    if (c === '*') source += source.endsWith('.*') ? '' : '.*';
    else if (c === '?') source += '.';
    else if (c === '{' && !inBraces) {
      inBraces = true;
      source += '(?:';
    } else if (c === '}' && inBraces) {
      inBraces = false;
      source += ')';
    } else if (c === ',' && inBraces) source += '|';
    else source += c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  }
  return new RegExp(`^${source}$`, 's');
}

/** Whether `name` matches `pattern` (a malformed pattern matches nothing). */
export function patternMatches(pattern: string, name: string): boolean {
  let re = compiled.get(pattern);
  if (!re) {
    re = patternProblem(pattern) === null ? toRegExp(pattern) : /(?!)/;
    if (compiled.size > 10_000) compiled.clear();
    compiled.set(pattern, re);
  }
  return re.test(name);
}
