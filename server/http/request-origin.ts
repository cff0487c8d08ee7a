/**
 * Who may send a request at all, before any route runs: the one place that keeps web pages away
 * from a registry on this machine.
 *
 * 1. The Host must name this server (DNS rebinding). A page on http://evil.example:5000 whose name
 *    is re-pointed at 127.0.0.1 talks to us as its own origin, so the browser lets it read the
 *    answers; its requests still say `Host: evil.example:5000`. Allowed: loopback names and
 *    addresses (localhost, *.localhost, 127.0.0.0/8, ::1), this machine's names and addresses as the
 *    TLS certificate carries them (tls/names.ts: host.docker.internal, the host name and its .local
 *    form, the LAN addresses, the configured bind host) and the configured allowedHosts. The port is
 *    not checked: it proves nothing (a rebound page uses ours) and the Vite dev server proxies with
 *    its own. No one can make a browser send one of these names for a page it serves: that would
 *    need control of how this machine resolves its own names.
 * 2. Requests a page on another origin makes are refused where they could do harm. Browsers mark
 *    every request (Fetch Metadata, https://w3c.github.io/webappsec-fetch-metadata/): `Origin` on
 *    every cross-origin request but a no-cors GET/HEAD, and `Sec-Fetch-Site` (cross-site,
 *    same-site, same-origin, none = typed by the user) on all of them since Chromium 76, Firefox
 *    90, Safari 16.4. Registry clients (Docker, containerd, skopeo, podman, buildah) send neither.
 *    A page on another port of 127.0.0.1 is "same-site" (a site ignores the port), so same-site is
 *    foreign too. Refused:
 *      - /v2/ while registry auth is off: anything there reads, writes or deletes images with no
 *        credential at all (with auth on, a page has no token to send);
 *      - /api/, /token and /metrics always: the UI calls them from its own origin, and nothing
 *        else needs a browser there (a foreign page could otherwise run dry runs, or spend the
 *        login throttle of the visitor's address with wrong passwords).
 *    The web UI's own files may be opened from anywhere (a link to http://localhost:5000/).
 * /healthz names nothing and changes nothing: load balancers reach it under any name.
 * Refusals are 403 DENIED with the reason.
 */
import net from 'node:net';
import type { Middleware } from 'koa';
import { RegistryError } from '../registry/errors.ts';
import { normalizeIp, subjectNames, type SubjectNames } from '../tls/names.ts';

export interface RequestOriginOptions {
  /** The configured bind host (config.host). */
  bindHost: string;
  /** Extra names the configuration allows (config.allowedHosts). */
  allowedHosts: readonly string[];
  /** Whether registry auth is on: then /v2/ needs a token a foreign page does not have. */
  registryAuth: boolean;
  /** This machine's names and addresses now (tests pass their own). */
  machineNames?: (bindHost: string) => SubjectNames;
}

/** A laptop changes networks: an unknown name re-reads the interfaces, at most this often. */
const RENAME_CHECK_MS = 5_000;

/** The host part of a Host header, lowercased, without port, brackets or a trailing dot; null if malformed. */
export function hostOf(header: string): string | null {
  const match = /^(?:\[([0-9a-f:.]+)\]|([^:[\]]+))(?::\d{1,5})?$/i.exec(header.trim());
  const host = (match?.[1] ?? match?.[2])?.toLowerCase().replace(/\.$/, '');
  return host ? host : null;
}

export function isLoopbackName(host: string): boolean {
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  if (net.isIPv4(host)) return host.startsWith('127.');
  if (net.isIPv6(host)) return normalizeIp(host) === '0:0:0:0:0:0:0:1' || /^::ffff:127\./.test(host);
  return false;
}

/** Where a request is sent from, as the browser says (never set by registry clients). */
export function foreignOrigin(headers: { origin?: string | undefined; 'sec-fetch-site'?: string | undefined }, ownOrigin: string): string | null {
  const site = headers['sec-fetch-site'];
  if (site === 'cross-site' || site === 'same-site') return `Sec-Fetch-Site: ${site}`;
  const origin = headers.origin;
  if (origin !== undefined && origin.toLowerCase() !== ownOrigin.toLowerCase()) return `Origin: ${origin.slice(0, 100)}`;
  return null;
}

type Area = 'registry' | 'management' | 'open' | 'ui';

function areaOf(path: string): Area {
  if (path === '/v2' || path.startsWith('/v2/')) return 'registry';
  if (path === '/api' || path.startsWith('/api/') || path === '/token' || path.startsWith('/token/') || path === '/metrics') return 'management';
  if (path === '/healthz') return 'open';
  return 'ui';
}

/** Whether a Host header names this server (rule 1 above). */
export function hostCheck(options: Pick<RequestOriginOptions, 'bindHost' | 'allowedHosts' | 'machineNames'>): (header: string) => boolean {
  const machineNames = options.machineNames ?? subjectNames;
  const fixed = new Set(options.allowedHosts.map((h) => h.toLowerCase()));
  let names = new Set<string>();
  let namesAt = -Infinity;
  const refreshNames = () => {
    const current = machineNames(options.bindHost);
    names = new Set([...current.dns, ...current.ips].map((n) => n.toLowerCase()));
    namesAt = Date.now();
  };
  const allowed = (host: string): boolean => {
    if (isLoopbackName(host) || fixed.has(host) || names.has(host)) return true;
    if (Date.now() - namesAt < RENAME_CHECK_MS) return false;
    refreshNames();
    return names.has(host);
  };
  return (header) => {
    const host = hostOf(header);
    return host !== null && allowed(host);
  };
}

export function requestOrigin(options: RequestOriginOptions): Middleware {
  const namesUs = hostCheck(options);

  return async function checkRequestOrigin(ctx, next) {
    const area = areaOf(ctx.path);
    if (area === 'open') return next();
    const header = ctx.get('Host');
    if (!namesUs(header)) {
      throw new RegistryError('DENIED', {
        message: `Host "${header.slice(0, 100)}" does not name this registry; use localhost, 127.0.0.1 or this machine's name` +
          ` (another name, such as a proxy's, must be listed in the allowedHosts setting or BERTH_ALLOWED_HOSTS)`,
      });
    }
    if (area === 'ui' || (area === 'registry' && options.registryAuth)) return next();
    const foreign = foreignOrigin({ origin: ctx.get('Origin') || undefined, 'sec-fetch-site': ctx.get('Sec-Fetch-Site') || undefined }, `${ctx.protocol}://${header}`);
    if (foreign) {
      throw new RegistryError('DENIED', {
        message: area === 'registry'
          ? `refused a request a web page on another site made (${foreign}): with registry auth off, /v2/ serves registry clients and this registry's own pages only`
          : `refused a request a web page on another site made (${foreign}): ${ctx.path.slice(0, 50)} serves this registry's own pages and registry clients only`,
      });
    }
    await next();
  };
}
