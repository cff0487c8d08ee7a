/**
 * The desktop Settings' storage section (DesktopStorage) in and out of the server's storage config
 * (server/storage/config.ts), whose validation decides: the same rules and messages as a config file.
 */
import { ConfigError } from '../../server/config.ts';
import { storageDefaults, validateStorage, type StorageConfig } from '../../server/storage/config.ts';
import type { DesktopStorage } from '../shared/ipc.ts';
import { asConfigInput } from '../shared/storage-input.ts';

export function defaultDesktopStorage(): DesktopStorage {
  return {
    driver: 'filesystem', endpoint: '', bucket: '', region: 'us-east-1', forcePathStyle: true, accessKeyId: '', secretAccessKey: '',
    connectionString: '', container: '', prefix: '', redirect: false,
  };
}

const TEXT_FIELDS = ['endpoint', 'bucket', 'region', 'accessKeyId', 'secretAccessKey', 'connectionString', 'container', 'prefix'] as const;

/** The settings as the server will use them, or the server's own message for what is wrong. */
export function checkStorage(value: unknown): { value: DesktopStorage } | { error: string } {
  if (value === undefined) return { value: defaultDesktopStorage() };
  if (typeof value !== 'object' || value === null) return { error: 'must be an object' };
  const input = value as Record<string, unknown>;
  const out = defaultDesktopStorage();
  if (input.driver !== 'filesystem' && input.driver !== 's3' && input.driver !== 'azure') return { error: 'driver must be filesystem, s3 or azure' };
  out.driver = input.driver;
  for (const key of TEXT_FIELDS) {
    if (input[key] === undefined) continue;
    if (typeof input[key] !== 'string') return { error: `${key} must be text` };
    out[key] = (input[key] as string).trim();
  }
  for (const key of ['forcePathStyle', 'redirect'] as const) {
    if (input[key] === undefined) continue;
    if (typeof input[key] !== 'boolean') return { error: `${key} must be true or false` };
    out[key] = input[key] as boolean;
  }
  try {
    validateStorage(asConfigInput(out), (key) => key.replace(/^storage\.(s3|azure)\./, ''));
  } catch (err) {
    if (err instanceof ConfigError) return { error: err.message };
    throw err;
  }
  return { value: out };
}

/** The server's storage config for these (validated) settings. */
export function storageConfig(s: DesktopStorage | undefined): StorageConfig {
  return s ? validateStorage(asConfigInput(s), (key) => key) : storageDefaults();
}
