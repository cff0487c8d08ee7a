/**
 * An upstream registry made here for the pull-through cache's tests, shaped like Docker Hub:
 *   - a second Berth with token auth (anonymous pull allowed, as public images on Hub);
 *   - in front of it a proxy that demands a Bearer token on every /v2/ request (Hub's registry-1 does),
 *     whose challenge names a token realm on ANOTHER port (Hub: auth.docker.io), that sends
 *     RateLimit-Limit/RateLimit-Remaining on manifest GETs, and that counts every request;
 *   - a fault switch on the proxy: 429, 500, a slow answer, a truncated body, a reset connection, a
 *     revoked token, a foreign token realm; and stop()/start() of the whole listener (upstream down).
 * Images are pushed straight into the upstream Berth (pushImage/pushLayout) with an admin token.
 */
import fs from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import path from 'node:path';
import { pseudoRandom } from '../fixtures/images.ts';
import { ADMIN_PASSWORD, getToken } from './auth.ts';
import { descriptor, imageIndex, imageManifest, OCI_CONFIG, OCI_INDEX, OCI_LAYER, OCI_MANIFEST, sha256 } from './registry-client.ts';
import { startServer, type TestServer } from './server.ts';

export interface RecordedRequest {
  method: string;
  path: string;
  status: number;
  /** The proxy's own listener: 'registry' or 'token'. */
  via: 'registry' | 'token';
}

export type Fault =
  | { kind: 'status'; status: 429 | 500 | 503 | 404; retryAfter?: number }
  /** Answer nothing for this long (past the mirror's timeout), then go on normally. */
  | { kind: 'slow'; delayMs: number }
  /** Send the headers and `bytes` of the body, then close the connection. */
  | { kind: 'truncate'; bytes: number }
  /** Send the body in pieces of `chunk` bytes every `everyMs`, so a test can act in the middle. */
  | { kind: 'trickle'; chunk: number; everyMs: number }
  /** Replace the body's bytes with others of the same length (a wrong digest). */
  | { kind: 'corrupt' }
  /** Reset the connection without an answer. */
  | { kind: 'reset' };

interface FaultRule {
  match: (method: string, path: string) => boolean;
  fault: Fault;
  /** How many more requests it applies to (Infinity: until cleared). */
  left: number;
}

export interface FakeHub {
  /** The upstream's registry URL (the proxy), as the mirror is configured with it. */
  url: string;
  /** host:port of the registry URL. */
  host: string;
  /** The token realm's URL (another port). */
  realm: string;
  /** The Berth behind the proxy. */
  origin: TestServer;
  requests: RecordedRequest[];
  /**
   * Requests the proxy received matching method and path pattern (registry side), not counting those
   * answered 401 (the authentication handshake, retried with a token: no content went anywhere).
   */
  count(method: string, pattern: RegExp): number;
  /** Token requests the realm received. */
  tokenRequests(): number;
  /** Applies `fault` to the next `times` requests matching (default: every one until clearFaults). */
  fault(match: { method?: string; path?: RegExp }, fault: Fault, times?: number): void;
  clearFaults(): void;
  /** Every token handed out so far is refused from now on (401 invalid_token): a revoked or expired token. */
  revokeTokens(): void;
  /** Challenges name this host for the realm instead of the registry's (a foreign realm). */
  setRealmHost(host: string | null): void;
  /** Tokens the realm hands out claim to expire after this many seconds (null: as Berth says). */
  setTokenLifetime(seconds: number | null): void;
  /** Stops listening (connections refused) and drops open connections: the upstream is down. */
  stop(): Promise<void>;
  /** Listens again on the same port. */
  start(): Promise<void>;
  /** An admin Authorization header for pushing to the origin Berth. */
  adminAuth(repo: string): Promise<string>;
  close(): Promise<void>;
}

const RATE_LIMIT = 100;

/** `anonymousPull: false`: every image needs a login (a private registry, or private images on Hub). */
export async function startFakeHub(options: { anonymousPull?: boolean } = {}): Promise<FakeHub> {
  const origin = await startServer({ auth: 'token', anonymousPull: options.anonymousPull ?? true, adminPassword: ADMIN_PASSWORD });
  const originUrl = new URL(origin.url);
  const requests: RecordedRequest[] = [];
  let rules: FaultRule[] = [];
  let remaining = RATE_LIMIT;
  let realmHost: string | null = null;
  let tokenLifetime: number | null = null;
  const issued = new Set<string>();
  const revoked = new Set<string>();
  const sockets = new Set<Socket>();

  const tokenServer = http.createServer((req, res) => {
    const record: RecordedRequest = { method: req.method ?? '', path: (req.url ?? '').split('?')[0]!, status: 0, via: 'token' };
    requests.push(record);
    forward(req, originUrl, (upstream) => {
      const chunks: Buffer[] = [];
      upstream.on('data', (c: Buffer) => chunks.push(c));
      upstream.on('end', () => {
        let body = Buffer.concat(chunks);
        if (upstream.statusCode === 200) {
          const answer = JSON.parse(body.toString('utf8')) as { token: string; access_token: string; expires_in: number };
          issued.add(answer.token);
          if (tokenLifetime !== null) answer.expires_in = tokenLifetime;
          body = Buffer.from(JSON.stringify(answer));
        }
        record.status = upstream.statusCode ?? 0;
        res.writeHead(upstream.statusCode ?? 502, { 'Content-Type': 'application/json', 'Content-Length': body.length });
        res.end(body);
      });
    }, () => res.destroy());
  });
  await listen(tokenServer, 0);
  const tokenPort = (tokenServer.address() as AddressInfo).port;
  const realmUrl = () => `http://${realmHost ?? '127.0.0.1'}:${tokenPort}/token`;

  const challenge = (scope: string | null, error?: string) =>
    `Bearer realm="${realmUrl()}",service="berth"${scope ? `,scope="${scope}"` : ''}${error ? `,error="${error}"` : ''}`;

  const registry = http.createServer((req, res) => {
    const method = req.method ?? '';
    const urlPath = (req.url ?? '').split('?')[0]!;
    const record: RecordedRequest = { method, path: urlPath, status: 0, via: 'registry' };
    requests.push(record);
    const rule = rules.find((r) => r.left > 0 && r.match(method, urlPath));
    if (rule) rule.left -= 1;
    const fault = rule?.fault;
    const answer = (status: number, headers: Record<string, string>, body = '') => {
      record.status = status;
      res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(body)), ...headers });
      res.end(method === 'HEAD' ? undefined : body);
    };
    if (fault?.kind === 'reset') {
      record.status = -1;
      req.socket.destroy();
      return;
    }
    if (fault?.kind === 'status') {
      const body = JSON.stringify({ errors: [{ code: fault.status === 429 ? 'TOOMANYREQUESTS' : fault.status === 404 ? 'MANIFEST_UNKNOWN' : 'UNAVAILABLE', message: `fault switch: ${fault.status}` }] });
      answer(fault.status, fault.retryAfter ? { 'Retry-After': String(fault.retryAfter) } : {}, body);
      return;
    }
    const go = () => {
      // Like registry-1.docker.io: nothing without a Bearer token, and the challenge names the token realm.
      const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
      const name = /^\/v2\/(.+?)\/(?:manifests|blobs|tags)\//.exec(urlPath)?.[1];
      const scope = name ? `repository:${name}:pull` : null;
      if (!token) return answer(401, { 'WWW-Authenticate': challenge(scope) }, JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }));
      if (revoked.has(token)) return answer(401, { 'WWW-Authenticate': challenge(scope, 'invalid_token') }, JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'token revoked' }] }));
      forward(req, originUrl, (upstream) => {
        const headers = { ...upstream.headers };
        if (headers['www-authenticate']) headers['www-authenticate'] = String(headers['www-authenticate']).replace(/realm="[^"]*"/, `realm="${realmUrl()}"`);
        if (method === 'GET' && /\/manifests\//.test(urlPath) && upstream.statusCode === 200) {
          remaining = Math.max(0, remaining - 1);
          headers['ratelimit-limit'] = `${RATE_LIMIT};w=21600`;
          headers['ratelimit-remaining'] = `${remaining};w=21600`;
        }
        record.status = upstream.statusCode ?? 0;
        res.writeHead(upstream.statusCode ?? 502, headers);
        if (fault?.kind === 'truncate' && method === 'GET') {
          let sent = 0;
          upstream.on('data', (chunk: Buffer) => {
            const room = fault.bytes - sent;
            if (room > 0) res.write(chunk.subarray(0, room));
            sent += chunk.length;
            if (sent >= fault.bytes) {
              upstream.destroy();
              res.socket?.destroy();
            }
          });
          upstream.on('end', () => res.socket?.destroy());
          return;
        }
        if (fault?.kind === 'corrupt' && method === 'GET') {
          upstream.on('data', (chunk: Buffer) => res.write(Buffer.from(chunk.map((b) => b ^ 0xff))));
          upstream.on('end', () => res.end());
          return;
        }
        if (fault?.kind === 'trickle' && method === 'GET') {
          const chunks: Buffer[] = [];
          upstream.on('data', (c: Buffer) => chunks.push(c));
          upstream.on('end', () => {
            const all = Buffer.concat(chunks);
            let at = 0;
            const tick = setInterval(() => {
              if (res.destroyed) return clearInterval(tick);
              res.write(all.subarray(at, at + fault.chunk));
              at += fault.chunk;
              if (at >= all.length) {
                clearInterval(tick);
                res.end();
              }
            }, fault.everyMs);
          });
          return;
        }
        upstream.pipe(res);
      }, () => res.destroy());
    };
    if (fault?.kind === 'slow') setTimeout(go, fault.delayMs).unref();
    else go();
  });
  registry.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await listen(registry, 0);
  const port = (registry.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}`;

  return {
    url,
    host: `127.0.0.1:${port}`,
    get realm() {
      return realmUrl();
    },
    origin,
    requests,
    count(method, pattern) {
      return requests.filter((r) => r.via === 'registry' && r.method === method && r.status !== 401 && pattern.test(r.path)).length;
    },
    tokenRequests() {
      return requests.filter((r) => r.via === 'token').length;
    },
    fault(match, fault, times = Infinity) {
      rules.push({ match: (m, p) => (!match.method || match.method === m) && (!match.path || match.path.test(p)), fault, left: times });
    },
    clearFaults() {
      rules = [];
    },
    revokeTokens() {
      for (const token of issued) revoked.add(token);
    },
    setRealmHost(host) {
      realmHost = host;
    },
    setTokenLifetime(seconds) {
      tokenLifetime = seconds;
    },
    async stop() {
      const closed = new Promise<void>((resolve) => registry.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await closed;
    },
    async start() {
      await listen(registry, port);
    },
    async adminAuth(repo) {
      const { token } = await getToken(origin.url, 'admin', ADMIN_PASSWORD, `repository:${repo}:pull,push`);
      return `Bearer ${token}`;
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await Promise.all([new Promise((r) => registry.close(r)), new Promise((r) => tokenServer.close(r))]);
      await origin.close({ remove: true });
    },
  };
}

function listen(server: http.Server, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** Forwards a request to the origin Berth (its Host header, so its realm names itself: the proxy rewrites it). */
function forward(req: http.IncomingMessage, origin: URL, onResponse: (res: http.IncomingMessage) => void, onError: () => void): void {
  const out = http.request({
    host: origin.hostname,
    port: origin.port,
    method: req.method,
    path: req.url,
    headers: { ...req.headers, host: origin.host },
    agent: false,
  }, onResponse);
  out.on('error', onError);
  req.pipe(out);
}

// ---- images in the upstream ----------------------------------------------------------------------

export interface PushedImage {
  /** The manifest (or index) digest the tag points to. */
  digest: string;
  mediaType: string;
  /** Every blob: digest -> bytes. */
  blobs: Map<string, Buffer>;
  /** Every manifest: digest -> bytes. */
  manifests: Map<string, Buffer>;
}

async function put(base: string, auth: string, repo: string, what: 'blob' | 'manifest', digest: string, bytes: Buffer, reference?: string, mediaType?: string): Promise<void> {
  if (what === 'blob') {
    const res = await fetch(`${base}/v2/${repo}/blobs/uploads/?digest=${digest}`, { method: 'POST', headers: { Authorization: auth, 'Content-Type': 'application/octet-stream' }, body: bytes });
    if (res.status !== 201) throw new Error(`pushing blob ${digest} to the upstream: ${res.status} ${await res.text()}`);
    return;
  }
  const res = await fetch(`${base}/v2/${repo}/manifests/${reference ?? digest}`, { method: 'PUT', headers: { Authorization: auth, 'Content-Type': mediaType! }, body: bytes });
  if (res.status !== 201) throw new Error(`pushing manifest ${reference ?? digest} to the upstream: ${res.status} ${await res.text()}`);
}

/** Pushes an OCI image layout (test/fixtures/images.ts) into the upstream as repo:tag. */
export async function pushLayout(hub: FakeHub, dir: string, repo: string, tag: string): Promise<PushedImage> {
  const auth = await hub.adminAuth(repo);
  const index = JSON.parse(await fs.readFile(path.join(dir, 'index.json'), 'utf8')) as { manifests: { digest: string; mediaType: string }[] };
  const top = index.manifests[0]!;
  const read = (digest: string) => fs.readFile(path.join(dir, 'blobs', 'sha256', digest.slice(7)));
  const image: PushedImage = { digest: top.digest, mediaType: top.mediaType, blobs: new Map(), manifests: new Map() };
  const pushManifest = async (digest: string, mediaType: string, reference?: string): Promise<void> => {
    const bytes = await read(digest);
    const parsed = JSON.parse(bytes.toString('utf8')) as { manifests?: { digest: string; mediaType: string }[]; config?: { digest: string }; layers?: { digest: string }[] };
    for (const child of parsed.manifests ?? []) await pushManifest(child.digest, child.mediaType);
    for (const blob of [parsed.config, ...(parsed.layers ?? [])]) {
      if (!blob || image.blobs.has(blob.digest)) continue;
      const data = await read(blob.digest);
      await put(hub.origin.url, auth, repo, 'blob', blob.digest, data);
      image.blobs.set(blob.digest, data);
    }
    await put(hub.origin.url, auth, repo, 'manifest', digest, bytes, reference, mediaType);
    image.manifests.set(digest, bytes);
  };
  await pushManifest(top.digest, top.mediaType, tag);
  return image;
}

/**
 * Pushes an image of random layers of these sizes (linux/amd64) as repo:tag; with `platforms`, an
 * index over one such image per platform.
 */
export async function pushRandomImage(hub: FakeHub, repo: string, tag: string, layerSizes: number[], options: { seed?: string; platforms?: string[] } = {}): Promise<PushedImage> {
  const auth = await hub.adminAuth(repo);
  const seed = options.seed ?? `${repo}:${tag}:${Math.random()}`;
  const image: PushedImage = { digest: '', mediaType: OCI_MANIFEST, blobs: new Map(), manifests: new Map() };
  const one = async (platform: string, label: string) => {
    const [os, architecture] = platform.split('/') as [string, string];
    const layers = layerSizes.map((size, i) => pseudoRandom(`${seed}:${label}:${i}`, size));
    const config = Buffer.from(JSON.stringify({ os, architecture, created: '2026-01-01T00:00:00Z', rootfs: { type: 'layers', diff_ids: layers.map((l) => sha256(l)) }, config: { Env: [`IMAGE=${repo}:${tag}`] } }));
    for (const blob of [config, ...layers]) {
      await put(hub.origin.url, auth, repo, 'blob', sha256(blob), blob);
      image.blobs.set(sha256(blob), blob);
    }
    const manifest = Buffer.from(imageManifest(descriptor(OCI_CONFIG, config), layers.map((l) => descriptor(OCI_LAYER, l))));
    return manifest;
  };
  if (!options.platforms) {
    const manifest = await one('linux/amd64', 'single');
    await put(hub.origin.url, auth, repo, 'manifest', sha256(manifest), manifest, tag, OCI_MANIFEST);
    image.manifests.set(sha256(manifest), manifest);
    image.digest = sha256(manifest);
    return image;
  }
  const children = [];
  for (const platform of options.platforms) {
    const manifest = await one(platform, platform);
    await put(hub.origin.url, auth, repo, 'manifest', sha256(manifest), manifest, undefined, OCI_MANIFEST);
    image.manifests.set(sha256(manifest), manifest);
    const [os, architecture] = platform.split('/') as [string, string];
    children.push(descriptor(OCI_MANIFEST, manifest, { platform: { os, architecture } }));
  }
  const index = Buffer.from(imageIndex(children));
  await put(hub.origin.url, auth, repo, 'manifest', sha256(index), index, tag, OCI_INDEX);
  image.manifests.set(sha256(index), index);
  image.digest = sha256(index);
  image.mediaType = OCI_INDEX;
  return image;
}
