/** IPC: every channel of electron/shared/ipc.ts answers only our window's main frame on our origin. */
import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';
import {
  isTrustedSender,
  MAX_CLIPBOARD_TEXT,
  setupIpc,
  UntrustedSenderError,
  type DesktopHandlers,
  type SenderEvent,
} from '../../electron/main/ipc.ts';
import { IPC, PRELOAD_IPC, type DesktopSettings } from '../../electron/shared/ipc.ts';
import { FakeIpcMain } from './ipc-fake.ts';

const ORIGIN = 'http://127.0.0.1:5000';
const OUR_WINDOW = 7;

function sender(overrides: { id?: number; url?: string; parent?: unknown; frame?: null } = {}): SenderEvent {
  return {
    sender: { id: overrides.id ?? OUR_WINDOW },
    senderFrame: overrides.frame === null ? null : { url: overrides.url ?? `${ORIGIN}/repositories`, parent: overrides.parent ?? null },
  };
}

const settings: DesktopSettings = { port: 5000, bindAddress: 'loopback', dataDir: '/data', tls: false, startAtLogin: false };

describe('IPC sender checks', () => {
  let ipcMain: FakeIpcMain;
  let calls: string[];
  let refused: string[];

  beforeEach(() => {
    ipcMain = new FakeIpcMain();
    calls = [];
    refused = [];
    const handlers: DesktopHandlers = {
      openDataFolder: async () => void calls.push('openDataFolder'),
      revealCaCertificate: async () => void calls.push('revealCaCertificate'),
      copyToClipboard: async (text) => void calls.push(`copy:${text}`),
      pickDirectory: async () => (calls.push('pickDirectory'), '/picked'),
      getSettings: async () => (calls.push('getSettings'), settings),
      saveSettings: async (s) => (calls.push(`save:${s.port}`), { ok: true, restarted: false, url: `${ORIGIN}/` }),
    };
    setupIpc({
      ipcMain,
      handlers,
      token: 'launch-secret',
      trusted: { webContentsIds: () => [OUR_WINDOW], origin: () => ORIGIN },
      onRefused: (channel) => refused.push(channel),
    });
  });

  it('registers one handler per channel of the contract', () => {
    assert.deepEqual([...ipcMain.handlers.keys()].sort(), Object.values(IPC).sort());
  });

  it('serves our window on our origin', async () => {
    assert.deepEqual(await ipcMain.invoke(IPC.getSettings, sender()), settings);
    assert.equal(await ipcMain.invoke(IPC.pickDirectory, sender()), '/picked');
    await ipcMain.invoke(IPC.copyToClipboard, sender(), 'docker pull localhost:5000/app');
    assert.deepEqual(await ipcMain.invoke(IPC.saveSettings, sender(), { ...settings, port: 5001 }), { ok: true, restarted: false, url: `${ORIGIN}/` });
    assert.deepEqual(calls, ['getSettings', 'pickDirectory', 'copy:docker pull localhost:5000/app', 'save:5001']);
    assert.deepEqual(refused, []);
  });

  const foreign: [string, SenderEvent][] = [
    ['another webContents (a window that is not ours)', sender({ id: 99 })],
    ['another origin in our window', sender({ url: 'https://evil.example/' })],
    ['our origin on another port', sender({ url: 'http://127.0.0.1:5001/' })],
    ['a sub-frame (iframe) on our origin', sender({ parent: { url: `${ORIGIN}/` } })],
    ['a frame that is gone', sender({ frame: null })],
    ['a file: page', sender({ url: 'file:///tmp/page.html' })],
  ];

  for (const [what, event] of foreign) {
    it(`refuses ${what} on every channel, without calling the handler`, async () => {
      for (const channel of Object.values(IPC)) {
        await assert.rejects(ipcMain.invoke(channel, event, settings), UntrustedSenderError);
      }
      assert.deepEqual(calls, []);
      assert.equal(refused.length, Object.values(IPC).length);
    });
  }

  it('refuses every sender while the registry is down (no origin is ours)', async () => {
    const down = new FakeIpcMain();
    setupIpc({
      ipcMain: down,
      handlers: {} as DesktopHandlers,
      token: 't',
      trusted: { webContentsIds: () => [OUR_WINDOW], origin: () => null },
      onRefused: () => undefined,
    });
    await assert.rejects(down.invoke(IPC.getSettings, sender()), UntrustedSenderError);
  });

  it('hands the management token to our preload only', () => {
    assert.equal(ipcMain.sendSync(PRELOAD_IPC.apiToken, sender()), 'launch-secret');
    for (const [, event] of foreign) assert.equal(ipcMain.sendSync(PRELOAD_IPC.apiToken, event), null);
    assert.deepEqual(refused, foreign.map(() => PRELOAD_IPC.apiToken));
  });

  it('checks arguments: copyToClipboard takes one string of bounded length', async () => {
    for (const bad of [undefined, 42, { text: 'x' }, 'x'.repeat(MAX_CLIPBOARD_TEXT + 1)]) {
      await assert.rejects(ipcMain.invoke(IPC.copyToClipboard, sender(), bad), /copyToClipboard/);
    }
    assert.deepEqual(calls, []);
  });

  it('isTrustedSender compares origins, not URL prefixes', () => {
    const trusted = { webContentsIds: () => [OUR_WINDOW], origin: () => ORIGIN };
    assert.equal(isTrustedSender(sender({ url: 'http://127.0.0.1:5000.evil.example/' }), trusted), false);
    assert.equal(isTrustedSender(sender({ url: 'http://127.0.0.1:50001/' }), trusted), false);
    assert.equal(isTrustedSender(sender({ url: 'not a url' }), trusted), false);
    assert.equal(isTrustedSender(sender({ url: `${ORIGIN}/image/a/b?x=1#y` }), trusted), true);
  });
});
