/**
 * Reads an Apache htpasswd file, as registry:2's htpasswd auth uses, for `berth user import-htpasswd`.
 * Only bcrypt entries (`htpasswd -B`, "$2y$") can be carried over: the others (MD5 "$apr1$", SHA-1
 * "{SHA}", crypt, plain text) are weak, and registry:2 itself accepts only bcrypt. A file with any of
 * them is refused as a whole, naming every line, so nothing is half imported.
 */
import { AuthError } from './errors.ts';
import { isBcryptHash } from './secrets.ts';

export interface HtpasswdEntry {
  line: number;
  name: string;
  hash: string;
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

export function parseHtpasswd(text: string, validName: (name: string) => string | null): HtpasswdEntry[] {
  const entries: HtpasswdEntry[] = [];
  const problems: string[] = [];
  const seen = new Set<string>();
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const colon = line.indexOf(':');
    const name = colon > 0 ? line.slice(0, colon) : '';
    const hash = colon > 0 ? line.slice(colon + 1) : '';
    if (!name || !hash) {
      problems.push(`line ${i + 1}: not "user:hash"`);
      return;
    }
    const nameProblem = validName(name);
    if (nameProblem) problems.push(`line ${i + 1} (${name}): ${nameProblem}`);
    else if (!isBcryptHash(hash)) problems.push(`line ${i + 1} (${name}): the password is hashed with ${kindOf(hash)}; only bcrypt is accepted`);
    else if (seen.has(name)) problems.push(`line ${i + 1} (${name}): the user appears twice`);
    else entries.push({ line: i + 1, name, hash });
    seen.add(name);
  });
  if (problems.length > 0) {
    throw new AuthError(
      'invalid-input',
      `nothing imported: ${problems.join('; ')}. Re-create those entries with bcrypt ("htpasswd -B FILE USER") or add the users with "berth user add"`,
    );
  }
  return entries;
}
