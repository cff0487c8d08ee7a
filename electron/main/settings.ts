/**
 * The desktop app's settings: defaults, validation (electron/shared/settings-rules.ts, shared with
 * the settings form), and persistence as JSON in Electron's userData directory. Loading never fails:
 * a missing file gives the defaults; a damaged file is kept aside and its valid fields are used.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { DEFAULT_PORT, defaultDataDir, defaults, finish, type BerthConfig } from '../../server/config.ts';
import type { DesktopSettings } from '../shared/ipc.ts';
import { SETTINGS_FIELDS, checkSetting, validateSettings as validateShared, type PathRules, type Validation } from '../shared/settings-rules.ts';
import { checkStorage, defaultDesktopStorage, storageConfig } from './storage-settings.ts';

export type { Validation } from '../shared/settings-rules.ts';

export const SETTINGS_FILE = 'settings.json';

/** What the desktop app asks of the server on every launch. */
export const DESKTOP_SHUTDOWN_GRACE_SECONDS = 5;

const BIND_HOSTS: Record<DesktopSettings['bindAddress'], string> = { loopback: '127.0.0.1', all: '0.0.0.0' };

/** The address the registry listens on for a bind-address setting. */
export function bindHost(bindAddress: DesktopSettings['bindAddress']): string {
  return BIND_HOSTS[bindAddress];
}
/** Desktop and `berth serve` share the data directory by default, so both see the same images. */
export function defaultSettings(): DesktopSettings {
  // No storage: the data directory holds the images (the form shows the storage section's defaults).
  return { port: DEFAULT_PORT, bindAddress: 'loopback', dataDir: defaultDataDir(), tls: false, startAtLogin: false };
}

/**
 * Electron's userData folder (settings.json, Chromium's caches). By default it is <appData>/Berth,
 * which on macOS and Windows is also the registry's default data directory (defaultDataDir(), shared
 * with `berth serve`): give the app's own files a folder of their own so the images folder holds
 * images only. On Linux they already differ (~/.config/Berth and ~/.local/share/berth).
 */
export function desktopUserDataDir(appData: string, platform: NodeJS.Platform): string {
  return path.join(appData, platform === 'darwin' || platform === 'win32' ? 'Berth Desktop' : 'Berth');
}

/** Paths as the server reads them: absolute by this platform's rules, resolved as path.resolve does. */
const NODE_PATHS: PathRules = { isAbsolute: path.isAbsolute, normalize: path.resolve };

/**
 * The one rule tying exposure to auth: a registry bound to every interface can be reached from the
 * network, so it runs with registry auth (Docker token auth, issue 5) and the first start creates
 * the `admin` user (its generated password is shown once); on loopback it stays open, like
 * `berth serve` (server/config.ts finish()).
 */
export function registryAuthFor(bindAddress: DesktopSettings['bindAddress']): BerthConfig['auth'] {
  return bindAddress === 'all' ? 'token' : 'none';
}

/** Validates a whole settings object (the rules of electron/shared/settings-rules.ts, with this platform's paths). */
export function validateSettings(input: unknown): Validation {
  const shared = validateShared(input, NODE_PATHS);
  // Storage is optional (settings saved before it existed: the data directory), and checked here, in
  // main, with the server's own rules (server/storage/config.ts via storage-settings.ts).
  const given = typeof input === 'object' && input !== null ? (input as Record<string, unknown>).storage : undefined;
  if (given === undefined) return shared;
  const storage = checkStorage(given);
  if ('error' in storage) return { ok: false, errors: { ...(shared.ok ? {} : shared.errors), storage: storage.error } };
  return shared.ok ? { ok: true, settings: { ...shared.settings, storage: storage.value } } : shared;
}

/** Fields whose change needs the registry restarted (start at login does not). */
export function restartNeeded(before: DesktopSettings, after: DesktopSettings): boolean {
  return before.port !== after.port || before.bindAddress !== after.bindAddress || before.dataDir !== after.dataDir || before.tls !== after.tls ||
    JSON.stringify(before.storage ?? defaultDesktopStorage()) !== JSON.stringify(after.storage ?? defaultDesktopStorage());
}

/** The server configuration for these settings and this launch's management token. */
export function serverConfig(settings: DesktopSettings, managementToken: string): BerthConfig {
  // finish() applies the server's own cross-field rules (no open registry off loopback, TLS files).
  return finish(
    {
      ...defaults(),
      host: BIND_HOSTS[settings.bindAddress],
      port: settings.port,
      dataDir: settings.dataDir,
      shutdownGraceSeconds: DESKTOP_SHUTDOWN_GRACE_SECONDS,
      managementToken,
      auth: registryAuthFor(settings.bindAddress),
      tls: settings.tls,
      storage: storageConfig(settings.storage),
    },
    true,
  );
}

export interface LoadedSettings {
  settings: DesktopSettings;
  /** What was wrong with the file, for the log (fields fell back to their defaults). */
  problems: string[];
}

/** Reads the settings file; never throws for a missing or damaged file. */
export async function loadSettings(dir: string): Promise<LoadedSettings> {
  const file = path.join(dir, SETTINGS_FILE);
  const fallback = defaultSettings();
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { settings: fallback, problems: [] };
    return { settings: fallback, problems: [`${file}: ${(err as Error).message}; using the defaults`] };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = null;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    // Keep the damaged file for whoever wants to look at it; the next save writes a good one.
    const aside = `${file}.damaged`;
    await fs.rename(file, aside).catch(() => undefined);
    return { settings: fallback, problems: [`${file} is not a JSON object; kept it as ${aside} and used the defaults`] };
  }
  const record = parsed as Record<string, unknown>;
  const settings = { ...fallback };
  const problems: string[] = [];
  for (const field of SETTINGS_FIELDS) {
    if (!(field in record)) continue;
    const result = checkSetting(field, record[field], NODE_PATHS);
    if ('error' in result) problems.push(`${file}: "${field}" ${result.error}; using ${JSON.stringify(fallback[field])}`);
    else (settings as Record<keyof DesktopSettings, unknown>)[field] = result.value;
  }
  if ('storage' in record) {
    const storage = checkStorage(record.storage);
    if ('error' in storage) problems.push(`${file}: "storage" ${storage.error}; using the data directory`);
    else settings.storage = storage.value;
  }
  return { settings, problems };
}

/** Writes the settings atomically (temp file + rename), readable by this user only. */
export async function saveSettings(dir: string, settings: DesktopSettings): Promise<void> {
  await fs.mkdir(dir, { recursive: true });
  const file = path.join(dir, SETTINGS_FILE);
  const temp = `${file}.${process.pid}.tmp`;
  await fs.writeFile(temp, `${JSON.stringify(settings, null, 2)}\n`, { mode: 0o600 });
  await fs.rename(temp, file);
}
