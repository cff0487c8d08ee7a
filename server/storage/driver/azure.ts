/**
 * The Azure Blob Storage driver (block blobs), through the official SDK (@azure/storage-blob); tested
 * against Azurite, Microsoft's emulator.
 *
 * Uploads (writer()) stage blocks on the upload's blob and keep their list next to it:
 *   <key>.state      {"blocks": [{id, size}], "size"} — written after the blocks are staged
 * Staged (uncommitted) blocks live in the store for a week, so a session survives a restart and can be
 * continued by another process. Azure has no minimum block size: whatever a request leaves (less than a
 * part) is staged as a block of its own. Commit writes the block list (the blob appears whole, at once)
 * and a server-side copy (Copy Blob) moves it to its content address.
 *
 * Throttling (503 ServerBusy, 429) and dropped connections are retried by the SDK's exponential retry
 * policy; failures of the store itself become StorageError.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import type { Readable, Writable } from 'node:stream';
import {
  BlobSASPermissions,
  BlobServiceClient,
  RestError,
  StorageSharedKeyCredential,
  StorageRetryPolicyType,
  type BlockBlobClient,
  type ContainerClient,
  type StoragePipelineOptions,
} from '@azure/storage-blob';
import type { AzureSettings } from '../config.ts';
import { StorageError, stageAsPut, type ByteRange, type ObjectInfo, type ObjectReader, type ObjectWriter, type StagedContent, type StorageDriver, type StoredContent, type WriterOptions } from './driver.ts';
import { azureDescribe } from './names.ts';
import { PartSink } from './part-sink.ts';
import { sendStream } from './send-stream.ts';

/** Attempts per request, the first included (throttling and network errors back off and retry). */
const MAX_TRIES = 8;
const PAGE = 1000;

interface WriterState {
  blocks: { id: string; size: number }[];
  size: number;
  updatedAt: string;
}

export class AzureDriver implements StorageDriver {
  readonly shared = true;
  readonly exactTimes = false;
  readonly location;
  private readonly settings: AzureSettings;
  private readonly service: BlobServiceClient;
  private readonly container: ContainerClient;
  private readonly prefix: string;
  /** Keys per listing request (the API's maximum; tests make it small to cross pages). */
  private readonly page: number;
  private readonly endpoint: string;

  constructor(settings: AzureSettings, options: { maxTries?: number; pageSize?: number } = {}) {
    this.settings = settings;
    this.prefix = settings.prefix ? `${settings.prefix}/` : '';
    this.page = options.pageSize ?? PAGE;
    const pipelineOptions: StoragePipelineOptions = {
      retryOptions: { maxTries: options.maxTries ?? MAX_TRIES, retryPolicyType: StorageRetryPolicyType.EXPONENTIAL, retryDelayInMs: 200, maxRetryDelayInMs: 5_000, tryTimeoutInMs: 120_000 },
    };
    if (settings.connectionString) {
      this.service = BlobServiceClient.fromConnectionString(settings.connectionString, pipelineOptions);
    } else {
      const endpoint = settings.endpoint ?? `https://${settings.account}.blob.core.windows.net`;
      this.service = settings.accountKey
        ? new BlobServiceClient(endpoint, new StorageSharedKeyCredential(settings.account!, settings.accountKey), pipelineOptions)
        : new BlobServiceClient(`${endpoint}?${settings.sasToken!.replace(/^\?/, '')}`, undefined, pipelineOptions);
    }
    this.endpoint = this.service.url.split('?')[0]!.replace(/\/$/, '');
    this.container = this.service.getContainerClient(settings.container);
    this.location = { driver: 'azure' as const, description: `azure://${settings.container}${settings.prefix ? `/${settings.prefix}` : ''} at ${this.endpoint}` };
  }

  private blob(path: string): BlockBlobClient {
    return this.container.getBlockBlobClient(this.prefix + path);
  }

  describe(path: string): string {
    return azureDescribe(this.settings, path);
  }

  async getContent(path: string, maxBytes = Infinity): Promise<StoredContent | null> {
    const res = await this.call(`read ${path}`, () => this.blob(path).download(), { missing: null });
    if (!res) return null;
    const body = res.readableStreamBody as Readable;
    if ((res.contentLength ?? 0) > maxBytes) {
      body.destroy();
      return null;
    }
    const chunks: Buffer[] = [];
    await this.call(`read ${path}`, async () => {
      for await (const chunk of body) chunks.push(chunk as Buffer);
    });
    return { bytes: Buffer.concat(chunks), modifiedAt: res.lastModified ?? new Date() };
  }

  async putContent(path: string, content: string | Uint8Array): Promise<void> {
    const body = typeof content === 'string' ? Buffer.from(content) : Buffer.from(content.buffer, content.byteOffset, content.byteLength);
    await this.call(`write ${path}`, () => this.blob(path).upload(body, body.length));
  }

  async stageContent(path: string, content: string | Uint8Array): Promise<StagedContent> {
    return stageAsPut(this, path, content);
  }

  async settle(): Promise<void> {
    // Every write is durable when it returns.
  }

  async touch(path: string): Promise<void> {
    await this.putContent(path, '');
  }

  async putFile(path: string, file: string): Promise<void> {
    // The SDK stages blocks of partBytes from the file, two at a time, and commits them at once.
    await this.call(`write ${path}`, () => this.blob(path).uploadFile(file, { blockSize: this.settings.partBytes, concurrency: 2 }));
    await fs.rm(file, { force: true });
  }

  async reader(path: string, knownSize?: number): Promise<ObjectReader | null> {
    const size = knownSize ?? (await this.stat(path))?.size;
    if (size === undefined) return null;
    return {
      size,
      sendTo: async (dest: Writable, range?: ByteRange) => {
        const start = range?.start ?? 0;
        const count = (range ? range.end + 1 : size) - start;
        if (count <= 0) return;
        const res = await this.call(`read ${path}`, () => this.blob(path).download(start, count));
        await sendStream(res.readableStreamBody as Readable, dest);
      },
      close: async () => undefined,
    };
  }

  async readStream(path: string): Promise<NodeJS.ReadableStream | null> {
    const res = await this.call(`read ${path}`, () => this.blob(path).download(), { missing: null });
    return res ? (res.readableStreamBody ?? null) : null;
  }

  async stat(path: string): Promise<ObjectInfo | null> {
    const res = await this.call(`stat ${path}`, () => this.blob(path).getProperties(), { missing: null });
    return res ? { path, size: res.contentLength ?? 0, modifiedAt: res.lastModified ?? new Date(0) } : null;
  }

  async list(dir: string): Promise<string[]> {
    const prefix = `${this.prefix}${dir}/`;
    const names = new Set<string>();
    await this.call(`list ${dir}`, async () => {
      for await (const page of this.container.listBlobsByHierarchy('/', { prefix }).byPage({ maxPageSize: this.page })) {
        for (const p of page.segment.blobPrefixes ?? []) names.add(p.name.slice(prefix.length, -1));
        for (const b of page.segment.blobItems) names.add(b.name.slice(prefix.length));
      }
    });
    return [...names].filter((n) => n !== '').sort();
  }

  async *walk(dir: string): AsyncIterable<ObjectInfo> {
    const prefix = `${this.prefix}${dir}/`;
    const pages = this.container.listBlobsFlat({ prefix }).byPage({ maxPageSize: this.page });
    for (;;) {
      const next = await this.call(`list ${dir}`, () => pages.next());
      if (next.done) return;
      for (const b of next.value.segment.blobItems) {
        yield { path: b.name.slice(this.prefix.length), size: b.properties.contentLength ?? 0, modifiedAt: b.properties.lastModified };
      }
    }
  }

  async copy(from: string, to: string): Promise<void> {
    const source = await this.readableUrl(from);
    await this.call(`copy ${from}`, async () => {
      const poller = await this.blob(to).beginCopyFromURL(source, { intervalInMs: 200 });
      const result = await poller.pollUntilDone();
      if (result.copyStatus !== 'success') throw new Error(`copy of ${from} ended ${result.copyStatus ?? 'without a status'}`);
    });
  }

  async move(from: string, to: string): Promise<void> {
    await this.copy(from, to);
    await this.delete(from);
  }

  async delete(path: string): Promise<boolean> {
    const res = await this.call(`delete ${path}`, () => this.blob(path).deleteIfExists());
    return res.succeeded;
  }

  async deleteAll(dir: string): Promise<void> {
    const paths: string[] = [];
    for await (const object of this.walk(dir)) paths.push(object.path);
    // Eight at a time: blob batch deletes are not in Azurite.
    for (let i = 0; i < paths.length; i += 8) await Promise.all(paths.slice(i, i + 8).map((p) => this.delete(p)));
  }

  async pruneEmpty(): Promise<void> {
    // No directories in a container.
  }

  // ---- uploads --------------------------------------------------------------------------------

  async writer(path: string, options: WriterOptions = {}): Promise<ObjectWriter> {
    const state = (await this.readState(path)) ?? { blocks: [], size: 0, updatedAt: new Date().toISOString() };
    return new AzureWriter(this, path, state, options);
  }

  async writerStat(path: string): Promise<ObjectInfo | null> {
    const state = await this.readState(path);
    return state ? { path, size: state.size, modifiedAt: new Date(state.updatedAt) } : null;
  }

  async abortWriter(path: string): Promise<void> {
    // Uncommitted blocks of a blob that is never committed are dropped by the service after a week;
    // deleting the state is what ends the session.
    await this.delete(stateKey(path));
  }

  async urlFor(path: string, expiresInSeconds: number): Promise<string | null> {
    return this.readableUrl(path, expiresInSeconds);
  }

  async check(options: { create?: boolean } = {}): Promise<void> {
    let exists: boolean;
    try {
      exists = await this.container.exists();
    } catch (err) {
      throw this.classify(err, 'reach container');
    }
    if (exists) return;
    if (!(options.create ?? this.settings.createContainer)) {
      throw new StorageError('missing', `Azure container "${this.settings.container}" does not exist at ${this.endpoint}`);
    }
    try {
      await this.container.createIfNotExists();
    } catch (err) {
      const error = this.classify(err, 'create container');
      throw new StorageError('missing', `Azure container "${this.settings.container}" does not exist at ${this.endpoint} and could not be created: ${error.message}`, { cause: err });
    }
  }

  async close(): Promise<void> {}

  // ---- internals used by AzureWriter ------------------------------------------------------------

  get partBytes(): number {
    return this.settings.partBytes;
  }

  async readState(path: string): Promise<WriterState | null> {
    const content = await this.getContent(stateKey(path), 16 * 1024 * 1024);
    return content ? (JSON.parse(content.bytes.toString('utf8')) as WriterState) : null;
  }

  async writeState(path: string, state: WriterState): Promise<void> {
    await this.putContent(stateKey(path), JSON.stringify(state));
  }

  async stageBlock(path: string, id: string, bytes: Buffer): Promise<void> {
    await this.call(`upload ${path}`, () => this.blob(path).stageBlock(id, bytes, bytes.length));
  }

  async commitBlocks(path: string, ids: string[]): Promise<void> {
    await this.call(`commit ${path}`, () => this.blob(path).commitBlockList(ids));
  }

  /** A URL that reads the blob: a SAS signed with the account key, or the blob URL with the configured SAS. */
  private async readableUrl(path: string, expiresInSeconds = 3600): Promise<string> {
    const blob = this.blob(path);
    if (blob.credential instanceof StorageSharedKeyCredential) {
      return blob.generateSasUrl({ permissions: BlobSASPermissions.parse('r'), expiresOn: new Date(Date.now() + expiresInSeconds * 1000) });
    }
    return blob.url;
  }

  async call<T, M = never>(what: string, run: () => Promise<T>, options?: { missing: M }): Promise<T | M> {
    try {
      return await run();
    } catch (err) {
      if (err instanceof RestError && err.statusCode === 404 && err.code !== 'ContainerNotFound') {
        if (options && 'missing' in options) return options.missing;
        throw Object.assign(new Error(`${what}: not found`), { code: 'ENOENT', cause: err });
      }
      throw this.classify(err, what);
    }
  }

  classify(err: unknown, what: string): StorageError {
    if (err instanceof StorageError) return err;
    const e = err as RestError & { code?: string };
    const status = e.statusCode;
    const container = this.settings.container;
    if (!status && (/ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|ECONNRESET|socket hang up/.test(`${e.code} ${e.message}`) || e.name === 'AbortError')) {
      return new StorageError('unreachable', `Azure endpoint ${this.endpoint} is unreachable (${e.code ?? e.message}) during ${what}`, { cause: err });
    }
    if (e.code === 'ContainerNotFound' || (what === 'reach container' && status === 404)) {
      return new StorageError('missing', `Azure container "${container}" does not exist at ${this.endpoint}`, { cause: err });
    }
    if (status === 403 || status === 401) {
      return new StorageError('denied', `Azure refused the credentials for container "${container}" at ${this.endpoint} (${e.code ?? status})`, { cause: err });
    }
    if (status === 503 || status === 429 || status === 500) {
      return new StorageError('throttled', `Azure at ${this.endpoint} kept answering "server busy" during ${what}, after ${MAX_TRIES} tries`, { cause: err });
    }
    return new StorageError('failed', `Azure at ${this.endpoint} failed during ${what}: ${e.code ?? e.name}${status ? ` (HTTP ${status})` : ''}: ${e.message}`, { cause: err });
  }
}

function stateKey(path: string): string {
  return `${path}.state`;
}

/** Block IDs must all have the same length within a blob: the part number, padded, plus a nonce. */
function blockId(n: number): string {
  return Buffer.from(`${String(n).padStart(6, '0')}-${randomUUID().slice(0, 8)}`).toString('base64');
}

class AzureWriter implements ObjectWriter {
  readonly offset: number;
  readonly sink: Writable;
  readonly settled: Promise<number>;
  private readonly driver: AzureDriver;
  private readonly path: string;
  private readonly state: WriterState;
  private readonly parts: PartSink;
  private readonly newBlocks: WriterState['blocks'] = [];
  private ended = false;

  constructor(driver: AzureDriver, path: string, state: WriterState, options: WriterOptions) {
    this.driver = driver;
    this.path = path;
    this.state = state;
    this.offset = state.size;
    this.parts = new PartSink(driver.partBytes, null, (bytes) => this.stage(bytes), options);
    this.sink = this.parts.sink;
    this.settled = this.parts.settled;
  }

  private async stage(bytes: Buffer): Promise<void> {
    // A fresh ID per block: a block staged by a writer that was then discarded is never committed.
    const id = blockId(this.state.blocks.length + this.newBlocks.length + 1);
    await this.driver.stageBlock(this.path, id, bytes);
    this.newBlocks.push({ id, size: bytes.length });
  }

  private begin(): void {
    if (this.ended) throw new Error('this writer has already been ended');
    this.ended = true;
  }

  async persist(): Promise<number> {
    this.begin();
    try {
      const rest = await this.parts.finish();
      if (rest.length > 0) await this.stage(rest);
      const size = this.offset + (await this.settled);
      await this.driver.writeState(this.path, { blocks: [...this.state.blocks, ...this.newBlocks], size, updatedAt: new Date().toISOString() });
      return size;
    } finally {
      this.parts.release();
    }
  }

  async discard(): Promise<void> {
    this.begin();
    await this.parts.abandon();
  }

  async commit(target: string): Promise<void> {
    this.begin();
    try {
      const rest = await this.parts.finish();
      const blocks = [...this.state.blocks, ...this.newBlocks];
      if (blocks.length === 0) {
        // Never filled a part: one upload makes the whole blob appear at once.
        await this.driver.putContent(target, rest);
      } else {
        if (rest.length > 0) await this.stage(rest);
        await this.driver.commitBlocks(this.path, [...this.state.blocks, ...this.newBlocks].map((b) => b.id));
        await this.driver.copy(this.path, target);
        await this.driver.delete(this.path);
      }
    } finally {
      this.parts.release();
    }
    await this.driver.delete(stateKey(this.path)).catch(() => undefined);
  }
}
