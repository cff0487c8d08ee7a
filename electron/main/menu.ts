/**
 * The application menu. macOS needs one for standard shortcuts (copy and paste in the window work
 * through the Edit menu's roles); on Windows and Linux it stays hidden behind Alt (autoHideMenuBar).
 */
import type { MenuItemConstructorOptions } from 'electron';

export function appMenuTemplate(options: { platform: NodeJS.Platform; devTools: boolean; openDataFolder(): void }): MenuItemConstructorOptions[] {
  const mac = options.platform === 'darwin';
  const view: MenuItemConstructorOptions[] = [
    { role: 'reload' },
    ...(options.devTools ? [{ role: 'toggleDevTools' } as const] : []),
    { type: 'separator' },
    { role: 'resetZoom' },
    { role: 'zoomIn' },
    { role: 'zoomOut' },
    { type: 'separator' },
    { role: 'togglefullscreen' },
  ];
  return [
    ...(mac ? [{ role: 'appMenu' } as const] : []),
    {
      label: 'File',
      submenu: [
        { label: 'Open Data Folder', click: () => options.openDataFolder() },
        { type: 'separator' },
        mac ? { role: 'close' } : { role: 'quit', label: 'Quit Berth' },
      ],
    },
    { role: 'editMenu' },
    { label: 'View', submenu: view },
    { role: 'windowMenu' },
  ];
}
