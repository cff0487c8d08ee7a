/**
 * The desktop Settings' storage section (DesktopStorage) in and out of the server's storage config
 * (server/storage/config.ts), whose validation decides: the same rules and messages as a config file.
 */
import { ConfigError } from '../../server/config.ts';
import { storageDefaults, validateStorage, type StorageConfig } from '../../server/storage/config.ts';
import type { DesktopStorage } from '../shared/ipc.ts';

export function defaultDesktopStorage(): DesktopStorage {
  return {
    driver: 'filesystem', endpoint: '', bucket: '', region: 'us-east-1', forcePathStyle: true, accessKeyId: '', secretAccessKey: '',
    connectionString: '', container: '', prefix: '', redirect: false,
  };
}

/** What a config file's `storage` key would say for these settings. */
function asConfigInput(s: DesktopStorage): Record<string, unknown> {
  if (s.driver === 's3') {
    return {
      driver: 's3', redirect: s.redirect,
      s3: {
        bucket: s.bucket, region: s.region || 'us-east-1', prefix: s.prefix, forcePathStyle: s.forcePathStyle,
        ...(s.endpoint ? { endpoint: s.endpoint } : {}),
        ...(s.accessKeyId || s.secretAccessKey ? { accessKeyId: s.accessKeyId, secretAccessKey: s.secretAccessKey } : {}),
      },
    };
  }
  if (s.driver === 'azure') return { driver: 'azure', redirect: s.redirect, azure: { connectionString: s.connectionString, container: s.container, prefix: s.prefix } };
  return { driver: 'filesystem' };
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
