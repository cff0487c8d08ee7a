/**
 * The desktop app's settings: defaults, validation (the rules of server/config.ts, plus what a
 * desktop app adds), and persistence as JSON in Electron's userData directory. Loading never fails:
 * a missing file gives the defaults; a damaged file is kept aside and its valid fields are used.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { ConfigError, DEFAULT_PORT, defaultDataDir, defaults, finish, validate, type BerthConfig } from '../../server/config.ts';
import type { DesktopSettings, SettingsErrors } from '../shared/ipc.ts';
import { checkStorage, defaultDesktopStorage, storageConfig } from './storage-settings.ts';

export const SETTINGS_FILE = 'settings.json';

/** What the desktop app asks of the server on every launch. */
export const DESKTOP_SHUTDOWN_GRACE_SECONDS = 5;

const BIND_HOSTS: Record<DesktopSettings['bindAddress'], string> = { loopback: '127.0.0.1', all: '0.0.0.0' };

/** The address the registry listens on for a bind-address setting. */
export function bindHost(bindAddress: DesktopSettings['bindAddress']): string {
  return BIND_HOSTS[bindAddress];
}
const FIELDS = ['port', 'bindAddress', 'dataDir', 'tls', 'startAtLogin'] as const satisfies readonly (keyof DesktopSettings)[];

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

export type Validation = { ok: true; settings: DesktopSettings } | { ok: false; errors: SettingsErrors };

/** Runs one value through server/config.ts validate() and returns its message on failure. */
function serverRule<K extends keyof BerthConfig>(input: Parameters<typeof validate>[0], key: K): { value: BerthConfig[K] } | { error: string } {
  try {
    return { value: validate(input, () => 'setting')[key] as BerthConfig[K] };
  } catch (err) {
    if (err instanceof ConfigError) return { error: err.message.replace(/^setting: /, '') };
    throw err;
  }
}

function checkPort(value: unknown): { value: number } | { error: string } {
  if (typeof value !== 'number') return { error: 'must be a whole number from 1 to 65535' };
  const rule = serverRule({ port: value }, 'port');
  if ('error' in rule) return { error: 'must be a whole number from 1 to 65535' };
  // The server accepts 0 (any free port); a desktop app needs an address users can type into
  // `docker push`, so the port must be fixed.
  if (rule.value === 0) return { error: 'must be a fixed port from 1 to 65535 (0 would change at every start)' };
  return rule;
}

function checkDataDir(value: unknown): { value: string } | { error: string } {
  if (typeof value !== 'string' || value.trim() === '') return { error: 'needs a folder' };
  // A relative path would depend on the directory the app happened to start in.
  if (!path.isAbsolute(value)) return { error: `"${value}" is not an absolute path` };
  if (value.includes('\0')) return { error: 'contains a NUL character' };
  return serverRule({ data: value }, 'dataDir');
}

function checkBindAddress(value: unknown): { value: DesktopSettings['bindAddress'] } | { error: string } {
  if (value !== 'loopback' && value !== 'all') return { error: 'must be "loopback" (this computer only) or "all" (every network interface)' };
  const rule = serverRule({ host: BIND_HOSTS[value] }, 'host');
  return 'error' in rule ? rule : { value };
}

function checkBoolean(value: unknown): { value: boolean } | { error: string } {
  return typeof value === 'boolean' ? { value } : { error: 'must be true or false' };
}

const CHECKS: { [K in keyof DesktopSettings]: (value: unknown) => { value: DesktopSettings[K] } | { error: string } } = {
  port: checkPort,
  bindAddress: checkBindAddress,
  dataDir: checkDataDir,
  tls: checkBoolean,
  startAtLogin: checkBoolean,
};

/**
 * The one rule tying exposure to auth: a registry bound to every interface can be reached from the
 * network, so it runs with registry auth (Docker token auth, issue 5) and the first start creates
 * the `admin` user (its generated password is shown once); on loopback it stays open, like
 * `berth serve` (server/config.ts finish()).
 */
export function registryAuthFor(bindAddress: DesktopSettings['bindAddress']): BerthConfig['auth'] {
  return bindAddress === 'all' ? 'token' : 'none';
}

/** Validates a whole settings object, field by field; every bad field gets its own message. */
export function validateSettings(input: unknown): Validation {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    return { ok: false, errors: Object.fromEntries(FIELDS.map((f) => [f, 'missing'])) };
  }
  const record = input as Record<string, unknown>;
  const errors: SettingsErrors = {};
  const out: Partial<Record<keyof DesktopSettings, unknown>> = {};
  for (const field of FIELDS) {
    if (!(field in record)) {
      errors[field] = 'missing';
      continue;
    }
    const result = CHECKS[field](record[field]);
    if ('error' in result) errors[field] = result.error;
    else out[field] = result.value;
  }
  // Storage is optional (settings saved before it existed): absent means the data directory.
  if (record.storage !== undefined) {
    const storage = checkStorage(record.storage);
    if ('error' in storage) errors.storage = storage.error;
    else out.storage = storage.value;
  }
  if (Object.keys(errors).length > 0) return { ok: false, errors };
  return { ok: true, settings: out as DesktopSettings };
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
  for (const field of FIELDS) {
    if (!(field in record)) continue;
    const result = CHECKS[field](record[field]);
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
