/**
 * The built main bundle (dist/electron/main.js, the composition root in electron/main/index.ts)
 * run under plain Node with the 'electron' module mapped to a recording stand-in
 * (fake-electron/): the registry, the secure window on the served UI, IPC, tray, menu, session
 * guards and quitting, wired as Electron would run them. Electron itself cannot run here.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { CONTENT_SECURITY_POLICY } from '../../electron/main/window.ts';
import { IPC, PRELOAD_IPC, type DesktopSettings } from '../../electron/shared/ipc.ts';
import { READY_LINE } from '../../scripts/launch.js';
import { freePort, ROOT } from '../helpers/berth-process.ts';
import { scratchDirs } from './helpers.ts';

const MAIN = path.join(ROOT, 'dist', 'electron', 'main.js');
const REGISTER = path.join(ROOT, 'test', 'electron', 'fake-electron', 'register.mjs');

interface Recorded {
  what: string;
  [key: string]: unknown;
}

const scratch = scratchDirs();

async function launch(env: NodeJS.ProcessEnv = {}) {
  const work = await scratch('berth-main-');
  // On Linux, Electron's userData is <appData>/Berth (settings.ts desktopUserDataDir).
  const userData = path.join(work, 'config', 'Berth');
  const settings: DesktopSettings = { port: await freePort(), bindAddress: 'loopback', dataDir: path.join(work, 'data'), tls: false, startAtLogin: false };
  await fs.mkdir(userData, { recursive: true });
  await fs.writeFile(path.join(userData, 'settings.json'), JSON.stringify(settings));
  const recordFile = path.join(work, 'record.jsonl');
  await fs.writeFile(recordFile, '');
  const child = spawn(process.execPath, ['--import', REGISTER, MAIN], {
    env: { ...process.env, FAKE_ELECTRON_RECORD: recordFile, FAKE_APP_DATA: path.join(work, 'config'), FAKE_APP_PATH: ROOT, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const records = async (): Promise<Recorded[]> =>
    (await fs.readFile(recordFile, 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l) as Recorded);
  return { child, settings, exited, records, output: () => output };
}

describe('the main bundle\'s contents', () => {
  it('holds the app and the server, never the development scripts (scripts/ is not shipped)', async () => {
    const bundle = await fs.readFile(MAIN, 'utf8');
    // esbuild marks each bundled module with a "// <path>" line.
    const modules = [...bundle.matchAll(/^\/\/ ((?:[\w@.-]+\/)*[\w@.-]+\.(?:ts|js|mjs|cjs))$/gm)].map((m) => m[1]!);
    assert.ok(modules.some((m) => m.startsWith('electron/main/')) && modules.some((m) => m.startsWith('server/')), modules.join('\n'));
    assert.deepEqual(modules.filter((m) => !m.startsWith('electron/') && !m.startsWith('server/')), []);
  });
});

describe('the main bundle under a stand-in Electron', { timeout: 120_000 }, () => {
  it('starts the registry, opens a sandboxed window on the UI, wires IPC, tray and guards, and quits cleanly', async () => {
    assert.ok(await fs.stat(MAIN), 'run npm run build first');
    const run = await launch();
    // The whole ready line (a pipe may deliver it in pieces).
    const readyLine = new RegExp(`${READY_LINE}.*\n`);
    const ready = await Promise.race([
      new Promise<boolean>((resolve) => {
        const check = () => readyLine.test(run.output()) && resolve(true);
        run.child.stdout.on('data', check);
        check();
      }),
      run.exited.then(() => false),
    ]);
    assert.ok(ready, `the app did not say it runs:\n${run.output()}`);
    const base = `http://127.0.0.1:${run.settings.port}`;
    assert.equal((await fetch(`${base}/v2/`)).status, 200);
    assert.match(run.output(), new RegExp(`${READY_LINE} \\(registry at localhost:${run.settings.port}; window: ${base}/\\)`));

    // Wait for everything checked below to be recorded (the stand-in fetches the page, then plays
    // the preload; the tray and the session's handlers come as the app gets there).
    const expected = ['setPath', 'setAppUserModelId', 'BrowserWindow', 'loadURL', 'show', 'token', 'getSettings', 'tray.tooltip', 'Tray', 'applicationMenu', 'permission', 'permissionCheck', 'headers'];
    let recorded = await run.records();
    const deadline = Date.now() + 30_000;
    while (!expected.every((what) => recorded.some((r) => r.what === what)) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
      recorded = await run.records();
    }
    const one = (what: string) => {
      const found = recorded.find((r) => r.what === what);
      assert.ok(found, `${what} was not recorded: ${JSON.stringify(recorded.map((r) => r.what))}`);
      return found;
    };

    assert.equal(one('setPath').name, 'userData', 'moved off the shared data directory before first use');
    assert.equal(one('setAppUserModelId').id, 'dev.berth.desktop');
    const window = one('BrowserWindow') as Recorded & { webPreferences: Record<string, unknown> };
    assert.equal(window.webPreferences.sandbox, true);
    assert.equal(window.webPreferences.contextIsolation, true);
    assert.equal(window.webPreferences.nodeIntegration, false);
    assert.equal(window.webPreferences.preload, path.join(ROOT, 'dist', 'electron', 'preload.cjs'));
    await fs.access(window.webPreferences.preload as string);
    assert.equal(one('loadURL').url, `${base}/`);
    assert.ok(recorded.some((r) => r.what === 'show'), 'the window is shown when ready');

    const token = one('token') as Recorded & { token: string; foreign: unknown; apiStatus: number };
    assert.match(token.token, /^[A-Za-z0-9_-]{43}$/, '32 random bytes, base64url');
    assert.equal(token.foreign, null, 'a foreign frame gets no token');
    assert.equal(token.apiStatus, 200, 'the token opens the management API');
    assert.deepEqual(one('getSettings').settings, run.settings);
    const channels = recorded.filter((r) => r.what.startsWith('ipcMain.')).map((r) => r.channel);
    assert.deepEqual(channels.sort(), [...Object.values(IPC), PRELOAD_IPC.apiToken].sort());

    assert.equal(one('tray.tooltip').text, `Berth — running at localhost:${run.settings.port}`);
    assert.match(String(one('Tray').image), /build\/tray\/tray\.png$/);
    assert.deepEqual(one('applicationMenu').items, ['File', 'editMenu', 'View', 'windowMenu']);
    assert.equal(one('permission').granted, false);
    assert.equal(one('permissionCheck').granted, false);
    assert.deepEqual((one('headers').headers as Record<string, string[]>)['Content-Security-Policy'], [CONTENT_SECURITY_POLICY]);

    // Quit (SIGTERM makes the stand-in call app.quit(), as the tray's Quit does).
    run.child.kill('SIGTERM');
    assert.equal(await run.exited, 0);
    recorded = await run.records();
    const order = recorded.map((r) => r.what).filter((w) => ['quit', 'tray.destroy', 'exit'].includes(w));
    assert.deepEqual(order, ['quit', 'tray.destroy', 'quit', 'exit'], 'the first quit waits for the registry to stop');
    await assert.rejects(fs.stat(path.join(run.settings.dataDir, 'berth.lock')), { code: 'ENOENT' });
    assert.ok(!run.output().includes(token.token), 'the token never appears in the output or the log');
  });

  it('a second instance hands over and quits without starting a registry', async () => {
    const run = await launch({ FAKE_SECOND_INSTANCE: '1' });
    assert.equal(await run.exited, 0);
    assert.match(run.output(), /Berth is already running; showing its window/);
    await assert.rejects(fs.stat(run.settings.dataDir), { code: 'ENOENT' });
  });
});
