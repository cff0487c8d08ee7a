/** Start at login (XDG autostart on Linux, login items elsewhere), the tray menu, and message boxes. */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { autostartEntry, autostartFile, quoteExecArg, setStartAtLogin } from '../../electron/main/login-items.ts';
import { actionOf, messageBoxOptions, type Prompt } from '../../electron/main/prompt.ts';
import type { HostStatus } from '../../electron/main/registry-host.ts';
import { setupTray, trayMenu, trayText } from '../../electron/main/tray.ts';
import { FakeTray, scratchDirs } from './helpers.ts';

const running: HostStatus = {
  state: 'running',
  uiUrl: 'http://127.0.0.1:5000/',
  address: 'localhost:5000',
  pushesInProgress: 0,
  uploadsInProgress: 0,
  error: null,
};

describe('start at login', () => {
  const scratch = scratchDirs();

  it('on Linux writes and removes an XDG autostart entry that starts Berth hidden', async () => {
    const config = await scratch('berth-xdg-');
    const deps = {
      platform: 'linux' as const,
      setLoginItemSettings: () => assert.fail('not on Linux'),
      command: ['/opt/Berth/berth-desktop'],
      env: { XDG_CONFIG_HOME: config },
    };
    await setStartAtLogin(true, deps);
    const file = path.join(config, 'autostart', 'berth.desktop');
    assert.equal(autostartFile(deps.env), file);
    const entry = await fs.readFile(file, 'utf8');
    assert.match(entry, /^\[Desktop Entry\]\n/);
    assert.match(entry, /^Exec=\/opt\/Berth\/berth-desktop --hidden$/m);
    assert.match(entry, /^Type=Application$/m);
    await setStartAtLogin(false, deps);
    await assert.rejects(fs.stat(file), { code: 'ENOENT' });
    await setStartAtLogin(false, deps);
  });

  it('the autostart file defaults to ~/.config/autostart', () => {
    assert.equal(autostartFile({}, '/home/ana'), '/home/ana/.config/autostart/berth.desktop');
    assert.equal(autostartFile({ XDG_CONFIG_HOME: 'relative' }, '/home/ana'), '/home/ana/.config/autostart/berth.desktop');
  });

  it('quotes Exec arguments as the Desktop Entry Specification says', () => {
    assert.equal(quoteExecArg('/usr/bin/berth'), '/usr/bin/berth');
    assert.equal(quoteExecArg('/home/ana/My Apps/Berth.AppImage'), '"/home/ana/My Apps/Berth.AppImage"');
    // Quoting escapes $ and " with a backslash; the file's string escaping doubles each backslash.
    assert.equal(quoteExecArg('/a/$HOME/"b"'), String.raw`"/a/\\$HOME/\\"b\\""`);
    assert.equal(quoteExecArg(String.raw`C:\x y`), String.raw`"C:\\\\x y"`);
    assert.equal(quoteExecArg('/a/100%'), '/a/100%%');
    assert.match(autostartEntry(['/x/electron', '/src/berth']), /^Exec=\/x\/electron \/src\/berth --hidden$/m);
  });

  it('on Windows registers a login item started hidden; on macOS a plain login item', async () => {
    const calls: unknown[] = [];
    const setLoginItemSettings = (s: unknown) => void calls.push(s);
    await setStartAtLogin(true, { platform: 'win32', setLoginItemSettings, command: ['C:\\Berth\\Berth.exe'] });
    await setStartAtLogin(false, { platform: 'darwin', setLoginItemSettings, command: ['/Applications/Berth.app'] });
    assert.deepEqual(calls, [{ openAtLogin: true, args: ['--hidden'] }, { openAtLogin: false }]);
  });
});

describe('tray status', () => {
  it('says where the registry runs and what it is receiving', () => {
    assert.deepEqual(trayText(running), {
      tooltip: 'Berth — running at localhost:5000',
      status: 'Running at localhost:5000',
      activity: 'No pushes in progress',
    });
    assert.deepEqual(trayText({ ...running, pushesInProgress: 2, uploadsInProgress: 5 }), {
      tooltip: 'Berth — running at localhost:5000, 2 pushes in progress',
      status: 'Running at localhost:5000',
      activity: '2 pushes in progress (5 layers)',
    });
    assert.equal(trayText({ ...running, state: 'starting', address: null }).status, 'Starting…');
    assert.equal(trayText({ ...running, state: 'stopping', uploadsInProgress: 3 }).status, 'Stopping: letting 3 uploads finish…');
    assert.equal(trayText({ ...running, state: 'stopping' }).status, 'Stopping…');
    assert.deepEqual(trayText({ ...running, state: 'failed', error: 'port 5000 is already in use' }), {
      tooltip: 'Berth — not running',
      status: 'Not running',
      activity: 'port 5000 is already in use',
    });
  });

  it('the menu: status, open, copy address, start at login, quit', () => {
    const done: string[] = [];
    const menu = trayMenu(running, true, {
      openWindow: () => done.push('open'),
      copyAddress: () => done.push('copy'),
      setStartAtLogin: (on) => done.push(`login:${on}`),
      quit: () => done.push('quit'),
    });
    assert.deepEqual(menu.filter((i) => i.type !== 'separator').map((i) => i.label), [
      'Running at localhost:5000',
      'No pushes in progress',
      'Open Berth',
      'Copy Registry Address (localhost:5000)',
      'Start at Login',
      'Quit Berth',
    ]);
    assert.equal(menu[0]?.enabled, false, 'status lines are not clickable');
    const byLabel = (label: string) => menu.find((i) => i.label?.startsWith(label))!;
    assert.equal(byLabel('Start at Login').checked, true);
    // Electron calls click(menuItem, window, event); the actions read only menuItem.checked.
    byLabel('Open Berth').click?.({} as never, undefined, {} as never);
    byLabel('Copy Registry Address').click?.({} as never, undefined, {} as never);
    byLabel('Start at Login').click?.({ checked: false } as never, undefined, {} as never);
    byLabel('Quit Berth').click?.({} as never, undefined, {} as never);
    assert.deepEqual(done, ['open', 'copy', 'login:false', 'quit']);
  });

  it('copying the address is disabled while the registry is not running', () => {
    const menu = trayMenu({ ...running, state: 'stopped', address: null }, false, {
      openWindow() {},
      copyAddress() {},
      setStartAtLogin() {},
      quit() {},
    });
    assert.equal(menu.find((i) => i.label === 'Copy Registry Address')?.enabled, false);
  });

  it('the icon follows the host: tooltip and menu are rebuilt on a visible change only', () => {
    let status = running;
    let notify = () => {};
    const tray = new FakeTray();
    let builds = 0;
    const handle = setupTray({
      tray,
      buildMenu: (template) => (builds++, template),
      status: () => status,
      startAtLogin: () => false,
      onChange: (listener) => ((notify = listener), () => undefined),
      actions: { openWindow() {}, copyAddress() {}, setStartAtLogin() {}, quit() {} },
      platform: 'linux',
    });
    assert.equal(tray.tooltip, 'Berth — running at localhost:5000');
    notify();
    assert.equal(builds, 1, 'nothing changed: the open menu is left alone');
    status = { ...running, pushesInProgress: 1, uploadsInProgress: 1 };
    notify();
    assert.equal(builds, 2);
    assert.equal(tray.tooltip, 'Berth — running at localhost:5000, 1 push in progress');
    handle.destroy();
    assert.equal(tray.destroyed, true);
  });
});

describe('message boxes', () => {
  const prompt: Prompt<'switch' | 'retry' | 'quit'> = {
    type: 'warning',
    title: 'Port in use',
    message: 'Port 5000 is already in use by the AirPlay Receiver',
    detail: 'd',
    buttons: [
      { label: 'Use Port 5001', action: 'switch' },
      { label: 'Try Again', action: 'retry' },
      { label: 'Quit Berth', action: 'quit' },
    ],
    cancelAction: 'quit',
  };

  it('become Electron message box options with the default first and Esc on the cancel action', () => {
    assert.deepEqual(messageBoxOptions(prompt), {
      type: 'warning',
      title: 'Port in use',
      message: 'Port 5000 is already in use by the AirPlay Receiver',
      detail: 'd',
      buttons: ['Use Port 5001', 'Try Again', 'Quit Berth'],
      defaultId: 0,
      cancelId: 2,
      noLink: true,
    });
  });

  it('map the clicked button back to its action', () => {
    assert.equal(actionOf(prompt, 0), 'switch');
    assert.equal(actionOf(prompt, 1), 'retry');
    assert.equal(actionOf(prompt, 7), 'quit');
  });
});
