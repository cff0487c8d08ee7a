/** Hashing for content addressing: one place that maps digest algorithms to hash functions. */
import { createHash, type Hash } from 'node:crypto';
import { createSHA256, createSHA512 } from 'hash-wasm';
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

/**
 * The running digest of an upload. On a local disk it is Node's own hash (OpenSSL: ~1.7 GB/s here), whose
 * state cannot leave the process; an interrupted session is re-hashed from its file, which is cheap.
 * On a shared store (S3, Azure) the bytes of an unfinished upload cannot be read back, and the next
 * request may reach another process (a restart, or a replica: issue 16): there the hash is hash-wasm's,
 * whose state is saved with every persisted chunk (116 bytes) and loaded wherever the upload goes on.
 * Measured on a 1 GiB upload (docs/benchmarks.md, "Upload hash state"): hash-wasm costs ~2.7 s of CPU
 * against Node's ~0.6 s, but re-hashing at completion would download the whole blob again.
 */
export interface UploadHash {
  update(bytes: Uint8Array): void;
  /** The digest so far, without ending the hash (a failed completion keeps the session usable). */
  digest(): Digest;
  /** The state to save, or null for a hash that cannot be saved (Node's). */
  save(): Uint8Array | null;
}

export function localUploadHash(algorithm: DigestAlgorithm = 'sha256'): UploadHash {
  const hash = newHash(algorithm);
  return {
    update: (bytes) => void hash.update(bytes),
    digest: () => digestFromHash(algorithm, hash.copy()),
    save: () => null,
  };
}

/** A hash-wasm hash, fresh or from a saved state. */
export async function savableUploadHash(algorithm: DigestAlgorithm = 'sha256', state?: Uint8Array): Promise<UploadHash> {
  const hasher = algorithm === 'sha512' ? await createSHA512() : await createSHA256();
  hasher.init();
  if (state) hasher.load(state);
  return {
    update: (bytes) => void hasher.update(bytes),
    digest: () => {
      // digest() ends a hash-wasm hash: read it from a copy made of the saved state.
      const saved = hasher.save();
      const hex = hasher.digest('hex');
      hasher.init();
      hasher.load(saved);
      return tryParseDigest(`${algorithm}:${hex}`)!;
    },
    save: () => hasher.save(),
  };
}
