/**
 * Reads an Apache htpasswd file, as registry:2's htpasswd auth uses, for `berth user import-htpasswd`.
 * Only bcrypt entries (`htpasswd -B`, "$2y$") can be carried over: the others (MD5 "$apr1$", SHA-1
 * "{SHA}", crypt, plain text) are weak, registry:2 itself accepts only bcrypt, and a hash cannot be
 * turned into another without the password. Every usable line is imported; each other line is listed
 * with why it was skipped and how to re-create it with bcrypt, so one old line never blocks the rest.
 */
import { isBcryptHash } from './secrets.ts';

export interface HtpasswdEntry {
  line: number;
  name: string;
  hash: string;
}

export interface SkippedLine {
  line: number;
  /** The user name of the line, when it has one. */
  name: string | null;
  reason: string;
}

function kindOf(hash: string): string {
  if (hash.startsWith('$apr1$')) return 'Apache MD5 ($apr1$)';
  if (hash.startsWith('{SHA}')) return 'SHA-1 ({SHA})';
  if (hash.startsWith('$1$')) return 'MD5-crypt ($1$)';
  if (hash.startsWith('$5$') || hash.startsWith('$6$')) return 'SHA-crypt';
  if (hash.startsWith('$2')) return 'a malformed bcrypt hash';
  if (/^[./0-9A-Za-z]{13}$/.test(hash)) return 'DES crypt';
  return 'plain text or an unknown scheme';
}

export function parseHtpasswd(text: string, validName: (name: string) => string | null): { entries: HtpasswdEntry[]; skipped: SkippedLine[] } {
  const entries: HtpasswdEntry[] = [];
  const skipped: SkippedLine[] = [];
  const seen = new Set<string>();
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const colon = line.indexOf(':');
    const name = colon > 0 ? line.slice(0, colon) : '';
    const hash = colon > 0 ? line.slice(colon + 1) : '';
    const skip = (reason: string) => skipped.push({ line: i + 1, name: name || null, reason });
    if (!name || !hash) skip('not "user:hash"');
    else if (validName(name)) skip(validName(name)!);
    else if (!isBcryptHash(hash)) {
      skip(`the password is hashed with ${kindOf(hash)}; only bcrypt is accepted: re-create the line with "htpasswd -B FILE ${name}" (it asks for the password) and import again, or add the user with "berth user add ${name}"`);
    } else if (seen.has(name)) skip('the user appears on an earlier line too; that one is imported');
    else {
      entries.push({ line: i + 1, name, hash });
      seen.add(name);
    }
  });
  return { entries, skipped };
}
