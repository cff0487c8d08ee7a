/** ipcMain as Electron's: handle() for invoke channels, on() for sendSync ones; the test plays the renderer. */
import assert from 'node:assert/strict';
import type { IpcMainLike, SenderEvent } from '../../electron/main/ipc.ts';

type InvokeListener = (event: SenderEvent, ...args: unknown[]) => Promise<unknown>;
type SyncListener = (event: SenderEvent & { returnValue: unknown }) => void;

export class FakeIpcMain implements IpcMainLike {
  readonly handlers = new Map<string, InvokeListener>();
  readonly listeners = new Map<string, SyncListener>();
  handle(channel: string, listener: InvokeListener): void {
    assert.ok(!this.handlers.has(channel), `${channel} registered twice`);
    this.handlers.set(channel, listener);
  }
  on(channel: string, listener: SyncListener): this {
    this.listeners.set(channel, listener);
    return this;
  }
  invoke(channel: string, event: SenderEvent, ...args: unknown[]): Promise<unknown> {
    const handler = this.handlers.get(channel);
    assert.ok(handler, `no handler for ${channel}`);
    return handler(event, ...args);
  }
  sendSync(channel: string, event: SenderEvent): unknown {
    const listener = this.listeners.get(channel);
    assert.ok(listener, `no listener for ${channel}`);
    const e = { ...event, returnValue: undefined as unknown };
    listener(e);
    return e.returnValue;
  }
}

