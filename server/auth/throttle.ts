/**
 * Slowing down password guessing without handing anyone a way to lock others out.
 *
 *   LoginThrottle  after a few failed logins for one key (a user name, or an address prefix), every
 *                  further attempt must wait twice as long as the one before, up to a cap, counted
 *                  from the last failure. Only failures count, and they are forgotten after a while
 *                  without any (not on a success: an attacker's own good login must not reset the
 *                  count of the address it guesses from). Keys are held in a bounded LRU with a TTL,
 *                  so memory stays bounded however many names an attacker tries.
 *   TrustedClients a user name with the address prefix it logged in from, remembered for 30 days: a
 *                  user keeps logging in from there while strangers elsewhere guess their password
 *                  (OWASP's answer to account lockout: the per-user throttle does not apply to the
 *                  places the user is known at).
 *   KeyedGate      at most a few logins of one address prefix are checked at once; the others wait
 *                  their turn (and see the failures of those before them) instead of all slipping
 *                  past the throttle together.
 * Addresses are throttled by prefix: an IPv4 address exactly (each is scarce, and one /24 is often a
 * whole office), an IPv6 address by its /64 (one host usually holds a whole /64 and can take any
 * address in it).
 */
import net from 'node:net';
import { LRUCache } from 'lru-cache';

export interface ThrottlePolicy {
  /** Failures allowed before any waiting is imposed. */
  freeFailures: number;
  /** The longest wait between attempts, in ms. */
  maxDelayMs: number;
  /** A key with no failure for this long starts again from zero. */
  forgetAfterMs: number;
}

export interface Failures {
  count: number;
  last: number;
}

/**
 * The failures and known clients of a cluster (metadata/postgres/login-state.ts): every replica counts
 * the same failures and knows the same clients, so N replicas behind a load balancer neither give a
 * guesser N times the free failures nor lock out a user known on another replica. Times are `now()`'s.
 */
export interface SharedLoginState {
  /** The failures of `key` recorded by any replica, or null. */
  failures(key: string): Promise<Failures | null>;
  /** One more failure of `key` at `at` (from one again when the last is `forgetAfterMs` old); the new count. */
  fail(key: string, at: number, forgetAfterMs: number): Promise<Failures>;
  /** When `user` last logged in from `prefix` on any replica, or null. */
  knownAt(user: string, prefix: string): Promise<number | null>;
  known(user: string, prefix: string, at: number): Promise<void>;
}

export class LoginThrottle {
  private readonly policy: ThrottlePolicy;
  private readonly now: () => number;
  private readonly failures: LRUCache<string, Failures>;
  private readonly shared: SharedLoginState | null;

  constructor(policy: ThrottlePolicy, now: () => number = Date.now, shared: SharedLoginState | null = null) {
    this.policy = policy;
    this.now = now;
    this.shared = shared;
    // The TTL only frees memory; whether failures are forgotten is decided on this.now (current()).
    this.failures = new LRUCache({ maxSize: 50_000, sizeCalculation: () => 1, ttl: policy.forgetAfterMs, ttlAutopurge: false });
  }

  /** The failures of `key` that still count. */
  private current(key: string): Failures | undefined {
    const entry = this.failures.get(key);
    return entry && this.now() - entry.last < this.policy.forgetAfterMs ? entry : undefined;
  }

  /** Milliseconds `key` must still wait before its next attempt (0: may try now). */
  waitMs(key: string): number {
    const entry = this.current(key);
    if (!entry || entry.count < this.policy.freeFailures) return 0;
    const delay = Math.min(1000 * 2 ** (entry.count - this.policy.freeFailures), this.policy.maxDelayMs);
    return Math.max(0, entry.last + delay - this.now());
  }

  failed(key: string): void {
    const entry = this.current(key);
    this.failures.set(key, { count: (entry?.count ?? 0) + 1, last: this.now() });
  }

  /** A cluster: takes in what every replica recorded for `key` (before waitMs). */
  async load(key: string): Promise<void> {
    const entry = this.shared ? await this.shared.failures(key) : null;
    if (entry && entry.count > (this.current(key)?.count ?? 0)) this.failures.set(key, entry);
  }

  /** failed(), and in a cluster recorded for every replica. */
  async fail(key: string): Promise<void> {
    if (!this.shared) return this.failed(key);
    this.failures.set(key, await this.shared.fail(key, this.now(), this.policy.forgetAfterMs));
  }
}

/** How long a user stays known at an address prefix after logging in from it. */
const TRUST_MS = 30 * 24 * 60 * 60 * 1000;

export class TrustedClients {
  private readonly now: () => number;
  /** user and prefix -> when the user last logged in from there. */
  private readonly known = new LRUCache<string, number>({ maxSize: 50_000, sizeCalculation: () => 1 });

  private readonly shared: SharedLoginState | null;

  constructor(now: () => number = Date.now, shared: SharedLoginState | null = null) {
    this.now = now;
    this.shared = shared;
  }

  has(user: string, prefix: string): boolean {
    const at = this.known.get(`${user.toLowerCase()}\0${prefix}`);
    return at !== undefined && this.now() - at < TRUST_MS;
  }

  add(user: string, prefix: string): void {
    this.known.set(`${user.toLowerCase()}\0${prefix}`, this.now());
  }

  /** has(), or in a cluster known to any replica. */
  async isKnown(user: string, prefix: string): Promise<boolean> {
    if (this.has(user, prefix) || !this.shared) return this.has(user, prefix);
    const at = await this.shared.knownAt(user.toLowerCase(), prefix);
    if (at === null || this.now() - at >= TRUST_MS) return false;
    this.known.set(`${user.toLowerCase()}\0${prefix}`, at);
    return true;
  }

  /** add(), and in a cluster for every replica. */
  async remember(user: string, prefix: string): Promise<void> {
    this.add(user, prefix);
    await this.shared?.known(user.toLowerCase(), prefix, this.now());
  }
}

/** At most `limit` holders of one key at a time; up to `maxWaiting` more wait, the rest are refused (null). */
export class KeyedGate {
  private readonly limit: number;
  private readonly maxWaiting: number;
  private readonly keys = new Map<string, { running: number; waiting: (() => void)[] }>();

  constructor(limit: number, maxWaiting: number) {
    this.limit = limit;
    this.maxWaiting = maxWaiting;
  }

  /** Resolves with a release function once `key` has room; null when too many wait already. */
  async enter(key: string): Promise<(() => void) | null> {
    let entry = this.keys.get(key);
    if (!entry) this.keys.set(key, (entry = { running: 0, waiting: [] }));
    if (entry.running >= this.limit) {
      if (entry.waiting.length >= this.maxWaiting) return null;
      await new Promise<void>((resolve) => entry!.waiting.push(resolve));
    } else {
      entry.running += 1;
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = entry!.waiting.shift();
      // The slot passes to the next in line as it is; only the last one out frees it.
      if (next) next();
      else if (--entry!.running === 0) this.keys.delete(key);
    };
  }
}

/** The throttling key of a client address: IPv4 exactly, IPv6 by its /64 (see the top). */
export function addressPrefix(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
  if (mapped) return mapped;
  if (!net.isIPv6(address)) return address;
  const [head = '', tail = ''] = address.toLowerCase().split('%')[0]!.split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = address.includes('::') ? [...h, ...Array<string>(Math.max(0, 8 - h.length - t.length)).fill('0'), ...t] : h;
  return `${groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, '')).join(':')}::/64`;
}
