/**
 * Who may do what: a user's grants are repository patterns with actions, e.g. `team/*:pull,push`.
 *   pull    read manifests, blobs, tags and referrers
 *   push    upload blobs and manifests (clients ask for pull,push together)
 *   delete  delete manifests, tags and blobs
 *   admin   all of the above; `*:admin` (admin on every repository) also opens the catalog and the
 *           management API (`registry:admin:*`), and is what the first user, `admin`, gets
 * Patterns are Berth's one dialect (server/name-pattern.ts): `*` stands for any run of characters, '/'
 * included: `*` is every repository, `team/*` everything under team/; `?` one character; `{a,b}` either.
 * Pull on `*` also allows listing the catalog (it names every repository).
 * The token endpoint grants the intersection of what was asked and what these allow (token.md).
 */
import { patternMatches, patternProblem } from '../name-pattern.ts';
import { AuthError } from './errors.ts';
import type { ResourceAccess } from './scope.ts';

export { patternMatches } from '../name-pattern.ts';

export const ACTIONS = ['pull', 'push', 'delete', 'admin'] as const;
export type Action = (typeof ACTIONS)[number];

export interface Grant {
  /** Repository name pattern; `*` matches any characters. */
  repository: string;
  actions: Action[];
}

const PATTERN = /^[a-z0-9*?{][a-z0-9*?{},._/-]*$/;
const ALL = '*';

/** Parses `PATTERN:ACTIONS` as the CLI and config take it (`team/*:pull,push`, `*:admin`). */
export function parseGrant(text: string): Grant {
  const colon = text.lastIndexOf(':');
  if (colon <= 0) {
    const example = PATTERN.test(text) ? text : 'team/*';
    throw new AuthError('invalid-input', `permission "${text}" is not PATTERN:ACTIONS: name the actions after a colon, as in "${example}:pull,push" (actions: ${ACTIONS.join(', ')}; * in a pattern matches any characters)`);
  }
  const repository = text.slice(0, colon);
  const actions = text.slice(colon + 1).split(',').filter((a) => a !== '');
  if (!PATTERN.test(repository) || repository.length > 255 || patternProblem(repository)) {
    throw new AuthError('invalid-input', `permission "${text}": "${repository}" is not a repository pattern (lowercase name, * for any characters, ? for one, {a,b} for either)`);
  }
  const unknown = actions.filter((a) => !(ACTIONS as readonly string[]).includes(a));
  if (actions.length === 0 || unknown.length > 0) {
    throw new AuthError('invalid-input', `permission "${text}": actions must be some of ${ACTIONS.join(', ')}, comma-separated (as in "team/*:pull,push")`);
  }
  return { repository, actions: [...new Set(actions)] as Action[] };
}

export function formatGrant(grant: Grant): string {
  return `${grant.repository}:${grant.actions.join(',')}`;
}


/** The registry actions one set of grants allows on a resource (`*` in the result: every action). */
export function allowedActions(grants: readonly Grant[], type: string, name: string): Set<string> {
  const out = new Set<string>();
  if (type === 'repository') {
    for (const grant of grants) {
      if (!patternMatches(grant.repository, name)) continue;
      for (const action of grant.actions) {
        if (action === 'admin') ['pull', 'push', 'delete', '*'].forEach((a) => out.add(a));
        else out.add(action);
      }
    }
    return out;
  }
  if (type === 'registry') {
    const everywhere = new Set(grants.filter((g) => g.repository === ALL).flatMap((g) => g.actions));
    if (name === 'catalog' && (everywhere.has('pull') || everywhere.has('admin'))) out.add('*');
    if (name === 'admin' && everywhere.has('admin')) out.add('*');
  }
  return out;
}

/**
 * The part of `requested` that every one of `grantSets` allows (a personal token is limited both by
 * its own grants and by its owner's). Entries left with no action are dropped: asking for more than
 * you may is not an error (token.md, "Requesting a Token").
 */
export function intersect(grantSets: readonly (readonly Grant[])[], requested: readonly ResourceAccess[]): ResourceAccess[] {
  const out: ResourceAccess[] = [];
  for (const entry of requested) {
    const allowedBy = grantSets.map((grants) => allowedActions(grants, entry.type, entry.name));
    const actions = entry.actions.filter((action) => allowedBy.every((allowed) => allowed.has(action)));
    if (actions.length > 0) out.push({ type: entry.type, name: entry.name, actions });
  }
  return out;
}

export function isAdmin(grants: readonly Grant[]): boolean {
  return allowedActions(grants, 'registry', 'admin').has('*');
}
