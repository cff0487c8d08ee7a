/**
 * WWW-Authenticate challenges (RFC 9110 §11.6.1, §11.2: `scheme param=value, param="quoted"`), as
 * upstream registries send them: `Bearer realm="https://auth.docker.io/token",service="registry.docker.io",
 * scope="repository:library/alpine:pull"` (distribution docs/spec/auth/token.md), or `Basic realm="..."`.
 */

export interface Challenge {
  /** Lower case: "bearer", "basic". */
  scheme: string;
  params: Record<string, string>;
}

/** Every challenge in the header value (several may be listed, comma-separated). */
export function parseChallenges(header: string | undefined): Challenge[] {
  const out: Challenge[] = [];
  if (!header) return out;
  let i = 0;
  const text = header;
  const skip = (re: RegExp) => {
    while (i < text.length && re.test(text[i]!)) i++;
  };
  let current: Challenge | null = null;
  while (i < text.length) {
    skip(/[\s,]/);
    const token = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+/.exec(text.slice(i))?.[0];
    if (!token) break;
    i += token.length;
    skip(/[ \t]/);
    if (text[i] === '=' && current) {
      // A parameter of the current challenge.
      i++;
      skip(/[ \t]/);
      let value = '';
      if (text[i] === '"') {
        i++;
        while (i < text.length && text[i] !== '"') {
          if (text[i] === '\\' && i + 1 < text.length) i++;
          value += text[i];
          i++;
        }
        i++;
      } else {
        const bare = /^[^,\s]*/.exec(text.slice(i))?.[0] ?? '';
        value = bare;
        i += bare.length;
      }
      current.params[token.toLowerCase()] = value;
    } else {
      current = { scheme: token.toLowerCase(), params: {} };
      out.push(current);
    }
  }
  return out;
}

export function bearerChallengeOf(header: string | undefined): Challenge | undefined {
  return parseChallenges(header).find((c) => c.scheme === 'bearer' && c.params.realm);
}
