/**
 * The built preload (dist/electron/preload.cjs) run as Electron runs a sandboxed preload: CommonJS
 * with a require() that knows only 'electron'. It must expose exactly BerthDesktopApi as
 * window.berth, each method on its channel, and never ipcRenderer.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import vm from 'node:vm';
import { IPC, PRELOAD_IPC } from '../../electron/shared/ipc.ts';
import { ROOT } from '../helpers/berth-process.ts';

const PRELOAD = path.join(ROOT, 'dist', 'electron', 'preload.cjs');

function runPreload(tokenReply: unknown) {
  const exposed = new Map<string, unknown>();
  const invoked: [string, unknown[]][] = [];
  const sentSync: string[] = [];
  const electron = {
    contextBridge: { exposeInMainWorld: (key: string, value: unknown) => exposed.set(key, value) },
    ipcRenderer: {
      sendSync: (channel: string) => (sentSync.push(channel), tokenReply),
      invoke: async (channel: string, ...args: unknown[]) => (invoked.push([channel, args]), `reply:${channel}`),
    },
  };
  const required: string[] = [];
  const sandboxRequire = (name: string) => {
    required.push(name);
    if (name === 'electron') return electron;
    throw new Error(`a sandboxed preload cannot require ${name}`);
  };
  const module = { exports: {} };
  vm.runInNewContext(fs.readFileSync(PRELOAD, 'utf8'), { require: sandboxRequire, module, exports: module.exports }, { filename: PRELOAD });
  return { exposed, invoked, sentSync, required };
}

describe('the preload bundle', () => {
  it('is CommonJS that requires only electron', () => {
    assert.ok(fs.existsSync(PRELOAD), 'run npm run build first');
    const { required } = runPreload('t');
    assert.deepEqual([...new Set(required)], ['electron']);
    assert.doesNotMatch(fs.readFileSync(PRELOAD, 'utf8'), /^\s*(import|export)\s/m);
  });

  it('exposes exactly window.berth with the contract methods and the token', () => {
    const { exposed, sentSync } = runPreload('launch-secret');
    assert.deepEqual([...exposed.keys()], ['berth']);
    const berth = exposed.get('berth') as Record<string, unknown>;
    assert.deepEqual(Object.keys(berth).sort(), ['apiToken', ...Object.keys(IPC)].sort());
    assert.equal(berth.apiToken, 'launch-secret');
    assert.deepEqual(sentSync, [PRELOAD_IPC.apiToken]);
    assert.ok(Object.isFrozen(berth));
    assert.ok(!Object.values(berth).some((v) => typeof v === 'object' && v !== null), 'no object (like ipcRenderer) is exposed');
  });

  it('each method invokes its own channel with its arguments', async () => {
    const { exposed, invoked } = runPreload('t');
    const berth = exposed.get('berth') as Record<string, (...args: unknown[]) => Promise<unknown>>;
    const settings = { port: 5001, bindAddress: 'loopback', dataDir: '/d', tls: false, startAtLogin: false };
    assert.equal(await berth.copyToClipboard!('text'), `reply:${IPC.copyToClipboard}`);
    await berth.saveSettings!(settings);
    for (const name of ['openDataFolder', 'revealCaCertificate', 'pickDirectory', 'getSettings']) await berth[name]!();
    assert.deepEqual(invoked, [
      [IPC.copyToClipboard, ['text']],
      [IPC.saveSettings, [settings]],
      [IPC.openDataFolder, []],
      [IPC.revealCaCertificate, []],
      [IPC.pickDirectory, []],
      [IPC.getSettings, []],
    ]);
  });

  it('a refused token request leaves an empty token, never something else', () => {
    const berth = runPreload(null).exposed.get('berth') as { apiToken: unknown };
    assert.equal(berth.apiToken, '');
  });
});
