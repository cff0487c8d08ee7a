/**
 * The ES256 key pair that signs registry tokens (distribution jwt.md: ES256, `kid` in the header). It
 * is made once and kept as a private JWK in <data>/auth/signing-key.jwk, readable by its owner only, so
 * tokens survive a restart; nothing else ever needs it, since the registry verifies its own tokens.
 * The kid is the key's RFC 7638 thumbprint.
 */
import fs from 'node:fs/promises';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from 'jose';
import { writePrivateFile } from '../storage/files.ts';

export const SIGNING_ALG = 'ES256';

export interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
}

export async function loadOrCreateSigningKey(file: string): Promise<SigningKey> {
  let jwk: JWK | null = null;
  try {
    jwk = JSON.parse(await fs.readFile(file, 'utf8')) as JWK;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new Error(`cannot read the token signing key ${file} (${(err as Error).message}); delete it to make a new one (everyone logs in again)`);
    }
  }
  if (jwk === null) {
    jwk = await newSigningJwk();
    await writePrivateFile(file, JSON.stringify(jwk));
  } else {
    // Tighten a key file someone copied in with looser permissions.
    await fs.chmod(file, 0o600).catch(() => undefined);
  }
  return importSigningKey(jwk);
}

/** A new ES256 key pair as a private JWK with its thumbprint as kid. */
export async function newSigningJwk(): Promise<JWK> {
  const pair = await generateKeyPair(SIGNING_ALG, { extractable: true });
  const jwk: JWK = { ...(await exportJWK(pair.privateKey)), alg: SIGNING_ALG };
  jwk.kid = await calculateJwkThumbprint(jwk);
  return jwk;
}

/** The signing key of a private JWK (from the key file, or from the store a cluster shares). */
export async function importSigningKey(jwk: JWK): Promise<SigningKey> {
  const { d: _private, ...publicJwk } = jwk;
  return {
    kid: jwk.kid ?? (await calculateJwkThumbprint(jwk)),
    privateKey: (await importJWK(jwk, SIGNING_ALG)) as CryptoKey,
    publicKey: (await importJWK(publicJwk, SIGNING_ALG)) as CryptoKey,
  };
}
