/**
 * The `storage` settings: which driver keeps the objects (driver/), and its connection. One typed
 * object, part of BerthConfig (../config.ts), from the config file's `storage` key and the environment
 * (BERTH_STORAGE_*); credentials for S3 also come from the AWS default chain (AWS_ACCESS_KEY_ID,
 * AWS_PROFILE, instance roles...), never from a flag.
 *
 *   { "storage": { "driver": "s3", "redirect": false,
 *                  "s3": { "bucket": "registry", "endpoint": "http://127.0.0.1:9000", "region": "us-east-1",
 *                          "prefix": "berth", "forcePathStyle": true, "partSize": "16MiB" } } }
 *   { "storage": { "driver": "azure",
 *                  "azure": { "connectionString": "DefaultEndpointsProtocol=...", "container": "registry" } } }
 */
import { ConfigError as ConfigErrorBase } from '../config-error.ts';
import { DRIVER_NAMES, type DriverName } from './driver/driver.ts';

const MiB = 1024 * 1024;
/** S3's smallest part but the last (AWS, Swift s3api: EntityTooSmall below it). */
export const S3_MIN_PART_BYTES = 5 * MiB;
/**
 * Upload bytes are gathered into parts of this size in memory. A push holds at most two (one filling
 * while the other is sent), so its memory is bounded by the part size, never the blob's: 16 MiB keeps a
 * 1 GiB push within 3 parts above idle (bench/, docs/benchmarks.md) and makes a 10,000-part multipart
 * upload reach 156 GiB.
 */
export const DEFAULT_PART_BYTES = 16 * MiB;
/** S3: at most 5 GiB per part; Azure: 4000 MiB per block. Memory is what really bounds it. */
const MAX_PART_BYTES = 512 * MiB;

export interface S3Settings {
  /** Any S3-compatible endpoint (MinIO, Ceph RGW, Garage, SeaweedFS, Swift s3api); null: AWS itself. */
  endpoint: string | null;
  bucket: string;
  region: string;
  /** Keys are stored under this prefix ('' for the bucket's root). */
  prefix: string;
  /** http://endpoint/bucket/key instead of http://bucket.endpoint/key (most self-hosted servers need it). */
  forcePathStyle: boolean;
  /** Explicit credentials (config file only); null: the AWS default chain. */
  accessKeyId: string | null;
  secretAccessKey: string | null;
  partBytes: number;
  /** Create the bucket when it is missing (and the credentials allow it). */
  createBucket: boolean;
}

export interface AzureSettings {
  /** A storage account connection string (Azurite's, or one from the portal); or account + key/SAS below. */
  connectionString: string | null;
  account: string | null;
  accountKey: string | null;
  /** A SAS token ("sv=...&sig=...") instead of the account key. */
  sasToken: string | null;
  /** The blob endpoint, default https://<account>.blob.core.windows.net. */
  endpoint: string | null;
  container: string;
  prefix: string;
  partBytes: number;
  createContainer: boolean;
}

export interface StorageConfig {
  driver: DriverName;
  /** Answer blob GETs with a redirect to a presigned URL of the store (clients must reach it). */
  redirect: boolean;
  s3: S3Settings | null;
  azure: AzureSettings | null;
}

export function storageDefaults(): StorageConfig {
  return { driver: 'filesystem', redirect: false, s3: null, azure: null };
}

type Source = (key: string) => string;

function text(value: unknown, name: string, { allowEmpty = false } = {}): string {
  if (typeof value !== 'string' || (!allowEmpty && value.trim() === '')) throw new ConfigErrorBase(`${name}: needs a text value`);
  return value.trim();
}

function optionalText(value: unknown, name: string): string | null {
  return value === undefined || value === null || value === '' ? null : text(value, name);
}

function flag(value: unknown, name: string): boolean {
  if (typeof value === 'boolean') return value;
  if (typeof value === 'string' && /^(1|true|yes|on)$/i.test(value)) return true;
  if (typeof value === 'string' && /^(0|false|no|off)$/i.test(value)) return false;
  throw new ConfigErrorBase(`${name}: "${String(value)}" is not true or false`);
}

/** "16MiB", "8 MB", "16777216": a part size within S3's and memory's bounds. */
export function parsePartSize(value: unknown, name: string): number {
  const m = typeof value === 'number' ? [String(value), String(value), ''] : /^\s*(\d+(?:\.\d+)?)\s*(b|kib|kb|mib|mb|gib|gb)?\s*$/i.exec(String(value));
  const unit = (m?.[2] ?? '').toLowerCase();
  const factor = { '': 1, b: 1, kib: 1024, kb: 1000, mib: MiB, mb: 1000 * 1000, gib: 1024 * MiB, gb: 1000 * 1000 * 1000 }[unit];
  const bytes = m && factor !== undefined ? Math.round(Number(m[1]) * factor) : NaN;
  if (!Number.isFinite(bytes) || bytes < S3_MIN_PART_BYTES || bytes > MAX_PART_BYTES) {
    throw new ConfigErrorBase(`${name}: "${String(value)}" is not a part size from 5MiB to 512MiB (e.g. "16MiB")`);
  }
  return bytes;
}

function cleanPrefix(value: unknown, name: string): string {
  const prefix = text(value, name, { allowEmpty: true }).replace(/^\/+|\/+$/g, '');
  if (prefix.split('/').some((p) => p === '.' || p === '..')) throw new ConfigErrorBase(`${name}: "${prefix}" may not contain . or .. segments`);
  return prefix;
}

/** The S3 and Azure settings from an object (the config file's storage.s3 / storage.azure). */
function s3Settings(input: Record<string, unknown>, source: Source): S3Settings {
  const known = ['endpoint', 'bucket', 'region', 'prefix', 'forcePathStyle', 'accessKeyId', 'secretAccessKey', 'partSize', 'createBucket'];
  unknownKeys(input, known, source('s3'));
  if (input.bucket === undefined) throw new ConfigErrorBase(`${source('s3.bucket')}: the S3 driver needs a bucket name`);
  const bucket = text(input.bucket, source('s3.bucket'));
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) throw new ConfigErrorBase(`${source('s3.bucket')}: "${bucket}" is not a valid bucket name (3-63 lower-case letters, digits, dots and hyphens)`);
  const endpoint = optionalText(input.endpoint, source('s3.endpoint'));
  if (endpoint !== null && !/^https?:\/\/[^/\s]+/.test(endpoint)) throw new ConfigErrorBase(`${source('s3.endpoint')}: "${endpoint}" is not an http(s) URL`);
  const accessKeyId = optionalText(input.accessKeyId, source('s3.accessKeyId'));
  const secretAccessKey = optionalText(input.secretAccessKey, source('s3.secretAccessKey'));
  if ((accessKeyId === null) !== (secretAccessKey === null)) throw new ConfigErrorBase(`${source('s3')}: accessKeyId and secretAccessKey go together (or leave both out for the AWS default chain)`);
  return {
    endpoint,
    bucket,
    region: input.region === undefined ? 'us-east-1' : text(input.region, source('s3.region')),
    prefix: input.prefix === undefined ? '' : cleanPrefix(input.prefix, source('s3.prefix')),
    forcePathStyle: input.forcePathStyle === undefined ? endpoint !== null : flag(input.forcePathStyle, source('s3.forcePathStyle')),
    accessKeyId,
    secretAccessKey,
    partBytes: input.partSize === undefined ? DEFAULT_PART_BYTES : parsePartSize(input.partSize, source('s3.partSize')),
    createBucket: input.createBucket === undefined ? true : flag(input.createBucket, source('s3.createBucket')),
  };
}

function azureSettings(input: Record<string, unknown>, source: Source): AzureSettings {
  const known = ['connectionString', 'account', 'accountKey', 'sasToken', 'endpoint', 'container', 'prefix', 'partSize', 'createContainer'];
  unknownKeys(input, known, source('azure'));
  if (input.container === undefined) throw new ConfigErrorBase(`${source('azure.container')}: the Azure driver needs a container name`);
  const container = text(input.container, source('azure.container'));
  if (!/^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$/.test(container)) throw new ConfigErrorBase(`${source('azure.container')}: "${container}" is not a valid container name (3-63 lower-case letters, digits and single hyphens)`);
  const settings: AzureSettings = {
    connectionString: optionalText(input.connectionString, source('azure.connectionString')),
    account: optionalText(input.account, source('azure.account')),
    accountKey: optionalText(input.accountKey, source('azure.accountKey')),
    sasToken: optionalText(input.sasToken, source('azure.sasToken')),
    endpoint: optionalText(input.endpoint, source('azure.endpoint')),
    container,
    prefix: input.prefix === undefined ? '' : cleanPrefix(input.prefix, source('azure.prefix')),
    partBytes: input.partSize === undefined ? DEFAULT_PART_BYTES : parsePartSize(input.partSize, source('azure.partSize')),
    createContainer: input.createContainer === undefined ? true : flag(input.createContainer, source('azure.createContainer')),
  };
  if (!settings.connectionString && !(settings.account && (settings.accountKey || settings.sasToken))) {
    throw new ConfigErrorBase(`${source('azure')}: give a connectionString, or an account with an accountKey or a sasToken`);
  }
  return settings;
}

function unknownKeys(input: Record<string, unknown>, known: string[], where: string): void {
  const unknown = Object.keys(input).filter((k) => !known.includes(k));
  if (unknown.length > 0) throw new ConfigErrorBase(`${where}: unknown setting ${unknown.map((k) => `"${k}"`).join(', ')} (known: ${known.join(', ')})`);
}

function record(value: unknown, name: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ConfigErrorBase(`${name}: must be an object`);
  return value as Record<string, unknown>;
}

/**
 * The config file's `storage` object (or the environment's, built by storageFromEnv): the driver, and
 * its section. Without `driver`, the one section given decides; with none, it is the filesystem.
 */
export function validateStorage(value: unknown, source: Source): StorageConfig {
  const input = record(value, source('storage'));
  unknownKeys(input, ['driver', 'redirect', 's3', 'azure'], source('storage'));
  const out = storageDefaults();
  if (input.driver !== undefined) {
    if (typeof input.driver !== 'string' || !(DRIVER_NAMES as readonly string[]).includes(input.driver)) {
      throw new ConfigErrorBase(`${source('storage.driver')}: "${String(input.driver)}" is not one of ${DRIVER_NAMES.join(', ')}`);
    }
    out.driver = input.driver as DriverName;
  } else if (input.s3 !== undefined && input.azure === undefined) out.driver = 's3';
  else if (input.azure !== undefined && input.s3 === undefined) out.driver = 'azure';
  if (input.redirect !== undefined) out.redirect = flag(input.redirect, source('storage.redirect'));
  const sourceIn = (key: string) => source(`storage.${key}`);
  if (input.s3 !== undefined) out.s3 = s3Settings(record(input.s3, sourceIn('s3')), sourceIn);
  if (input.azure !== undefined) out.azure = azureSettings(record(input.azure, sourceIn('azure')), sourceIn);
  if (out.driver === 's3' && !out.s3) throw new ConfigErrorBase(`${source('storage')}: the s3 driver needs its settings (a bucket at least: BERTH_STORAGE_S3_BUCKET)`);
  if (out.driver === 'azure' && !out.azure) throw new ConfigErrorBase(`${source('storage')}: the azure driver needs its settings (BERTH_STORAGE_AZURE_CONNECTION_STRING and BERTH_STORAGE_AZURE_CONTAINER)`);
  return out;
}

/** The environment's names for the storage settings. */
export const STORAGE_ENV = {
  driver: 'BERTH_STORAGE_DRIVER',
  redirect: 'BERTH_STORAGE_REDIRECT',
  's3.endpoint': 'BERTH_STORAGE_S3_ENDPOINT',
  's3.bucket': 'BERTH_STORAGE_S3_BUCKET',
  's3.region': 'BERTH_STORAGE_S3_REGION',
  's3.prefix': 'BERTH_STORAGE_S3_PREFIX',
  's3.forcePathStyle': 'BERTH_STORAGE_S3_FORCE_PATH_STYLE',
  's3.partSize': 'BERTH_STORAGE_S3_PART_SIZE',
  's3.createBucket': 'BERTH_STORAGE_S3_CREATE_BUCKET',
  'azure.connectionString': 'BERTH_STORAGE_AZURE_CONNECTION_STRING',
  'azure.container': 'BERTH_STORAGE_AZURE_CONTAINER',
  'azure.prefix': 'BERTH_STORAGE_AZURE_PREFIX',
  'azure.partSize': 'BERTH_STORAGE_AZURE_PART_SIZE',
  'azure.createContainer': 'BERTH_STORAGE_AZURE_CREATE_CONTAINER',
} as const;

/**
 * The storage settings the environment gives, layered over the config file's (`base`): an env
 * variable replaces the same setting of the file; BERTH_STORAGE_DRIVER alone can switch drivers.
 * Returns undefined when the environment names no storage setting.
 */
export function storageFromEnv(env: NodeJS.ProcessEnv, base: StorageConfig | undefined): StorageConfig | undefined {
  const given = Object.entries(STORAGE_ENV).filter(([, name]) => env[name] !== undefined && env[name] !== '');
  if (given.length === 0) return undefined;
  // Rebuild the file's settings as input, then apply the environment's on top, and validate the whole.
  const input: Record<string, unknown> = {};
  if (base) {
    input.driver = base.driver;
    input.redirect = base.redirect;
    if (base.s3) input.s3 = { ...s3Input(base.s3) };
    if (base.azure) input.azure = { ...azureInput(base.azure) };
  }
  for (const [key, name] of given) {
    const [section, field] = key.split('.') as [string, string | undefined];
    if (!field) input[section] = env[name];
    else input[section] = { ...(input[section] as Record<string, unknown> | undefined), [field]: env[name] };
  }
  const names = Object.fromEntries(Object.entries(STORAGE_ENV).map(([k, v]) => [`storage.${k}`, v]));
  return validateStorage(input, (key) => names[key] ?? (key === 'storage' ? 'BERTH_STORAGE_*' : `BERTH_STORAGE_* (${key})`));
}

function s3Input(s: S3Settings): Record<string, unknown> {
  return {
    endpoint: s.endpoint ?? undefined, bucket: s.bucket, region: s.region, prefix: s.prefix, forcePathStyle: s.forcePathStyle,
    accessKeyId: s.accessKeyId ?? undefined, secretAccessKey: s.secretAccessKey ?? undefined, partSize: s.partBytes, createBucket: s.createBucket,
  };
}

function azureInput(s: AzureSettings): Record<string, unknown> {
  return {
    connectionString: s.connectionString ?? undefined, account: s.account ?? undefined, accountKey: s.accountKey ?? undefined,
    sasToken: s.sasToken ?? undefined, endpoint: s.endpoint ?? undefined, container: s.container, prefix: s.prefix, partSize: s.partBytes,
    createContainer: s.createContainer,
  };
}
