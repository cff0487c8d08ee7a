/**
 * The S3 driver: any S3-compatible endpoint (AWS, MinIO, Ceph RGW, Garage, SeaweedFS, Swift s3api),
 * through the official SDK (@aws-sdk/client-s3; @aws-sdk/lib-storage for local files).
 *
 * Uploads (writer()) are multipart uploads whose state lives next to them in the bucket, never only in
 * this process (another process may continue them: a restart, or a replica, issue 16):
 *   <key>.state      {"uploadId", "parts": [{n, etag, size}], "tail", "size"} — written after the bytes
 *                    (and once when the multipart upload is created, so none is ever left unnamed)
 *   <key>.tail-*     bytes persisted but fewer than S3's 5 MiB part minimum: a small PATCH is gathered
 *                    here until the next request fills a part (at most one tail is current)
 * Every part but the last is at least 5 MiB (full parts of partBytes; a tail becomes a part only once
 * it reaches 5 MiB). An upload that never fills a part is one PutObject at commit. A committed upload
 * reaches its content address by CopyObject (UploadPartCopy in 1 GiB parts above 5 GiB): the bytes
 * never pass through Berth again.
 *
 * Throttling (503 SlowDown, 429) and dropped connections are retried by the SDK's standard retry
 * strategy (exponential backoff with jitter, up to MAX_ATTEMPTS). Failures of the store itself become
 * StorageError (unreachable, missing bucket, credentials refused), which the registry answers 503.
 */
import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import type { Readable, Writable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
  UploadPartCommand,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { S3Settings } from '../config.ts';
import { S3_MIN_PART_BYTES } from '../config.ts';
import { StorageError, stageAsPut, type ByteRange, type ObjectInfo, type ObjectReader, type ObjectWriter, type StagedContent, type StorageDriver, type StoredContent, type WriterOptions } from './driver.ts';
import { s3Describe, s3Location } from './names.ts';
import { PartSink } from './part-sink.ts';
import { sendStream } from './send-stream.ts';

/** Attempts per request, the first included: throttling and network errors back off and retry. */
const MAX_ATTEMPTS = 8;
/** CopyObject copies up to 5 GiB in one request; beyond, UploadPartCopy in parts of this size. */
const MAX_COPY_OBJECT_BYTES = 5 * 1024 * 1024 * 1024;
const COPY_PART_BYTES = 1024 * 1024 * 1024;
/** ListObjectsV2 and DeleteObjects handle at most 1000 keys a request. */
const PAGE = 1000;

interface PartRecord {
  n: number;
  etag: string;
  size: number;
}

interface WriterState {
  uploadId: string | null;
  parts: PartRecord[];
  tail: { key: string; size: number } | null;
  size: number;
  updatedAt: string;
}

export class S3Driver implements StorageDriver {
  readonly shared = true;
  readonly exactTimes = false;
  readonly location;
  private readonly client: S3Client;
  private readonly settings: S3Settings;
  private readonly bucket: string;
  private readonly prefix: string;
  /** Keys per listing request (the API's maximum; tests make it small to cross pages). */
  private readonly page: number;
  /** The largest object copied by one CopyObject, and the part size above it (tests make both small). */
  private readonly copyLimits: { single: number; part: number };

  constructor(settings: S3Settings, options: { maxAttempts?: number; pageSize?: number; copyLimits?: { single: number; part: number } } = {}) {
    this.settings = settings;
    this.bucket = settings.bucket;
    this.prefix = settings.prefix ? `${settings.prefix}/` : '';
    this.page = options.pageSize ?? PAGE;
    this.copyLimits = options.copyLimits ?? { single: MAX_COPY_OBJECT_BYTES, part: COPY_PART_BYTES };
    this.location = s3Location(settings);
    // The SDK warns on every start under Node 20 that versions published after January 2027 will need
    // Node 22; Berth pins the version it was tested with (package.json), so the warning says nothing
    // actionable to whoever runs `berth serve`.
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
    this.client = new S3Client({
      region: settings.region,
      ...(settings.endpoint ? { endpoint: settings.endpoint } : {}),
      forcePathStyle: settings.forcePathStyle,
      ...(settings.accessKeyId && settings.secretAccessKey
        ? { credentials: { accessKeyId: settings.accessKeyId, secretAccessKey: settings.secretAccessKey } }
        : {}),
      maxAttempts: options.maxAttempts ?? MAX_ATTEMPTS,
      retryMode: 'standard',
      // The digest already protects every byte end to end; extra CRC32 checksums per request would
      // cost CPU for nothing (and are required only where S3 requires them: DeleteObjects).
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      requestHandler: { connectionTimeout: 10_000, requestTimeout: 120_000, httpAgent: { keepAlive: true, maxSockets: 64 }, httpsAgent: { keepAlive: true, maxSockets: 64 } },
    });
  }

  private key(path: string): string {
    return this.prefix + path;
  }

  private pathOf(key: string): string {
    return key.slice(this.prefix.length);
  }

  describe(path: string): string {
    return s3Describe(this.settings, path);
  }

  async getContent(path: string, maxBytes = Infinity): Promise<StoredContent | null> {
    const res = await this.call(`read ${path}`, () => this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.key(path) })), { missing: null });
    if (!res) return null;
    const body = res.Body as Readable;
    if ((res.ContentLength ?? 0) > maxBytes) {
      body.destroy();
      return null;
    }
    const bytes = Buffer.from(await res.Body!.transformToByteArray());
    return { bytes, modifiedAt: res.LastModified ?? new Date() };
  }

  async putContent(path: string, content: string | Uint8Array): Promise<void> {
    const body = typeof content === 'string' ? Buffer.from(content) : content;
    await this.call(`write ${path}`, () => this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: this.key(path), Body: body, ContentLength: body.byteLength })));
  }

  async stageContent(path: string, content: string | Uint8Array): Promise<StagedContent> {
    return stageAsPut(this, path, content);
  }

  async settle(): Promise<void> {
    // Every write is durable when it returns.
  }

  async touch(path: string): Promise<void> {
    // A new empty object: its LastModified is now.
    await this.putContent(path, '');
  }

  async putFile(path: string, file: string): Promise<void> {
    // lib-storage: one PutObject for a small file, else a multipart upload of partBytes parts, two at a time.
    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.bucket, Key: this.key(path), Body: createReadStream(file) },
      partSize: this.settings.partBytes,
      queueSize: 2,
      leavePartsOnError: false,
    });
    await this.call(`write ${path}`, () => upload.done());
    await fs.rm(file, { force: true });
  }

  async reader(path: string, knownSize?: number): Promise<ObjectReader | null> {
    const size = knownSize ?? (await this.stat(path))?.size;
    if (size === undefined) return null;
    const key = this.key(path);
    return {
      size,
      sendTo: async (dest: Writable, range?: ByteRange) => {
        const end = range ? range.end : size - 1;
        if (end < (range?.start ?? 0)) return;
        const res = await this.call(`read ${path}`, () =>
          this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key, Range: `bytes=${range?.start ?? 0}-${end}` })),
        );
        await sendStream(res.Body as Readable, dest);
      },
      close: async () => undefined,
    };
  }

  async readStream(path: string): Promise<NodeJS.ReadableStream | null> {
    const res = await this.call(`read ${path}`, () => this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.key(path) })), { missing: null });
    return res ? (res.Body as Readable) : null;
  }

  async stat(path: string): Promise<ObjectInfo | null> {
    const res = await this.call(`stat ${path}`, () => this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.key(path) })), { missing: null });
    return res ? { path, size: res.ContentLength ?? 0, modifiedAt: res.LastModified ?? new Date(0) } : null;
  }

  async list(dir: string): Promise<string[]> {
    const prefix = `${this.key(dir)}/`;
    const names = new Set<string>();
    let token: string | undefined;
    do {
      const res = await this.call(`list ${dir}`, () =>
        this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, Delimiter: '/', MaxKeys: this.page, ContinuationToken: token })),
      );
      for (const p of res.CommonPrefixes ?? []) if (p.Prefix) names.add(p.Prefix.slice(prefix.length, -1));
      for (const o of res.Contents ?? []) if (o.Key && o.Key !== prefix) names.add(o.Key.slice(prefix.length));
      token = res.IsTruncated ? res.NextContinuationToken : undefined;
    } while (token);
    return [...names].filter((n) => n !== '').sort();
  }

  async *walk(dir: string): AsyncIterable<ObjectInfo> {
    const prefix = `${this.key(dir)}/`;
    let token: string | undefined;
    do {
      const res = await this.call(`list ${dir}`, () =>
        this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, MaxKeys: this.page, ContinuationToken: token })),
      );
      for (const o of res.Contents ?? []) {
        if (o.Key && !o.Key.endsWith('/')) yield { path: this.pathOf(o.Key), size: o.Size ?? 0, modifiedAt: o.LastModified ?? new Date(0) };
      }
      token = res.IsTruncated ? res.NextContinuationToken : undefined;
    } while (token);
  }

  async copy(from: string, to: string, knownSize?: number): Promise<void> {
    const size = knownSize ?? (await this.stat(from))?.size;
    if (size === undefined) throw Object.assign(new Error(`${from} does not exist`), { code: 'ENOENT' });
    const source = `${this.bucket}/${this.key(from).split('/').map(encodeURIComponent).join('/')}`;
    if (size <= this.copyLimits.single) {
      await this.call(`copy ${from}`, () => this.client.send(new CopyObjectCommand({ Bucket: this.bucket, Key: this.key(to), CopySource: source })));
      return;
    }
    // Above CopyObject's 5 GiB: a multipart upload whose parts are copied server-side, four at a time.
    const created = await this.call(`copy ${from}`, () => this.client.send(new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: this.key(to) })));
    const uploadId = created.UploadId!;
    try {
      const parts: PartRecord[] = [];
      const ranges: { n: number; start: number; end: number }[] = [];
      for (let start = 0, n = 1; start < size; start += this.copyLimits.part, n++) ranges.push({ n, start, end: Math.min(size, start + this.copyLimits.part) - 1 });
      const queue = [...ranges];
      const worker = async () => {
        for (let r = queue.shift(); r; r = queue.shift()) {
          const { n, start, end } = r;
          const res = await this.call(`copy ${from}`, () =>
            this.client.send(new UploadPartCopyCommand({ Bucket: this.bucket, Key: this.key(to), UploadId: uploadId, PartNumber: n, CopySource: source, CopySourceRange: `bytes=${start}-${end}` })),
          );
          parts.push({ n, etag: res.CopyPartResult!.ETag!, size: end - start + 1 });
        }
      };
      await Promise.all([worker(), worker(), worker(), worker()]);
      await this.complete(to, uploadId, parts);
    } catch (err) {
      await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: this.key(to), UploadId: uploadId })).catch(() => undefined);
      throw err;
    }
  }

  async move(from: string, to: string): Promise<void> {
    await this.copy(from, to);
    await this.remove(from);
  }

  async delete(path: string): Promise<boolean> {
    // DeleteObject answers 204 either way: a HEAD tells whether there was something to delete.
    if (!(await this.stat(path))) return false;
    await this.remove(path);
    return true;
  }

  /** DeleteObject alone, where nobody asks whether the object was there (one request, not two). */
  async remove(path: string): Promise<void> {
    await this.call(`delete ${path}`, () => this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.key(path) })));
  }

  async deleteAll(dir: string): Promise<void> {
    let batch: string[] = [];
    const flush = async () => {
      if (batch.length === 0) return;
      const objects = batch.map((Key) => ({ Key }));
      batch = [];
      await this.call(`delete ${dir}`, () => this.client.send(new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: objects, Quiet: true } })));
    };
    for await (const object of this.walk(dir)) {
      batch.push(this.key(object.path));
      if (batch.length === PAGE) await flush();
    }
    await flush();
  }

  async pruneEmpty(): Promise<void> {
    // No directories in a bucket.
  }

  // ---- uploads --------------------------------------------------------------------------------

  async writer(path: string, options: WriterOptions = {}): Promise<ObjectWriter> {
    const state = (await this.readState(path)) ?? { uploadId: null, parts: [], tail: null, size: 0, updatedAt: new Date().toISOString() };
    const tail = state.tail ? await this.getContent(state.tail.key) : null;
    if (state.tail && (!tail || tail.bytes.length !== state.tail.size)) {
      throw new StorageError('failed', `the pending bytes of ${path} are missing from the bucket (${state.tail.key})`);
    }
    return new S3Writer(this, path, state, tail?.bytes ?? null, options);
  }

  async writerStat(path: string): Promise<ObjectInfo | null> {
    const state = await this.readState(path);
    return state ? { path, size: state.size, modifiedAt: new Date(state.updatedAt) } : null;
  }

  async abortWriter(path: string): Promise<void> {
    const state = await this.readState(path);
    if (state?.uploadId) await this.abortUpload(path, state.uploadId);
    // The state and tails go with the session's prefix (deleteAll); here only what the state names.
    if (!state) return;
    if (state.tail) await this.remove(state.tail.key);
    await this.remove(stateKey(path));
  }

  async urlFor(path: string, expiresInSeconds: number): Promise<string | null> {
    return getSignedUrl(this.client, new GetObjectCommand({ Bucket: this.bucket, Key: this.key(path) }), { expiresIn: expiresInSeconds });
  }

  async check(options: { create?: boolean } = {}): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
      return;
    } catch (err) {
      const error = this.classify(err, 'reach bucket');
      if (error.kind !== 'missing') throw error;
      if (!(options.create ?? this.settings.createBucket)) throw error;
    }
    try {
      await this.client.send(new CreateBucketCommand({ Bucket: this.bucket }));
    } catch (err) {
      const code = (err as S3ServiceException).name;
      if (code === 'BucketAlreadyOwnedByYou') return;
      const error = this.classify(err, 'create bucket');
      throw new StorageError(error.kind === 'denied' ? 'missing' : error.kind, `S3 bucket "${this.bucket}" does not exist at ${this.endpointName()} and could not be created: ${error.message}`, { cause: err });
    }
  }

  async close(): Promise<void> {
    this.client.destroy();
  }

  // ---- internals used by S3Writer --------------------------------------------------------------

  async readState(path: string): Promise<WriterState | null> {
    const content = await this.getContent(stateKey(path), 1024 * 1024);
    if (!content) return null;
    return JSON.parse(content.bytes.toString('utf8')) as WriterState;
  }

  async writeState(path: string, state: WriterState): Promise<void> {
    await this.putContent(stateKey(path), JSON.stringify(state));
  }

  async createUpload(path: string): Promise<string> {
    const res = await this.call(`upload ${path}`, () => this.client.send(new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: this.key(path) })));
    return res.UploadId!;
  }

  async uploadPart(path: string, uploadId: string, n: number, bytes: Buffer): Promise<PartRecord> {
    const res = await this.call(`upload ${path}`, () =>
      this.client.send(new UploadPartCommand({ Bucket: this.bucket, Key: this.key(path), UploadId: uploadId, PartNumber: n, Body: bytes, ContentLength: bytes.length })),
    );
    return { n, etag: res.ETag!, size: bytes.length };
  }

  async complete(path: string, uploadId: string, parts: PartRecord[]): Promise<void> {
    const sorted = [...parts].sort((a, b) => a.n - b.n);
    await this.call(`complete ${path}`, () =>
      this.client.send(new CompleteMultipartUploadCommand({
        Bucket: this.bucket,
        Key: this.key(path),
        UploadId: uploadId,
        MultipartUpload: { Parts: sorted.map((p) => ({ PartNumber: p.n, ETag: p.etag })) },
      })),
    );
  }

  async abortUpload(path: string, uploadId: string): Promise<void> {
    await this.call(`abort ${path}`, () => this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: this.key(path), UploadId: uploadId })), { missing: undefined });
  }

  get partBytes(): number {
    return this.settings.partBytes;
  }

  /**
   * Runs one SDK call: "not found" becomes `missing` when given (else it is thrown as ENOENT), and every
   * failure of the store itself a StorageError with a message for the user.
   */
  async call<T, M = never>(what: string, run: () => Promise<T>, options?: { missing: M }): Promise<T | M> {
    try {
      return await run();
    } catch (err) {
      if (isNotFound(err)) {
        if (options && 'missing' in options) return options.missing;
        throw Object.assign(new Error(`${what}: not found`), { code: 'ENOENT', cause: err });
      }
      throw this.classify(err, what);
    }
  }

  private endpointName(): string {
    return this.settings.endpoint ?? `AWS S3 (${this.settings.region})`;
  }

  /** A failure as the user should read it: what is wrong, not the SDK's class name. */
  classify(err: unknown, what: string): StorageError {
    if (err instanceof StorageError) return err;
    const e = err as S3ServiceException & { code?: string; $metadata?: { httpStatusCode?: number } };
    const status = e.$metadata?.httpStatusCode;
    const name = e.name ?? '';
    const where = this.endpointName();
    if (NETWORK_CODES.has(e.code ?? '') || name === 'TimeoutError' || /ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|socket hang up/.test(String(e.message))) {
      return new StorageError('unreachable', `S3 endpoint ${where} is unreachable (${e.code ?? e.message}) during ${what}`, { cause: err });
    }
    if (name === 'NoSuchBucket' || (what === 'reach bucket' && (status === 404 || name === 'NotFound'))) {
      return new StorageError('missing', `S3 bucket "${this.bucket}" does not exist at ${where}`, { cause: err });
    }
    if (['InvalidAccessKeyId', 'SignatureDoesNotMatch', 'AccessDenied', 'InvalidToken', 'ExpiredToken', 'CredentialsProviderError'].includes(name) || status === 403 || status === 401) {
      return new StorageError('denied', `S3 refused the credentials for bucket "${this.bucket}" at ${where} (${name || status})`, { cause: err });
    }
    if (name === 'SlowDown' || status === 503 || status === 429) {
      return new StorageError('throttled', `S3 at ${where} kept answering "slow down" during ${what}, after ${MAX_ATTEMPTS} attempts`, { cause: err });
    }
    return new StorageError('failed', `S3 at ${where} failed during ${what}: ${name || 'error'}${status ? ` (HTTP ${status})` : ''}: ${e.message}`, { cause: err });
  }
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE']);

function isNotFound(err: unknown): boolean {
  const e = err as S3ServiceException & { $metadata?: { httpStatusCode?: number } };
  return e?.name === 'NoSuchKey' || e?.name === 'NotFound' || e?.name === 'NoSuchUpload' || (e?.$metadata?.httpStatusCode === 404 && e?.name !== 'NoSuchBucket');
}

function stateKey(path: string): string {
  return `${path}.state`;
}


class S3Writer implements ObjectWriter {
  readonly offset: number;
  readonly sink: Writable;
  readonly settled: Promise<number>;
  private readonly driver: S3Driver;
  private readonly path: string;
  private state: WriterState;
  private readonly parts: PartSink;
  private uploadId: string | null;
  private readonly newParts: PartRecord[] = [];
  private ended = false;

  constructor(driver: S3Driver, path: string, state: WriterState, tail: Buffer | null, options: WriterOptions) {
    this.driver = driver;
    this.path = path;
    this.state = state;
    this.offset = state.size;
    this.uploadId = state.uploadId;
    this.parts = new PartSink(driver.partBytes, tail, (bytes) => this.sendPart(bytes), options);
    this.sink = this.parts.sink;
    this.settled = this.parts.settled;
  }

  private nextPartNumber(): number {
    return this.state.parts.length + this.newParts.length + 1;
  }

  private async sendPart(bytes: Buffer): Promise<void> {
    if (!this.uploadId) {
      const uploadId = await this.driver.createUpload(this.path);
      // Named in the state at once (same size, same parts): a crash before persist() leaves no
      // multipart upload that nothing knows of; the next writer continues it, a purge aborts it.
      await this.driver.writeState(this.path, { ...this.state, uploadId, updatedAt: new Date().toISOString() });
      this.uploadId = uploadId;
      this.state = { ...this.state, uploadId };
    }
    this.newParts.push(await this.driver.uploadPart(this.path, this.uploadId, this.nextPartNumber(), bytes));
  }

  private begin(): void {
    if (this.ended) throw new Error('this writer has already been ended');
    this.ended = true;
  }

  async persist(): Promise<number> {
    this.begin();
    try {
      const rest = await this.parts.finish();
      let tail: WriterState['tail'] = null;
      if (rest.length >= S3_MIN_PART_BYTES) await this.sendPart(rest);
      else if (rest.length > 0) {
        // Fewer bytes than S3 takes as a part: kept as a small object until the next request fills one.
        const key = `${this.path}.tail-${this.nextPartNumber()}-${randomUUID().slice(0, 8)}`;
        await this.driver.putContent(key, rest);
        tail = { key, size: rest.length };
      }
      const size = this.offset + (await this.settled);
      await this.driver.writeState(this.path, {
        uploadId: this.uploadId,
        parts: [...this.state.parts, ...this.newParts],
        tail,
        size,
        updatedAt: new Date().toISOString(),
      });
      if (this.state.tail && this.state.tail.key !== tail?.key) await this.driver.remove(this.state.tail.key).catch(() => undefined);
      return size;
    } finally {
      this.parts.release();
    }
  }

  async discard(): Promise<void> {
    this.begin();
    // Parts this writer sent stay unnamed in the state: a later writer overwrites their numbers, and
    // completion lists only the state's parts.
    await this.parts.abandon();
  }

  async commit(target: string): Promise<void> {
    this.begin();
    try {
      const rest = await this.parts.finish();
      if (!this.uploadId) {
        // Never filled a part: the whole object is in memory, and one PUT makes it appear at once.
        await this.driver.putContent(target, rest);
      } else {
        if (rest.length > 0 || this.state.parts.length + this.newParts.length === 0) await this.sendPart(rest);
        const parts = [...this.state.parts, ...this.newParts];
        const size = parts.reduce((sum, p) => sum + p.size, 0);
        try {
          await this.driver.complete(this.path, this.uploadId, parts);
        } catch (err) {
          // Completed by an earlier attempt whose copy then failed: the object is there, whole.
          if ((await this.driver.stat(this.path))?.size !== size) throw err;
        }
        await this.driver.copy(this.path, target, size);
        await this.driver.remove(this.path);
      }
    } finally {
      this.parts.release();
    }
    if (this.state.tail) await this.driver.remove(this.state.tail.key).catch(() => undefined);
    await this.driver.remove(stateKey(this.path)).catch(() => undefined);
  }
}

