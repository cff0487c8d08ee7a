/**
 * Copies the running registry's store to another one: the management API's POST /api/storage/copy,
 * behind the Disk usage page's "Copy to another store". The same verified, resumable copy as
 * `berth storage copy` (storage/copy.ts), run in the background with its progress kept for GET
 * /api/storage/copy; pushes may go on meanwhile (the copy keeps the destination consistent, and a second
 * run catches up). One copy at a time.
 *
 * The destination is checked before anything starts (its bucket or container created when the
 * credentials allow): a store that cannot be reached is refused with the driver's own message. A data
 * directory as destination must not be this server's nor one another Berth server holds, and its index
 * is removed afterwards so that the server started on it rebuilds it. The settings given (credentials
 * included) are used for this copy only: never stored, logged or shown back; the status names the
 * destination by its location alone.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { ConfigError } from '../config.ts';
import { copyRegistry } from '../storage/copy.ts';
import { validateStorage } from '../storage/config.ts';
import { createDriver } from '../storage/driver/create.ts';
import { isStorageError, type StorageDriver } from '../storage/driver/driver.ts';
import { liveHolder } from '../storage/lock.ts';
import { StoragePaths } from '../storage/paths.ts';
import type { StorageCopyStatus } from './api-types.ts';
import { RegistryError } from './errors.ts';

export interface StorageCopyRequest {
  /** The destination as a config file's `storage` key says it. */
  storage: unknown;
  /** For a filesystem destination: its data directory (absolute). */
  dataDir?: unknown;
}

export interface StorageCopyDeps {
  source: StorageDriver;
  /** This server's data directory: never a destination. */
  dataDir: string;
  log: Logger;
  now?: () => Date;
}

/** Progress is published at most this often while blobs stream. */
const PROGRESS_EVERY_MS = 200;

export class StorageCopyService {
  private readonly deps: StorageCopyDeps;
  private status: StorageCopyStatus;
  private running: Promise<void> | null = null;
  /** Set from the request's arrival until the copy has ended: a second request meanwhile is refused. */
  private busy = false;
  private readonly abort = new AbortController();

  constructor(deps: StorageCopyDeps) {
    this.deps = deps;
    this.status = { state: 'idle', from: deps.source.location.description, to: null, startedAt: null, finishedAt: null, progress: null, result: null, error: null };
  }

  current(): StorageCopyStatus {
    return structuredClone(this.status);
  }

  /** Checks the destination and starts the copy; answers once it runs (or refuses, saying why). */
  async start(request: StorageCopyRequest): Promise<StorageCopyStatus> {
    if (this.abort.signal.aborted) throw new RegistryError('UNAVAILABLE', { message: 'Berth is stopping; try again once it has restarted' });
    if (this.busy) throw new RegistryError('CONFLICT', { message: `a copy${this.status.state === 'running' ? ` to ${this.status.to}` : ''} is already running` });
    const { driver, dataDir } = this.destination(request);
    this.busy = true;
    try {
      if (driver.location.description === this.deps.source.location.description) {
        throw new RegistryError('BAD_REQUEST', { message: `the destination is this registry's own store (${driver.location.description})` });
      }
      if (dataDir) {
        const holder = await liveHolder(new StoragePaths(dataDir).lockFile).catch(() => null);
        if (holder) throw new RegistryError('CONFLICT', { message: `a Berth server (pid ${holder.pid}) uses ${dataDir}: stop it first, or copy to another directory` });
      }
      try {
        await driver.check({ create: true });
      } catch (err) {
        throw new RegistryError('BAD_REQUEST', { message: `the destination cannot be used: ${isStorageError(err) ? err.message : (err as Error).message}` });
      }
    } catch (err) {
      this.busy = false;
      await driver.close().catch(() => undefined);
      throw err;
    }
    this.status = {
      state: 'running',
      from: this.deps.source.location.description,
      to: driver.location.description,
      startedAt: this.now().toISOString(),
      finishedAt: null,
      progress: { phase: 'blobs', done: 0, total: 0, bytesDone: 0, bytesTotal: 0 },
      result: null,
      error: null,
    };
    this.deps.log.info({ to: driver.location.description }, 'storage copy started');
    this.running = this.copy(driver, dataDir).finally(() => {
      this.running = null;
      this.busy = false;
    });
    return this.current();
  }

  /** Resolves once the copy in progress (if any) has ended. */
  async settled(): Promise<StorageCopyStatus> {
    await this.running;
    return this.current();
  }

  /** Stops a copy in progress at its next object (what it copied stays, verified) and waits for it. */
  async close(): Promise<void> {
    this.abort.abort();
    await this.running?.catch(() => undefined);
  }

  private async copy(driver: StorageDriver, dataDir: string | null): Promise<void> {
    let last = 0;
    try {
      const result = await copyRegistry(
        this.deps.source,
        driver,
        (progress) => {
          const now = Date.now();
          if (progress.phase === 'blobs' && progress.done !== progress.total && now - last < PROGRESS_EVERY_MS) return;
          last = now;
          this.status.progress = progress;
        },
        this.abort.signal,
      );
      // The destination's index (if any) described what was there before: its next start rebuilds it.
      if (dataDir) await fs.rm(new StoragePaths(dataDir).indexDir, { recursive: true, force: true });
      this.finish('succeeded', result, null);
      this.deps.log.info({ to: driver.location.description, blobs: result.blobs, tags: result.tags, ms: result.ms }, 'storage copy finished');
    } catch (err) {
      const message = this.abort.signal.aborted
        ? 'Berth stopped during the copy; what was copied is there and verified: run the copy again to finish it'
        : `${isStorageError(err) ? err.message : (err as Error).message}; run the copy again to resume`;
      this.finish('failed', null, message);
      this.deps.log.error({ err, to: driver.location.description }, 'storage copy failed');
    } finally {
      await driver.close().catch(() => undefined);
    }
  }

  private finish(state: 'succeeded' | 'failed', result: StorageCopyStatus['result'], error: string | null): void {
    this.status = { ...this.status, state, finishedAt: this.now().toISOString(), progress: null, result, error };
  }

  /** The destination driver for a request, or a 400 that says what is wrong with it. */
  private destination(request: StorageCopyRequest): { driver: StorageDriver; dataDir: string | null } {
    let storage;
    try {
      storage = validateStorage(request.storage ?? {}, (key) => key);
    } catch (err) {
      if (err instanceof ConfigError) throw new RegistryError('BAD_REQUEST', { message: err.message, detail: { fields: ['storage'] } });
      throw err;
    }
    if (storage.driver !== 'filesystem') {
      if (request.dataDir !== undefined) throw new RegistryError('BAD_REQUEST', { message: '"dataDir" is only for a filesystem destination' });
      return { driver: createDriver(storage, this.deps.dataDir), dataDir: null };
    }
    if (typeof request.dataDir !== 'string' || !path.isAbsolute(request.dataDir.trim())) {
      throw new RegistryError('BAD_REQUEST', { message: 'a filesystem destination needs "dataDir": the absolute path of the data directory to copy to', detail: { fields: ['dataDir'] } });
    }
    const dir = path.resolve(request.dataDir.trim());
    const own = path.resolve(this.deps.dataDir);
    if (dir === own || dir.startsWith(`${own}${path.sep}`) || own.startsWith(`${dir}${path.sep}`)) {
      throw new RegistryError('BAD_REQUEST', { message: `${dir} is this registry's data directory or overlaps it: choose another directory`, detail: { fields: ['dataDir'] } });
    }
    return { driver: createDriver(storage, dir), dataDir: dir };
  }

  private now(): Date {
    return this.deps.now ? this.deps.now() : new Date();
  }
}
