/**
 * The registry inside the desktop app: started with the settings and the launch token, stopped
 * gracefully (an upload in flight finishes; the data directory is released), and its status.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { createRegistry } from '../../server/index.ts';
import { createRegistryHost } from '../../electron/main/registry-host.ts';
import { trayText } from '../../electron/main/tray.ts';
import type { DesktopSettings } from '../../electron/shared/ipc.ts';
import { freePort } from '../helpers/berth-process.ts';
import { pausedPush, scratchDirs, silentLog, until } from './helpers.ts';

async function settingsFor(dataDir: string): Promise<DesktopSettings> {
  return { port: await freePort(), bindAddress: 'loopback', dataDir, tls: false, startAtLogin: false };
}

describe('the registry host', () => {
  const scratch = scratchDirs();
  const dataDir = () => scratch('berth-host-');

  it('runs the registry on the configured port with the launch token guarding /api/', async () => {
    const host = createRegistryHost({ createRegistry, token: 'launch-secret', log: silentLog });
    const settings = await settingsFor(await dataDir());
    const { status, initialAdmin } = await host.start(settings);
    assert.equal(initialAdmin, null, 'no auth on loopback');
    try {
      assert.equal(status.state, 'running');
      assert.equal(status.uiUrl, `http://127.0.0.1:${settings.port}/`);
      assert.equal(status.address, `localhost:${settings.port}`);
      assert.equal((await fetch(`http://127.0.0.1:${settings.port}/v2/`)).status, 200);
      assert.equal((await fetch(`http://127.0.0.1:${settings.port}/api/status`)).status, 401);
      const ok = await fetch(`http://127.0.0.1:${settings.port}/api/status`, { headers: { Authorization: 'Bearer launch-secret' } });
      assert.equal(ok.status, 200);
      assert.equal(host.registry()?.config.dataDir, settings.dataDir);
      // The window's page: the web UI, served by the registry at status.uiUrl.
      const page = await fetch(status.uiUrl!, { headers: { Accept: 'text/html' } });
      assert.equal(page.status, 200);
      assert.match(await page.text(), /<div id="root"><\/div>/);
    } finally {
      await host.stop();
    }
    assert.equal(host.status().state, 'stopped');
    assert.equal(host.registry(), null);
  });

  it('reports pushes in progress while a blob is being received (tray status)', async () => {
    const host = createRegistryHost({ createRegistry, token: 't', log: silentLog });
    const settings = await settingsFor(await dataDir());
    await host.start(settings);
    try {
      assert.equal(trayText(host.status()).activity, 'No pushes in progress');
      const push = await pausedPush(`http://127.0.0.1:${settings.port}`, 'team/app');
      await until(() => host.status().uploadsInProgress === 1, 'the upload to be receiving');
      assert.equal(host.status().pushesInProgress, 1);
      assert.equal(trayText(host.status()).activity, '1 push in progress (1 layer)');
      assert.match(trayText(host.status()).tooltip, /running at localhost:\d+, 1 push in progress/);
      assert.equal(await push.finish(), 201);
      assert.equal(host.status().pushesInProgress, 0);
    } finally {
      await host.stop();
    }
  });

  it('quitting lets an upload in flight finish, then releases the data directory', async () => {
    const host = createRegistryHost({ createRegistry, token: 't', log: silentLog });
    const dir = await dataDir();
    const settings = await settingsFor(dir);
    await host.start(settings);
    const base = `http://127.0.0.1:${settings.port}`;
    const push = await pausedPush(base, 'app');
    await until(() => host.status().uploadsInProgress === 1, 'the upload to be receiving');
    assert.ok(await fs.stat(path.join(dir, 'berth.lock')));

    const stopped = host.stop();
    assert.equal(host.status().state, 'stopping');
    assert.match(trayText(host.status()).status, /Stopping: letting 1 upload finish/);
    // No new connections while stopping.
    await assert.rejects(fetch(`${base}/v2/`));
    // The upload in flight still completes.
    assert.equal(await push.finish(), 201);
    await stopped;
    assert.equal(host.status().state, 'stopped');
    await assert.rejects(fs.stat(path.join(dir, 'berth.lock')), { code: 'ENOENT' });

    // The blob is stored, and the data directory can be taken by the next registry.
    const next = createRegistryHost({ createRegistry, token: 't', log: silentLog });
    await next.start(settings);
    try {
      const head = await fetch(`${base}/v2/app/blobs/${push.digest}`, { method: 'HEAD' });
      assert.equal(head.status, 200);
    } finally {
      await next.stop();
    }
  });

  it('an upload that outlasts the grace period is cut, and stopping still ends', { timeout: 60_000 }, async () => {
    const host = createRegistryHost({ createRegistry, token: 't', log: silentLog });
    const dir = await dataDir();
    const settings = await settingsFor(dir);
    await host.start(settings);
    const push = await pausedPush(`http://127.0.0.1:${settings.port}`, 'stalled');
    await until(() => host.status().uploadsInProgress === 1, 'the upload to be receiving');
    await host.stop();
    await assert.rejects(push.response);
    await assert.rejects(fs.stat(path.join(dir, 'berth.lock')), { code: 'ENOENT' });
  });

  it('a failed start says why and leaves nothing running', async () => {
    const host = createRegistryHost({ createRegistry, token: 't', log: silentLog });
    const dir = await dataDir();
    const blocker = path.join(dir, 'not-a-dir');
    await fs.writeFile(blocker, 'x');
    await assert.rejects(host.start({ ...(await settingsFor(dir)), dataDir: blocker }), /cannot use data directory/);
    assert.equal(host.status().state, 'failed');
    assert.match(host.status().error ?? '', /cannot use data directory/);
    assert.equal(host.registry(), null);
    assert.equal(trayText(host.status()).status, 'Not running');
  });
});
