/**
 * The desktop lifecycle with Electron's objects faked and everything else real: a real registry on
 * a real port and data directory, real settings files, real sockets holding ports.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { createRegistry } from '../../server/index.ts';
import { createDesktop, type DesktopDeps } from '../../electron/main/desktop.ts';
import type { Prompt } from '../../electron/main/prompt.ts';
import { claimSingleInstance } from '../../electron/main/single-instance.ts';
import { saveSettings } from '../../electron/main/settings.ts';
import { IPC, PRELOAD_IPC, type DesktopSettings } from '../../electron/shared/ipc.ts';
import { freePort, startBerth } from '../helpers/berth-process.ts';
import { pino } from 'pino';
import { FakeApp, FakeTray, FakeWindow, occupy, scratchDirs, silentLog, until } from './helpers.ts';
import { FakeIpcMain } from './ipc-fake.ts';

const dir = scratchDirs();

/** A desktop app over fakes, with its settings file written first. */
async function desktopWith(settings: Partial<DesktopSettings>, answers: string[] = [], overrides: Partial<DesktopDeps> = {}) {
  const userDataDir = await dir('berth-userdata-');
  const full: DesktopSettings = {
    port: await freePort(),
    bindAddress: 'loopback',
    dataDir: path.join(await dir('berth-desktop-data-'), 'data'),
    tls: false,
    startAtLogin: false,
    ...settings,
  };
  await saveSettings(userDataDir, full);
  const app = new FakeApp();
  const ipcMain = new FakeIpcMain();
  const windows: FakeWindow[] = [];
  const trays: FakeTray[] = [];
  const prompts: Prompt<string>[] = [];
  const clipboard: string[] = [];
  const loginItems: boolean[] = [];
  const shown: string[] = [];
  const desktop = createDesktop({
    app,
    platform: 'linux',
    userDataDir,
    log: silentLog,
    createRegistry,
    token: 'launch-secret',
    startHidden: false,
    ipcMain,
    showPrompt: async <A extends string>(prompt: Prompt<A>) => {
      prompts.push(prompt);
      const answer = answers.shift() ?? prompt.cancelAction;
      return answer as A;
    },
    pickDirectory: async () => null,
    openPath: async () => undefined,
    showItemInFolder: (target) => void shown.push(target),
    openExternal: () => undefined,
    writeClipboard: (text) => void clipboard.push(text),
    createWindow: () => {
      const w = new FakeWindow();
      windows.push(w);
      return w;
    },
    createTray: () => {
      const t = new FakeTray();
      trays.push(t);
      return t;
    },
    buildMenu: (template) => template,
    setStartAtLogin: async (enabled) => void loginItems.push(enabled),
    ...overrides,
  });
  return { desktop, app, ipcMain, windows, trays, prompts, clipboard, loginItems, shown, userDataDir, settings: full };
}

/** Starts the app, runs the test body, and quits whatever happened. */
async function running(t: { desktop: { start(): Promise<boolean>; stopped(): Promise<void> }; app: FakeApp }, body: () => Promise<void>): Promise<void> {
  assert.equal(await t.desktop.start(), true);
  try {
    await body();
  } finally {
    await quit(t.app, t.desktop);
  }
}

/** Quits the way Electron does (before-quit, prevented until the registry stopped, then quit again). */
async function quit(app: FakeApp, desktop: { stopped(): Promise<void> }): Promise<void> {
  app.quit();
  await desktop.stopped();
}

describe('the desktop app', () => {
  it('starts the registry, the tray and a window on the UI, and hands the token to our window only', async () => {
    const t = await desktopWith({});
    assert.equal(await t.desktop.start(), true);
    try {
      const url = `http://127.0.0.1:${t.settings.port}/`;
      assert.equal((await fetch(`${url}v2/`)).status, 200);
      assert.equal(t.windows.length, 1);
      assert.deepEqual(t.windows[0]!.loaded, [url]);
      assert.ok(t.windows[0]!.calls.includes('show'), 'shown once ready');
      assert.equal(t.trays[0]!.tooltip, `Berth — running at localhost:${t.settings.port}`);
      const window = t.windows[0]!;
      assert.equal(t.ipcMain.sendSync(PRELOAD_IPC.apiToken, window.event(`${url}settings`)), 'launch-secret');
      assert.equal(t.ipcMain.sendSync(PRELOAD_IPC.apiToken, window.event('https://evil.example/')), null);
      assert.deepEqual(await t.ipcMain.invoke(IPC.getSettings, window.event(url)), t.settings);
      const status = await fetch(`${url}api/status`, { headers: { Authorization: 'Bearer launch-secret' } });
      assert.equal(status.status, 200);
    } finally {
      await quit(t.app, t.desktop);
    }
  });

  it('quitting waits for the registry to stop and release the data directory, then quits', async () => {
    const t = await desktopWith({});
    await t.desktop.start();
    assert.equal(t.app.emitPreventable('before-quit'), true, 'the first quit is held');
    await t.desktop.stopped();
    assert.equal(t.app.quitCalls, 1, 'quit again once stopped');
    assert.equal(t.desktop.host.status().state, 'stopped');
    await assert.rejects(fs.stat(path.join(t.settings.dataDir, 'berth.lock')), { code: 'ENOENT' });
    await assert.rejects(fetch(`http://127.0.0.1:${t.settings.port}/v2/`));
    assert.equal(t.trays[0]!.destroyed, true);
    assert.equal(t.app.emitPreventable('before-quit'), false, 'the second quit goes through');
  });

  it('quitting ends even when the registry does not finish stopping', async () => {
    const stuck: { close(): Promise<void> }[] = [];
    const t = await desktopWith({}, [], {
      quitDeadlineMs: 200,
      // A registry whose close never settles (a hung disk, a bug).
      createRegistry: (config, deps) => {
        const registry = createRegistry(config, deps);
        stuck.push(registry);
        return Object.assign(Object.create(registry) as typeof registry, { close: () => new Promise<void>(() => undefined) });
      },
    });
    await t.desktop.start();
    try {
      await quit(t.app, t.desktop);
      assert.equal(t.app.quitCalls, 2, 'quit again after the deadline');
      assert.equal(t.trays[0]!.destroyed, true);
    } finally {
      for (const registry of stuck) await registry.close();
    }
  });

  it('closing the window keeps Berth running in the tray; "Open Berth" brings a window back', async () => {
    const t = await desktopWith({});
    await running(t, async () => {
      t.windows[0]!.close();
      t.app.emit('window-all-closed');
      assert.equal(t.app.quitCalls, 0);
      assert.equal(t.desktop.host.status().state, 'running');
      t.desktop.openWindow();
      assert.equal(t.windows.length, 2);
    });
  });

  it('a second launch focuses the existing window instead of opening another', async () => {
    const t = await desktopWith({});
    assert.equal(claimSingleInstance(t.app, () => t.desktop.openWindow()), true);
    await t.desktop.start();
    try {
      t.windows[0]!.minimized = true;
      t.app.emit('second-instance');
      assert.equal(t.windows.length, 1);
      assert.deepEqual(t.windows[0]!.calls.slice(-3), ['restore', 'show', 'focus']);
    } finally {
      await quit(t.app, t.desktop);
    }
  });

  it('the second instance itself quits at once, before touching the data directory', () => {
    const app = new FakeApp();
    app.locked = false;
    let focused = 0;
    assert.equal(claimSingleInstance(app, () => focused++), false);
    assert.equal(app.quitCalls, 1);
    assert.equal(app.listeners.has('second-instance'), false);
    assert.equal(focused, 0);
  });

  it('launched at login it stays in the tray until opened', async () => {
    const t = await desktopWith({}, [], { startHidden: true });
    await running(t, async () => {
      assert.equal(t.windows.length, 0);
      assert.equal(t.desktop.host.status().state, 'running');
    });
  });

  it('the tray copies the registry address', async () => {
    const t = await desktopWith({});
    await running(t, async () => {
      const menu = t.trays[0]!.menu as { label?: string; click?: () => void }[];
      const copy = menu.find((item) => item.label?.startsWith('Copy Registry Address'));
      assert.equal(copy?.label, `Copy Registry Address (localhost:${t.settings.port})`);
      copy?.click?.();
      assert.deepEqual(t.clipboard, [`localhost:${t.settings.port}`]);
    });
  });
});

describe('a busy port at start', () => {
  it('shows who holds it, switches to the offered free port in one click and remembers it', async () => {
    const held = await occupy();
    const t = await desktopWith({ port: held.port }, ['switch']);
    try {
      assert.equal(await t.desktop.start(), true);
      assert.equal(t.prompts.length, 1);
      const prompt = t.prompts[0]!;
      assert.equal(prompt.title, 'Port in use');
      assert.match(prompt.message, new RegExp(`^Port ${held.port} is already in use by node \\(process ${process.pid}\\)$`));
      const offered = Number(/^Use Port (\d+)$/.exec(prompt.buttons[0]!.label)?.[1]);
      assert.ok(offered >= 5001 && offered !== held.port);
      assert.equal(t.desktop.host.status().address, `localhost:${offered}`);
      assert.equal((await fetch(`http://127.0.0.1:${offered}/v2/`)).status, 200);
      const saved = JSON.parse(await fs.readFile(path.join(t.userDataDir, 'settings.json'), 'utf8')) as DesktopSettings;
      assert.equal(saved.port, offered);
    } finally {
      await quit(t.app, t.desktop);
      await held.close();
    }
  });

  it('"Try Again" starts once the port is free', async () => {
    const held = await occupy();
    let asked = 0;
    const t = await desktopWith({ port: held.port }, [], {
      // The user frees the port, then clicks Try Again.
      showPrompt: async <A extends string>(prompt: Prompt<A>) => {
        asked++;
        await held.close();
        return prompt.buttons.find((b) => b.label === 'Try Again')!.action;
      },
    });
    try {
      assert.equal(await t.desktop.start(), true);
      assert.equal(asked, 1);
      assert.equal(t.desktop.host.status().address, `localhost:${held.port}`);
    } finally {
      await quit(t.app, t.desktop);
    }
  });

  it('"Quit Berth" quits without a registry', async () => {
    const held = await occupy();
    const t = await desktopWith({ port: held.port }, ['quit']);
    try {
      assert.equal(await t.desktop.start(), false);
      assert.equal(t.app.quitCalls, 1);
      assert.equal(t.desktop.host.status().state, 'failed');
      assert.equal(t.windows.length, 0);
    } finally {
      await held.close();
    }
  });
});

describe('a data directory held by `berth serve`', () => {
  it('says so and lets the user choose another folder', async () => {
    const shared = await dir('berth-shared-');
    const serve = await startBerth({ dataDir: shared });
    const other = path.join(await dir('berth-other-'), 'images');
    const t = await desktopWith({ dataDir: shared }, ['choose-folder'], { pickDirectory: async () => other });
    try {
      assert.equal(await t.desktop.start(), true);
      const prompt = t.prompts[0]!;
      assert.equal(prompt.message, 'Berth cannot use its data folder');
      assert.match(prompt.detail, new RegExp(`in use by another Berth \\(pid ${serve.pid}`));
      assert.equal(t.desktop.settings().dataDir, other);
      assert.equal(t.desktop.host.registry()?.config.dataDir, other);
    } finally {
      await quit(t.app, t.desktop);
      await serve.stop();
    }
  });
});

describe('saving settings', () => {
  it('a new port restarts the registry there and reloads the window at the new URL', async () => {
    const t = await desktopWith({});
    await running(t, async () => {
      const window = t.windows[0]!;
      const oldUrl = `http://127.0.0.1:${t.settings.port}/`;
      const port = await freePort();
      const result = await t.ipcMain.invoke(IPC.saveSettings, window.event(oldUrl), { ...t.settings, port });
      const newUrl = `http://127.0.0.1:${port}/`;
      assert.deepEqual(result, { ok: true, restarted: true, url: newUrl });
      await until(() => window.loaded.at(-1) === newUrl, 'the window to load the new URL');
      assert.equal((await fetch(`${newUrl}v2/`)).status, 200);
      await assert.rejects(fetch(`${oldUrl}v2/`));
      const saved = JSON.parse(await fs.readFile(path.join(t.userDataDir, 'settings.json'), 'utf8')) as DesktopSettings;
      assert.equal(saved.port, port);
      // The old page's origin is no longer ours.
      await assert.rejects(t.ipcMain.invoke(IPC.getSettings, window.event(oldUrl)), /not a Berth window/);
    });
  });

  it('every interface turns auth on: the generated admin password is shown once, copied, never logged', async () => {
    const logged: string[] = [];
    const log = pino({ level: 'trace' }, { write: (line: string) => void logged.push(line) });
    const t = await desktopWith({}, ['copy'], { log });
    await running(t, async () => {
      const result = await t.desktop.handlers.saveSettings({ ...t.settings, bindAddress: 'all' });
      assert.deepEqual(result, { ok: true, restarted: true, url: `http://127.0.0.1:${t.settings.port}/` });
      await until(() => t.clipboard.length === 1, 'the password to be copied');
      const prompt = t.prompts.at(-1)!;
      assert.equal(prompt.title, 'Registry login created');
      const password = /password (\S+)$/.exec(prompt.message)?.[1] ?? '';
      assert.ok(password.length >= 12, prompt.message);
      assert.deepEqual(t.clipboard, [password]);
      assert.equal(t.desktop.host.registry()?.config.auth, 'token');
      assert.equal((await fetch(`http://127.0.0.1:${t.settings.port}/v2/`)).status, 401, 'pushes and pulls need a login now');
      assert.ok(!logged.join('').includes(password), 'the password is not in the log');
      assert.ok(!logged.join('').includes('launch-secret'), 'nor the management token');
    });
  });

  it('with TLS the window is served over HTTPS and trusts exactly Berth’s own CA', async () => {
    const t = await desktopWith({ tls: true });
    await running(t, async () => {
      const url = `https://127.0.0.1:${t.settings.port}/`;
      assert.deepEqual(t.windows[0]!.loaded, [url]);
      const ca = await fs.readFile(path.join(t.settings.dataDir, 'tls', 'ca.crt'), 'utf8');
      assert.equal(await t.desktop.trustsCertificate(url, ca), true);
      assert.equal(await t.desktop.trustsCertificate('https://example.com/', ca), false);
      const server = await fs.readFile(path.join(t.settings.dataDir, 'tls', 'server.crt'), 'utf8');
      assert.equal(await t.desktop.trustsCertificate(url, server), false, 'not the server certificate itself');
      await t.desktop.handlers.revealCaCertificate();
      assert.deepEqual(t.shown, [path.join(t.settings.dataDir, 'tls', 'ca.crt')]);
    });
  });

  it('revealing the CA certificate with TLS off says why there is none', async () => {
    const t = await desktopWith({});
    await running(t, async () => {
      await assert.rejects(t.desktop.handlers.revealCaCertificate(), /no CA certificate yet: it is created when TLS is turned on/);
      assert.deepEqual(t.shown, []);
    });
  });

  it('start at login changes without a restart', async () => {
    const t = await desktopWith({});
    await running(t, async () => {
      const result = await t.desktop.handlers.saveSettings({ ...t.settings, startAtLogin: true });
      assert.deepEqual(result, { ok: true, restarted: false, url: `http://127.0.0.1:${t.settings.port}/` });
      assert.deepEqual(t.loginItems, [true]);
      assert.equal(t.desktop.settings().startAtLogin, true);
    });
  });

  it('bad settings come back with a message per field and change nothing', async () => {
    const t = await desktopWith({});
    await running(t, async () => {
      const result = await t.desktop.handlers.saveSettings({ ...t.settings, port: 70000, dataDir: 'relative' });
      assert.equal(result.ok, false);
      assert.deepEqual(Object.keys(result.ok ? {} : result.errors).sort(), ['dataDir', 'port']);
      assert.deepEqual(t.desktop.settings(), t.settings);
    });
  });

  it('a port in use is refused before anything stops, naming who holds it', async () => {
    const t = await desktopWith({});
    await t.desktop.start();
    const held = await occupy();
    try {
      const result = await t.desktop.handlers.saveSettings({ ...t.settings, port: held.port });
      assert.deepEqual(result, { ok: false, errors: { port: `port ${held.port} is already in use by node (process ${process.pid})` } });
      assert.equal(t.desktop.host.status().address, `localhost:${t.settings.port}`);
    } finally {
      await held.close();
      await quit(t.app, t.desktop);
    }
  });

  it('a data folder that is a file is refused before anything stops', async () => {
    const t = await desktopWith({});
    await t.desktop.start();
    const file = path.join(await dir('berth-file-'), 'a-file');
    await fs.writeFile(file, 'x');
    try {
      assert.deepEqual(await t.desktop.handlers.saveSettings({ ...t.settings, dataDir: file }), {
        ok: false,
        errors: { dataDir: `${file} is a file, not a folder` },
      });
      assert.deepEqual(await t.desktop.handlers.saveSettings({ ...t.settings, dataDir: path.join(file, 'data') }), {
        ok: false,
        errors: { dataDir: `${path.join(file, 'data')} is inside a file, not a folder` },
      });
      assert.equal(t.desktop.host.registry()?.config.dataDir, t.settings.dataDir);
    } finally {
      await quit(t.app, t.desktop);
    }
  });

  it('a data folder the registry cannot take (held by `berth serve`) is rolled back to the previous one', async () => {
    const t = await desktopWith({});
    await t.desktop.start();
    const held = await dir('berth-held-');
    const serve = await startBerth({ dataDir: held });
    try {
      const result = await t.desktop.handlers.saveSettings({ ...t.settings, dataDir: held });
      assert.equal(result.ok, false);
      assert.match(result.ok ? '' : (result.errors.dataDir ?? ''), new RegExp(`in use by another Berth \\(pid ${serve.pid}`));
      assert.equal(t.desktop.host.status().state, 'running');
      assert.equal(t.desktop.host.registry()?.config.dataDir, t.settings.dataDir);
      assert.equal((await fetch(`http://127.0.0.1:${t.settings.port}/v2/`)).status, 200);
      assert.deepEqual(t.desktop.settings(), t.settings);
    } finally {
      await quit(t.app, t.desktop);
      await serve.stop();
    }
  });
});
