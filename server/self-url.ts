/**
 * The URL a client on this machine uses to reach a server that listens on `listenUrl`: a wildcard
 * address (0.0.0.0, ::) is not one a client can connect to everywhere, so it is named by loopback.
 * Shared by the registry (its own URL) and storage/lock.ts (naming the server that holds a data
 * directory), so it sits below both. Throws on a URL that does not parse.
 */
export function selfUrl(listenUrl: string): string {
  const url = new URL(listenUrl);
  if (url.hostname === '0.0.0.0') url.hostname = '127.0.0.1';
  if (url.hostname === '[::]') url.hostname = '[::1]';
  return url.origin;
}
