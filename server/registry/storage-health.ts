/**
 * Whether the data directory can take writes, and what to tell everyone when it cannot: the client
 * whose push failed (one error for every write path), the log, /healthz and the UI.
 *
 * A full disk is "full" from the first write it refuses until space is back: a later upload completed,
 * or the free space grew by what the failed write needed (or by 5% of the disk when that is unknown,
 * as for the chunked bodies Docker sends). A volume with next to nothing free is full in any case.
 * Read-only, unwritable and failing disks last until a file can be created in the directory again.
 * While any problem lasts the state is checked again every CHECK_MS, so the UI and /healthz turn back
 * by themselves when someone frees space or remounts the disk.
 */
import type { Logger } from 'pino';
import prettyBytes from 'pretty-bytes';
import type { SetAsideFile } from '../metadata/nedb-file.ts';
import { storageFailureKind, type StorageFailureKind } from '../storage/failures.ts';
import type { VolumeSpace } from '../storage/volume.ts';
import type { SetAsideView, StorageView } from './api-types.ts';
import { RegistryError } from './errors.ts';
import type { RegistryEvents } from './events.ts';

export interface StorageHealthDeps {
  dataDir: string;
  volume(dir: string): Promise<VolumeSpace>;
  /** Creates and removes a file in the data directory; rejects with the errno error when it cannot. */
  probe(): Promise<void>;
  /** The store files set aside because their contents could not be read. */
  setAside(): Promise<SetAsideFile[]>;
  events: RegistryEvents;
  log: Logger;
  now?: () => Date;
}

/** What was being written, for the messages. */
export interface WriteContext {
  repository?: string;
  /** "the blob", "the manifest", "the retention rule"... */
  what?: string;
  /** An upload session was removed because of the failure (its partial data freed). */
  uploadRemoved?: boolean;
  /** The failure was of a read (a pull): the disk is failing or unreadable, whatever the code. */
  reading?: boolean;
}

/** While a problem lasts, the disk is looked at again this often. */
const CHECK_MS = 10_000;
/** Below this much free space (or 1% of the volume, whichever is less) a volume counts as full. */
const NEARLY_FULL_BYTES = 64 * 1024 * 1024;

const FREE_SPACE_HINT = 'free space on the registry (run a garbage collection: the Disk usage page or "berth gc"; purge idle uploads: "berth purge-uploads"; or delete images no one needs)';

interface NoSpace {
  at: Date;
  /** Free bytes right after the failure (partial files removed). */
  freeAfter: number | null;
  /** Bytes the failed write needed, when known (a Content-Length). */
  needed: number | null;
}

interface Unwritable {
  kind: Exclude<StorageFailureKind, 'full'>;
  at: Date;
  code: string;
}

export class StorageHealth {
  private readonly deps: StorageHealthDeps;
  private noSpace: NoSpace | null = null;
  private unwritable: Unwritable | null = null;
  private lastState: StorageView['state'] = 'ok';
  private lastSetAside = '';
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(deps: StorageHealthDeps) {
    this.deps = deps;
  }

  /**
   * A write failed with `err`: when the disk is the reason, records it, logs it and returns the error
   * for the client (STORAGE_FULL, STORAGE_UNWRITABLE or STORAGE_FAILED, with the free space and what
   * to do); null when `err` is not a storage failure.
   */
  async failed(err: unknown, context: WriteContext = {}): Promise<RegistryError | null> {
    const kind = storageFailureKind(err);
    if (!kind) return null;
    const code = (err as NodeJS.ErrnoException).code ?? kind;
    if (context.reading) {
      this.deps.log.error({ err, dataDir: this.deps.dataDir }, `the registry could not read its data directory (${code})`);
      return new RegistryError('STORAGE_FAILED', { message: `the registry could not read its data (${code}); the registry's operator must check its disk and data directory` });
    }
    const space = await this.space();
    const what = context.what ?? 'it';
    const where = context.repository ? ` (a push to ${context.repository})` : '';
    if (kind === 'full') {
      this.noSpace = { at: this.now(), freeAfter: space?.freeBytes ?? null, needed: null };
      this.deps.log.error({ dataDir: this.deps.dataDir, free: space?.freeBytes, total: space?.totalBytes, repository: context.repository },
        `the disk holding the data directory is full${where}: ${freeText(space)}; ${FREE_SPACE_HINT}`);
      this.changed();
      // After an upload's partial data is removed, what is free is what the blob had to fit in.
      const message = context.uploadRemoved
        ? `the registry's disk ran out of space: ${what} is larger than the ${freeText(space)}; the partial upload was removed`
        : `the registry's disk is full (${freeText(space)}): ${what} did not fit; nothing was stored`;
      return new RegistryError('STORAGE_FULL', {
        message: `${message}. To push, ${FREE_SPACE_HINT}`,
        detail: { freeBytes: space?.freeBytes ?? null, totalBytes: space?.totalBytes ?? null },
      });
    }
    this.unwritable = { kind, at: this.now(), code };
    this.deps.log.error({ err, dataDir: this.deps.dataDir, repository: context.repository }, `${unwritableText(kind, code)}${where}`);
    this.changed();
    if (kind === 'io') {
      return new RegistryError('STORAGE_FAILED', { message: `the registry's disk reported an I/O error (${code}) while storing ${what}; nothing was stored; the registry's operator must check the disk` });
    }
    return new RegistryError('STORAGE_UNWRITABLE', {
      message: `${unwritableText(kind, code)}: ${what} cannot be stored. Pulls still work; the registry's operator must make the data directory writable`,
    });
  }

  /**
   * A write the disk refused outside a request (the index, the activity log, the run history): recorded
   * and logged once, not again for every write the same disk refuses after it.
   */
  noted(err: unknown, file: string): void {
    const kind = storageFailureKind(err);
    if (!kind || (kind === 'full' ? this.noSpace : this.unwritable)) return;
    this.failed(err, { what: `a change to ${file}` }).catch(() => undefined);
  }

  /**
   * Refuses, before any byte is written, a body of `bytes` that cannot fit in the free space (the
   * Content-Length of a monolithic upload or of a chunk). Throws STORAGE_FULL.
   */
  async ensureRoom(bytes: number, context: WriteContext = {}): Promise<void> {
    const space = await this.space();
    if (!space || bytes <= space.freeBytes) return;
    this.noSpace = { at: this.now(), freeAfter: space.freeBytes, needed: bytes };
    this.deps.log.warn({ repository: context.repository, bytes, free: space.freeBytes },
      `refused an upload of ${prettyBytes(bytes)}: only ${prettyBytes(space.freeBytes)} free on the disk of the data directory`);
    this.changed();
    throw new RegistryError('STORAGE_FULL', {
      message: `the registry's disk has ${freeText(space)}, too little for ${context.what ?? 'this upload'} of ${prettyBytes(bytes)}; nothing was written. To push, ${FREE_SPACE_HINT}`,
      detail: { freeBytes: space.freeBytes, totalBytes: space.totalBytes, needed: bytes },
    });
  }

  /** An upload was stored: the disk takes writes again. */
  stored(): void {
    if (!this.noSpace && !this.unwritable) return;
    this.noSpace = null;
    this.unwritable = null;
    this.changed();
  }

  /** Space may have been freed (a collection or purge finished): look again now. */
  recheck(): void {
    if (this.noSpace || this.unwritable) this.changed();
  }

  /** The state now; announced (the live `storage` event) when it differs from the last one announced. */
  async view(): Promise<StorageView> {
    const view = await this.compute();
    this.announce(view);
    return view;
  }

  private async compute(): Promise<StorageView> {
    const space = await this.space();
    if (this.unwritable) {
      try {
        await this.deps.probe();
        this.deps.log.info({ dataDir: this.deps.dataDir }, 'the data directory is writable again');
        this.unwritable = null;
      } catch {
        // still not writable
      }
    }
    if (this.noSpace && space) {
      const { freeAfter, needed } = this.noSpace;
      const wanted = Math.max(needed !== null && freeAfter !== null ? needed - freeAfter : 0, space.totalBytes * 0.05);
      if (freeAfter !== null && space.freeBytes >= freeAfter + wanted) {
        this.deps.log.info({ free: space.freeBytes }, `the disk of the data directory has space again: ${freeText(space)}`);
        this.noSpace = null;
      }
    }
    const setAside = (await this.deps.setAside().catch(() => [])).map((f) => setAsideView(f));
    const base = { freeBytes: space?.freeBytes ?? null, totalBytes: space?.totalBytes ?? null, setAside };
    if (this.unwritable) {
      const { kind, code, at } = this.unwritable;
      const state = kind === 'read-only' ? 'read-only' : kind === 'permission' ? 'not-writable' : 'failing';
      const headline = kind === 'read-only'
        ? 'The registry’s data directory is read-only: pushes fail.'
        : kind === 'permission' ? 'The registry may not write its data directory: pushes fail.' : 'The registry’s disk reports I/O errors.';
      return { ...base, state, headline, problem: `${upperFirst(unwritableText(kind, code))}: pushes, deletes and settings cannot be saved; pulls still work.`, since: at.toISOString() };
    }
    const nearlyFull = space !== null && space.freeBytes < Math.min(NEARLY_FULL_BYTES, space.totalBytes * 0.01);
    if (this.noSpace || nearlyFull) {
      // The free and total bytes are fields of their own (the UI formats them).
      const problem = nearlyFull
        ? 'The disk holding the data directory is full: pushes fail until there is room; pulls still work.'
        : 'A push failed because the disk holding the data directory ran out of space: pushes that do not fit fail until there is more room; pulls still work.';
      return {
        ...base,
        state: 'full',
        headline: nearlyFull ? 'The registry’s disk is full: pushes fail.' : 'A push did not fit on the registry’s disk.',
        problem: `${problem} To make room, ${FREE_SPACE_HINT}.`,
        since: (this.noSpace?.at ?? this.now()).toISOString(),
      };
    }
    return { ...base, state: 'ok', headline: null, problem: null, since: null };
  }

  /** Stops looking again (the server is closing). */
  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  // ---- internals ------------------------------------------------------------------------------

  /** Looks at the disk again, in the background. */
  private changed(): void {
    this.view().catch((err: unknown) => this.deps.log.warn({ err }, 'could not check the disk of the data directory'));
  }

  /** Announces a state that differs from the last one announced, and keeps looking while it is not ok. */
  private announce(view: StorageView): void {
    if (this.stopped) return;
    const setAside = JSON.stringify(view.setAside);
    if (view.state !== this.lastState || setAside !== this.lastSetAside) {
      this.lastState = view.state;
      this.lastSetAside = setAside;
      this.deps.events.emit('storage', view);
    }
    if (view.state !== 'ok' && !this.timer) {
      this.timer = setInterval(() => this.changed(), CHECK_MS);
      this.timer.unref();
    } else if (view.state === 'ok' && this.timer) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  private async space(): Promise<VolumeSpace | null> {
    try {
      return await this.deps.volume(this.deps.dataDir);
    } catch {
      return null;
    }
  }

  private now(): Date {
    return this.deps.now ? this.deps.now() : new Date();
  }
}

function upperFirst(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function freeText(space: VolumeSpace | null): string {
  return space ? `${prettyBytes(space.freeBytes)} free of ${prettyBytes(space.totalBytes)}` : 'free space unknown';
}

function unwritableText(kind: Exclude<StorageFailureKind, 'full'>, code: string): string {
  switch (kind) {
    case 'read-only':
      return 'the registry\'s data directory is on a read-only file system';
    case 'permission':
      return `the registry may not write its data directory (${code}: permission denied)`;
    case 'io':
      return `the disk holding the registry's data directory reports I/O errors (${code})`;
  }
}

const HOLDS: Record<string, string> = {
  'retention.db': 'the retention rules',
  'runs.db': 'the history of maintenance runs',
  'activity.db': 'the activity feed',
};

function setAsideView(file: SetAsideFile): SetAsideView {
  const name = file.file.split(/[\\/]/).pop() ?? file.file;
  return {
    file: file.file,
    holds: HOLDS[name] ?? name,
    keptAs: file.keptAs,
    at: file.at,
    restore:
      `Its lines that could still be read were kept. The damaged file is ${file.keptAs}: to restore it, stop Berth, ` +
      `repair the lines that are not valid JSON (or take the file from a backup), move it back to ${file.file}, and start Berth. ` +
      `Delete ${file.keptAs} once you no longer need it; this notice then goes away.`,
  };
}
