/**
 * Registry access tokens: JWTs as distribution's jwt.md describes them, signed and verified with jose.
 * Header {alg: ES256, typ: JWT, kid}; claims iss, sub, aud (the service), exp, nbf, iat, jti, access.
 * Verification allows 60 s of clock skew. Verified tokens are cached until they expire (bounded LRU),
 * so a client's hundreds of blob requests cost one signature check, not hundreds.
 */
import { randomUUID } from 'node:crypto';
import { SignJWT, jwtVerify, errors as joseErrors } from 'jose';
import { LRUCache } from 'lru-cache';
import { AuthError } from './errors.ts';
import type { ResourceAccess } from './scope.ts';
import { SIGNING_ALG, type SigningKey } from './signing-key.ts';

export const ISSUER = 'berth';
/** The `service` of every challenge and the `aud` of every token. */
export const SERVICE = 'berth';
/** Access token lifetime: short, since only a refresh token or a login gets a new one (token.md: >= 60 s). */
export const ACCESS_TOKEN_TTL_SECONDS = 300;
/** Clock skew tolerated between whoever made a token and us (the notes: about 60 s). */
export const CLOCK_TOLERANCE_SECONDS = 60;

export interface AccessClaims {
  sub: string;
  access: ResourceAccess[];
  /** Expiry, seconds since the epoch. */
  exp: number;
}

export interface IssuedToken {
  token: string;
  access: ResourceAccess[];
  expiresIn: number;
  issuedAt: Date;
}

export class TokenSigner {
  private readonly key: SigningKey;
  private readonly now: () => number;
  private readonly verified = new LRUCache<string, AccessClaims>({ max: 5000 });

  constructor(key: SigningKey, now: () => number = Date.now) {
    this.key = key;
    this.now = now;
  }

  async issue(subject: string, access: ResourceAccess[]): Promise<IssuedToken> {
    const issuedAt = new Date(Math.floor(this.now() / 1000) * 1000);
    const iat = issuedAt.getTime() / 1000;
    const token = await new SignJWT({ access })
      .setProtectedHeader({ alg: SIGNING_ALG, typ: 'JWT', kid: this.key.kid })
      .setIssuer(ISSUER)
      .setSubject(subject)
      .setAudience(SERVICE)
      .setIssuedAt(iat)
      .setNotBefore(iat)
      .setExpirationTime(iat + ACCESS_TOKEN_TTL_SECONDS)
      .setJti(randomUUID())
      .sign(this.key.privateKey);
    return { token, access, expiresIn: ACCESS_TOKEN_TTL_SECONDS, issuedAt };
  }

  /** The claims of a valid token; AuthError('invalid-token') with the reason otherwise. */
  async verify(token: string): Promise<AccessClaims> {
    const nowSeconds = this.now() / 1000;
    const cached = this.verified.get(token);
    if (cached) {
      if (cached.exp + CLOCK_TOLERANCE_SECONDS > nowSeconds) return cached;
      this.verified.delete(token);
      throw new AuthError('invalid-token', 'the token has expired');
    }
    let payload;
    try {
      ({ payload } = await jwtVerify(token, this.key.publicKey, {
        algorithms: [SIGNING_ALG],
        issuer: ISSUER,
        audience: SERVICE,
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
        currentDate: new Date(this.now()),
        requiredClaims: ['sub', 'exp', 'nbf', 'iat', 'jti'],
      }));
    } catch (err) {
      throw new AuthError('invalid-token', reason(err));
    }
    const claims: AccessClaims = { sub: payload.sub!, exp: payload.exp!, access: accessClaim(payload.access) };
    this.verified.set(token, claims);
    return claims;
  }
}

function reason(err: unknown): string {
  if (err instanceof joseErrors.JWTExpired) return 'the token has expired';
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return 'the token signature is not valid (tampered with, or signed by another key)';
  if (err instanceof joseErrors.JWTClaimValidationFailed) return `the token is not valid here (${err.claim} claim)`;
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return 'the token is signed with an algorithm this registry does not accept';
  return 'the token is malformed';
}

function accessClaim(value: unknown): ResourceAccess[] {
  if (!Array.isArray(value)) return [];
  return value.filter((e): e is ResourceAccess =>
    typeof e === 'object' && e !== null && typeof e.type === 'string' && typeof e.name === 'string' &&
    Array.isArray(e.actions) && e.actions.every((a: unknown) => typeof a === 'string'));
}
