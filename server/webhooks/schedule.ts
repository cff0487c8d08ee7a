/**
 * When a failed delivery is tried again, and when an endpoint is left alone.
 *
 * Retries: after the n-th failed attempt the next waits min(CAP, BASE * 2^(n-1)) with "equal jitter"
 * (half of it fixed, half random, AWS Architecture Blog "Exponential Backoff And Jitter"), so receivers
 * coming back after an outage are not hit by every registry at the same second: 5 s, 10 s, 20 s ...
 * up to 2 h. After MAX_ATTEMPTS the delivery is dead-lettered (kept in the log, redeliverable): about
 * 10 to 19 hours after the first attempt.
 *
 * Circuit breaker: BREAKER_THRESHOLD failed attempts in a row (of any delivery) open the endpoint's
 * circuit: nothing is attempted until its cooldown ends (30 s, doubling per further failure, up to
 * 1 h); the next attempt is the trial; a success closes it. Deliveries go out in order, so while the
 * head waits the rest wait too; the breaker keeps a dead receiver from getting the next delivery (and
 * the one after) the moment a dead-lettered one leaves the head.
 */
const SECOND = 1000;
const HOUR = 3600 * SECOND;

export const RETRY_BASE_MS = 5 * SECOND;
export const RETRY_CAP_MS = 2 * HOUR;
export const MAX_ATTEMPTS = 20;
export const BREAKER_THRESHOLD = 5;
const BREAKER_BASE_MS = 30 * SECOND;
const BREAKER_CAP_MS = HOUR;

/** The un-jittered wait after the `failures`-th failed attempt (1-based). */
export function retryCeiling(failures: number): number {
  return Math.min(RETRY_CAP_MS, RETRY_BASE_MS * 2 ** Math.min(failures - 1, 30));
}

/** The wait after the `failures`-th failed attempt: between half the ceiling and the ceiling. */
export function retryDelay(failures: number, random: () => number = Math.random): number {
  const ceiling = retryCeiling(failures);
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

/** How long the circuit stays open after `streak` failures in a row, or 0 while it stays closed. */
export function breakerCooldown(streak: number): number {
  if (streak < BREAKER_THRESHOLD) return 0;
  return Math.min(BREAKER_CAP_MS, BREAKER_BASE_MS * 2 ** Math.min(streak - BREAKER_THRESHOLD, 30));
}
