// A stand-in for Electron's main-process API, only as much as electron/main/index.ts touches. It
// records what the app does (FAKE_ELECTRON_RECORD, JSON lines) and acts as Electron would where the
// test needs it: the window's loadURL really fetches the page; SIGTERM quits like the tray's Quit.
import { appendFileSync } from 'node:fs';
import { EventEmitter } from 'node:events';

const record = (what, detail = {}) => appendFileSync(process.env.FAKE_ELECTRON_RECORD, `${JSON.stringify({ what, ...detail })}\n`);

class FakeApp extends EventEmitter {
  isPackaged = false;
  dock = undefined;
  #ready = Promise.resolve();
  setAppUserModelId(id) {
    record('setAppUserModelId', { id });
  }
  getAppPath() {
    return process.env.FAKE_APP_PATH;
  }
  #paths = { appData: process.env.FAKE_APP_DATA };
  setPath(name, value) {
    record('setPath', { name, value });
    this.#paths[name] = value;
  }
  getPath(name) {
    if (this.#paths[name]) return this.#paths[name];
    if (name === 'logs') return `${this.#paths.userData}/logs`;
    throw new Error(`getPath(${name}) is not faked`);
  }
  getLoginItemSettings() {
    return { openAtLogin: false, wasOpenedAtLogin: false };
  }
  setLoginItemSettings(settings) {
    record('setLoginItemSettings', settings);
  }
  requestSingleInstanceLock() {
    return process.env.FAKE_SECOND_INSTANCE !== '1';
  }
  whenReady() {
    return this.#ready;
  }
  quit() {
    record('quit');
    let prevented = false;
    this.emit('before-quit', { preventDefault: () => (prevented = true) });
    // Like Electron, the process ends after quit() returns (windows close, will-quit, quit).
    if (!prevented) {
      record('exit');
      setImmediate(() => process.exit(0));
    }
  }
}

export const app = new FakeApp();
process.on('SIGTERM', () => app.quit());

const handlers = new Map();
const listeners = new Map();
export const ipcMain = {
  handle(channel, listener) {
    handlers.set(channel, listener);
    record('ipcMain.handle', { channel });
  },
  on(channel, listener) {
    listeners.set(channel, listener);
    record('ipcMain.on', { channel });
  },
};

let nextId = 1;
export class BrowserWindow extends EventEmitter {
  constructor(options) {
    super();
    record('BrowserWindow', { webPreferences: options.webPreferences, title: options.title, show: options.show });
    const contents = new EventEmitter();
    contents.id = nextId++;
    contents.setWindowOpenHandler = (handler) => (contents.openHandler = handler);
    contents.reload = () => record('reload');
    this.webContents = contents;
  }
  async loadURL(url) {
    const response = await fetch(url);
    record('loadURL', { url, status: response.status });
    // The preload's first act: ask for the token, as the main frame of this window on this URL.
    const event = { sender: { id: this.webContents.id }, senderFrame: { url, parent: null }, returnValue: undefined };
    listeners.get('berth:api-token')?.(event);
    const foreign = { sender: { id: this.webContents.id }, senderFrame: { url: 'https://elsewhere.example/', parent: null }, returnValue: undefined };
    listeners.get('berth:api-token')?.(foreign);
    const apiStatus = await fetch(new URL('/api/status', url), { headers: { Authorization: `Bearer ${event.returnValue}` } });
    record('token', { token: event.returnValue, foreign: foreign.returnValue, apiStatus: apiStatus.status });
    session.defaultSession.headersListener?.({ url, responseHeaders: { 'Content-Type': ['text/html'] } }, (result) =>
      record('headers', { headers: result.responseHeaders }),
    );
    const settings = await handlers.get('berth:get-settings')({ sender: event.sender, senderFrame: event.senderFrame });
    record('getSettings', { settings });
    this.emit('ready-to-show');
  }
  isDestroyed() {
    return false;
  }
  isMinimized() {
    return false;
  }
  restore() {}
  show() {
    record('show');
  }
  focus() {}
}

export class Tray {
  constructor(image) {
    record('Tray', { image: image.path });
  }
  setToolTip(text) {
    record('tray.tooltip', { text });
  }
  setContextMenu(menu) {
    record('tray.menu', { labels: menu.template.map((i) => i.label ?? i.role ?? i.type) });
  }
  on() {}
  destroy() {
    record('tray.destroy');
  }
}

export const Menu = {
  buildFromTemplate: (template) => ({ template }),
  setApplicationMenu: (menu) => record('applicationMenu', { items: menu.template.map((i) => i.label ?? i.role) }),
};

export const nativeImage = {
  createFromPath: (path) => ({ path, setTemplateImage() {} }),
};

export const session = {
  defaultSession: {
    setPermissionRequestHandler(handler) {
      handler(null, 'media', (granted) => record('permission', { permission: 'media', granted }));
    },
    setPermissionCheckHandler(handler) {
      record('permissionCheck', { granted: handler(null, 'clipboard-read') });
    },
    webRequest: {
      onHeadersReceived(listener) {
        session.defaultSession.headersListener = listener;
      },
    },
  },
};

export const dialog = {
  async showMessageBox(...args) {
    const options = args.at(-1);
    record('dialog', { message: options.message, buttons: options.buttons });
    return { response: options.cancelId };
  },
  async showOpenDialog() {
    return { canceled: true, filePaths: [] };
  },
};

export const shell = {
  openPath: async () => '',
  showItemInFolder: () => undefined,
  openExternal: async (url) => record('openExternal', { url }),
};

export const clipboard = { writeText: (text) => record('clipboard', { text }) };
