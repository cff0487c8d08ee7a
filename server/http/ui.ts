/**
 * The web UI (the Vite build in dist/renderer) at `/`, for `berth serve` in a browser. It runs after
 * the route tables, so /v2/ and /api/ always win. Files come from @koa/send (path traversal, hidden
 * files and precompressed variants handled there); any other page address gets index.html, so a
 * reload or a bookmark of /repositories/<name> opens the app there (the router runs in the page).
 *
 * Caching: Vite names every file under assets/ by a hash of its content, so those are immutable;
 * index.html must be revalidated on every load to pick up a new build.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { send } from '@koa/send';
import type { Middleware } from 'koa';

const ONE_YEAR_MS = 365 * 24 * 60 * 60 * 1000;

/**
 * What the page may load: only this origin, no inline script, no framing (clickjacking of the delete
 * buttons). React sets styles through the CSSOM, which style-src does not govern.
 */
const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/**
 * Where the built UI is: next to the server bundle (dist/server/cli.js -> dist/renderer) or, when
 * running from source, in the checkout's dist/renderer. Null when it has not been built.
 */
export function builtUiDir(): string | null {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const candidates = [path.resolve(here, '../renderer'), path.resolve(here, '../../dist/renderer')];
  return candidates.find((dir) => existsSync(path.join(dir, 'index.html'))) ?? null;
}

function isReserved(p: string): boolean {
  return p === '/v2' || p.startsWith('/v2/') || p === '/api' || p.startsWith('/api/');
}

export function serveUi(root: string): Middleware {
  return async function ui(ctx, next) {
    if ((ctx.method !== 'GET' && ctx.method !== 'HEAD') || isReserved(ctx.path)) return next();
    const page = () => {
      ctx.set('Content-Security-Policy', CONTENT_SECURITY_POLICY);
      ctx.set('Cache-Control', 'no-cache');
    };
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.set('Referrer-Policy', 'no-referrer');
    const isAsset = ctx.path.startsWith('/assets/');
    try {
      if (ctx.path === '/' || ctx.path === '/index.html') page();
      const served = await send(ctx, ctx.path, {
        root,
        index: 'index.html',
        ...(isAsset ? { maxage: ONE_YEAR_MS, immutable: true } : {}),
        setHeaders: (res) => {
          if (!isAsset && !res.getHeader('Cache-Control')) res.setHeader('Cache-Control', 'no-cache');
        },
      });
      if (served) return;
    } catch (err) {
      if ((err as { status?: number }).status !== 404) throw err;
    }
    // Not a file: an address inside the app, when a browser navigates to it.
    if (isAsset || !ctx.accepts('html') || ctx.accepts('html', 'json') !== 'html') return next();
    page();
    await send(ctx, 'index.html', { root });
  };
}
