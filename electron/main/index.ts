/**
 * Electron main: the composition root of the desktop app. Everything Electron-specific is wired
 * here and handed to plain modules (desktop.ts and friends), which the tests drive with fakes.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { app, BrowserWindow, clipboard, dialog, ipcMain, Menu, nativeImage, session, shell, Tray } from 'electron';
// scripts/start.js waits for a line starting with READY_LINE to know the app started.
import { READY_LINE } from '../shared/ready.js';
import { createRegistry } from '../../server/index.ts';
import { tuneHeap } from '../../server/storage/transient-memory.ts';
import { createDesktop, type WindowLike } from './desktop.ts';
import { createDesktopLogger } from './log.ts';
import { HIDDEN_FLAG, setStartAtLogin } from './login-items.ts';
import { appMenuTemplate } from './menu.ts';
import { actionOf, messageBoxOptions, type ShowPrompt } from './prompt.ts';
import { desktopUserDataDir } from './settings.ts';
import { claimSingleInstance } from './single-instance.ts';
import { isSafeExternalUrl, originOf, windowOptions, withCsp } from './window.ts';

// What bin/berth.js gets from --expose-gc (uploads free their request buffers young) and the heap's
// growth capped (see there).
tuneHeap();
// Before anything reads it (the single-instance lock lives there too).
app.setPath('userData', desktopUserDataDir(app.getPath('appData'), process.platform));
// The same id as electron-builder.yml appId: Windows groups the taskbar and notifications by it.
app.setAppUserModelId('dev.berth.desktop');

const here = path.dirname(fileURLToPath(import.meta.url));
const resources = app.isPackaged ? process.resourcesPath : path.join(app.getAppPath(), 'build');
const log = createDesktopLogger({ logsDir: app.isPackaged ? app.getPath('logs') : null });
// A fresh secret per launch: the window's key to the management API, never written anywhere.
const token = randomBytes(32).toString('base64url');
let mainWindow: BrowserWindow | null = null;

const showPrompt: ShowPrompt = async (prompt) => {
  const options = messageBoxOptions(prompt);
  const parent = mainWindow && !mainWindow.isDestroyed() ? mainWindow : null;
  const { response } = parent ? await dialog.showMessageBox(parent, options) : await dialog.showMessageBox(options);
  return actionOf(prompt, response);
};

const desktop = createDesktop({
  app,
  platform: process.platform,
  userDataDir: app.getPath('userData'),
  log,
  createRegistry,
  token,
  startHidden: process.argv.includes(HIDDEN_FLAG) || (process.platform === 'darwin' && app.getLoginItemSettings().wasOpenedAtLogin),
  ipcMain,
  showPrompt,
  async pickDirectory() {
    const options = { title: 'Choose a folder for Berth’s images', properties: ['openDirectory', 'createDirectory', 'promptToCreate'] as const };
    const parent = mainWindow && !mainWindow.isDestroyed() ? mainWindow : null;
    const result = parent
      ? await dialog.showOpenDialog(parent, { ...options, properties: [...options.properties] })
      : await dialog.showOpenDialog({ ...options, properties: [...options.properties] });
    return result.canceled ? null : (result.filePaths[0] ?? null);
  },
  async openPath(target) {
    const error = await shell.openPath(target);
    if (error) throw new Error(error);
  },
  showItemInFolder: (target) => shell.showItemInFolder(target),
  openExternal(url) {
    if (isSafeExternalUrl(url)) shell.openExternal(url).catch((err: Error) => log.warn({ err: err.message }, 'could not open a link'));
  },
  writeClipboard: (text) => clipboard.writeText(text),
  createWindow(): WindowLike {
    const win = new BrowserWindow(
      windowOptions({
        preload: path.join(here, 'preload.cjs'),
        devTools: !app.isPackaged,
        ...(process.platform === 'linux' ? { icon: path.join(resources, 'icon.png') } : {}),
      }),
    );
    mainWindow = win;
    win.on('closed', () => {
      if (mainWindow === win) mainWindow = null;
    });
    // A crashed renderer (out of memory, a GPU fault) gets the UI back instead of a blank window.
    win.webContents.on('render-process-gone', (_event, details) => {
      log.warn({ reason: details.reason }, 'the window crashed; reloading');
      if (details.reason !== 'clean-exit' && !win.isDestroyed()) win.webContents.reload();
    });
    return win;
  },
  createTray() {
    const file = process.platform === 'darwin' ? 'trayTemplate.png' : 'tray.png';
    const image = nativeImage.createFromPath(path.join(resources, 'tray', file));
    // macOS draws template images in the menu bar's colour (dark or light).
    if (process.platform === 'darwin') image.setTemplateImage(true);
    return new Tray(image);
  },
  buildMenu: (template) => Menu.buildFromTemplate(template),
  setStartAtLogin: (enabled) =>
    setStartAtLogin(enabled, {
      platform: process.platform,
      setLoginItemSettings: (s) => app.setLoginItemSettings(s),
      command: [process.env.APPIMAGE ?? process.execPath, ...(app.isPackaged ? [] : [app.getAppPath()])],
    }),
  ...(process.platform === 'darwin' ? { setDockVisible: (visible: boolean) => void (visible ? app.dock?.show() : app.dock?.hide()) } : {}),
});

if (!claimSingleInstance(app, () => desktop.openWindow())) {
  console.log('berth: Berth is already running; showing its window');
} else {
  await app.whenReady();
  const origin = () => {
    const url = desktop.host.status().uiUrl;
    return url ? originOf(url) : null;
  };
  // The UI needs no camera, location, notifications or clipboard permission: the preload's
  // copyToClipboard goes through main.
  session.defaultSession.setPermissionRequestHandler((_contents, _permission, callback) => callback(false));
  session.defaultSession.setPermissionCheckHandler(() => false);
  app.on('certificate-error', (event, _contents, url, _error, certificate, callback) => {
    event.preventDefault();
    desktop.trustsCertificate(url, certificate.issuerCert?.data).then(callback, () => callback(false));
  });
  session.defaultSession.webRequest.onHeadersReceived((details, callback) => {
    callback({ responseHeaders: withCsp(details.url, origin(), details.responseHeaders) });
  });
  Menu.setApplicationMenu(
    Menu.buildFromTemplate(
      appMenuTemplate({
        platform: process.platform,
        devTools: !app.isPackaged,
        openDataFolder: () => void desktop.handlers.openDataFolder().catch((err: Error) => log.warn({ err: err.message }, 'could not open the data folder')),
      }),
    ),
  );
  if (await desktop.start()) {
    console.log(`${READY_LINE} (registry at ${desktop.host.status().address}; window: ${desktop.host.status().uiUrl})`);
  }
}
