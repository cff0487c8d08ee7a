/**
 * The desktop app's lifecycle, with every Electron API injected (index.ts passes the real ones,
 * tests pass fakes): settings -> registry (recovering from a busy port or an unusable data
 * directory with a dialog) -> IPC -> tray -> window; settings changes that need it restart the
 * registry and reload the window at the new URL; quitting lets in-flight uploads finish first.
 */
import fs from 'node:fs/promises';
import type { MenuItemConstructorOptions } from 'electron';
import type { Logger } from 'pino';
import type { BerthConfig } from '../../server/config.ts';
import type { Registry, RegistryDeps } from '../../server/index.ts';
import { StoragePaths } from '../../server/storage/paths.ts';
import { TlsFiles } from '../../server/tls/store.ts';
import type { DesktopSettings, SaveSettingsResult, SettingsErrors } from '../shared/ipc.ts';
import { setupIpc, type DesktopHandlers, type IpcMainLike } from './ipc.ts';
import {
  describePortHolder,
  findFreePort,
  isPortFree,
  lookupListeners,
  portConflictPrompt,
  type PortCheck,
  type ProcessLookup,
} from './port-conflict.ts';
import type { Prompt, ShowPrompt } from './prompt.ts';
import { createRegistryHost, type HostStatus, type InitialAdmin, type RegistryHost } from './registry-host.ts';
import { bindHost, DESKTOP_SHUTDOWN_GRACE_SECONDS, loadSettings, restartNeeded, saveSettings, validateSettings } from './settings.ts';
import { setupTray, type TrayHandle, type TrayLike } from './tray.ts';
import { guardContents, isOwnCertificate, originOf, type GuardedContents } from './window.ts';

/** The parts of Electron's app the lifecycle uses. */
export interface DesktopAppLike {
  on(event: 'before-quit', listener: (event: { preventDefault(): void }) => void): unknown;
  on(event: 'window-all-closed', listener: () => void): unknown;
  on(event: 'activate', listener: () => void): unknown;
  quit(): void;
}

/** The parts of a BrowserWindow the lifecycle uses. */
export interface WindowLike {
  readonly webContents: GuardedContents & { readonly id: number };
  loadURL(url: string): Promise<void>;
  once(event: 'ready-to-show', listener: () => void): unknown;
  on(event: 'closed', listener: () => void): unknown;
  isDestroyed(): boolean;
  isMinimized(): boolean;
  restore(): void;
  show(): void;
  focus(): void;
}

export interface DesktopDeps {
  app: DesktopAppLike;
  platform: NodeJS.Platform;
  /** app.getPath('userData'): where settings.json lives. */
  userDataDir: string;
  log: Logger;
  createRegistry: (config: BerthConfig, deps?: RegistryDeps) => Registry;
  /** The per-launch management token. */
  token: string;
  /** Launched at login: tray only until the user opens the window. */
  startHidden: boolean;
  ipcMain: IpcMainLike;
  showPrompt: ShowPrompt;
  /** A folder chosen in the system dialog, or null. */
  pickDirectory(): Promise<string | null>;
  /** shell.openPath: opens a folder in the file manager; throws with the OS's message on failure. */
  openPath(target: string): Promise<void>;
  /** shell.showItemInFolder. */
  showItemInFolder(target: string): void;
  /** shell.openExternal (URLs are validated before). */
  openExternal(url: string): void;
  writeClipboard(text: string): void;
  createWindow(): WindowLike;
  /** A tray icon, or null where the desktop has none. */
  createTray(): TrayLike | null;
  buildMenu(template: MenuItemConstructorOptions[]): unknown;
  setStartAtLogin(enabled: boolean): Promise<void>;
  /** Tells the dock (macOS) whether a window is open; absent elsewhere. */
  setDockVisible?(visible: boolean): void;
  /** Whether a port is free for a bind address (default: try to listen there). */
  isPortFree?: (port: number, bindAddress: DesktopSettings['bindAddress']) => Promise<boolean>;
  lookupPortHolder?: ProcessLookup;
  /** How long quitting waits for the registry to stop before quitting anyway (default QUIT_DEADLINE_MS). */
  quitDeadlineMs?: number;
}

/**
 * Quitting always ends: after the uploads' grace period (settings.ts) and time to close the index,
 * Berth quits even if the registry has not finished stopping. Nothing is lost: the data-directory
 * lock of a gone process is taken over, and an index not closed cleanly is rebuilt from disk.
 */
export const QUIT_DEADLINE_MS = (DESKTOP_SHUTDOWN_GRACE_SECONDS + 10) * 1000;

export interface Desktop {
  /** Loads the settings, starts the registry (asking the user on trouble), sets up IPC, tray and window. False: the user chose to quit. */
  start(): Promise<boolean>;
  openWindow(): void;
  handlers: DesktopHandlers;
  host: RegistryHost;
  settings(): DesktopSettings;
  /** Resolves once quitting has stopped the registry. */
  stopped(): Promise<void>;
  /**
   * Whether the window may accept a certificate Chromium does not trust: only for our own origin
   * with TLS on, and only a certificate issued by Berth's local CA in the data directory.
   */
  trustsCertificate(url: string, issuerPem: string | undefined): Promise<boolean>;
}

type StartAction = 'switch' | 'retry' | 'quit' | 'choose-folder';

/** Where the registry keeps its local CA certificate (server/tls/store.ts). */
function caCertificateFile(dataDir: string): string {
  return new TlsFiles(new StoragePaths(dataDir).tlsDir).caCert;
}

/** Why a data directory cannot be used, found before stopping the running registry; null if none. */
export async function dataDirProblem(dir: string): Promise<string | null> {
  try {
    const stat = await fs.stat(dir);
    return stat.isDirectory() ? null : `${dir} is a file, not a folder`;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return null;
    if (code === 'ENOTDIR') return `${dir} is inside a file, not a folder`;
    if (code === 'EACCES' || code === 'EPERM') return `${dir} cannot be read: permission denied`;
    return `cannot use ${dir}: ${(err as Error).message}`;
  }
}

/** Which settings field a registry start failure is about (server/index.ts StartupError messages). */
export function fieldOfStartError(message: string): keyof DesktopSettings {
  if (message.startsWith('cannot use data directory')) return 'dataDir';
  if (/port \d+|ports below/.test(message)) return 'port';
  return 'bindAddress';
}

export function createDesktop(deps: DesktopDeps): Desktop {
  const portFree = deps.isPortFree ?? ((port, bindAddress) => isPortFree(port, bindHost(bindAddress)));
  /** Checks ports for the bind address of the settings in use. */
  const isFree: PortCheck = (port) => portFree(port, settings.bindAddress);
  const lookup = deps.lookupPortHolder ?? lookupListeners;
  const host = createRegistryHost({ createRegistry: deps.createRegistry, token: deps.token, log: deps.log });
  let settings: DesktopSettings;
  let window: WindowLike | null = null;
  let tray: TrayHandle | null = null;
  /** Settings changes and quitting run one at a time. */
  let queue: Promise<unknown> = Promise.resolve();
  let quitting: Promise<void> | null = null;
  let quitDone = false;

  const serial = <T>(task: () => Promise<T>): Promise<T> => {
    const run = queue.then(task, task);
    queue = run.catch(() => undefined);
    return run;
  };
  const origin = () => {
    const url = host.status().uiUrl;
    return url ? originOf(url) : null;
  };

  async function persist(next: DesktopSettings): Promise<void> {
    settings = next;
    await saveSettings(deps.userDataDir, next);
  }

  /** Starts the registry; on failure explains it and offers the fixes, until it runs or the user quits. */
  async function startRegistry(): Promise<boolean> {
    for (;;) {
      try {
        const { initialAdmin } = await host.start(settings);
        await showInitialAdmin(initialAdmin);
        return true;
      } catch (err) {
        const message = (err as Error).message;
        deps.log.warn({ err: message }, 'the registry could not start');
        const { prompt, offeredPort } = await startFailurePrompt(message);
        const action = await deps.showPrompt(prompt);
        if (action === 'quit') return false;
        if (action === 'switch' && offeredPort !== null) await persist({ ...settings, port: offeredPort });
        if (action === 'choose-folder') {
          const dir = await deps.pickDirectory();
          if (dir) await persist({ ...settings, dataDir: dir });
        }
      }
    }
  }

  /** The dialog for a failed start, and the port it offers to switch to (a busy port only). */
  async function startFailurePrompt(message: string): Promise<{ prompt: Prompt<StartAction>; offeredPort: number | null }> {
    const field = fieldOfStartError(message);
    if (field !== 'dataDir' && !(await isFree(settings.port))) {
      const [holder, freePort] = await Promise.all([
        describePortHolder(settings.port, deps.platform, lookup),
        findFreePort(settings.port, isFree),
      ]);
      return { prompt: portConflictPrompt({ port: settings.port, holder, freePort }), offeredPort: freePort };
    }
    return { prompt: startErrorPrompt(message, field), offeredPort: null };
  }

  function startErrorPrompt(message: string, field: keyof DesktopSettings): Prompt<StartAction> {
    if (field === 'dataDir') {
      return {
        type: 'error',
        title: 'Data folder unavailable',
        message: 'Berth cannot use its data folder',
        detail: `${message.replace(/^cannot use data directory /, '')}\n\nIf \`berth serve\` is running with this folder, stop it and try again, or choose another folder.`,
        buttons: [
          { label: 'Try Again', action: 'retry' },
          { label: 'Choose Another Folder…', action: 'choose-folder' },
          { label: 'Quit Berth', action: 'quit' },
        ],
        cancelAction: 'quit',
      };
    }
    return {
      type: 'error',
      title: 'Registry not started',
      message: 'Berth could not start its registry',
      detail: message,
      buttons: [
        { label: 'Try Again', action: 'retry' },
        { label: 'Quit Berth', action: 'quit' },
      ],
      cancelAction: 'quit',
    };
  }

  /** The generated admin password, shown once (never logged): the user copies it or writes it down. */
  async function showInitialAdmin(admin: InitialAdmin | null): Promise<void> {
    if (!admin) return;
    const action = await deps.showPrompt({
      type: 'info',
      title: 'Registry login created',
      message: `The registry now asks for a login: user "${admin.name}", password ${admin.password}`,
      detail:
        `Berth listens on every network interface, so pushing and pulling need \`docker login ${host.status().address ?? ''}\` first. ` +
        'This password is shown only this once: copy it now and keep it in your password manager.',
      buttons: [
        { label: 'Copy Password', action: 'copy' },
        { label: 'Done', action: 'done' },
      ],
      cancelAction: 'done',
    });
    if (action === 'copy') deps.writeClipboard(admin.password);
  }

  function openWindow(): void {
    if (quitting) return;
    if (window && !window.isDestroyed()) {
      if (window.isMinimized()) window.restore();
      window.show();
      window.focus();
      return;
    }
    const url = host.status().uiUrl;
    if (!url) return;
    const win = deps.createWindow();
    window = win;
    guardContents(win.webContents, { origin, openExternal: (u) => deps.openExternal(u) });
    win.once('ready-to-show', () => win.show());
    win.on('closed', () => {
      if (window === win) window = null;
      deps.setDockVisible?.(false);
    });
    deps.setDockVisible?.(true);
    win.loadURL(url).catch((err: Error) => deps.log.error({ err: err.message }, 'the window could not load the UI'));
  }

  function reloadWindow(url: string): void {
    if (window && !window.isDestroyed()) {
      window.loadURL(url).catch((err: Error) => deps.log.error({ err: err.message }, 'the window could not load the UI'));
    }
  }

  /** Validates, persists and applies settings; restarts the registry when needed, rolling back if it cannot start. */
  async function applySettings(input: unknown): Promise<SaveSettingsResult> {
    const validation = validateSettings(input);
    if (!validation.ok) return validation;
    const next = validation.settings;
    const before = settings;
    const dirProblem = await dataDirProblem(next.dataDir);
    if (dirProblem) return { ok: false, errors: { dataDir: dirProblem } };
    // The same port is held by our own registry until it restarts: only a new port can be checked first
    // (a clash on another interface still fails the restart, which then rolls back).
    if (next.port !== before.port && !(await portFree(next.port, next.bindAddress))) {
      const holder = await describePortHolder(next.port, deps.platform, lookup);
      return { ok: false, errors: { port: `port ${next.port} is already in use by ${holder.description}` } };
    }
    if (next.startAtLogin !== before.startAtLogin) {
      try {
        await deps.setStartAtLogin(next.startAtLogin);
      } catch (err) {
        return { ok: false, errors: { startAtLogin: `could not change the login items: ${(err as Error).message}` } };
      }
    }
    if (!restartNeeded(before, next)) {
      await persist(next);
      tray?.refresh();
      return { ok: true, restarted: false, url: host.status().uiUrl ?? '' };
    }
    await host.stop();
    let initialAdmin: InitialAdmin | null;
    try {
      ({ initialAdmin } = await host.start(next));
    } catch (err) {
      const message = (err as Error).message;
      deps.log.warn({ err: message }, 'the registry did not start with the new settings; restoring the previous ones');
      try {
        await host.start(before);
      } catch (e) {
        // Neither starts (something took the old port meanwhile): the same dialogs as at launch.
        deps.log.error({ err: (e as Error).message }, 'the previous settings did not start either');
        void startRegistry().then((ok) => (ok ? reloadWindow(host.status().uiUrl ?? '') : deps.app.quit()));
      }
      const errors: SettingsErrors = { [fieldOfStartError(message)]: message };
      return { ok: false, errors };
    }
    await persist(next);
    const url = host.status().uiUrl ?? '';
    // The reply goes out first; then the page moves to the new origin.
    setImmediate(() => reloadWindow(url));
    void showInitialAdmin(initialAdmin);
    return { ok: true, restarted: true, url };
  }

  const handlers: DesktopHandlers = {
    async openDataFolder() {
      await deps.openPath(settings.dataDir);
    },
    async revealCaCertificate() {
      const file = caCertificateFile(settings.dataDir);
      try {
        await fs.access(file);
      } catch {
        throw new Error('There is no CA certificate yet: it is created when TLS is turned on.');
      }
      deps.showItemInFolder(file);
    },
    async copyToClipboard(text) {
      deps.writeClipboard(text);
    },
    pickDirectory: () => deps.pickDirectory(),
    async getSettings() {
      return { ...settings };
    },
    saveSettings: (input) => serial(() => applySettings(input)),
  };

  function status(): HostStatus {
    return host.status();
  }

  async function shutdown(): Promise<void> {
    tray?.refresh();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'deadline'>((resolve) => {
      timer = setTimeout(() => resolve('deadline'), deps.quitDeadlineMs ?? QUIT_DEADLINE_MS);
    });
    const stopped = (async () => {
      await queue;
      await host.stop();
    })();
    if ((await Promise.race([stopped, deadline])) === 'deadline') {
      deps.log.warn('the registry did not stop in time; quitting anyway (the next start recovers)');
    }
    clearTimeout(timer);
    tray?.destroy();
    tray = null;
  }

  return {
    handlers,
    host,
    settings: () => settings,
    openWindow,
    stopped: () => quitting ?? Promise.resolve(),

    async trustsCertificate(url, issuerPem) {
      const running = host.settings();
      if (!running?.tls) return false;
      const caPem = await fs.readFile(caCertificateFile(running.dataDir), 'utf8').catch(() => null);
      return isOwnCertificate({ url, origin: origin(), issuerPem, caPem });
    },

    async start() {
      const loaded = await loadSettings(deps.userDataDir);
      settings = loaded.settings;
      for (const problem of loaded.problems) deps.log.warn(problem);

      deps.app.on('before-quit', (event) => {
        if (quitDone) return;
        event.preventDefault();
        if (quitting) return;
        deps.log.info('quitting: letting in-flight uploads finish');
        quitting = shutdown()
          .catch((err: Error) => deps.log.error({ err: err.message }, 'stopping the registry failed'))
          .finally(() => {
            quitDone = true;
            deps.app.quit();
          });
      });
      // Berth lives in the tray: closing the window keeps the registry running.
      deps.app.on('window-all-closed', () => undefined);
      deps.app.on('activate', () => openWindow());

      if (!(await startRegistry())) {
        quitDone = true;
        deps.app.quit();
        return false;
      }

      setupIpc({
        ipcMain: deps.ipcMain,
        handlers,
        token: deps.token,
        trusted: { webContentsIds: () => (window && !window.isDestroyed() ? [window.webContents.id] : []), origin },
        onRefused: (channel) => deps.log.warn({ channel }, 'IPC refused: the sender is not a Berth window'),
      });

      const icon = deps.createTray();
      if (icon) {
        tray = setupTray({
          tray: icon,
          buildMenu: (template) => deps.buildMenu(template),
          status,
          startAtLogin: () => settings.startAtLogin,
          onChange: (listener) => host.onChange(listener),
          platform: deps.platform,
          actions: {
            openWindow,
            copyAddress: () => {
              const address = host.status().address;
              if (address) deps.writeClipboard(address);
            },
            setStartAtLogin: (enabled) => {
              void handlers.saveSettings({ ...settings, startAtLogin: enabled }).then((result) => {
                tray?.refresh();
                if (!result.ok) {
                  void deps.showPrompt({
                    type: 'error',
                    title: 'Start at login',
                    message: 'Berth could not change its start-at-login setting',
                    detail: Object.values(result.errors).join('\n'),
                    buttons: [{ label: 'OK', action: 'ok' }],
                    cancelAction: 'ok',
                  });
                }
              });
            },
            quit: () => deps.app.quit(),
          },
        });
      }
      // Without a tray (some Linux desktops) the window is the only way in: always show it.
      if (!deps.startHidden || !tray) openWindow();
      else deps.setDockVisible?.(false);
      return true;
    },
  };
}
