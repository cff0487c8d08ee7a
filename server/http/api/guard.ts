/**
 * Who may use the management API (/api/). It can delete images, so it is never open to other
 * machines without credentials:
 *   - with a management token (the desktop app passes a per-launch secret to its window), every
 *     request must carry it: `Authorization: Bearer <token>`;
 *   - otherwise, while registry auth is off, only requests from this machine (loopback) are served.
 * Browsers are kept out too: requests must name this server in Host (DNS rebinding), and requests
 * that change something must carry the X-Berth-Client header, which a cross-site page cannot send
 * without a CORS preflight we never grant.
 */
import { timingSafeEqual } from 'node:crypto';
import type { Middleware } from 'koa';
import { RegistryError } from '../../registry/errors.ts';

export const CLIENT_HEADER = 'X-Berth-Client';

export interface ManagementAccess {
  /** The per-launch secret of the desktop app, or null in headless mode. */
  token: string | null;
}

const LOOPBACK_ADDRESS = /^(127\.\d+\.\d+\.\d+|::1|::ffff:127\.\d+\.\d+\.\d+)$/;
const LOOPBACK_HOST = /^(localhost|127\.\d+\.\d+\.\d+|\[::1\])(:\d+)?$/i;

export function isLoopbackAddress(address: string | undefined): boolean {
  return address !== undefined && LOOPBACK_ADDRESS.test(address);
}

function tokenMatches(header: string | undefined, token: string): boolean {
  const presented = /^Bearer (.+)$/.exec(header ?? '')?.[1];
  if (!presented) return false;
  const a = Buffer.from(presented);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

export function managementGuard(access: ManagementAccess): Middleware {
  return async function guardManagementApi(ctx, next) {
    if (access.token !== null) {
      if (!tokenMatches(ctx.get('Authorization') || undefined, access.token)) {
        throw new RegistryError('UNAUTHORIZED', { message: 'the management API needs the token of this Berth window' });
      }
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
