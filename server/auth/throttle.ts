/**
 * Slows down password guessing: after a few failed logins for one key (a user name, or an address),
 * every further attempt must wait twice as long as the one before, up to a cap, counted from the last
 * failure. A success forgets the key. Keys no one tried for a while are forgotten (LRU with a TTL), so
 * memory stays bounded however many names an attacker tries.
 */
import { LRUCache } from 'lru-cache';

export interface ThrottlePolicy {
  /** Failures allowed before any waiting is imposed. */
  freeFailures: number;
  /** The longest wait between attempts, in ms. */
  maxDelayMs: number;
  /** A key with no failure for this long starts again from zero. */
  forgetAfterMs: number;
}

interface Failures {
  count: number;
  last: number;
}

export class LoginThrottle {
  private readonly policy: ThrottlePolicy;
  private readonly now: () => number;
  private readonly failures: LRUCache<string, Failures>;

  constructor(policy: ThrottlePolicy, now: () => number = Date.now) {
    this.policy = policy;
    this.now = now;
    this.failures = new LRUCache({ max: 50_000, ttl: policy.forgetAfterMs, ttlAutopurge: false });
  }

  /** Milliseconds `key` must still wait before its next attempt (0: may try now). */
  waitMs(key: string): number {
    const entry = this.failures.get(key);
    if (!entry || entry.count < this.policy.freeFailures) return 0;
    const delay = Math.min(1000 * 2 ** (entry.count - this.policy.freeFailures), this.policy.maxDelayMs);
    return Math.max(0, entry.last + delay - this.now());
  }

  failed(key: string): void {
    const entry = this.failures.get(key);
    this.failures.set(key, { count: (entry?.count ?? 0) + 1, last: this.now() });
  }

  succeeded(key: string): void {
    this.failures.delete(key);
  }
}
