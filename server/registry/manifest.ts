/**
 * Parsing and validation of manifest bodies: OCI image manifest and index (image-spec v1.1,
 * manifest.md and image-index.md), Docker Image Manifest V2 Schema 2 and manifest list.
 * Pure functions over bytes; the checks that need storage (referenced blobs exist) live in the
 * manifest service.
 */
import { RegistryError } from './errors.ts';
import {
  DOCKER_MANIFEST,
  DOCKER_MANIFEST_LIST,
  DOCKER_SCHEMA1,
  DOCKER_SCHEMA1_SIGNED,
  OCI_INDEX,
  OCI_MANIFEST,
  bareMediaType,
  isIndexMediaType,
  isManifestMediaType,
  type ManifestMediaType,
} from './media-types.ts';
import { tryParseDigest, truncate, type Digest } from './reference.ts';

export interface Platform {
  architecture: string;
  os: string;
  variant?: string;
  osVersion?: string;
}

export interface Descriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  /** Non-distributable ("foreign") layers carry urls and need not be in the registry. */
  urls?: string[];
  platform?: Platform;
  artifactType?: string;
  annotations?: Record<string, string>;
}

export interface ParsedManifest {
  mediaType: ManifestMediaType;
  isIndex: boolean;
  config?: Descriptor;
  layers: Descriptor[];
  manifests: Descriptor[];
  subject?: Descriptor;
  artifactType?: string;
  annotations?: Record<string, string>;
}

/**
 * The most descriptors (config, layers, child manifests, subject) one manifest may hold. Real images
 * stop far below: Docker and containerd refuse more than 127 layers, and ECR's quota is 4,200 per
 * image; a multi-platform index lists a few dozen manifests. The 4 MiB body alone would admit some
 * 40,000 minimal descriptors; this bound, 2^15, is what a single manifest can cost everything that
 * walks it (validation, garbage collection, disk usage, the image page), with room for the largest
 * generated artifacts.
 */
export const MAX_DESCRIPTORS = 32_768;
/** A media type is at most 127 + "/" + 127 characters (RFC 6838 §4.2). */
const MAX_MEDIA_TYPE = 255;

/** Content-Types that say nothing about which manifest this is; the body's mediaType decides. */
const GENERIC_CONTENT_TYPES = new Set(['', 'application/json', 'application/octet-stream', 'text/plain']);

type Json = Record<string, unknown>;

function invalid(message: string, detail?: unknown): RegistryError {
  return new RegistryError('MANIFEST_INVALID', { message, detail });
}

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function parseManifest(bytes: Buffer, contentType: string | undefined): ParsedManifest {
  const declared = bareMediaType(contentType);
  if (declared === DOCKER_SCHEMA1 || declared === DOCKER_SCHEMA1_SIGNED) throw schema1Refused();

  let body: unknown;
  try {
    body = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw invalid(`manifest is not valid JSON: ${(err as Error).message}`);
  }
  if (!isObject(body)) throw invalid('manifest must be a JSON object');
  if (body.schemaVersion === 1) throw schema1Refused();
  if (body.schemaVersion !== 2) throw invalid('manifest schemaVersion must be 2', { schemaVersion: body.schemaVersion ?? null });

  const mediaType = resolveMediaType(declared, body);
  const isIndex = isIndexMediaType(mediaType);
  const count = (Array.isArray(body.layers) ? body.layers.length : 0) + (Array.isArray(body.manifests) ? body.manifests.length : 0) +
    (body.config !== undefined ? 1 : 0) + (body.subject !== undefined ? 1 : 0);
  if (count > MAX_DESCRIPTORS) {
    throw invalid(`the manifest holds ${count} descriptors; at most ${MAX_DESCRIPTORS} are accepted`, { limit: MAX_DESCRIPTORS, descriptors: count });
  }
  const parsed: ParsedManifest = { mediaType, isIndex, layers: [], manifests: [] };

  if (isIndex) {
    if (!Array.isArray(body.manifests)) throw invalid(`${mediaType} needs a "manifests" array`);
    parsed.manifests = body.manifests.map((d, i) => parseDescriptor(d, `manifests[${i}]`));
  } else {
    if (body.config === undefined) throw invalid(`${mediaType} needs a "config" descriptor`);
    parsed.config = parseDescriptor(body.config, 'config');
    if (!Array.isArray(body.layers)) throw invalid(`${mediaType} needs a "layers" array`);
    parsed.layers = body.layers.map((d, i) => parseDescriptor(d, `layers[${i}]`));
  }
  if (body.subject !== undefined) parsed.subject = parseDescriptor(body.subject, 'subject');
  if (body.artifactType !== undefined) {
    if (typeof body.artifactType !== 'string' || !body.artifactType || body.artifactType.length > MAX_MEDIA_TYPE) {
      throw invalid(`"artifactType" must be a media type (a non-empty string of at most ${MAX_MEDIA_TYPE} characters)`);
    }
    parsed.artifactType = body.artifactType;
  }
  if (body.annotations !== undefined) parsed.annotations = parseAnnotations(body.annotations, 'annotations');
  return parsed;
}

function schema1Refused(): RegistryError {
  return invalid(
    'Docker image manifest schema 1 is not supported: it was deprecated in 2017 and current clients push schema 2 or OCI manifests',
  );
}

function resolveMediaType(declared: string, body: Json): ManifestMediaType {
  const inBody = body.mediaType;
  if (inBody !== undefined && typeof inBody !== 'string') throw invalid('"mediaType" must be a string');
  if (inBody === DOCKER_SCHEMA1 || inBody === DOCKER_SCHEMA1_SIGNED) throw schema1Refused();

  if (!GENERIC_CONTENT_TYPES.has(declared)) {
    if (!isManifestMediaType(declared)) {
      throw invalid(`unsupported manifest media type "${truncate(declared, 100)}"`, {
        supported: [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST],
      });
    }
    // image-spec: when the body names its mediaType it must be the one it was pushed as.
    if (inBody !== undefined && inBody !== declared) {
      throw invalid(`Content-Type "${declared}" does not match the manifest's mediaType "${truncate(inBody, 100)}"`);
    }
    return declared;
  }
  if (inBody !== undefined) {
    if (!isManifestMediaType(inBody)) throw invalid(`unsupported manifest media type "${truncate(inBody, 100)}"`);
    return inBody;
  }
  if (Array.isArray(body.manifests)) return OCI_INDEX;
  if (body.config !== undefined) return OCI_MANIFEST;
  throw invalid('cannot tell the manifest type: send a Content-Type or a "mediaType" field');
}

function parseDescriptor(value: unknown, where: string): Descriptor {
  if (!isObject(value)) throw invalid(`${where} must be a descriptor object`);
  const { mediaType, digest, size } = value;
  if (typeof mediaType !== 'string' || !mediaType || mediaType.length > MAX_MEDIA_TYPE) {
    throw invalid(`${where}.mediaType must be a media type (a non-empty string of at most ${MAX_MEDIA_TYPE} characters)`);
  }
  if (typeof digest !== 'string') throw invalid(`${where}.digest must be a string`);
  const parsedDigest = tryParseDigest(digest);
  if (!parsedDigest) throw invalid(`${where}.digest "${truncate(digest, 150)}" is not a sha256 or sha512 digest`);
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
    throw invalid(`${where}.size must be a non-negative integer`);
  }
  const descriptor: Descriptor = { mediaType, digest: parsedDigest, size };
  if (value.urls !== undefined) {
    if (!Array.isArray(value.urls) || !value.urls.every((u) => typeof u === 'string')) {
      throw invalid(`${where}.urls must be an array of strings`);
    }
    if (value.urls.length > 0) descriptor.urls = value.urls as string[];
  }
  if (value.platform !== undefined) descriptor.platform = parsePlatform(value.platform, `${where}.platform`);
  if (value.artifactType !== undefined) {
    if (typeof value.artifactType !== 'string' || value.artifactType.length > MAX_MEDIA_TYPE) throw invalid(`${where}.artifactType must be a media type`);
    descriptor.artifactType = value.artifactType;
  }
  if (value.annotations !== undefined) descriptor.annotations = parseAnnotations(value.annotations, `${where}.annotations`);
  return descriptor;
}

export function parsePlatform(value: unknown, where: string): Platform {
  if (!isObject(value)) throw invalid(`${where} must be an object`);
  const { architecture, os, variant } = value;
  if (typeof architecture !== 'string' || typeof os !== 'string') {
    throw invalid(`${where} needs string "architecture" and "os"`);
  }
  const platform: Platform = { architecture, os };
  if (typeof variant === 'string' && variant) platform.variant = variant;
  const osVersion = value['os.version'];
  if (typeof osVersion === 'string' && osVersion) platform.osVersion = osVersion;
  return platform;
}

function parseAnnotations(value: unknown, where: string): Record<string, string> {
  if (!isObject(value) || !Object.values(value).every((v) => typeof v === 'string')) {
    throw invalid(`${where} must map strings to strings`);
  }
  return value as Record<string, string>;
}

/** "linux/arm64/v8" style label. */
export function platformLabel(p: Platform): string {
  return [p.os, p.architecture, p.variant].filter(Boolean).join('/');
}

/**
 * Descriptors this manifest needs in the registry before it may be stored: the config, and every
 * layer except non-distributable ones, which carry `urls` to fetch them from elsewhere.
 */
export function requiredBlobs(m: ParsedManifest): Descriptor[] {
  if (m.isIndex) return [];
  return [m.config!, ...m.layers.filter((d) => !d.urls)];
}
