/**
 * Authentication against an upstream registry, as Docker clients do it (distribution docs/spec/auth/
 * token.md): the first 401 carries `WWW-Authenticate: Bearer realm=...,service=...`; a token for the
 * scope `repository:<name>:pull` is asked of the realm (anonymously, or with the upstream's credentials
 * as Basic auth), cached per scope until it expires, and sent as `Authorization: Bearer`. A 401 with a
 * cached token renews it once. An upstream that challenges with Basic gets the credentials directly.
 *
 * Credentials go only where they belong: the realm must be on the upstream's own host or domain (Docker
 * Hub: registry-1.docker.io -> auth.docker.io), or listed in the upstream's trustedRealms; any other
 * realm is refused before it is contacted (Distribution does the same: a registry must not be able to
 * send a mirror's credentials anywhere it names). Never over plain HTTP when the upstream is HTTPS.
 */
import type { Upstream } from './upstreams.ts';
import { UpstreamError } from './upstream-errors.ts';
import type { Challenge } from './challenge.ts';

export interface UpstreamCredentialsSource {
  credentials(): Promise<{ username: string; password: string } | null>;
}

export interface TokenResponse {
  status: number;
  body: Buffer;
}

export interface UpstreamAuthDeps {
  upstream: Upstream;
  credentials: UpstreamCredentialsSource;
  /** GETs a token URL with these headers (the client's transport, so timeouts and agents are shared). */
  get(url: URL, headers: Record<string, string>): Promise<TokenResponse>;
  now(): number;
}

/** Tokens are renewed this long before they expire, so none runs out between check and use. */
const EXPIRY_MARGIN_MS = 10_000;
/** token.md: "expires_in ... defaults to 60 seconds" when the answer leaves it out. */
const DEFAULT_EXPIRES_IN = 60;

interface CachedToken {
  token: string;
  expiresAt: number;
}

export class UpstreamAuth {
  private readonly deps: UpstreamAuthDeps;
  /** The Bearer challenge learned from the upstream's first 401 (realm and service). */
  private bearer: { realm: URL; service: string | undefined } | null = null;
  /** The upstream challenged with Basic: send the credentials with every request. */
  private basic = false;
  private readonly tokens = new Map<string, CachedToken>();
  private readonly pending = new Map<string, Promise<string>>();
  /** How many tokens were fetched (the self-test and the tests read it). */
  tokensFetched = 0;

  constructor(deps: UpstreamAuthDeps) {
    this.deps = deps;
  }

  /** The Authorization header for a request needing `scope`, when we know how to make one (else null). */
  async header(scope: string, { renew = false } = {}): Promise<string | null> {
    if (this.basic) {
      const credentials = await this.deps.credentials.credentials();
      return credentials ? basicHeader(credentials) : null;
    }
    if (!this.bearer) return null;
    const cached = this.tokens.get(scope);
    if (cached && !renew && cached.expiresAt > this.deps.now()) return `Bearer ${cached.token}`;
    if (renew) this.tokens.delete(scope);
    return `Bearer ${await this.token(scope)}`;
  }

  /**
   * Learns from a 401's challenge; false when it offers nothing we can answer (then the 401 stands).
   * Throws for a realm we must not contact.
   */
  async learn(challenges: Challenge[]): Promise<boolean> {
    const bearer = challenges.find((c) => c.scheme === 'bearer' && c.params.realm);
    if (bearer) {
      const realm = this.checkRealm(bearer.params.realm!);
      this.bearer = { realm, service: bearer.params.service };
      this.basic = false;
      return true;
    }
    if (challenges.some((c) => c.scheme === 'basic') && (await this.deps.credentials.credentials())) {
      this.basic = true;
      return true;
    }
    return false;
  }

  /** Drops every token and what was learned (the credentials changed). */
  reset(): void {
    this.bearer = null;
    this.basic = false;
    this.tokens.clear();
  }

  private token(scope: string): Promise<string> {
    const inFlight = this.pending.get(scope);
    if (inFlight) return inFlight;
    const fetching = this.fetchToken(scope).finally(() => this.pending.delete(scope));
    this.pending.set(scope, fetching);
    return fetching;
  }

  private async fetchToken(scope: string): Promise<string> {
    const { upstream, now } = { upstream: this.deps.upstream, now: this.deps.now };
    const { realm, service } = this.bearer!;
    const url = new URL(realm);
    if (service) url.searchParams.set('service', service);
    url.searchParams.set('scope', scope);
    const credentials = await this.deps.credentials.credentials();
    if (credentials) url.searchParams.set('account', credentials.username);
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (credentials) headers.Authorization = basicHeader(credentials);
    const res = await this.deps.get(url, headers);
    this.tokensFetched += 1;
    if (res.status === 401 || res.status === 403) {
      throw new UpstreamError(upstream.name, 'unauthorized', credentials
        ? `${upstream.name}'s token service (${url.host}) refused the credentials of ${credentials.username}`
        : `${upstream.name}'s token service (${url.host}) refused an anonymous token: this image may need credentials (set them in the Mirrors page)`, res.status);
    }
    if (res.status === 429) throw new UpstreamError(upstream.name, 'rate-limited', `${upstream.name}'s token service (${url.host}) answered 429 Too Many Requests`, 429);
    if (res.status !== 200) throw new UpstreamError(upstream.name, res.status >= 500 ? 'server-error' : 'invalid', `${upstream.name}'s token service (${url.host}) answered HTTP ${res.status}`, res.status);
    let answer: { token?: unknown; access_token?: unknown; expires_in?: unknown; issued_at?: unknown };
    try {
      answer = JSON.parse(res.body.toString('utf8')) as typeof answer;
    } catch {
      throw new UpstreamError(upstream.name, 'invalid', `${upstream.name}'s token service (${url.host}) answered something that is not JSON`, res.status);
    }
    const token = typeof answer.token === 'string' && answer.token ? answer.token : typeof answer.access_token === 'string' ? answer.access_token : '';
    if (!token) throw new UpstreamError(upstream.name, 'invalid', `${upstream.name}'s token service (${url.host}) gave no token`, res.status);
    const expiresIn = typeof answer.expires_in === 'number' && answer.expires_in > 0 ? answer.expires_in : DEFAULT_EXPIRES_IN;
    const issued = typeof answer.issued_at === 'string' ? Date.parse(answer.issued_at) : NaN;
    // The issue time as the server says, unless our clock disagrees so much that trusting it would be worse.
    const from = Number.isFinite(issued) && Math.abs(issued - now()) < 5 * 60_000 ? Math.min(issued, now()) : now();
    const expiresAt = from + expiresIn * 1000 - Math.min(EXPIRY_MARGIN_MS, (expiresIn * 1000) / 4);
    this.tokens.set(scope, { token, expiresAt });
    return token;
  }

  /** The realm URL, if we may send a token request (and credentials) there; else UpstreamError. */
  private checkRealm(value: string): URL {
    const { upstream } = this.deps;
    let realm: URL;
    try {
      realm = new URL(value);
    } catch {
      throw new UpstreamError(upstream.name, 'realm-refused', `${upstream.name} named a token realm that is not a URL: ${value.slice(0, 200)}`, 401);
    }
    const registry = new URL(upstream.url);
    if (realm.protocol !== 'https:' && realm.protocol !== 'http:') {
      throw new UpstreamError(upstream.name, 'realm-refused', `${upstream.name} named a token realm that is not HTTP(S): ${realm.protocol}`, 401);
    }
    if (registry.protocol === 'https:' && realm.protocol !== 'https:') {
      throw new UpstreamError(upstream.name, 'realm-refused', `${upstream.name} is HTTPS but named a plain-HTTP token realm (${realm.origin}): refused, credentials would travel in clear text`, 401);
    }
    if (!realmTrusted(realm, registry, upstream.trustedRealms)) {
      throw new UpstreamError(upstream.name, 'realm-refused',
        `${upstream.name} sent clients to the token realm ${realm.origin}, which is neither its own host nor domain: refused. ` +
          `If that service is really ${upstream.name}'s, add ${realm.host} to the upstream's trusted realms`, 401);
    }
    return realm;
  }
}

export function basicHeader({ username, password }: { username: string; password: string }): string {
  return `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
}

/**
 * Whether the registry may send us to this realm: the same host name, a host of the same parent domain
 * (registry-1.docker.io and auth.docker.io share docker.io; a parent of one label, such as "io", is no
 * domain of anyone's), or a host the upstream's settings trust.
 */
export function realmTrusted(realm: URL, registry: URL, trusted: readonly string[]): boolean {
  const host = realm.hostname.toLowerCase();
  const registryHost = registry.hostname.toLowerCase();
  if (host === registryHost) return true;
  if (trusted.includes(realm.host.toLowerCase()) || trusted.includes(host)) return true;
  if (/^[\d.]+$|:/.test(host) || /^[\d.]+$|:/.test(registryHost)) return false;
  const parent = registryHost.split('.').slice(1).join('.');
  return parent.split('.').length >= 2 && (host === parent || host.endsWith(`.${parent}`));
}
