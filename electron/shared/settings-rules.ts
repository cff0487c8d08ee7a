/**
 * The rules of the desktop settings, in one place: the settings form checks a draft with them as the
 * user types (renderer/components/settings-form.tsx) and the main process checks what it saves and
 * loads with them (electron/main/settings.ts). Plain TypeScript with no Node import, since the
 * renderer bundles it too (tsconfig.web.json type-checks this folder without Node's types); the one
 * thing that needs the platform, path handling, is passed in.
 *
 * They are server/config.ts's rules for the same settings (a port 0-65535, an existing-or-creatable
 * directory path, the two bind addresses), plus what a desktop app adds: a fixed port (not 0), and an
 * absolute folder (a relative one would depend on where the app happened to start).
 * Messages are fragments ("must be ..."): the form puts the field's name before them, the main
 * process the file and field.
 */
import type { DesktopSettings, SettingsErrors } from './ipc.ts';

export type Validation = { ok: true; settings: DesktopSettings } | { ok: false; errors: SettingsErrors };

type Checked<T> = { value: T } | { error: string };

/** How paths are read on the platform at hand (main: node:path; the renderer: any platform's absolute form). */
export interface PathRules {
  isAbsolute(path: string): boolean;
  /** The path as the server will use it (main: path.resolve). */
  normalize(path: string): string;
}

/** An absolute path on any platform the app runs on: "/..." (macOS, Linux), "C:\..." or "\\server\share" (Windows). */
export const ANY_PLATFORM_PATHS: PathRules = {
  isAbsolute: (p) => p.startsWith('/') || /^[A-Za-z]:[\\/]/.test(p) || p.startsWith('\\\\'),
  normalize: (p) => p,
};

export const SETTINGS_FIELDS = ['port', 'bindAddress', 'dataDir', 'tls', 'startAtLogin'] as const satisfies readonly (keyof DesktopSettings)[];

function checkPort(value: unknown): Checked<number> {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 65535) return { error: 'must be a whole number from 1 to 65535' };
  // The server accepts 0 (any free port); a desktop app needs an address users can type into
  // `docker push`, so the port must be fixed.
  if (value === 0) return { error: 'must be a fixed port from 1 to 65535 (0 would change at every start)' };
  return { value };
}

function checkBindAddress(value: unknown): Checked<DesktopSettings['bindAddress']> {
  return value === 'loopback' || value === 'all' ? { value } : { error: 'must be "loopback" (this computer only) or "all" (every network interface)' };
}

function checkDataDir(value: unknown, paths: PathRules): Checked<string> {
  if (typeof value !== 'string' || value.trim() === '') return { error: 'needs a folder' };
  if (!paths.isAbsolute(value)) return { error: `"${value}" is not an absolute path` };
  if (value.includes('\0')) return { error: 'contains a NUL character' };
  return { value: paths.normalize(value) };
}

function checkBoolean(value: unknown): Checked<boolean> {
  return typeof value === 'boolean' ? { value } : { error: 'must be true or false' };
}

/** One field's rule. */
export function checkSetting<K extends keyof DesktopSettings>(field: K, value: unknown, paths: PathRules = ANY_PLATFORM_PATHS): Checked<DesktopSettings[K]> {
  switch (field) {
    case 'port': return checkPort(value) as Checked<DesktopSettings[K]>;
    case 'bindAddress': return checkBindAddress(value) as Checked<DesktopSettings[K]>;
    case 'dataDir': return checkDataDir(value, paths) as Checked<DesktopSettings[K]>;
    default: return checkBoolean(value) as Checked<DesktopSettings[K]>;
  }
}

/** Validates a whole settings object, field by field; every bad field gets its own message. */
export function validateSettings(input: unknown, paths: PathRules = ANY_PLATFORM_PATHS): Validation {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    return { ok: false, errors: Object.fromEntries(SETTINGS_FIELDS.map((f) => [f, 'missing'])) };
  }
  const record = input as Record<string, unknown>;
  const errors: SettingsErrors = {};
  const out: Partial<Record<keyof DesktopSettings, unknown>> = {};
  for (const field of SETTINGS_FIELDS) {
    if (!(field in record)) {
      errors[field] = 'missing';
      continue;
    }
    const result = checkSetting(field, record[field], paths);
    if ('error' in result) errors[field] = result.error;
    else out[field] = result.value;
  }
  if (Object.keys(errors).length > 0) return { ok: false, errors };
  return { ok: true, settings: out as DesktopSettings };
}
