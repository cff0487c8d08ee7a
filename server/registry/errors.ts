/**
 * The one table of registry error codes and their HTTP status.
 *
 * Codes and meanings follow the OCI Distribution Spec v1.1 ("Error Codes" table) and
 * CNCF Distribution's registry/api/errcode + registry/api/v2/errors.go for the codes the spec
 * leaves out (RANGE_INVALID, PAGINATION_NUMBER_INVALID, TAG_INVALID, UNAVAILABLE, UNKNOWN).
 * Call sites throw `new RegistryError(code, detail)` and never choose a status.
 */

export const ERROR_CODES = {
  BLOB_UNKNOWN: { status: 404, message: 'blob unknown to registry' },
  BLOB_UPLOAD_INVALID: { status: 400, message: 'blob upload invalid' },
  BLOB_UPLOAD_UNKNOWN: { status: 404, message: 'blob upload unknown to registry' },
  DIGEST_INVALID: { status: 400, message: 'provided digest did not match uploaded content' },
  MANIFEST_BLOB_UNKNOWN: { status: 400, message: 'manifest references a manifest or blob unknown to registry' },
  MANIFEST_INVALID: { status: 400, message: 'manifest invalid' },
  MANIFEST_UNKNOWN: { status: 404, message: 'manifest unknown to registry' },
  NAME_INVALID: { status: 400, message: 'invalid repository name' },
  NAME_UNKNOWN: { status: 404, message: 'repository name not known to registry' },
  SIZE_INVALID: { status: 400, message: 'provided length did not match content length' },
  TAG_INVALID: { status: 400, message: 'manifest tag did not match URI' },
  RANGE_INVALID: { status: 416, message: 'invalid content range' },
  PAGINATION_NUMBER_INVALID: { status: 400, message: 'invalid number of results requested' },
  // Not an OCI code: a request whose headers or query are malformed in a way no code above names.
  BAD_REQUEST: { status: 400, message: 'malformed request' },
  UNAUTHORIZED: { status: 401, message: 'authentication required' },
  // Not an OCI code: the token endpoint's answer to an OAuth2 POST with wrong credentials or a revoked
  // refresh token (RFC 6749 §5.2 "invalid_grant", status 400).
  INVALID_GRANT: { status: 400, message: 'the credentials or refresh token are not valid' },
  DENIED: { status: 403, message: 'requested access to the resource is denied' },
  NOT_FOUND: { status: 404, message: 'no such endpoint' },
  // Not an OCI code: a management request that the current state forbids (a user that exists already,
  // removing the last administrator); RFC 9110 §15.5.10.
  CONFLICT: { status: 409, message: 'the request conflicts with the current state' },
  UNSUPPORTED: { status: 405, message: 'the operation is unsupported' },
  // RFC 9110 §15.5.14: the manifest body cap (see MAX_MANIFEST_BYTES) is answered with 413.
  TOO_LARGE: { status: 413, message: 'request body too large' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'unsupported media type' },
  TOOMANYREQUESTS: { status: 429, message: 'too many requests' },
  // Not an OCI code: a stored layer or artifact whose content cannot be read as what it claims to be
  // (a corrupt or truncated tar, an SBOM that is not JSON): the request was fine, the content is not.
  CONTENT_INVALID: { status: 422, message: 'the stored content cannot be read' },
  // Not OCI codes: the data directory cannot take the write. Clients show the message only of a 4xx
  // answer (Docker, podman and skopeo print "received unexpected HTTP status: 507 ..." for any 5xx and
  // drop the body), and Docker retries every code but UNAUTHORIZED, UNSUPPORTED and DENIED five times
  // with growing pauses (moby distribution/errors.go retryOnError: 50 s of "Retrying in N seconds"
  // that cannot help). So they go out as DENIED, which every client prints at once as "denied: <message>":
  // a full disk with 413 (RFC 9110 §15.5.14: content larger than the server is able to process), a
  // read-only or unwritable one with 403 (the server understood the request and refuses it).
  STORAGE_FULL: { status: 413, message: 'the registry has no space left to store this', wire: 'DENIED' },
  STORAGE_UNWRITABLE: { status: 403, message: 'the registry cannot write its data directory', wire: 'DENIED' },
  // The device failed (EIO): possibly passing, so a 5xx that clients may retry.
  STORAGE_FAILED: { status: 500, message: 'the registry\'s disk failed', wire: 'UNKNOWN' },
  UNKNOWN: { status: 500, message: 'unknown error' },
  UNAVAILABLE: { status: 503, message: 'service unavailable' },
} as const satisfies Record<string, { status: number; message: string; wire?: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

export class RegistryError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly detail: unknown;
  /** Extra response headers the error needs (Range on 416, WWW-Authenticate on 401, Allow on 405). */
  readonly headers: Record<string, string>;

  constructor(code: ErrorCode, options: { message?: string; detail?: unknown; headers?: Record<string, string> } = {}) {
    super(options.message ?? ERROR_CODES[code].message);
    this.name = 'RegistryError';
    this.code = code;
    this.status = ERROR_CODES[code].status;
    this.detail = options.detail;
    this.headers = options.headers ?? {};
  }

  /** The error as it goes out: under the code clients know (`wire`) where the table gives one. */
  toJSON(): { code: string; message: string; detail?: unknown } {
    const entry = ERROR_CODES[this.code] as { wire?: string };
    const code = entry.wire ?? this.code;
    return this.detail === undefined ? { code, message: this.message } : { code, message: this.message, detail: this.detail };
  }
}

export function isRegistryError(err: unknown): err is RegistryError {
  return err instanceof RegistryError;
}
