/**
 * Resource scopes and access entries of the Docker token spec (distribution docs/spec/auth/scope.md,
 * "Resource Scope Grammar"; jwt.md, the `access` claim).
 *   scope         := resourcescope [ ' ' resourcescope ]*
 *   resourcescope := resourcetype ":" resourcename ":" action [ ',' action ]*
 * The resource name may itself hold one ':' (a host:port prefix), so the type ends at the first ':' and
 * the actions start after the last one.
 */
import { AuthError } from './errors.ts';

export interface ResourceAccess {
  type: string;
  name: string;
  actions: string[];
}

/** The one registry-wide resource a client asks for by name: the catalog (`registry:catalog:*`). */
export const CATALOG: ResourceAccess = { type: 'registry', name: 'catalog', actions: ['*'] };
/** Berth's management API (/api/) when registry auth is on: `registry:admin:*`, for users with admin on `*`. */
export const ADMIN: ResourceAccess = { type: 'registry', name: 'admin', actions: ['*'] };

const TYPE = /^([a-z0-9]+)(?:\([a-z0-9]+\))?$/;
const ACTION = /^[a-z*]+$/;
/** The distribution spec's repository name grammar, with an optional host[:port]/ prefix (scope.md). */
const NAME = /^(?:[A-Za-z0-9.-]+(?::\d+)?\/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;
const MAX_SCOPE = 1024;

/** Parses one resource scope; the resource class ("repository(plugin)") is ignored, as scope.md now says. */
export function parseScope(text: string): ResourceAccess {
  const first = text.indexOf(':');
  const last = text.lastIndexOf(':');
  if (text.length > MAX_SCOPE || first <= 0 || last === first) {
    throw new AuthError('invalid-input', `scope "${text.slice(0, 100)}" is not <type>:<name>:<actions>`);
  }
  const type = TYPE.exec(text.slice(0, first))?.[1];
  const name = text.slice(first + 1, last);
  const actions = text.slice(last + 1).split(',').filter((a) => a !== '');
  if (!type) throw new AuthError('invalid-input', `scope "${text.slice(0, 100)}": "${text.slice(0, first)}" is not a resource type`);
  if (!actions.every((a) => ACTION.test(a))) throw new AuthError('invalid-input', `scope "${text.slice(0, 100)}": the actions must be lowercase words or *`);
  if (type === 'repository' && !NAME.test(name)) {
    throw new AuthError('invalid-input', `scope "${text.slice(0, 100)}": "${name.slice(0, 100)}" is not a repository name`);
  }
  if (name === '') throw new AuthError('invalid-input', `scope "${text.slice(0, 100)}" has no resource name`);
  return { type, name, actions: [...new Set(actions)] };
}

/** Every scope of a list of scope parameters, each of which may hold several, space-separated. */
export function parseScopes(values: readonly string[]): ResourceAccess[] {
  return merge(values.flatMap((v) => v.split(' ')).filter((s) => s !== '').map(parseScope));
}

/** Joins entries naming the same resource, so each resource appears once with the union of its actions. */
export function merge(entries: readonly ResourceAccess[]): ResourceAccess[] {
  const byKey = new Map<string, ResourceAccess>();
  for (const entry of entries) {
    const key = `${entry.type}:${entry.name}`;
    const seen = byKey.get(key);
    if (seen) seen.actions = [...new Set([...seen.actions, ...entry.actions])];
    else byKey.set(key, { type: entry.type, name: entry.name, actions: [...entry.actions] });
  }
  return [...byKey.values()];
}

export function formatScope(entry: ResourceAccess): string {
  return `${entry.type}:${entry.name}:${entry.actions.join(',')}`;
}

/** Whether `granted` (a token's access claim) allows every action of `needed`; "*" allows any action. */
export function allows(granted: readonly ResourceAccess[], needed: ResourceAccess): boolean {
  const actions = new Set<string>();
  for (const entry of granted) {
    if (entry.type === needed.type && entry.name === needed.name) for (const a of entry.actions) actions.add(a);
  }
  return actions.has('*') || needed.actions.every((a) => actions.has(a));
}
