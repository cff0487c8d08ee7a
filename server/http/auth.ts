/**
 * Registry authorization with Docker token auth (distribution docs/spec/auth/token.md, scope.md). It
 * runs after routing, so the repository name is exactly the one the handler will use. It maps each
 * request to the access it needs:
 *   GET/HEAD -> pull;  POST/PUT/PATCH -> pull,push;  DELETE -> delete;  /v2/_catalog -> registry:catalog:*;
 *   GET /v2/ -> any valid token (the client's ping, where it learns the challenge).
 * Without a usable token the answer is 401 UNAUTHORIZED with
 *   WWW-Authenticate: Bearer realm="<this server>/token",service="berth",scope="<needed>"
 * plus error="invalid_token" for a token that does not verify (RFC 6750 §3.1). A valid token that lacks
 * the access gets error="insufficient_scope": 401 for an anonymous token (logging in may help), 403
 * DENIED for a user's (RFC 6750 §3.1: the request needs privileges the token does not carry).
 * With anonymous pull on, pulls without any Authorization header are served.
 * Cross-repository mounts need pull on `from` too; without it the mount is ignored and a normal upload
 * starts (the spec lets a registry decline a mount with 202), so clients that guess a source still push.
 */
import type { AuthService } from '../auth/service.ts';
import { AuthError } from '../auth/errors.ts';
import { SERVICE } from '../auth/jwt.ts';
import { CATALOG, allows, formatScope, type ResourceAccess } from '../auth/scope.ts';
import { RegistryError } from '../registry/errors.ts';
import { parseName } from '../registry/reference.ts';
import type { Ctx } from './context.ts';
import type { Route } from './routes.ts';

export const WWW_AUTHENTICATE = 'WWW-Authenticate';
const HOST = /^[A-Za-z0-9.-]+(?::\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](?::\d{1,5})?$/;

/** The token endpoint's URL as this client reaches us (its Host header and scheme). */
export function tokenRealm(ctx: Ctx, fallbackUrl: () => string | null): string {
  const host = ctx.get('Host');
  if (HOST.test(host)) return `${ctx.protocol}://${host}/token`;
  return `${fallbackUrl() ?? 'http://localhost'}/token`;
}

/**
 * The token of an `Authorization: Bearer <token>` header (RFC 6750 §2.1: the token68 syntax), or null
 * for none or another scheme. The one parser of bearer tokens: registry JWTs, the management API's
 * admin JWTs and the desktop app's per-launch token all arrive this way.
 */
export function bearerToken(header: string | undefined): string | null {
  return /^Bearer +([A-Za-z0-9._~+/-]+=*)$/i.exec(header ?? '')?.[1] ?? null;
}

export function bearerChallenge(realm: string, needed: readonly ResourceAccess[], error?: 'invalid_token' | 'insufficient_scope'): string {
  let value = `Bearer realm="${realm}",service="${SERVICE}"`;
  if (needed.length > 0) value += `,scope="${needed.map(formatScope).join(' ')}"`;
  if (error) value += `,error="${error}"`;
  return value;
}

function actionsFor(method: string): string[] {
  if (method === 'GET' || method === 'HEAD') return ['pull'];
  if (method === 'DELETE') return ['delete'];
  return ['pull', 'push'];
}

/** The access a registry route needs (empty for the base endpoint). */
export function requiredAccess(ctx: Ctx): ResourceAccess[] {
  if (ctx.params.name !== undefined) return [{ type: 'repository', name: parseName(ctx.params.name), actions: actionsFor(ctx.method) }];
  if (/^\/v2\/_catalog$/.test(ctx.path)) return [CATALOG];
  return [];
}

function onlyPulls(needed: readonly ResourceAccess[]): boolean {
  return needed.length > 0 && needed.every((n) => (n.type === 'repository' && n.actions.every((a) => a === 'pull')) || n.type === 'registry' && n.name === 'catalog');
}

export type Authorize = (ctx: Ctx, route: Route) => Promise<void>;

export function registryAuthorizer(auth: AuthService, fallbackUrl: () => string | null): Authorize {
  const anonymous = auth.anonymous();
  return async function authorize(ctx) {
    const needed = requiredAccess(ctx);
    const realm = () => tokenRealm(ctx, fallbackUrl);
    const header = ctx.get('Authorization');
    const bearer = bearerToken(header);
    if (!bearer) {
      if (header === '' && onlyPulls(needed) && needed.every((n) => auth.grant(anonymous, [n]).length === 1)) return;
      throw unauthorized(realm(), needed, 'authentication required: log in (docker login) to get a token');
    }
    let claims;
    try {
      claims = await auth.verify(bearer);
    } catch (err) {
      if (!(err instanceof AuthError)) throw err;
      throw unauthorized(realm(), needed, err.message, 'invalid_token');
    }
    ctx.state.user = claims.sub;
    const missing = needed.filter((n) => !allows(claims.access, n));
    if (missing.length > 0) {
      const message = `the token does not allow ${missing.map(formatScope).join(' ')}`;
      if (claims.sub === '') throw unauthorized(realm(), needed, message, 'insufficient_scope');
      throw new RegistryError('DENIED', {
        message,
        detail: accessDetail(missing),
        headers: { [WWW_AUTHENTICATE]: bearerChallenge(realm(), needed, 'insufficient_scope') },
      });
    }
    dropUnreadableMountSource(ctx, claims.access);
  };
}

function unauthorized(realm: string, needed: ResourceAccess[], message: string, error?: 'invalid_token' | 'insufficient_scope'): RegistryError {
  return new RegistryError('UNAUTHORIZED', {
    message,
    detail: accessDetail(needed),
    headers: { [WWW_AUTHENTICATE]: bearerChallenge(realm, needed, error) },
  });
}

/** distribution's detail for auth errors: the access records that were needed. */
function accessDetail(needed: readonly ResourceAccess[]): { Type: string; Name: string; Action: string }[] {
  return needed.flatMap((n) => n.actions.map((Action) => ({ Type: n.type, Name: n.name, Action })));
}

function dropUnreadableMountSource(ctx: Ctx, access: ResourceAccess[]): void {
  if (ctx.method !== 'POST' || typeof ctx.query.from !== 'string') return;
  let from: string;
  try {
    from = parseName(ctx.query.from);
  } catch {
    return; // the handler reports the bad name
  }
  if (allows(access, { type: 'repository', name: from, actions: ['pull'] })) return;
  const query = new URLSearchParams(ctx.querystring);
  query.delete('from');
  ctx.querystring = query.toString();
}
