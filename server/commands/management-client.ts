/**
 * How a `berth` command reaches the server that owns a data directory. The lock file (storage/lock.ts)
 * names the owner's pid and, once it listens, its URL; a command that finds one asks that server
 * through its management API (/api/) instead of opening the directory itself, since nedb files have
 * one writer: maintenance runs (maintenance.ts) and users and tokens (auth-store.ts) go this way.
 */
import fs from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';
import { CLIENT_HEADER } from '../http/api/guard.ts';
import { StartupError } from '../index.ts';
import { selfUrl } from '../self-url.ts';
import { liveHolder, type LockInfo } from '../storage/lock.ts';
import type { StoragePaths } from '../storage/paths.ts';
import { TlsFiles } from '../tls/store.ts';

/** Waiting this long for a starting server to write its URL into the lock. */
const LOCK_URL_WAIT_MS = 5000;
const POLL_MS = 250;

/**
 * A client of the management API of the server holding the data directory, and the URL it wrote in
 * the lock; null when none does (the command may then open the directory itself). Another berth
 * command holding it (no URL) is an error: it is busy, and it will not serve us.
 */
export async function serverHolding(paths: StoragePaths): Promise<{ client: ManagementClient; url: string } | null> {
  const holder = await lockHolder(paths.lockFile);
  // A server bound to every interface is asked (and named) on loopback: the management API serves this machine.
  if (holder?.url) return { client: new ManagementClient(selfUrl(holder.url), await trustedCas(paths)), url: selfUrl(holder.url) };
  if (holder) {
    throw new StartupError(`the data directory ${paths.root} is in use by another berth command (pid ${holder.pid}); try again when it is done`);
  }
  return null;
}

/** The live holder of the lock; a starting server is given a moment to write its URL. */
export async function lockHolder(lockFile: string): Promise<LockInfo | null> {
  const deadline = Date.now() + LOCK_URL_WAIT_MS;
  for (;;) {
    const holder = await liveHolder(lockFile);
    if (!holder) return null;
    if (holder.url || Date.now() > deadline) return holder;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

/** With TLS on, the server's certificate is signed by Berth's own CA in the data directory. */
export async function trustedCas(paths: StoragePaths): Promise<string[]> {
  const own = await fs.readFile(new TlsFiles(paths.tlsDir).caCert, 'utf8').catch(() => null);
  return own ? [...tls.rootCertificates, own] : [...tls.rootCertificates];
}

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
}

/**
 * A refusal of the request itself (bad input, unknown user, conflict), with the server's message:
 * printed as it is, like the same error from the command working on the directory directly.
 */
export class ServerRefusal extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'ServerRefusal';
    this.code = code;
  }
}

/**
 * Calls the management API of the server holding the data directory, with the credentials it asks
 * for (api/guard.ts): the desktop app's per-launch token (BERTH_MANAGEMENT_TOKEN), or with registry
 * auth on an admin's JWT from /token, got with BERTH_USERNAME and BERTH_PASSWORD (a password or an
 * access token) and fetched again when it expires. Every request says it comes from the CLI
 * (X-Berth-Client: berth-cli), which the server records as the origin of what it starts.
 */
export class ManagementClient {
  private bearer: string | null = process.env.BERTH_MANAGEMENT_TOKEN || null;
  private readonly base: string;
  private readonly ca: string[];

  constructor(base: string, ca: string[]) {
    this.base = base;
    this.ca = ca;
  }

  /** The JSON answer; undefined for 204. */
  async call<T>(method: 'GET' | 'POST' | 'PUT' | 'DELETE', endpoint: string, body?: Record<string, unknown>): Promise<T> {
    const headers: Record<string, string> = { [CLIENT_HEADER]: 'berth-cli' };
    const payload = body === undefined ? undefined : JSON.stringify(body);
    if (payload !== undefined) headers['Content-Type'] = 'application/json';
    let answer = await this.send(method, `${this.base}${endpoint}`, headers, payload);
    const challenge = String(answer.headers['www-authenticate'] ?? '');
    if (answer.status === 401 && /^Bearer /i.test(challenge) && process.env.BERTH_USERNAME && process.env.BERTH_PASSWORD) {
      this.bearer = await this.adminToken(challenge);
      answer = await this.send(method, `${this.base}${endpoint}`, headers, payload);
    }
    if (answer.status >= 400) throw this.refusal(answer);
    return (answer.status === 204 || answer.text === '' ? undefined : JSON.parse(answer.text)) as T;
  }

  /** OAuth2 password grant at the challenge's realm (docs/spec/auth/oauth.md), for the admin scope. */
  private async adminToken(challenge: string): Promise<string> {
    const param = (name: string) => new RegExp(`${name}="([^"]*)"`).exec(challenge)?.[1];
    const realm = param('realm');
    if (!realm) throw new StartupError(`the Berth server at ${this.base} asked for credentials without saying where to get a token`);
    const form = new URLSearchParams({
      grant_type: 'password',
      username: process.env.BERTH_USERNAME!,
      password: process.env.BERTH_PASSWORD!,
      service: param('service') ?? 'berth',
      client_id: 'berth-cli',
      scope: 'registry:admin:*',
    });
    const answer = await this.send('POST', realm, { 'Content-Type': 'application/x-www-form-urlencoded' }, form.toString(), false);
    if (answer.status >= 400) throw this.refusal(answer, false);
    const token = JSON.parse(answer.text) as { access_token?: string; scope?: string };
    if (!token.access_token || !(token.scope ?? '').split(' ').includes('registry:admin:*')) {
      throw new StartupError(`user "${process.env.BERTH_USERNAME}" may not manage the registry at ${this.base} (needs *:admin)`);
    }
    return token.access_token;
  }

  private send(method: string, url: string, headers: Record<string, string>, body: string | undefined, authorize = true): Promise<Answer> {
    const target = new URL(url);
    const all = { ...headers, ...(authorize && this.bearer ? { Authorization: `Bearer ${this.bearer}` } : {}) };
    const options = { method, headers: { ...all, ...(body !== undefined ? { 'Content-Length': String(Buffer.byteLength(body)) } : {}) } };
    return new Promise((resolve, reject) => {
      const request = target.protocol === 'https:' ? https.request(target, { ...options, ca: this.ca }) : http.request(target, options);
      request.on('error', (err: NodeJS.ErrnoException) => {
        reject(new StartupError(`the Berth server holding the data directory (${this.base}) did not answer: ${err.code ?? err.message}`));
      });
      request.on('response', (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
        res.on('error', reject);
      });
      request.end(body);
    });
  }

  /** `onItsMerits`: a refusal of the request itself may be a ServerRefusal; a failed login never is. */
  private refusal(answer: Answer, onItsMerits = true): Error {
    let message = answer.text.slice(0, 300);
    let code: string | undefined;
    try {
      const parsed = JSON.parse(answer.text) as { errors?: { code: string; message: string }[]; error_description?: string; error?: string };
      code = parsed.errors?.[0]?.code;
      message = parsed.errors?.[0]?.message ?? parsed.error_description ?? parsed.error ?? message;
    } catch {
      // not JSON: show the start of what came back
    }
    // The request was understood and refused on its merits: the same words as without a server.
    if (onItsMerits && code && answer.status !== 401 && answer.status !== 403 && answer.status < 500) return new ServerRefusal(code, message);
    const hint = answer.status === 401
      ? process.env.BERTH_USERNAME
        ? ''
        : ' (the server needs credentials: set BERTH_USERNAME and BERTH_PASSWORD of an admin, or BERTH_MANAGEMENT_TOKEN for the desktop app)'
      : '';
    return new StartupError(`the Berth server at ${this.base} refused: ${message}${hint}`);
  }
}
