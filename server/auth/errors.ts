/**
 * Why an auth operation failed, as the auth layer sees it. The HTTP layer maps each kind to one code of
 * the registry error table (http/token.ts, http/auth.ts); the CLI prints the message. Messages never
 * contain a password or token.
 */
export type AuthErrorKind =
  /** Wrong user name, password, access token, or an expired/revoked access token. */
  | 'invalid-credentials'
  /** A refresh token that is unknown, revoked, or bound to another service. */
  | 'invalid-grant'
  /** A JWT that does not verify: bad signature, another key, expired, not for us. */
  | 'invalid-token'
  /** Too many failed logins for this user or address: retry after `retryAfterSeconds`. */
  | 'throttled'
  /** Input that can never work (bad user name, permission, scope...). */
  | 'invalid-input'
  | 'not-found'
  | 'conflict';

export class AuthError extends Error {
  readonly kind: AuthErrorKind;
  readonly retryAfterSeconds: number;
  constructor(kind: AuthErrorKind, message: string, retryAfterSeconds = 0) {
    super(message);
    this.name = 'AuthError';
    this.kind = kind;
    this.retryAfterSeconds = retryAfterSeconds;
  }
}
