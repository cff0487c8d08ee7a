/**
 * Copies a registry from one store to another (`berth storage copy`): blobs, then manifest and layer
 * links, then tags, so that at every moment of the copy the destination is a consistent registry
 * (a tag there always names a manifest whose bytes are there). Upload sessions and quarantined blobs
 * stay behind.
 *
 * Verified: every blob is hashed while it streams to the destination (through the destination's
 * resumable writer: bounded memory, a server-side commit) and appears at its content address only if its
 * bytes match its digest. Resumable: a blob already at the destination is skipped (a blob is only ever
 * stored verified, so being there is proof enough, with its size checked), and so is a link or tag with
 * the same content; an interrupted copy run again picks up where it stopped.
 *
 * Tags and manifest links written by older Berth versions keep their push time in the file's modified
 * time, which a bucket cannot carry over: the copy writes that time into the object.
 *
 * The source may be a running registry (the management API's copy): a link or tag is written only once
 * the blob it names is at the destination (copied then if it was pushed after the blobs were listed), so
 * the destination stays consistent whatever is pushed meanwhile; a blob deleted by a collection before
 * its turn is counted as gone. Run again, the copy catches up with what changed.
 */
import { randomUUID } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import { digestFromHash, newHash } from '../registry/digester.ts';
import type { StorageCopyStatus } from '../registry/api-types.ts';
import { tryParseDigest, type Digest } from '../registry/reference.ts';
import type { StorageDriver } from './driver/driver.ts';
import { keys } from './paths.ts';

export type CopyProgress = NonNullable<StorageCopyStatus['progress']>;
export type CopyReport = NonNullable<StorageCopyStatus['result']>;

/** Blobs copied at once: enough to keep both stores busy, few enough to bound memory (two parts each). */
const PARALLEL = 3;

export async function copyRegistry(
  from: StorageDriver,
  to: StorageDriver,
  onProgress: (p: CopyProgress) => void = () => undefined,
  signal?: AbortSignal,
): Promise<CopyReport> {
  const started = Date.now();
  const report: CopyReport = { blobs: { copied: 0, skipped: 0, gone: 0, bytesCopied: 0 }, links: { copied: 0, skipped: 0 }, tags: { copied: 0, skipped: 0 }, corrupt: [], ms: 0 };
  /** Blobs known to be at the destination, whole and verified. */
  const present = new Set<string>();
  /** Copies one blob unless it is there; false when the source has no good copy of it. */
  const ensureBlob = async (digest: Digest, size?: number): Promise<boolean> => {
    if (present.has(digest.value)) return true;
    const key = keys.blob(digest);
    const there = await to.stat(key);
    const expected = size ?? (await from.stat(key))?.size;
    if (there && (expected === undefined || there.size === expected)) {
      report.blobs.skipped += 1;
    } else {
      const actual = await copyBlob(from, to, key, digest.algorithm);
      if (actual === null) {
        report.blobs.gone += 1;
        return false;
      }
      if (actual !== digest.value) {
        report.corrupt.push({ digest: digest.value, actual });
        return false;
      }
      report.blobs.copied += 1;
      report.blobs.bytesCopied += expected ?? 0;
    }
    present.add(digest.value);
    return true;
  };

  // 1. Blobs.
  const blobs = [];
  for await (const object of from.walk(keys.blobs)) {
    const [, algorithm, , hex] = object.path.split('/');
    const digest = tryParseDigest(`${algorithm}:${hex}`);
    if (digest && keys.blob(digest) === object.path) blobs.push({ digest, size: object.size });
  }
  const bytesTotal = blobs.reduce((sum, b) => sum + b.size, 0);
  let done = 0;
  let bytesDone = 0;
  const queue = [...blobs];
  const worker = async () => {
    for (let blob = queue.shift(); blob; blob = queue.shift()) {
      signal?.throwIfAborted();
      await ensureBlob(blob.digest, blob.size);
      done += 1;
      bytesDone += blob.size;
      onProgress({ phase: 'blobs', done, total: blobs.length, bytesDone, bytesTotal });
    }
  };
  await Promise.all(Array.from({ length: PARALLEL }, worker));

  // 2. Links (layers and manifest revisions), then 3. tags: small objects, copied when they differ.
  const links: string[] = [];
  const tags: string[] = [];
  for await (const object of from.walk(keys.repositories)) {
    (object.path.includes('/_manifests/tags/') ? tags : links).push(object.path);
  }
  for (const [phase, list, counts] of [['links', links, report.links], ['tags', tags, report.tags]] as const) {
    for (const [i, key] of list.entries()) {
      signal?.throwIfAborted();
      if (await copySmall(from, to, key, ensureBlob)) counts.copied += 1;
      else counts.skipped += 1;
      if (i % 50 === 0 || i === list.length - 1) onProgress({ phase, done: i + 1, total: list.length, bytesDone, bytesTotal });
    }
  }
  report.ms = Date.now() - started;
  onProgress({ phase: 'done', done: 1, total: 1, bytesDone, bytesTotal });
  return report;
}

/**
 * Streams one blob into the destination through a writer under uploads/, hashing it; commits it to its
 * content address only when the digest matches. Returns the digest of the bytes read (null: gone).
 */
async function copyBlob(from: StorageDriver, to: StorageDriver, key: string, algorithm: 'sha256' | 'sha512'): Promise<string | null> {
  const source = await from.readStream(key);
  if (!source) return null;
  const staging = keys.uploadData(`copy-${randomUUID()}`);
  const hash = newHash(algorithm);
  const writer = await to.writer(staging, { onWritten: (bytes) => hash.update(bytes) });
  try {
    await pipeline(source, writer.sink);
  } catch (err) {
    await writer.discard().catch(() => undefined);
    await to.abortWriter(staging).catch(() => undefined);
    await to.deleteAll(staging.slice(0, staging.lastIndexOf('/'))).catch(() => undefined);
    throw err;
  }
  const actual = digestFromHash(algorithm, hash).value;
  if (`${algorithm}:${key.slice(key.lastIndexOf('/') + 1)}` !== actual) {
    await writer.discard();
    await to.abortWriter(staging);
  } else {
    await writer.commit(key);
  }
  await to.deleteAll(staging.slice(0, staging.lastIndexOf('/')));
  return actual;
}

/** The blob a link or tag object names: in its path (links) or its first line (tags). */
function namedBlob(key: string, lines: string[]): Digest | null {
  if (key.includes('/_manifests/tags/')) return tryParseDigest(lines[0] ?? '');
  const parts = key.split('/');
  return tryParseDigest(`${parts.at(-2)}:${parts.at(-1)}`);
}

/**
 * Copies a link or tag object unless the destination holds the same content; true when it wrote.
 * Written only once the blob it names is at the destination (`ensureBlob`).
 */
async function copySmall(from: StorageDriver, to: StorageDriver, key: string, ensureBlob: (d: Digest) => Promise<boolean>): Promise<boolean> {
  const source = await from.getContent(key, 64 * 1024);
  if (!source) return false;
  let bytes = source.bytes;
  const text = bytes.toString('utf8');
  const lines = text.split('\n').filter((l) => l !== '');
  const blob = namedBlob(key, lines);
  if (!blob || !(await ensureBlob(blob))) return false;
  // Tags ("digest\ntag\n") and revisions ("media type\n") of older versions: their time goes into the object.
  if (key.includes('/_manifests/tags/') && lines.length === 2) bytes = Buffer.from(`${lines[0]}\n${lines[1]}\n${source.modifiedAt.toISOString()}\n`);
  if (key.includes('/_manifests/revisions/') && lines.length === 1) bytes = Buffer.from(`${lines[0]}\n${source.modifiedAt.toISOString()}\n`);
  const there = await to.getContent(key, 64 * 1024);
  if (there && there.bytes.equals(bytes)) return false;
  // Layer links are empty: what matters is that they exist (their time is the GC grace window's).
  if (there && bytes.length === 0) return false;
  if (bytes.length === 0) await to.touch(key);
  else await to.putContent(key, bytes);
  return true;
}
