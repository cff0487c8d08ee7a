/**
 * Registry JWTs (auth/jwt.ts): what a token must carry to be accepted here, and that the cache of
 * verified tokens never outlives a token. The key is Berth's own, loaded as the server loads it; the
 * clock is the test's.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SignJWT } from 'jose';
import { ACCESS_TOKEN_TTL_SECONDS, CLOCK_TOLERANCE_SECONDS, ISSUER, SERVICE, TokenSigner } from '../../server/auth/jwt.ts';
import { loadOrCreateSigningKey, type SigningKey } from '../../server/auth/signing-key.ts';
import { tempDir } from '../helpers/server.ts';

describe('registry tokens', () => {
  let dir: string;
  let key: SigningKey;
  let now: number;
  let signer: TokenSigner;
  const access = [{ type: 'repository', name: 'app', actions: ['pull'] }];

  before(async () => {
    dir = await tempDir('berth-jwt-');
    key = await loadOrCreateSigningKey(path.join(dir, 'signing-key.jwk'));
    now = Date.UTC(2030, 0, 1);
    signer = new TokenSigner(key, () => now);
  });
  after(() => fs.rm(dir, { recursive: true, force: true }));

  /** A token signed with Berth's own key, with the claims given (defaults: what Berth issues). */
  function forged(claims: { aud?: string; iss?: string; exp?: number; sub?: string }): Promise<string> {
    const iat = Math.floor(now / 1000);
    return new SignJWT({ access })
      .setProtectedHeader({ alg: 'ES256', typ: 'JWT', kid: key.kid })
      .setIssuer(claims.iss ?? ISSUER)
      .setSubject(claims.sub ?? 'alice')
      .setAudience(claims.aud ?? SERVICE)
      .setIssuedAt(iat)
      .setNotBefore(iat)
      .setExpirationTime(claims.exp ?? iat + 300)
      .setJti('d6f1f0a4-0000-4000-8000-000000000000')
      .sign(key.privateKey);
  }

  it('accepts what it issues', async () => {
    const { token } = await signer.issue('alice', access);
    assert.deepEqual((await signer.verify(token)).access, access);
    assert.equal((await signer.verify(await forged({}))).sub, 'alice');
  });

  it('refuses a token for another audience, even signed with its own key', async () => {
    await assert.rejects(signer.verify(await forged({ aud: 'another-registry' })), { kind: 'invalid-token', message: /aud claim/ });
  });

  it('refuses a token of another issuer', async () => {
    await assert.rejects(signer.verify(await forged({ iss: 'someone-else' })), { kind: 'invalid-token', message: /iss claim/ });
  });

  it('stops accepting a token once it expires, though it was verified (and cached) before', async () => {
    const { token } = await signer.issue('alice', access);
    const started = now;
    try {
      await signer.verify(token);
      now += (ACCESS_TOKEN_TTL_SECONDS + CLOCK_TOLERANCE_SECONDS - 1) * 1000;
      await signer.verify(token); // within the tolerated skew: still good, from the cache
      now += 2000;
      await assert.rejects(signer.verify(token), { kind: 'invalid-token', message: /expired/ });
      await assert.rejects(signer.verify(token), { kind: 'invalid-token', message: /expired/ }, 'and again, once dropped from the cache');
    } finally {
      now = started;
    }
  });

  it('refuses a token that expired before it was first seen', async () => {
    const stale = await forged({ exp: Math.floor(now / 1000) - CLOCK_TOLERANCE_SECONDS - 5 });
    await assert.rejects(signer.verify(stale), { kind: 'invalid-token', message: /expired/ });
  });
});
