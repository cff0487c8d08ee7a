/**
 * The grammar of repository names, tags and digests (OCI Distribution Spec v1.1, "Pulling manifests"
 * and "Content Digests"; OCI Image Spec "Digests"). Everything that reaches storage has passed one of
 * these parsers, and none of them admits '/', '\\', '..' or a leading '.', except the '/' between name
 * components: that is what makes path traversal impossible by construction.
 */
import { RegistryError } from './errors.ts';

/** `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*` — spec v1.1. */
const NAME_COMPONENT = '[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*';
const NAME_RE = new RegExp(`^${NAME_COMPONENT}(?:/${NAME_COMPONENT})*$`);
/**
 * The spec notes that many clients limit "<host>[:port]/<name>" to 255 characters; Distribution caps
 * the name itself at 255 (reference.NameTotalLengthMax). So do we.
 */
export const NAME_MAX_LENGTH = 255;

/** `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}` — spec v1.1. */
const TAG_RE = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;

/** Image spec: `algorithm ":" encoded`, algorithm `[a-z0-9]+([+._-][a-z0-9]+)*`, encoded `[a-zA-Z0-9=_-]+`. */
const DIGEST_GRAMMAR_RE = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

/** The registered algorithms we store and verify, with the exact shape of their encoded part. */
export const DIGEST_ALGORITHMS = {
  sha256: { hexLength: 64 },
  sha512: { hexLength: 128 },
} as const;
export type DigestAlgorithm = keyof typeof DIGEST_ALGORITHMS;

export interface Digest {
  readonly algorithm: DigestAlgorithm;
  readonly hex: string;
  /** `algorithm:hex`, the canonical string form. */
  readonly value: string;
}

export function isValidName(name: string): boolean {
  return name.length <= NAME_MAX_LENGTH && NAME_RE.test(name);
}

export function parseName(name: string): string {
  if (!isValidName(name)) {
    throw new RegistryError('NAME_INVALID', {
      message: `invalid repository name "${truncate(name)}": use lowercase letters, digits and separators (. _ __ -), components joined by "/", at most ${NAME_MAX_LENGTH} characters`,
      detail: { name: truncate(name) },
    });
  }
  return name;
}

export function isValidTag(tag: string): boolean {
  return TAG_RE.test(tag);
}

export function looksLikeDigest(reference: string): boolean {
  return reference.includes(':');
}

/** Parses a digest, or returns null when it is not one we can store (bad grammar or algorithm). */
export function tryParseDigest(value: string): Digest | null {
  if (!DIGEST_GRAMMAR_RE.test(value)) return null;
  const colon = value.indexOf(':');
  const algorithm = value.slice(0, colon);
  const hex = value.slice(colon + 1);
  if (!Object.hasOwn(DIGEST_ALGORITHMS, algorithm)) return null;
  const spec = DIGEST_ALGORITHMS[algorithm as DigestAlgorithm];
  if (hex.length !== spec.hexLength || !/^[a-f0-9]+$/.test(hex)) return null;
  return { algorithm: algorithm as DigestAlgorithm, hex, value };
}

export function parseDigest(value: string): Digest {
  const digest = tryParseDigest(value);
  if (!digest) {
    throw new RegistryError('DIGEST_INVALID', {
      message: `invalid digest "${truncate(value)}": expected sha256:<64 lowercase hex> or sha512:<128 lowercase hex>`,
      detail: { digest: truncate(value) },
    });
  }
  return digest;
}

export type Reference = { kind: 'tag'; tag: string } | { kind: 'digest'; digest: Digest };

/** A manifest reference is a tag or a digest; anything else is rejected with the code the spec names. */
export function parseReference(reference: string): Reference {
  if (looksLikeDigest(reference)) return { kind: 'digest', digest: parseDigest(reference) };
  if (!isValidTag(reference)) {
    throw new RegistryError('TAG_INVALID', {
      message: `invalid tag "${truncate(reference)}": up to 128 characters of letters, digits, "_", "." and "-", not starting with "." or "-"`,
      detail: { tag: truncate(reference) },
    });
  }
  return { kind: 'tag', tag: reference };
}

export function referenceString(ref: Reference): string {
  return ref.kind === 'tag' ? ref.tag : ref.digest.value;
}

/** Error messages echo user input; keep them short. */
export function truncate(value: string, max = 300): string {
  return value.length > max ? `${value.slice(0, max)}…` : value;
}
