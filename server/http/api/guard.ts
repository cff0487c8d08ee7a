/**
 * Who may use the management API (/api/). It can delete images, so it is never open to other
 * machines without credentials:
 *   - with a management token (the desktop app passes a per-launch secret to its window), every
 *     request must carry it: `Authorization: Bearer <token>`;
 *   - otherwise, with registry auth on (--auth token), every request must carry a registry JWT whose
 *     access includes the admin grant `registry:admin:*` (only users with `*:admin` get it), from any
 *     address. A browser client gets and sends it like this:
 *       1. POST /token, Content-Type: application/x-www-form-urlencoded, body
 *            grant_type=password&username=U&password=P&service=berth&client_id=berth-ui
 *            &scope=registry:admin:*&access_type=offline
 *          -> 200 {access_token, expires_in, refresh_token, scope}. `scope` is "registry:admin:*" only
 *          for admins: otherwise show "this user may not manage the registry". Wrong credentials ->
 *          400 INVALID_GRANT; too many attempts -> 429 with Retry-After (seconds).
 *       2. Send `Authorization: Bearer <access_token>` on every /api/ request (and X-Berth-Client on
 *          changes, as below). Only in that header: a token in a URL (RFC 6750 §2.3's query form)
 *          ends up in browser history, proxies' logs and Referer headers. (The UI's live events run
 *          over fetch, which can set it.)
 *       3. Before expires_in (300 s) runs out, or on a 401, POST /token with
 *            grant_type=refresh_token&refresh_token=R&service=berth&client_id=berth-ui&scope=registry:admin:*
 *          for a new access_token. Keep the refresh token in memory or sessionStorage; a 400 means it
 *          was revoked or expired: log in again. Logging out: POST /token/revoke with token=R (RFC
 *          7009), then forget both.
 *     A request without a valid token gets 401 with `WWW-Authenticate: Bearer realm=...,scope="registry:admin:*"`;
 *     a valid token without the admin grant gets 403 DENIED;
 *   - otherwise, while registry auth is off, only requests from this machine (loopback) are served.
 * Browsers are kept out too: requests must name this server in Host (DNS rebinding), and requests
 * that change something must carry the X-Berth-Client header, which a cross-site page cannot send
 * without a CORS preflight we never grant. Its value names the client ("berth-ui", "berth-cli"):
 * what it starts is recorded as theirs (maintenance.ts triggerOf).
 */
import { timingSafeEqual } from 'node:crypto';
import type { Middleware } from 'koa';
import { AuthError } from '../../auth/errors.ts';
import { ADMIN, allows } from '../../auth/scope.ts';
import type { AuthService } from '../../auth/service.ts';
import { RegistryError } from '../../registry/errors.ts';
import { bearerChallenge, bearerToken, tokenRealm, WWW_AUTHENTICATE } from '../auth.ts';
import type { Ctx } from '../context.ts';

export const CLIENT_HEADER = 'X-Berth-Client';

export interface ManagementAccess {
  /** The per-launch secret of the desktop app, or null in headless mode. */
  token: string | null;
  /** Registry auth when it is on: then /api/ needs a JWT with the admin grant. */
  registryAuth?: AuthService | null;
  /** Where the server listens (for the token realm when a request's Host is unusable). */
  url?: () => string | null;
}

const LOOPBACK_ADDRESS = /^(127\.\d+\.\d+\.\d+|::1|::ffff:127\.\d+\.\d+\.\d+)$/;
const LOOPBACK_HOST = /^(localhost|127\.\d+\.\d+\.\d+|\[::1\])(:\d+)?$/i;

export function isLoopbackAddress(address: string | undefined): boolean {
  return address !== undefined && LOOPBACK_ADDRESS.test(address);
}

function tokenMatches(header: string | undefined, token: string): boolean {
  const presented = bearerToken(header);
  if (!presented) return false;
  const a = Buffer.from(presented);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

async function requireAdminToken(ctx: Ctx, auth: AuthService, url: () => string | null): Promise<void> {
  const challenge = (error?: 'invalid_token' | 'insufficient_scope') => ({ [WWW_AUTHENTICATE]: bearerChallenge(tokenRealm(ctx, url), [ADMIN], error) });
  const jwt = bearerToken(ctx.get('Authorization'));
  if (!jwt) {
    throw new RegistryError('UNAUTHORIZED', { message: 'the management API needs an admin token from /token (scope registry:admin:*)', headers: challenge() });
  }
  let claims;
  try {
    claims = await auth.verify(jwt);
  } catch (err) {
    if (!(err instanceof AuthError)) throw err;
    throw new RegistryError('UNAUTHORIZED', { message: err.message, headers: challenge('invalid_token') });
  }
  if (!allows(claims.access, ADMIN)) {
    throw new RegistryError('DENIED', {
      message: claims.sub === '' ? 'log in as an admin to manage the registry' : `user "${claims.sub}" may not manage the registry (needs *:admin)`,
      headers: challenge('insufficient_scope'),
    });
  }
  ctx.state.user = claims.sub;
}

export function managementGuard(access: ManagementAccess): Middleware {
  return async function guardManagementApi(ctx, next) {
    if (access.token !== null) {
      if (!tokenMatches(ctx.get('Authorization') || undefined, access.token)) {
        throw new RegistryError('UNAUTHORIZED', { message: 'the management API needs the token of this Berth window' });
      }
    } else if (access.registryAuth) {
      await requireAdminToken(ctx as Ctx, access.registryAuth, access.url ?? (() => null));
    } else {
      if (!isLoopbackAddress(ctx.req.socket.remoteAddress)) {
        throw new RegistryError('DENIED', {
          message: 'the management API is served to this machine only while registry authentication is off',
        });
      }
      if (!LOOPBACK_HOST.test(ctx.get('Host'))) {
        throw new RegistryError('DENIED', { message: 'the management API answers only to localhost, 127.0.0.1 or [::1] as Host' });
      }
    }
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD' && !ctx.get(CLIENT_HEADER)) {
      throw new RegistryError('DENIED', { message: `requests that change something must carry the ${CLIENT_HEADER} header` });
    }
    await next();
  };
}
