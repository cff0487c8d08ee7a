/**
 * The tray (menu-bar) icon: registry status (running, address, pushes in progress), open the
 * window, copy the registry address, start at login, quit. The texts and the menu are plain data
 * built from HostStatus; setupTray refreshes them when the host reports a change and, while
 * uploads run, every couple of seconds (an upload in progress emits no event until it ends).
 */
import type { MenuItemConstructorOptions } from 'electron';
import type { HostStatus } from './registry-host.ts';

export const REFRESH_MS = 2000;

function plural(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

export interface TrayText {
  /** Hover text of the icon. */
  tooltip: string;
  /** The first, disabled, menu line. */
  status: string;
  /** The second line: activity, or null. */
  activity: string | null;
}

export function trayText(status: HostStatus): TrayText {
  const uploads = plural(status.uploadsInProgress, 'layer', 'layers');
  const pushes = plural(status.pushesInProgress, 'push', 'pushes');
  switch (status.state) {
    case 'running': {
      const activity = status.pushesInProgress > 0 ? `${pushes} in progress (${uploads})` : 'No pushes in progress';
      return {
        tooltip: `Berth — running at ${status.address}${status.pushesInProgress > 0 ? `, ${pushes} in progress` : ''}`,
        status: `Running at ${status.address}`,
        activity,
      };
    }
    case 'starting':
      return { tooltip: 'Berth — starting', status: 'Starting…', activity: null };
    case 'stopping':
      return {
        tooltip: 'Berth — stopping',
        status: status.uploadsInProgress > 0 ? `Stopping: letting ${plural(status.uploadsInProgress, 'upload', 'uploads')} finish…` : 'Stopping…',
        activity: null,
      };
    case 'failed':
      return { tooltip: 'Berth — not running', status: 'Not running', activity: status.error };
    case 'stopped':
      return { tooltip: 'Berth — not running', status: 'Not running', activity: null };
  }
}

export interface TrayActions {
  openWindow(): void;
  copyAddress(): void;
  setStartAtLogin(enabled: boolean): void;
  quit(): void;
}

export function trayMenu(status: HostStatus, startAtLogin: boolean, actions: TrayActions): MenuItemConstructorOptions[] {
  const text = trayText(status);
  const running = status.state === 'running';
  const items: MenuItemConstructorOptions[] = [{ label: text.status, enabled: false }];
  if (text.activity) items.push({ label: text.activity, enabled: false });
  items.push(
    { type: 'separator' },
    { label: 'Open Berth', click: () => actions.openWindow() },
    {
      label: running && status.address ? `Copy Registry Address (${status.address})` : 'Copy Registry Address',
      enabled: running,
      click: () => actions.copyAddress(),
    },
    { type: 'separator' },
    { label: 'Start at Login', type: 'checkbox', checked: startAtLogin, click: (item) => actions.setStartAtLogin(item.checked) },
    { type: 'separator' },
    { label: 'Quit Berth', accelerator: 'CommandOrControl+Q', click: () => actions.quit() },
  );
  return items;
}

/** The parts of Electron's Tray used here. */
export interface TrayLike {
  setToolTip(text: string): void;
  setContextMenu(menu: unknown): void;
  on(event: 'click', listener: () => void): unknown;
  destroy(): void;
}

export interface TraySetup {
  tray: TrayLike;
  /** Menu.buildFromTemplate. */
  buildMenu(template: MenuItemConstructorOptions[]): unknown;
  status(): HostStatus;
  startAtLogin(): boolean;
  onChange(listener: () => void): () => void;
  actions: TrayActions;
  platform: NodeJS.Platform;
}

export interface TrayHandle {
  refresh(): void;
  destroy(): void;
}

export function setupTray(setup: TraySetup): TrayHandle {
  let shown = '';
  const refresh = () => {
    const status = setup.status();
    const template = trayMenu(status, setup.startAtLogin(), setup.actions);
    // Rebuild only on a visible change: rebuilding an open menu closes it on some desktops.
    const key = JSON.stringify([trayText(status), setup.startAtLogin()]);
    if (key === shown) return;
    shown = key;
    setup.tray.setToolTip(trayText(status).tooltip);
    setup.tray.setContextMenu(setup.buildMenu(template));
  };
  // Windows and most Linux desktops open the window on a click; macOS shows the menu.
  if (setup.platform !== 'darwin') setup.tray.on('click', () => setup.actions.openWindow());
  const off = setup.onChange(refresh);
  const timer = setInterval(refresh, REFRESH_MS);
  timer.unref();
  refresh();
  return {
    refresh,
    destroy() {
      clearInterval(timer);
      off();
      setup.tray.destroy();
    },
  };
}
