/**
 * Start at login. macOS and Windows: app.setLoginItemSettings (Electron supports only those two).
 * Linux: an XDG autostart entry (freedesktop.org Desktop Application Autostart Specification:
 * $XDG_CONFIG_HOME/autostart/<name>.desktop). Either way Berth starts with --hidden: tray only,
 * no window, until the user opens it.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

export const HIDDEN_FLAG = '--hidden';
const DESKTOP_FILE = 'berth.desktop';

export interface LoginItemDeps {
  platform: NodeJS.Platform;
  /** app.setLoginItemSettings (macOS, Windows). */
  setLoginItemSettings(settings: { openAtLogin: boolean; args?: string[] }): void;
  /** The command that starts this app: [executable, ...arguments] (the AppImage itself when run from one). */
  command: string[];
  env?: NodeJS.ProcessEnv;
  home?: string;
}

export function autostartFile(env: NodeJS.ProcessEnv = process.env, home = os.homedir()): string {
  const config = env.XDG_CONFIG_HOME && path.isAbsolute(env.XDG_CONFIG_HOME) ? env.XDG_CONFIG_HOME : path.join(home, '.config');
  return path.join(config, 'autostart', DESKTOP_FILE);
}

/**
 * One Exec argument quoted per the Desktop Entry Specification ("The Exec key"): arguments with
 * reserved characters are double-quoted, and inside quotes ", `, $ and \ are escaped with \.
 * The file's string escaping applies on top (a backslash is written \\), and a literal % is
 * written %%, since % starts a field code.
 */
export function quoteExecArg(arg: string): string {
  const escapedPercent = arg.replace(/%/g, '%%');
  if (!/[\s"'\\><~|&;$*?#()`=]/.test(arg)) return escapedPercent;
  const quoted = `"${escapedPercent.replace(/(["`$\\])/g, '\\$1')}"`;
  return quoted.replace(/\\/g, '\\\\');
}

export function autostartEntry(command: string[]): string {
  return [
    '[Desktop Entry]',
    'Type=Application',
    'Name=Berth',
    'Comment=Local Docker/OCI image registry',
    `Exec=${[...command, HIDDEN_FLAG].map(quoteExecArg).join(' ')}`,
    'Icon=berth',
    'Terminal=false',
    'X-GNOME-Autostart-enabled=true',
    '',
  ].join('\n');
}

export async function setStartAtLogin(enabled: boolean, deps: LoginItemDeps): Promise<void> {
  if (deps.platform === 'linux') {
    const file = autostartFile(deps.env, deps.home);
    if (enabled) {
      await fs.mkdir(path.dirname(file), { recursive: true });
      await fs.writeFile(file, autostartEntry(deps.command));
    } else {
      await fs.rm(file, { force: true });
    }
    return;
  }
  // macOS opens login items without arguments; app.getLoginItemSettings().wasOpenedAtLogin says it.
  deps.setLoginItemSettings(deps.platform === 'win32' ? { openAtLogin: enabled, args: [HIDDEN_FLAG] } : { openAtLogin: enabled });
}
