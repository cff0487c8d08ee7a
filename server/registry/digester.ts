/** Hashing for content addressing: one place that maps digest algorithms to hash functions. */
import { createHash, type Hash } from 'node:crypto';
import type { Digest, DigestAlgorithm } from './reference.ts';
import { tryParseDigest } from './reference.ts';

export function newHash(algorithm: DigestAlgorithm): Hash {
  return createHash(algorithm);
}

export function digestOf(bytes: Uint8Array, algorithm: DigestAlgorithm = 'sha256'): Digest {
  return tryParseDigest(`${algorithm}:${newHash(algorithm).update(bytes).digest('hex')}`)!;
}

export function digestFromHash(algorithm: DigestAlgorithm, hash: Hash): Digest {
  return tryParseDigest(`${algorithm}:${hash.digest('hex')}`)!;
}
