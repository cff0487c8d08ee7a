/**
 * The storage layout, in one place. Berth keeps two kinds of data:
 *
 * OBJECTS, in the storage driver (driver/): a folder on disk (the data directory itself, the default), an
 * S3 bucket (under its prefix) or an Azure container. Keys are '/'-separated, relative to that root:
 *
 *     blobs/<alg>/<hex[0:2]>/<hex>            every blob and every manifest body, stored once across all
 *                                             repositories and named by its digest; it appears there only
 *                                             whole and verified (temp + fsync + rename on disk; one PUT, a
 *                                             completed multipart upload or a server-side copy in a bucket)
 *     repositories/<name>/                    one prefix per repository; <name> may contain '/', and its
 *                                             components never start with '_' (spec grammar), so the
 *                                             '_'-names below cannot collide with nested repositories
 *       _layers/<alg>/<hex>                   empty object: blob <alg>:<hex> belongs to this repository
 *                                             (modified time: the last upload or mount that linked it: the
 *                                             GC grace window). On disk a new link's folder is synced
 *                                             within a second, or with the manifest PUT that needs it,
 *                                             before that manifest's link and tag appear (manifests.ts)
 *       _manifests/revisions/<alg>/<hex>      manifest <alg>:<hex> was pushed here: "<media type>\n", and on
 *                                             an object store "<pushed at, ISO 8601>\n"; on disk the file's
 *                                             modified time is the push time
 *       _manifests/tags/<tag file>            "<digest>\n<tag>\n" (+ "<pushed at>\n" on an object store): a tag
 *                                             and the manifest it points to; file name from tagFileName()
 *                                             below. Object stores keep whole seconds and a copy between
 *                                             stores (berth storage copy) resets times, so there the time is
 *                                             in the object; a time line, where present, wins.
 *     uploads/<uuid>/data                     the bytes of an upload session received so far: a growing file
 *                                             on disk; in a bucket a multipart upload (or staged blocks) with
 *                                             its state next to it (data.state, data.tail-*: see the driver)
 *     uploads/<uuid>/info.json                {"repository", "startedAt"}
 *     uploads/<uuid>/complete                 on a shared store, an upload finished to be read back and
 *                                             verified (only when no hash state was at hand: uploads.ts)
 *     uploads/<uuid>/hashstates/<alg>/<size>  on a shared store: the saved state of the upload's hash after
 *                                             <size> bytes, so another process (a restart, a replica) can
 *                                             complete the upload without reading it back
 *     quarantine/<alg>/<hex>.<time>           blobs whose bytes did not match their digest, moved out of
 *                                             blobs/ by the integrity scrub (registry/scrub.ts) for inspection;
 *                                             nothing refers to them and Berth never reads them again
 *
 * LOCAL STATE, always in the data directory (--data), whatever the driver:
 *
 *   <data>/
 *     berth.lock                              the lock: one server (one nedb owner) per directory; who holds it
 *     berth.sock                              ...and the socket its holder listens on while alive (storage/lock.ts)
 *     reserve                                 64 KiB of random bytes held back for the lock and the nedb
 *                                             files: deleted when Berth starts on a full disk (reserve.ts)
 *     tmp/                                    temp files, renamed into place once complete and fsynced
 *     index/                                  the nedb metadata index (metadata/): rebuilt from the objects
 *                                             whenever it is missing, corrupt or was not closed cleanly
 *     auth/                                   registry users and credentials (auth/): PRIMARY data, never
 *                                             rebuilt; back it up with the blobs
 *       users.db                              nedb: users and robot accounts, bcrypt password hashes, permissions
 *       credentials.db                        nedb: access tokens (personal/robot) and refresh tokens, SHA-256 hashed
 *       signing-key.jwk                       the ES256 private key that signs registry JWTs (mode 0600)
 *     tls/                                    certificates Berth makes itself (tls/)
 *       ca.crt, ca.key                        the local CA (ECDSA P-256, 2 years, name-constrained); the key (0600)
 *                                             never leaves here: keep backups of this folder as private as the key
 *       server.crt, server.key                the server certificate it signs, re-issued when names or expiry change
 *     maintenance/                            nedb store of the storage lifecycle (metadata/maintenance-db.ts):
 *       runs.db                               history of garbage collections, scrubs, purges, reindexes (what
 *                                             ran, progress, result); only a record, nothing depends on it
 *       retention.db                          retention rules: user settings, NOT derived from the objects,
 *                                             so a rebuild of index/ never touches this folder
 *     activity.db                             recent pushes, pulls and deletes (nedb, metadata/activity-db.ts):
 *                                             history, not derived from the above; losing it loses only the feed
 *     webhooks/                               webhooks (metadata/webhook-db.ts), folder 0700, files 0600 (secrets):
 *       endpoints.db                          endpoints made through the API or CLI, with their signing secrets
 *       state.db                              per endpoint: last success/failure, failure streak, circuit, counters
 *       outbox.db                             deliveries: pending ones are the queue (appended before the registry
 *                                             answers the request that caused them, fsynced within 1 s), finished
 *                                             ones the log
 *     mirrors/                                the pull-through cache's state (metadata/mirror-db.ts): upstreams
 *                                             added in the UI, per cached tag its last check and use, counters;
 *                                             the cached content itself is ordinary repository content above,
 *                                             under the upstream's name (repositories/docker.io/library/alpine/)
 *       credentials.json                      upstream credentials (mode 0600), never logged
 *     <store>.db.unreadable-<time>            a store file above whose contents could not be read, moved aside
 *                                             (never deleted; metadata/nedb-file.ts); the lines that could be
 *                                             read live on in <store>.db. Never made for a disk error.
 *     derived/                                local caches computed from blobs, whatever driver stores them
 *                                             (storage/derived-store.ts); always safe to delete
 *       layers/<alg>/<hex>.json.gz            a layer blob's file listing (registry/layers/layer-index.ts): gzip'd
 *                                             JSON lines, one entry each, then a summary line (DiffID, sizes);
 *                                             blobs are immutable so it never goes stale, and it is removed
 *                                             when garbage collection frees the blob
 *
 * Who owns which fact: the objects are the truth for what exists (blobs, manifests, tags, sessions);
 * the index only summarises them for listings and the UI, and is never consulted to decide whether a
 * blob or manifest exists.
 *
 * Every key is built from values that passed registry/reference.ts (names, tags, digests) or are
 * UUIDs we generated and re-validate, so no request can address an object outside this tree.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import type { Digest } from '../registry/reference.ts';

/** Most file systems cap a file name at 255 bytes. */
const MAX_FILE_NAME = 255;

/** Local state under the data directory (see LOCAL STATE above). */
export class StoragePaths {
  readonly root: string;
  constructor(root: string) {
    this.root = path.resolve(root);
  }

  get lockFile(): string { return path.join(this.root, 'berth.lock'); }
  get tmpDir(): string { return path.join(this.root, 'tmp'); }
  get indexDir(): string { return path.join(this.root, 'index'); }
  get authDir(): string { return path.join(this.root, 'auth'); }
  get tlsDir(): string { return path.join(this.root, 'tls'); }
  get maintenanceDir(): string { return path.join(this.root, 'maintenance'); }
  get activityFile(): string { return path.join(this.root, 'activity.db'); }
  get derivedDir(): string { return path.join(this.root, 'derived'); }

  /** The cached listing of a layer blob (derived/layers/). */
  layerListing(d: Digest): string {
    return path.join(this.derivedDir, 'layers', d.algorithm, `${d.hex}.json.gz`);
  }

  get webhooksDir(): string { return path.join(this.root, 'webhooks'); }
  get mirrorsDir(): string { return path.join(this.root, 'mirrors'); }
  get reserveFile(): string { return path.join(this.root, 'reserve'); }
}

/** Object keys (see OBJECTS above). */
export const keys = {
  blobs: 'blobs',
  repositories: 'repositories',
  uploads: 'uploads',
  quarantine: 'quarantine',

  blob(d: Digest): string {
    return `blobs/${d.algorithm}/${d.hex.slice(0, 2)}/${d.hex}`;
  },
  /** Where the scrub moves a corrupt blob; the time suffix keeps every corrupt copy found. */
  quarantined(d: Digest, at: Date): string {
    return `quarantine/${d.algorithm}/${d.hex}.${at.toISOString().replace(/[:.]/g, '-')}`;
  },
  repository(name: string): string {
    return `repositories/${name}`;
  },
  layersDir(name: string): string {
    return `repositories/${name}/_layers`;
  },
  layerLink(name: string, d: Digest): string {
    return `repositories/${name}/_layers/${d.algorithm}/${d.hex}`;
  },
  manifestsDir(name: string): string {
    return `repositories/${name}/_manifests`;
  },
  revisionsDir(name: string): string {
    return `repositories/${name}/_manifests/revisions`;
  },
  revisionLink(name: string, d: Digest): string {
    return `repositories/${name}/_manifests/revisions/${d.algorithm}/${d.hex}`;
  },
  tagsDir(name: string): string {
    return `repositories/${name}/_manifests/tags`;
  },
  tag(name: string, tag: string): string {
    return `repositories/${name}/_manifests/tags/${tagFileName(tag)}`;
  },
  upload(id: string): string {
    return `uploads/${id}`;
  },
  uploadData(id: string): string {
    return `uploads/${id}/data`;
  },
  uploadInfo(id: string): string {
    return `uploads/${id}/info.json`;
  },
  uploadComplete(id: string): string {
    return `uploads/${id}/complete`;
  },
  uploadHashStates(id: string, algorithm: string): string {
    return `uploads/${id}/hashstates/${algorithm}`;
  },
  uploadHashState(id: string, algorithm: string, size: number): string {
    return `uploads/${id}/hashstates/${algorithm}/${size}`;
  },
};

/**
 * Tags are case-sensitive, but the default file systems of macOS and Windows are not: "Latest" and
 * "latest" would share a file. Each upper-case letter is written as '^' + its lower-case form ('^' is
 * not in the tag grammar). The one tag shape that then exceeds 255 bytes (128 characters, all upper
 * case) is named by its hash instead; the tag itself is always the second line of the file.
 */
export function tagFileName(tag: string): string {
  const escaped = tag.replace(/[A-Z]/g, (c) => `^${c.toLowerCase()}`);
  if (escaped.length <= MAX_FILE_NAME) return escaped;
  return `#${createHash('sha256').update(tag).digest('hex')}`;
}
