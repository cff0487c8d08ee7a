/**
 * Stand-ins for the Electron objects the main-process modules take (they take narrow interfaces,
 * so these fakes only record calls and fire events), and a push that can be paused half way.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import { after } from 'node:test';
import { pino } from 'pino';
import type { SenderEvent } from '../../electron/main/ipc.ts';
import type { DesktopAppLike, WindowLike } from '../../electron/main/desktop.ts';
import type { TrayLike } from '../../electron/main/tray.ts';
import { tempDir } from '../helpers/server.ts';

export const silentLog = pino({ level: 'silent' });

/** Resolves once `check` is true, polling; fails after `ms` (a bound for a hang, not a timing assertion). */
export async function until(check: () => boolean, what: string, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A maker of temporary directories, all removed when the calling test file ends. */
export function scratchDirs(): (prefix: string) => Promise<string> {
  const made: string[] = [];
  after(async () => {
    for (const dir of made) await fs.rm(dir, { recursive: true, force: true });
  });
  return async (prefix) => {
    const dir = await tempDir(prefix);
    made.push(dir);
    return dir;
  };
}

/** Listens on a loopback port (a free one by default) until closed: a port held by "another program". */
export async function occupy(port = 0): Promise<{ port: number; close(): Promise<void> }> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return { port: (server.address() as net.AddressInfo).port, close: () => new Promise((r) => server.close(() => r())) };
}

type Listener = (...args: never[]) => void;

export class FakeApp implements DesktopAppLike {
  readonly listeners = new Map<string, Listener[]>();
  quitCalls = 0;
  locked = true;
  on(event: string, listener: Listener): this {
    this.listeners.set(event, [...(this.listeners.get(event) ?? []), listener]);
    return this;
  }
  requestSingleInstanceLock(): boolean {
    return this.locked;
  }
  /** Like Electron: quit() emits before-quit, and quits unless a listener prevented it. */
  quit(): void {
    this.quitCalls++;
    this.emitPreventable('before-quit');
  }
  emitPreventable(event: string): boolean {
    let prevented = false;
    for (const l of this.listeners.get(event) ?? []) (l as (e: { preventDefault(): void }) => void)({ preventDefault: () => (prevented = true) });
    return prevented;
  }
  emit(event: string): void {
    for (const l of this.listeners.get(event) ?? []) (l as () => void)();
  }
}

let nextContentsId = 100;

export class FakeWindow implements WindowLike {
  readonly loaded: string[] = [];
  readonly calls: string[] = [];
  destroyed = false;
  minimized = false;
  private readonly listeners = new Map<string, () => void>();
  readonly webContents = {
    id: nextContentsId++,
    on: () => this.webContents,
    setWindowOpenHandler: () => undefined,
  };
  async loadURL(url: string): Promise<void> {
    this.loaded.push(url);
    this.listeners.get('ready-to-show')?.();
  }
  once(event: string, listener: () => void): this {
    this.listeners.set(event, listener);
    return this;
  }
  on(event: string, listener: () => void): this {
    this.listeners.set(event, listener);
    return this;
  }
  close(): void {
    this.destroyed = true;
    this.listeners.get('closed')?.();
  }
  isDestroyed = () => this.destroyed;
  isMinimized = () => this.minimized;
  restore = () => void this.calls.push('restore');
  show = () => void this.calls.push('show');
  focus = () => void this.calls.push('focus');
  /** An IPC event as Electron builds it for this window's main frame at `url`. */
  event(url: string): SenderEvent {
    return { sender: { id: this.webContents.id }, senderFrame: { url, parent: null } };
  }
}

export class FakeTray implements TrayLike {
  tooltip = '';
  menu: unknown = null;
  destroyed = false;
  setToolTip(text: string): void {
    this.tooltip = text;
  }
  setContextMenu(menu: unknown): void {
    this.menu = menu;
  }
  on(): this {
    return this;
  }
  destroy(): void {
    this.destroyed = true;
  }
}

/**
 * A blob pushed with one PUT whose body is sent in two halves: the first now, the second when
 * asked. In between, the registry holds an upload that is receiving.
 */
export async function pausedPush(baseUrl: string, repository: string, size = 256 * 1024) {
  const blob = Buffer.alloc(size, 7);
  const digest = `sha256:${createHash('sha256').update(blob).digest('hex')}`;
  const start = await fetch(`${baseUrl}/v2/${repository}/blobs/uploads/`, { method: 'POST' });
  assert.equal(start.status, 202);
  const location = new URL(start.headers.get('location')!, baseUrl);
  location.searchParams.set('digest', digest);
  const request = http.request(location, {
    method: 'PUT',
    headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(size) },
  });
  const response = new Promise<number>((resolve, reject) => {
    request.on('response', (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode!));
    });
    request.on('error', reject);
  });
  // Observed now, so a connection cut before the test looks at it is not an unhandled rejection.
  response.catch(() => undefined);
  request.write(blob.subarray(0, size / 2));
  return {
    digest,
    /** Sends the rest; resolves to the response status. */
    finish(): Promise<number> {
      request.end(blob.subarray(size / 2));
      return response;
    },
    /** The response (or the error), without sending more. */
    response,
    abort(): void {
      request.destroy();
    },
  };
}
