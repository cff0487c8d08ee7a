/**
 * Passwords and token secrets. Passwords are low-entropy, so they are hashed with bcrypt (bcryptjs,
 * run off the event loop by password-pool.ts; $2a$, $2b$ and Apache's $2y$ are the same algorithm,
 * so htpasswd -B files carry over). Access and refresh tokens are 256 random bits: no one can guess
 * them, so a fast SHA-256 of the secret is enough to store them (a slow hash protects only guessable
 * secrets) and keeps every token use cheap. Comparisons are constant-time.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** bcrypt cost: 2^10 rounds, about 50-100 ms in bcryptjs; OWASP's floor for bcrypt. */
export const BCRYPT_COST = 10;

export function isBcryptHash(hash: string): boolean {
  return /^\$2[abxy]\$\d{2}\$[./A-Za-z0-9]{53}$/.test(hash);
}

/** A password to print once: 24 characters from an alphabet with no look-alikes (about 140 bits). */
export function generatePassword(): string {
  const alphabet = 'abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789';
  const bytes = randomBytes(24);
  return [...bytes].map((b) => alphabet[b % alphabet.length]).join('');
}

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

export function sameHash(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * Token strings: `<prefix>_<id>_<secret>`: the id (16 hex) finds the record without a scan and is what
 * `berth token list` shows; the prefix lets secret scanners recognise a leaked Berth token.
 */
export const ACCESS_TOKEN_PREFIX = 'berth_pat';
export const REFRESH_TOKEN_PREFIX = 'berth_rt';

export function newTokenSecret(prefix: string): { id: string; secret: string; token: string } {
  const id = randomBytes(8).toString('hex');
  const secret = randomBytes(32).toString('base64url');
  return { id, secret, token: `${prefix}_${id}_${secret}` };
}

export function parseTokenSecret(prefix: string, token: string): { id: string; secret: string } | null {
  if (!token.startsWith(`${prefix}_`)) return null;
  const match = /^([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/.exec(token.slice(prefix.length + 1));
  return match ? { id: match[1]!, secret: match[2]! } : null;
}
