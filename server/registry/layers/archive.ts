/**
 * Reading one layer blob (image-spec layer.md): the compression is sniffed from the first bytes (gzip,
 * zstd, or none: a plain tar), the stream is decompressed, hashed (the uncompressed digest is the
 * layer's DiffID, image-spec config.md "rootfs") and parsed as tar with `tar-stream`, all in one pass.
 * Pure: the bytes come in as an async iterable (a worker thread feeds it from the BlobStore stream,
 * layer-worker.ts), so nothing here touches a file or blocks the registry's event loop.
 *
 * Every failure is a LayerReadError with a code the API and the UI show in words; nothing in a
 * hostile archive can throw anything else out of readLayer().
 */
import { spawn } from 'node:child_process';
import { createHash, type Hash } from 'node:crypto';
import { Readable } from 'node:stream';
import zlib from 'node:zlib';
import { Decompress as ZstdStream } from 'fzstd';
import tar from 'tar-stream';
import type { LayerCompression, LayerEntry, LayerEntryType, RejectedEntry } from '../inspect-types.ts';
import { ZstdFrameCheck } from './zstd-frames.ts';

export type LayerErrorCode = 'CORRUPT' | 'TRUNCATED' | 'UNSUPPORTED' | 'TOO_LARGE' | 'NOT_FOUND' | 'ABORTED';

export class LayerReadError extends Error {
  readonly code: LayerErrorCode;
  constructor(code: LayerErrorCode, message: string) {
    super(message);
    this.name = 'LayerReadError';
    this.code = code;
  }
}

export interface LayerLimits {
  /** Entries a listing may hold (each costs memory in the worker, the cache and the merged tree). */
  maxEntries: number;
  /** Uncompressed bytes read before giving up: bounds the time a decompression bomb can take. */
  maxUncompressedBytes: number;
}

/**
 * 300,000 entries: a full distribution image has 20-60k files, the largest node_modules layers seen
 * ~150k; 64 GiB uncompressed: far beyond any real layer, still finite (about a minute of gunzip).
 */
export const DEFAULT_LIMITS: LayerLimits = { maxEntries: 300_000, maxUncompressedBytes: 64 * 1024 ** 3 };

/** Magic numbers: gzip RFC 1952 §2.3.1, zstd RFC 8878 §3.1.1, and the ones we name but cannot read. */
export function sniffCompression(head: Uint8Array): LayerCompression | { unsupported: string } {
  if (head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return 'zstd';
  if (head[0] === 0x42 && head[1] === 0x5a && head[2] === 0x68) return { unsupported: 'bzip2' };
  if (head[0] === 0xfd && head[1] === 0x37 && head[2] === 0x7a && head[3] === 0x58 && head[4] === 0x5a) return { unsupported: 'xz' };
  return 'none';
}

/**
 * zstd, fastest first: Node 22.15+ (and so Electron 45's Node) has it in zlib, native, streaming and
 * on libuv's thread pool (so it decodes while this thread parses tar, as gzip does). Node 20 does not;
 * there the `zstd` program, when the machine has one (Debian's zstd, Homebrew's), decodes in a process
 * of its own: native speed and a second core, like `zstd -dc | tar -t`. Without either, the pure
 * JavaScript fzstd decodes it: correct everywhere, but it costs ~7 s of CPU per GB on this machine
 * against ~1 s for native zstd (docs/benchmarks.md), so it is the last resort. Memory is bounded by the
 * frame's window either way (zstd -d refuses windows over its default 128 MiB limit; fzstd over 2 GiB).
 * zlib's zstd on Node 22 takes a stream cut off inside a frame for a whole one, so its input passes
 * through a check of the frames' structure (zstd-frames.ts).
 */
type ZlibWithZstd = typeof zlib & { createZstdDecompress?: (options?: zlib.ZlibOptions) => NodeJS.ReadWriteStream };
/** Output chunk of zlib's zstd decoder: 256 KiB (16, 64, 128, 256 KiB and 1 MiB measured: docs/benchmarks.md). */
export const ZSTD_CHUNK = 256 * 1024;
export const NATIVE_ZSTD = typeof (zlib as ZlibWithZstd).createZstdDecompress === 'function';

/**
 * Hashes the uncompressed stream, for the DiffID. By default on the reading thread; a listing of a
 * large layer can hand it to a thread of its own (layer-worker.ts, where a core is free for it), as
 * the hash costs as much CPU as zstd's whole decode (docs/benchmarks.md). Whichever, walkLayer() returns the DiffID only once
 * every byte it read was hashed.
 */
export interface StreamHasher {
  /** Takes a chunk, borrowed for the call only (copy to keep); a promise holds the read (backpressure). */
  update(chunk: Uint8Array): void | Promise<void>;
  /** sha256 of everything given, in hex. */
  digest(): Promise<string>;
}

function localHasher(): StreamHasher {
  const hash = createHash('sha256');
  return {
    update: (chunk) => void hash.update(chunk),
    digest: async () => hash.digest('hex'),
  };
}

export interface ReadOptions {
  limits?: LayerLimits;
  /** Where the DiffID is hashed (default: here, inline). */
  hasher?: StreamHasher;
  /** Aborts the read (the client went away). */
  signal?: AbortSignal;
  /** The `zstd` program to decode zstd layers with when zlib cannot (null: fzstd); see above. */
  zstdCommand?: string | null;
  /** false: decode zstd as on a Node without it in zlib (the program or fzstd), whatever this Node has. */
  zlibZstd?: boolean;
  /**
   * The layer as a local file open on this descriptor, read from its start (the source gives the same
   * bytes): the `zstd` program then reads it as its stdin, and only the head that told the compression
   * is read here. The compressed bytes skip this thread and a socket, ~1 s of CPU per GB less between
   * the two processes (docs/benchmarks.md).
   */
  zstdStdin?: number;
}

async function* viaTransform(source: AsyncIterable<Uint8Array>, transform: NodeJS.ReadWriteStream): AsyncGenerator<Uint8Array> {
  const input = Readable.from(source, { objectMode: false });
  input.on('error', (err) => (transform as unknown as Readable).destroy(err));
  input.pipe(transform as unknown as NodeJS.WritableStream);
  try {
    for await (const chunk of transform as unknown as AsyncIterable<Uint8Array>) yield chunk;
  } finally {
    input.destroy();
  }
}

/**
 * The compressed bytes, passed on as they come; at their end, a TRUNCATED error if they stop inside a
 * zstd frame, which zlib's zstd on Node 22 lets pass (zstd-frames.ts).
 */
async function* wholeFrames(source: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  const frames = new ZstdFrameCheck();
  for await (const chunk of source) {
    frames.update(chunk);
    yield chunk;
  }
  if (!frames.complete()) throw new LayerReadError('TRUNCATED', 'the layer ends too early: it is cut off inside a zstd frame');
}

/** Most of zstd's complaint kept for the error message (it names the problem in its last line). */
const STDERR_KEPT = 4096;

/**
 * `zstd -dcq`: compressed bytes to its stdin (with backpressure), or the layer's file as its stdin
 * (`source` a descriptor: ReadOptions.zstdStdin), decompressed bytes from its stdout.
 * Its exit status is the verdict: anything but 0 becomes an error carrying what it printed, which
 * readError() sorts into TRUNCATED / CORRUPT / UNSUPPORTED as it does fzstd's and zlib's errors.
 * Ending early (a file was found, the read was cancelled) kills the process.
 */
async function* viaZstdProcess(source: AsyncIterable<Uint8Array> | number, command: string): AsyncGenerator<Uint8Array> {
  const child = spawn(command, ['-d', '-c', '-q'], { stdio: [typeof source === 'number' ? source : 'pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (text: string) => {
    if (stderr.length < STDERR_KEPT) stderr += text;
  });
  const exited = new Promise<number | null>((resolve, reject) => {
    // Not the layer's fault (the program went away since start-up): not remembered as a bad layer.
    child.once('error', (err) => reject(new LayerReadError('ABORTED', `could not run ${command}: ${err.message}`)));
    child.once('close', (code) => resolve(code));
  });
  exited.catch(() => undefined);
  // The source failing (storage, cancel) is the error; zstd refusing its stdin (EPIPE, after it met
  // bad data) is not: its exit status and message say what was wrong.
  let sourceError: unknown = null;
  const stdin = child.stdin;
  if (typeof source !== 'number' && stdin) {
    stdin.on('error', () => undefined);
    void (async () => {
      try {
        for await (const chunk of source) {
          if (stdin.destroyed) return;
          if (!stdin.write(chunk)) await writable(stdin);
        }
      } catch (err) {
        sourceError = err;
        child.kill();
        return;
      }
      stdin.end();
    })();
  }
  let finished = false;
  try {
    for await (const chunk of child.stdout as AsyncIterable<Uint8Array>) yield chunk;
    const code = await exited;
    if (sourceError) throw sourceError;
    if (code !== 0) {
      // "/*stdin*\ : Read error (39) : premature end", one complaint a line.
      const why = stderr.split('\n').map((line) => line.replace(/^.*\/\*stdin\*\\\s*:\s*/, '').trim()).filter(Boolean).join('; ');
      throw new Error(why || `zstd exited with status ${code}`);
    }
    finished = true;
  } finally {
    if (!finished) child.kill();
  }
}

/** Resolves once `stream` takes more (drain) or never will (close, error). */
function writable(stream: NodeJS.WritableStream): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = () => {
      stream.off('drain', done);
      stream.off('close', done);
      stream.off('error', done);
      resolve();
    };
    stream.on('drain', done);
    stream.on('close', done);
    stream.on('error', done);
  });
}

async function* fzstd(source: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  const out: Uint8Array[] = [];
  const stream = new ZstdStream((chunk) => {
    out.push(chunk);
  });
  for await (const chunk of source) {
    stream.push(chunk);
    while (out.length > 0) yield out.shift()!;
  }
  stream.push(new Uint8Array(0), true);
  while (out.length > 0) yield out.shift()!;
}

function decompress(compression: LayerCompression, source: AsyncIterable<Uint8Array>, options: ReadOptions): AsyncIterable<Uint8Array> {
  if (compression === 'gzip') return viaTransform(source, zlib.createGunzip({ chunkSize: 64 * 1024 }));
  if (compression === 'zstd') {
    const native = (zlib as ZlibWithZstd).createZstdDecompress;
    // zlib's default 16 KiB output chunks, one trip to libuv's pool each, cost ~2x the CPU of 256 KiB (docs/benchmarks.md).
    if (native && options.zlibZstd !== false) return viaTransform(wholeFrames(source), native({ chunkSize: ZSTD_CHUNK }));
    if (!options.zstdCommand) return fzstd(source);
    return viaZstdProcess(options.zstdStdin ?? source, options.zstdCommand);
  }
  return source;
}

/** Turns whatever a decompressor or the tar parser threw into a LayerReadError. */
function readError(err: unknown, compression: LayerCompression): LayerReadError {
  if (err instanceof LayerReadError) return err;
  const e = err as { message?: string; code?: string | number };
  const message = String(e?.message ?? err);
  if (/unexpected end|end of data|unexpected eof|premature end/i.test(message) || e?.code === 'Z_BUF_ERROR' || e?.code === 5) {
    return new LayerReadError('TRUNCATED', `the layer ends too early: it is cut off (${compression === 'none' ? 'tar' : compression}: ${message})`);
  }
  if (compression === 'zstd' && (e?.code === 1 || /window size|too much memory/i.test(message))) {
    return new LayerReadError('UNSUPPORTED', `the zstd frame needs a larger window than Berth decodes on this Node version (${message})`);
  }
  const what = compression === 'none' ? 'tar archive' : `${compression} stream`;
  return new LayerReadError('CORRUPT', `the layer is not a valid ${what}: ${message}`);
}

/**
 * A tar entry name as a path relative to the root, "a/b/c": leading "/" and "./" dropped, "." and
 * empty components removed, ".." applied. Null when ".." climbs above the root (a path escape that
 * Docker and containerd refuse to apply); "" for the root itself.
 */
export function normalizeEntryPath(name: string): string | null {
  const parts: string[] = [];
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (parts.length === 0) return null;
      parts.pop();
      continue;
    }
    parts.push(part);
  }
  return parts.join('/');
}

const WHITEOUT = '.wh.';
const OPAQUE = '.wh..wh..opq';

function entryType(type: tar.Header['type']): LayerEntryType | null {
  switch (type) {
    case 'file':
    case 'contiguous-file':
      return 'file';
    case 'directory':
      return 'dir';
    case 'symlink':
      return 'symlink';
    case 'link':
      return 'hardlink';
    case 'character-device':
      return 'char';
    case 'block-device':
      return 'block';
    case 'fifo':
      return 'fifo';
    default:
      return null;
  }
}

export interface TarVisitor {
  /**
   * Called for every entry after its content was read (listing) or, when `wantContent` says so, with
   * the content streamed to `content` first. Return 'stop' to end the walk early, or a promise to
   * hold the walk until the entry is taken (backpressure).
   */
  entry(entry: LayerEntry): void | 'stop' | Promise<void>;
  /** Whether to stream this entry's content to `content` (extracting one file). */
  wantContent?(entry: LayerEntry): boolean;
  content?(chunk: Uint8Array): Promise<void>;
  rejected(entry: RejectedEntry): void;
}

interface WalkResult {
  compression: LayerCompression;
  diffId: string;
  uncompressedSize: number;
  stopped: boolean;
}

/**
 * The one pass over a layer: sniff, decompress, hash, parse. `signal` aborts it (the client went
 * away). Entries are handed to `visitor` in archive order with their content hash (sha256 of the
 * bytes, for telling changed files apart in a diff).
 */
export async function walkLayer(source: AsyncIterable<Uint8Array>, visitor: TarVisitor, options: ReadOptions = {}): Promise<WalkResult> {
  const limits = options.limits ?? DEFAULT_LIMITS;
  const { signal } = options;
  const iterator = source[Symbol.asyncIterator]();
  const first = await iterator.next();
  const head: Uint8Array = first.done ? new Uint8Array(0) : first.value;
  const sniffed = sniffCompression(head);
  if (typeof sniffed !== 'string') throw new LayerReadError('UNSUPPORTED', `the layer is compressed with ${sniffed.unsupported}, which OCI layers do not use (gzip, zstd or none)`);
  const compression = sniffed;
  async function* replay(): AsyncGenerator<Uint8Array> {
    if (!first.done) yield head;
    for (;;) {
      const next = await iterator.next();
      if (next.done) return;
      yield next.value;
    }
  }

  const diff = options.hasher ?? localHasher();
  let uncompressed = 0;
  let stopped = false;
  let count = 0;
  const extract = tar.extract();
  const done = new Promise<void>((resolve, reject) => {
    extract.on('finish', resolve);
    extract.on('close', resolve);
    extract.on('error', reject);
  });
  done.catch(() => undefined);

  extract.on('entry', (header, stream, next) => {
    const fail = (err: unknown) => {
      stream.resume();
      extract.destroy(err instanceof Error ? err : new Error(String(err)));
    };
    try {
      count += 1;
      if (count > limits.maxEntries) throw new LayerReadError('TOO_LARGE', `the layer has more than ${limits.maxEntries} entries, the most Berth lists`);
      const rawName = header.name;
      const type = entryType(header.type);
      const path = normalizeEntryPath(rawName);
      if (path === null) {
        visitor.rejected({ path: rawName, reason: `"${rawName}" climbs out of the layer's root with ".."` });
        stream.on('end', () => next());
        stream.resume();
        return;
      }
      if (type === null) {
        // Other entry kinds (GNU sparse, volume labels) are not file-system entries.
        stream.on('end', () => next());
        stream.resume();
        return;
      }
      const pax = header.pax as Record<string, string> | null | undefined;
      const base = path.slice(path.lastIndexOf('/') + 1);
      const dir = path.includes('/') ? path.slice(0, path.lastIndexOf('/')) : '';
      const entry: LayerEntry = {
        path,
        type,
        mode: (header.mode ?? 0) & 0o7777,
        uid: pax?.uid ? Number(pax.uid) : (header.uid ?? 0),
        gid: pax?.gid ? Number(pax.gid) : (header.gid ?? 0),
        size: type === 'file' ? (header.size ?? 0) : 0,
        mtime: pax?.mtime ? Math.floor(Number(pax.mtime)) : Math.floor((header.mtime?.getTime() ?? 0) / 1000),
      };
      if (type === 'file' && base === OPAQUE) {
        entry.type = 'opaque';
        entry.path = dir;
      } else if (type === 'file' && base.startsWith(WHITEOUT)) {
        if (base.startsWith(`${WHITEOUT}${WHITEOUT}`)) {
          // AUFS metadata (.wh..wh.plnk, .wh..wh.aufs): not part of the file system.
          stream.on('end', () => next());
          stream.resume();
          return;
        }
        entry.type = 'whiteout';
        entry.path = dir ? `${dir}/${base.slice(WHITEOUT.length)}` : base.slice(WHITEOUT.length);
      }
      if (type === 'symlink') {
        entry.linkTarget = header.linkname ?? '';
        // Linux ignores a symlink's permissions and always shows 0777 (symlink(7)); so does Berth.
        entry.mode = 0o777;
      }
      if (type === 'hardlink') {
        const target = normalizeEntryPath(header.linkname ?? '');
        if (target === null || target === '') {
          visitor.rejected({ path, reason: `hard link to "${header.linkname ?? ''}" points out of the layer's root` });
          stream.on('end', () => next());
          stream.resume();
          return;
        }
        entry.linkTarget = target;
      }
      if (path === '' && entry.type === 'dir') {
        stream.on('end', () => next());
        stream.resume();
        return;
      }
      const streamIt = visitor.wantContent?.(entry) === true;
      const hash: Hash | null = entry.type === 'file' && entry.size > 0 ? createHash('sha256') : null;
      const finish = () => {
        if (entry.type === 'file') entry.sha256 = (hash ?? createHash('sha256')).digest('hex');
        const taken = visitor.entry(entry);
        if (taken === 'stop') {
          stopped = true;
          extract.destroy(null);
          return;
        }
        if (taken) taken.then(() => next(), fail);
        else next();
      };
      if (streamIt) {
        (async () => {
          for await (const chunk of stream as AsyncIterable<Uint8Array>) {
            hash?.update(chunk);
            await visitor.content!(chunk);
          }
          finish();
        })().catch(fail);
        return;
      }
      if (hash) stream.on('data', (chunk: unknown) => void hash.update(chunk as Uint8Array));
      stream.on('end', finish);
      stream.on('error', fail);
      stream.resume();
    } catch (err) {
      fail(err);
    }
  });

  try {
    for await (const chunk of decompress(compression, replay(), options)) {
      signal?.throwIfAborted();
      if (stopped) break;
      uncompressed += chunk.byteLength;
      if (uncompressed > limits.maxUncompressedBytes) {
        throw new LayerReadError('TOO_LARGE', `the layer uncompresses to more than ${limits.maxUncompressedBytes} bytes, the most Berth reads`);
      }
      const held = diff.update(chunk);
      if (held) await held;
      if (!extract.write(chunk)) {
        await new Promise<void>((resolve, reject) => {
          const onDrain = () => { extract.off('error', onError); extract.off('close', onClose); resolve(); };
          const onError = (err: Error) => { extract.off('drain', onDrain); extract.off('close', onClose); reject(err); };
          const onClose = () => { extract.off('drain', onDrain); extract.off('error', onError); resolve(); };
          extract.once('drain', onDrain);
          extract.once('error', onError);
          extract.once('close', onClose);
        });
      }
    }
    if (!stopped) {
      if (uncompressed === 0) throw new LayerReadError('CORRUPT', 'the layer is empty: not even a tar end-of-archive marker');
      extract.end(undefined);
    }
    await done;
  } catch (err) {
    extract.destroy(null);
    if ((err as Error)?.name === 'AbortError') throw new LayerReadError('ABORTED', 'the read was cancelled');
    if (stopped) return { compression, diffId: '', uncompressedSize: uncompressed, stopped };
    throw readError(err, compression);
  }
  if (stopped) return { compression, diffId: '', uncompressedSize: uncompressed, stopped };
  return { compression, diffId: `sha256:${await diff.digest()}`, uncompressedSize: uncompressed, stopped };
}

/** Rejected entries a summary keeps (a hostile layer can have as many as it has entries). */
export const REJECTED_KEPT = 1000;

/** What listing a layer learns besides its entries. */
export interface ListSummary {
  compression: LayerCompression;
  /** sha256 of the uncompressed tar stream: the layer's DiffID. */
  diffId: string;
  uncompressedSize: number;
  entryCount: number;
  /** Bytes of the regular files it holds (not hard links: they share another entry's bytes). */
  addedBytes: number;
  /** Whiteouts and opaque markers (merging a layer without any needs one pass, filesystem.ts). */
  whiteouts: number;
  /** The first REJECTED_KEPT entries left out, and how many there were. */
  rejected: RejectedEntry[];
  rejectedCount: number;
}

/**
 * Lists every entry of a layer, handing each to `onEntry` as it is parsed (which may hold the walk
 * with a promise): nothing of the listing is kept here, so memory does not grow with the entries.
 */
export async function listLayer(source: AsyncIterable<Uint8Array>, onEntry: (entry: LayerEntry) => void | Promise<void>, options: ReadOptions = {}): Promise<ListSummary> {
  let entryCount = 0;
  let addedBytes = 0;
  let whiteouts = 0;
  let rejectedCount = 0;
  const rejected: RejectedEntry[] = [];
  const walked = await walkLayer(source, {
    entry: (e) => {
      entryCount += 1;
      if (e.type === 'file') addedBytes += e.size;
      if (e.type === 'whiteout' || e.type === 'opaque') whiteouts += 1;
      return onEntry(e);
    },
    rejected: (r) => {
      rejectedCount += 1;
      if (rejected.length < REJECTED_KEPT) rejected.push(r);
    },
  }, options);
  return { compression: walked.compression, diffId: walked.diffId, uncompressedSize: walked.uncompressedSize, entryCount, addedBytes, whiteouts, rejected, rejectedCount };
}

/**
 * Streams the content of the regular file at `path` to `write` and stops reading there. Returns the
 * entry, or throws NOT_FOUND when the layer holds no regular file at that path.
 */
export async function extractFile(
  source: AsyncIterable<Uint8Array>,
  path: string,
  write: (chunk: Uint8Array) => Promise<void>,
  options: ReadOptions = {},
): Promise<LayerEntry> {
  let found: LayerEntry | null = null;
  await walkLayer(source, {
    wantContent: (e) => e.type === 'file' && e.path === path,
    content: write,
    entry: (e) => {
      if (e.type === 'file' && e.path === path) {
        found = e;
        return 'stop';
      }
      return undefined;
    },
    rejected: () => undefined,
  }, options);
  if (!found) throw new LayerReadError('NOT_FOUND', `the layer has no regular file at /${path}`);
  return found;
}
