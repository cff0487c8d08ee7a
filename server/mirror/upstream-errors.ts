/**
 * What can go wrong with an upstream, in words a user can act on, and how a client is told when
 * nothing cached can stand in: the registry error table (registry/errors.ts) has the codes.
 */
import { RegistryError } from '../registry/errors.ts';

export type UpstreamFailure =
  /** Connection refused or reset, DNS, TLS: the upstream cannot be reached. */
  | 'unreachable'
  /** No answer (or no next bytes of a body) within the upstream's timeout. */
  | 'timeout'
  /** 429 Too Many Requests (Docker Hub's pull limit). */
  | 'rate-limited'
  /** 401/403 after authenticating: credentials missing or not allowed. */
  | 'unauthorized'
  /** The token realm is on a host we may not send credentials to. */
  | 'realm-refused'
  /** 404: the upstream does not have it. */
  | 'not-found'
  /** 5xx. */
  | 'server-error'
  /** An answer we cannot use: truncated, wrong digest, not a manifest, too large. */
  | 'invalid';

export class UpstreamError extends Error {
  readonly upstream: string;
  readonly kind: UpstreamFailure;
  /** The upstream's HTTP status, when it answered. */
  readonly status: number | null;
  readonly retryAfter: string | null;
  /** The upstream's own error code (MANIFEST_UNKNOWN, NAME_UNKNOWN...), when it sent one. */
  readonly upstreamCode: string | null;

  constructor(upstream: string, kind: UpstreamFailure, message: string, status: number | null = null, extra: { retryAfter?: string | null; upstreamCode?: string | null } = {}) {
    super(message);
    this.name = 'UpstreamError';
    this.upstream = upstream;
    this.kind = kind;
    this.status = status;
    this.retryAfter = extra.retryAfter ?? null;
    this.upstreamCode = extra.upstreamCode ?? null;
  }
}

/** A network error's words: "connect ECONNREFUSED 127.0.0.1:443" stays as Node says it. */
export function unreachable(upstream: string, err: unknown): UpstreamError {
  const e = err as NodeJS.ErrnoException;
  const why = e?.message || String(err);
  return new UpstreamError(upstream, 'unreachable', `${upstream} is unreachable (${why.slice(0, 200)})`);
}

/**
 * The error a client gets when the upstream failed and nothing cached can stand in for `what`
 * ("manifest library/alpine:latest"), naming the upstream and its failure.
 */
export function clientError(err: UpstreamError, what: string, notFound: 'MANIFEST_UNKNOWN' | 'BLOB_UNKNOWN'): RegistryError {
  const detail = { upstream: err.upstream, failure: err.kind, ...(err.status !== null ? { status: err.status } : {}) };
  switch (err.kind) {
    case 'not-found':
      return new RegistryError(err.upstreamCode === 'NAME_UNKNOWN' ? 'NAME_UNKNOWN' : notFound, {
        message: `${what} is not cached, and ${err.message}`,
        detail,
      });
    case 'rate-limited':
      return new RegistryError('TOOMANYREQUESTS', {
        message: `${what} is not cached, and ${err.message}`,
        detail,
        ...(err.retryAfter ? { headers: { 'Retry-After': err.retryAfter } } : {}),
      });
    case 'unauthorized':
    case 'realm-refused':
      return new RegistryError('DENIED', { message: `${what} is not cached, and ${err.message}`, detail });
    default:
      return new RegistryError('UNAVAILABLE', { message: `${what} is not cached, and ${err.message}`, detail });
  }
}
