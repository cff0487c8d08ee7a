/**
 * The one typed configuration of a Berth server: defaults(), validation, and loading from the
 * layers a user can set, lowest first: defaults < config file (JSON) < environment < command-line flags.
 * Loopback by default: a registry is reachable from other machines only when asked for.
 */
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import ms from 'ms';
import { ConfigError } from './config-error.ts';
import { storageDefaults, storageFromEnv, validateStorage, type StorageConfig } from './storage/config.ts';
import { configuredEndpoints } from './webhooks/config.ts';
import type { ConfiguredEndpoint } from './webhooks/service.ts';
import { readProblem } from './storage/files.ts';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface BerthConfig {
  /** Address to bind: 127.0.0.1 (loopback, the default), ::1, 0.0.0.0, or a host name. */
  host: string;
  /** TCP port; 0 picks a free one. */
  port: number;
  /** Where blobs, manifests, uploads and the index live (layout: storage/paths.ts). */
  dataDir: string;
  logLevel: LogLevel;
  /** Seconds in-flight requests (uploads) get to finish when the server stops. */
  shutdownGraceSeconds: number;
  /**
   * Secret every management API request must carry (the desktop app's per-launch token); null in
   * headless mode. Set by the program that embeds the server, never read from files or the environment.
   */
  managementToken: string | null;
  /** How often garbage collection runs by itself (ms); null: never, the default (run it from the UI or CLI). */
  gcIntervalMs: number | null;
  /** Blobs, links and manifests younger than this are never collected: pushes in progress (default 1 h). */
  gcGraceMs: number;
  /** Whether scheduled collections also remove untagged manifests (default false). */
  gcUntagged: boolean;
  /** Upload sessions idle for longer than this are purged (default 24 h). */
  uploadPurgeAgeMs: number;
  /** How often idle upload sessions are purged (ms); null: never (default 1 h: purging loses nothing a client can still use). */
  uploadPurgeIntervalMs: number | null;
  /** How often retention rules are applied by themselves (ms); null: never, the default. */
  retentionIntervalMs: number | null;
  /**
   * The built web UI to serve at / (dist/renderer), or absent/null for none. Set by the program that
   * starts the server (`berth serve` finds its own build), never read from files or the environment.
   */
  uiDir?: string | null;
  /**
   * Registry authentication (auth/, http/auth.ts): 'none', or 'token' for the Docker token flow with
   * Berth's own users. Left unset, it is 'none' on a loopback address and 'token' on any other.
   */
  auth: AuthMode;
  /** With auth on: anyone may pull (and list) without logging in. */
  anonymousPull: boolean;
  /** Serve HTTPS (tls/): with tlsCert/tlsKey when given, else with certificates Berth makes itself. */
  tls: boolean;
  /** Bring-your-own certificate chain and key (PEM files); both or neither. */
  tlsCert: string | null;
  tlsKey: string | null;
  /** Serve without auth on a non-loopback address anyway (refused otherwise). */
  insecureNoAuth: boolean;
  /**
   * The password of the `admin` user created on the first start with auth on (else one is generated
   * and printed once). A secret: only from the environment (BERTH_ADMIN_PASSWORD), never a file or flag.
   */
  adminPassword: string | null;
  /** Where blobs, manifests, tags and uploads live: the data directory (default), S3 or Azure (storage/config.ts). */
  storage: StorageConfig;
  /** Webhook endpoints of the config file (webhooks/config.ts); more are added through the API or CLI. */
  webhooks?: ConfiguredEndpoint[];
  /** Pending webhook deliveries per endpoint before the oldest are dropped (default 10,000). */
  webhookQueueCap?: number;
  /**
   * Host names (or addresses) requests may name besides this machine's own (http/request-origin.ts):
   * a DNS alias or a reverse proxy's public name. Everything else is refused (DNS rebinding).
   */
  allowedHosts: string[];
  /**
   * A request body that sends no byte for this long is cut and its connection closed (ms): a stalled
   * client must not hold a connection and an open file forever. Not a limit on the whole request: a
   * slow push that keeps sending never trips it.
   */
  bodyIdleTimeoutMs: number;
  /** Request bodies one client address may be sending at once (uploads, manifests); more get 429. */
  uploadsPerClient: number;
  /**
   * Upstream registries Berth mirrors as a pull-through cache (mirror/): from the config file's `mirrors`,
   * BERTH_MIRRORS and `--mirror NAME=URL`. Empty: no mirroring, nothing changes.
   */
  mirrors: MirrorConfig[];
  /**
   * Where the metadata lives (metadata/stores.ts): nedb files in the data directory (the default), or a
   * PostgreSQL database every replica of a cluster shares (config file `metadata`, BERTH_METADATA_URL,
   * --metadata-url).
   */
  metadata: MetadataConfig;
}

export type MetadataConfig = { driver: 'nedb' } | { driver: 'postgres'; url: string };

export const METADATA_DRIVERS = ['nedb', 'postgres'] as const;

/** A database URL as node-postgres reads it: postgres://user:password@host:port/database?sslmode=... */
function parseMetadataUrl(value: unknown, source: string): string {
  const text = typeof value === 'string' ? value.trim() : '';
  let parsed: URL | null = null;
  try {
    parsed = new URL(text);
  } catch {
    parsed = null;
  }
  if (!parsed || !/^postgres(ql)?:$/.test(parsed.protocol)) {
    // Never echo the value: it may hold a password.
    throw new ConfigError(`${source}: not a PostgreSQL URL; use postgres://USER:PASSWORD@HOST:PORT/DATABASE`);
  }
  return text;
}

/** The config file's `metadata`: { "driver": "postgres", "url": "postgres://..." } or { "driver": "nedb" }. */
function parseMetadata(value: unknown, source: string): MetadataConfig {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ConfigError(`${source}: must be an object such as {"driver": "postgres", "url": "postgres://USER@HOST/DATABASE"}`);
  }
  const input = value as Record<string, unknown>;
  const unknown = Object.keys(input).filter((k) => k !== 'driver' && k !== 'url');
  if (unknown.length > 0) throw new ConfigError(`${source}: unknown setting ${unknown.map((k) => `"${k}"`).join(', ')} (known: driver, url)`);
  const driver = input.driver ?? (input.url !== undefined ? 'postgres' : 'nedb');
  if (driver === 'nedb') {
    if (input.url !== undefined) throw new ConfigError(`${source}: "url" goes with "driver": "postgres"`);
    return { driver: 'nedb' };
  }
  if (driver !== 'postgres') throw new ConfigError(`${source}: "driver" is one of ${METADATA_DRIVERS.join(', ')}`);
  if (input.url === undefined) throw new ConfigError(`${source}: "driver": "postgres" needs "url" (or set BERTH_METADATA_URL)`);
  return { driver: 'postgres', url: parseMetadataUrl(input.url, `${source} "url"`) };
}

/** One upstream of the pull-through cache, as configured (mirror/upstreams.ts reads it). */
export interface MirrorConfig {
  /**
   * The upstream's host as clients name it ("docker.io", "ghcr.io"): the namespace its cached content
   * lives under (docker.io/library/alpine), so a valid repository name component containing a dot.
   */
  name: string;
  /** Where its registry API answers: https://registry-1.docker.io (the /v2/ root). */
  url: string;
  /** Other host names clients may use for it (containerd's ?ns=, podman's path prefix). */
  aliases: string[];
  /** A cached tag is served without asking the upstream for this long after its last check (default 5 min). */
  checkIntervalMs: number;
  /** Cached tags nobody pulled for this long are dropped (default 7 days). */
  keepMs: number;
  /** Off: the upstream is never contacted; what is cached is still served. */
  enabled: boolean;
  /** Serves Docker's `registry-mirrors` requests, which name no upstream (default: docker.io, else the first). */
  default: boolean;
  /** Token realm hosts trusted besides the upstream's own host and domain (refused otherwise). */
  trustedRealms: string[];
  /** How long an upstream request may wait for an answer (and a blob body for its next bytes); default 20 s. */
  timeoutMs: number;
}

export const AUTH_MODES = ['none', 'token'] as const;
export type AuthMode = (typeof AUTH_MODES)[number];

export { ConfigError };

export const DEFAULT_PORT = 5000;

/** The per-user data directory: XDG on Linux, Application Support on macOS, %APPDATA% on Windows. */
export function defaultDataDir(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform, home = os.homedir()): string {
  if (platform === 'darwin') return path.join(home, 'Library', 'Application Support', 'Berth');
  if (platform === 'win32') return path.join(env.APPDATA || path.join(home, 'AppData', 'Roaming'), 'Berth');
  const xdg = env.XDG_DATA_HOME && path.isAbsolute(env.XDG_DATA_HOME) ? env.XDG_DATA_HOME : path.join(home, '.local', 'share');
  return path.join(xdg, 'berth');
}

export function defaults(): BerthConfig {
  return {
    host: '127.0.0.1', port: DEFAULT_PORT, dataDir: defaultDataDir(), logLevel: 'info', shutdownGraceSeconds: 10, managementToken: null,
    auth: 'none', anonymousPull: false, tls: false, tlsCert: null, tlsKey: null, insecureNoAuth: false, adminPassword: null, storage: storageDefaults(),
    mirrors: [],
    allowedHosts: [], bodyIdleTimeoutMs: DEFAULT_BODY_IDLE_TIMEOUT_MS, uploadsPerClient: DEFAULT_UPLOADS_PER_CLIENT,
    metadata: { driver: 'nedb' },
    ...lifecycleDefaults(),
  };
}

const HOUR_MS = 60 * 60 * 1000;
/** nginx's client_body_timeout: a minute between two reads of a body is already a client in trouble. */
export const DEFAULT_BODY_IDLE_TIMEOUT_MS = 60_000;
/**
 * Docker pushes 5 layers at once by default (max-concurrent-uploads), containerd and skopeo a few
 * more; 64 leaves room for several clients behind one address (NAT, a CI host) and bounds what one
 * address can hold open.
 */
export const DEFAULT_UPLOADS_PER_CLIENT = 64;

export function lifecycleDefaults(): Pick<BerthConfig, 'gcIntervalMs' | 'gcGraceMs' | 'gcUntagged' | 'uploadPurgeAgeMs' | 'uploadPurgeIntervalMs' | 'retentionIntervalMs'> {
  return { gcIntervalMs: null, gcGraceMs: HOUR_MS, gcUntagged: false, uploadPurgeAgeMs: 24 * HOUR_MS, uploadPurgeIntervalMs: HOUR_MS, retentionIntervalMs: null };
}

/** Schedules run at most once a minute: anything more often would only keep the disk busy. */
const MIN_INTERVAL_MS = 60 * 1000;

/**
 * The one parser of durations Berth takes from people (flags, environment, config file, the management
 * API): "90s", "30m", "1h", "7d", "2w" or "1.5 hours" (the ms package), in ms. A bare 0 is zero, in any
 * unit. Any other bare number is refused: "3600" could mean seconds or milliseconds, and guessing
 * wrong deletes too early. So is a negative duration, with a message that says so.
 */
export function parseDuration(value: unknown, source: string, min = 0, accepted = 'a number with a unit: 30s, 15m, 1h, 7d'): number {
  const text = typeof value === 'string' ? value.trim() : typeof value === 'number' ? String(value) : '';
  const shown = `"${String(value)}"`;
  const least = min > 0 ? ` of at least ${ms(min, { long: true })}` : '';
  const examples = `use ${accepted}`;
  if (/^-/.test(text)) throw new ConfigError(`${source}: ${shown} is negative; ${examples}`);
  if (/^0*\.?0*$/.test(text) && text !== '' && text !== '.') {
    if (min > 0) throw new ConfigError(`${source}: ${shown} is less than ${ms(min, { long: true })}; ${examples}`);
    return 0;
  }
  if (/^[\d.]+$/.test(text)) throw new ConfigError(`${source}: ${shown} has no unit (seconds? minutes?); ${examples}`);
  const parsed = text ? ms(text as ms.StringValue) : undefined;
  if (typeof parsed !== 'number' || !Number.isFinite(parsed) || parsed < min) {
    throw new ConfigError(`${source}: ${shown} is not a duration${least}; ${examples}`);
  }
  return parsed;
}

/**
 * A schedule: "off" (or false) for never, else a duration between runs. Its examples are ones a
 * schedule takes (the general "30s" is under the minute, and would be refused in turn).
 */
function parseSchedule(value: unknown, source: string): number | null {
  if (value === false || value === 'off' || value === 'never') return null;
  return parseDuration(value, source, MIN_INTERVAL_MS, '"off" or a duration of at least 1 minute: 15m, 1h, 24h, 7d');
}

/** The settings a config file, the environment or flags may carry, by their external names. */
export interface ConfigInput {
  host?: unknown;
  port?: unknown;
  data?: unknown;
  logLevel?: unknown;
  shutdownGraceSeconds?: unknown;
  gcSchedule?: unknown;
  gcGrace?: unknown;
  gcUntagged?: unknown;
  uploadPurgeAge?: unknown;
  uploadPurgeSchedule?: unknown;
  retentionSchedule?: unknown;
  auth?: unknown;
  anonymousPull?: unknown;
  tls?: unknown;
  tlsCert?: unknown;
  tlsKey?: unknown;
  insecureNoAuth?: unknown;
  storage?: unknown;
  webhookQueueCap?: unknown;
  /** A list of upstreams: "NAME=URL" strings or objects (file), "NAME=URL,NAME=URL" (environment), repeated flags. */
  mirrors?: unknown;
  allowedHosts?: unknown;
  bodyIdleTimeout?: unknown;
  uploadsPerClient?: unknown;
  /** An object (file); a URL alone (BERTH_METADATA_URL, --metadata-url) means PostgreSQL. */
  metadata?: unknown;
}

const INPUT_KEYS = [
  'host', 'port', 'data', 'logLevel', 'shutdownGraceSeconds', 'auth', 'anonymousPull', 'tls', 'tlsCert', 'tlsKey', 'insecureNoAuth',
  'gcSchedule', 'gcGrace', 'gcUntagged', 'uploadPurgeAge', 'uploadPurgeSchedule', 'retentionSchedule',
  'allowedHosts', 'bodyIdleTimeout', 'uploadsPerClient', 'webhookQueueCap', 'mirrors', 'storage', 'metadata',
] as const;

/** A switch as a file (true/false), the environment or a flag ("true", "1", "yes"...) gives it. */
function parseSwitch(value: unknown, name: string): boolean {
  if (typeof value === 'boolean') return value;
  if (typeof value === 'string' && /^(1|true|yes|on)$/i.test(value)) return true;
  if (typeof value === 'string' && /^(0|false|no|off)$/i.test(value)) return false;
  throw new ConfigError(`${name}: "${String(value)}" is not true or false`);
}

/** Loopback hosts: only this machine can connect, so no credentials are needed by default. */
export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** Validates one layer of settings; `source` names it in error messages ("--port", "BERTH_PORT", a file). */
export function validate(input: ConfigInput, source: (key: string) => string): Partial<BerthConfig> {
  const out: Partial<BerthConfig> = {};
  if (input.host !== undefined) {
    if (typeof input.host !== 'string' || !/^[A-Za-z0-9.:%[\]-]{1,253}$/.test(input.host)) {
      throw new ConfigError(`${source('host')}: "${String(input.host)}" is not a host name or IP address`);
    }
    out.host = input.host.replace(/^\[(.*)\]$/, '$1');
  }
  if (input.port !== undefined) {
    const port = typeof input.port === 'string' && /^\d+$/.test(input.port) ? Number(input.port) : input.port;
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535) {
      throw new ConfigError(`${source('port')}: "${String(input.port)}" is not a port number (0-65535)`);
    }
    out.port = port;
  }
  if (input.data !== undefined) {
    if (typeof input.data !== 'string' || input.data.trim() === '') throw new ConfigError(`${source('data')}: needs a directory path`);
    out.dataDir = path.resolve(input.data);
  }
  if (input.logLevel !== undefined) {
    if (typeof input.logLevel !== 'string' || !(LOG_LEVELS as readonly string[]).includes(input.logLevel)) {
      throw new ConfigError(`${source('logLevel')}: "${String(input.logLevel)}" is not one of ${LOG_LEVELS.join(', ')}`);
    }
    out.logLevel = input.logLevel as LogLevel;
  }
  if (input.shutdownGraceSeconds !== undefined) {
    const value = Number(input.shutdownGraceSeconds);
    if (!Number.isFinite(value) || value < 0 || value > 3600) {
      throw new ConfigError(`${source('shutdownGraceSeconds')}: must be a number of seconds from 0 to 3600`);
    }
    out.shutdownGraceSeconds = value;
  }
  if (input.gcSchedule !== undefined) out.gcIntervalMs = parseSchedule(input.gcSchedule, source('gcSchedule'));
  if (input.gcGrace !== undefined) out.gcGraceMs = parseDuration(input.gcGrace, source('gcGrace'));
  if (input.gcUntagged !== undefined) out.gcUntagged = parseSwitch(input.gcUntagged, source('gcUntagged'));
  if (input.uploadPurgeAge !== undefined) out.uploadPurgeAgeMs = parseDuration(input.uploadPurgeAge, source('uploadPurgeAge'));
  if (input.uploadPurgeSchedule !== undefined) out.uploadPurgeIntervalMs = parseSchedule(input.uploadPurgeSchedule, source('uploadPurgeSchedule'));
  if (input.retentionSchedule !== undefined) out.retentionIntervalMs = parseSchedule(input.retentionSchedule, source('retentionSchedule'));
  if (input.auth !== undefined) {
    if (typeof input.auth !== 'string' || !(AUTH_MODES as readonly string[]).includes(input.auth)) {
      throw new ConfigError(`${source('auth')}: "${String(input.auth)}" is not one of ${AUTH_MODES.join(', ')}`);
    }
    out.auth = input.auth as AuthMode;
  }
  if (input.anonymousPull !== undefined) out.anonymousPull = parseSwitch(input.anonymousPull, source('anonymousPull'));
  if (input.tls !== undefined) out.tls = parseSwitch(input.tls, source('tls'));
  if (input.insecureNoAuth !== undefined) out.insecureNoAuth = parseSwitch(input.insecureNoAuth, source('insecureNoAuth'));
  if (input.webhookQueueCap !== undefined) {
    const cap = Number(input.webhookQueueCap);
    if (!Number.isInteger(cap) || cap < 1 || cap > 1_000_000) throw new ConfigError(`${source('webhookQueueCap')}: must be a whole number of deliveries from 1 to 1000000`);
    out.webhookQueueCap = cap;
  }
  if (input.allowedHosts !== undefined) out.allowedHosts = parseHostList(input.allowedHosts, source('allowedHosts'));
  if (input.bodyIdleTimeout !== undefined) out.bodyIdleTimeoutMs = parseDuration(input.bodyIdleTimeout, source('bodyIdleTimeout'), 1000);
  if (input.uploadsPerClient !== undefined) {
    const value = typeof input.uploadsPerClient === 'string' && /^\d+$/.test(input.uploadsPerClient) ? Number(input.uploadsPerClient) : input.uploadsPerClient;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 100_000) {
      throw new ConfigError(`${source('uploadsPerClient')}: "${String(input.uploadsPerClient)}" is not a whole number from 1 to 100000`);
    }
    out.uploadsPerClient = value;
  }
  for (const key of ['tlsCert', 'tlsKey'] as const) {
    const value = input[key];
    if (value === undefined) continue;
    if (typeof value !== 'string' || value.trim() === '') throw new ConfigError(`${source(key)}: needs a file path`);
    out[key] = path.resolve(value);
  }
  if (input.storage !== undefined) out.storage = validateStorage(input.storage, source);
  if (input.mirrors !== undefined) out.mirrors = parseMirrors(input.mirrors, source('mirrors'));
  if (input.metadata !== undefined) {
    out.metadata = typeof input.metadata === 'string'
      ? { driver: 'postgres', url: parseMetadataUrl(input.metadata, source('metadata')) }
      : parseMetadata(input.metadata, source('metadata'));
  }
  return out;
}

// ---- upstreams of the pull-through cache ---------------------------------------------------------

/** A repository name component (OCI Distribution Spec v1.1 name grammar) with at least one dot: a host name. */
const MIRROR_NAME_RE = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/;
/** host or host:port, as clients name a registry (containerd's ns, podman's prefix). */
const HOST_RE = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*(?::\d{1,5})?$/;
/** Docker Hub's names: its registry answers at registry-1.docker.io, clients call it docker.io. */
export const DOCKER_HUB_HOSTS = ['docker.io', 'registry-1.docker.io', 'index.docker.io'] as const;

const MIRROR_KEYS = ['name', 'url', 'aliases', 'checkInterval', 'keep', 'enabled', 'default', 'trustedRealms', 'timeout'] as const;

export function mirrorDefaults(name: string, url: string): MirrorConfig {
  const host = new URL(url).host;
  const hub = DOCKER_HUB_HOSTS.some((h) => h === name || h === host);
  return {
    name, url, aliases: hub ? DOCKER_HUB_HOSTS.filter((h) => h !== name) : [],
    checkIntervalMs: 5 * 60_000, keepMs: 7 * 24 * HOUR_MS, enabled: true, default: false, trustedRealms: [], timeoutMs: 20_000,
  };
}

/** Checks an upstream's name and URL; returns the URL without a trailing slash. */
export function checkMirrorAddress(name: unknown, url: unknown, where: string): { name: string; url: string } {
  if (typeof name !== 'string' || !MIRROR_NAME_RE.test(name) || !name.includes('.') || name.length > 128) {
    throw new ConfigError(`${where}: the upstream name "${String(name)}" must be its registry's host name as clients write it, such as docker.io or ghcr.io (lowercase, with a dot, no port)`);
  }
  let parsed: URL | null = null;
  try {
    parsed = typeof url === 'string' ? new URL(url) : null;
  } catch {
    parsed = null;
  }
  if (!parsed || (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') || parsed.username || parsed.password || parsed.search || parsed.hash || (parsed.pathname !== '/' && parsed.pathname !== '')) {
    throw new ConfigError(`${where}: "${String(url)}" is not a registry URL; give its root, such as https://registry-1.docker.io (credentials go in the Mirrors page, not the URL)`);
  }
  return { name, url: `${parsed.protocol}//${parsed.host}` };
}

/** Checks a list of host[:port] names (aliases, trusted realms). */
export function checkHosts(value: unknown, where: string): string[] {
  if (!Array.isArray(value) || !value.every((h) => typeof h === 'string' && HOST_RE.test(h.toLowerCase()))) {
    throw new ConfigError(`${where}: must be a list of host names (host or host:port)`);
  }
  return [...new Set(value.map((h: string) => h.toLowerCase()))];
}

function parseMirrorEntry(entry: unknown, where: string): MirrorConfig {
  if (typeof entry === 'string') {
    const eq = entry.indexOf('=');
    if (eq <= 0) throw new ConfigError(`${where}: "${entry}" is not NAME=URL, such as docker.io=https://registry-1.docker.io`);
    const { name, url } = checkMirrorAddress(entry.slice(0, eq).trim(), entry.slice(eq + 1).trim(), where);
    return mirrorDefaults(name, url);
  }
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
    throw new ConfigError(`${where}: each upstream is "NAME=URL" or an object with "name" and "url"`);
  }
  const input = entry as Record<string, unknown>;
  const unknown = Object.keys(input).filter((k) => !(MIRROR_KEYS as readonly string[]).includes(k));
  if (unknown.length > 0) throw new ConfigError(`${where}: unknown upstream setting ${unknown.map((k) => `"${k}"`).join(', ')} (known: ${MIRROR_KEYS.join(', ')})`);
  const { name, url } = checkMirrorAddress(input.name, input.url, where);
  const out = mirrorDefaults(name, url);
  const at = (key: string) => `${where} (${name}) "${key}"`;
  if (input.aliases !== undefined) out.aliases = checkHosts(input.aliases, at('aliases')).filter((h) => h !== name);
  if (input.checkInterval !== undefined) out.checkIntervalMs = parseDuration(input.checkInterval, at('checkInterval'));
  if (input.keep !== undefined) out.keepMs = parseDuration(input.keep, at('keep'), 1000);
  if (input.enabled !== undefined) out.enabled = parseSwitch(input.enabled, at('enabled'));
  if (input.default !== undefined) out.default = parseSwitch(input.default, at('default'));
  if (input.trustedRealms !== undefined) out.trustedRealms = checkHosts(input.trustedRealms, at('trustedRealms'));
  if (input.timeout !== undefined) out.timeoutMs = parseDuration(input.timeout, at('timeout'), 100);
  return out;
}

/** A list of upstreams; a list given as one string is comma-separated (BERTH_MIRRORS). */
export function parseMirrors(value: unknown, where: string): MirrorConfig[] {
  const entries = typeof value === 'string' ? value.split(',').map((s) => s.trim()).filter(Boolean) : value;
  if (!Array.isArray(entries)) throw new ConfigError(`${where}: must be a list of upstreams ("NAME=URL" or objects)`);
  const out: MirrorConfig[] = [];
  for (const entry of entries) {
    const mirror = parseMirrorEntry(entry, where);
    if (out.some((m) => m.name === mirror.name)) throw new ConfigError(`${where}: the upstream ${mirror.name} is listed twice`);
    out.push(mirror);
  }
  checkMirrorClashes(out, where);
  return out;
}

/** No two upstreams may answer to the same host name (which one would a client mean?). */
export function checkMirrorClashes(mirrors: readonly MirrorConfig[], where: string): void {
  const owner = new Map<string, string>();
  for (const m of mirrors) {
    for (const host of [m.name, ...m.aliases]) {
      const other = owner.get(host);
      if (other && other !== m.name) throw new ConfigError(`${where}: ${host} names both ${other} and ${m.name}`);
      owner.set(host, m.name);
    }
  }
}

/**
 * Merges the layers' upstream lists by name: a later layer (environment, then flags) replaces the URL
 * of an upstream an earlier one (the file) named, keeping its other settings, and adds the others.
 */
export function mergeMirrors(...layers: (MirrorConfig[] | undefined)[]): MirrorConfig[] {
  const out: MirrorConfig[] = [];
  for (const layer of layers) {
    for (const mirror of layer ?? []) {
      const at = out.findIndex((m) => m.name === mirror.name);
      if (at < 0) out.push(mirror);
      else out[at] = { ...out[at]!, url: mirror.url };
    }
  }
  checkMirrorClashes(out, 'mirrors');
  return out;
}

const HOST_NAME = /^(?=.{1,253}$)[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9])?(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9])?)*\.?$/;

/** Host names or IP addresses: a JSON array (a file) or a comma-separated list (the environment). */
function parseHostList(value: unknown, source: string): string[] {
  const items = typeof value === 'string' ? value.split(',') : Array.isArray(value) ? value : null;
  if (!items) throw new ConfigError(`${source}: must be a list of host names`);
  const hosts: string[] = [];
  for (const item of items) {
    const text = typeof item === 'string' ? item.trim().toLowerCase().replace(/^\[(.*)\]$/, '$1') : '';
    if (text === '' && typeof value === 'string') continue;
    if (!HOST_NAME.test(text) && net.isIP(text) === 0) {
      throw new ConfigError(`${source}: "${String(item)}" is not a host name or IP address (no port, no scheme)`);
    }
    hosts.push(text);
  }
  return [...new Set(hosts)];
}

/**
 * Checks the settings together, once every layer is merged: the auth default that depends on the
 * address, bring-your-own TLS files as a pair, and no open registry on the network unless forced.
 */
export function finish(config: BerthConfig, authGiven: boolean): BerthConfig {
  const out = { ...config };
  if (!authGiven && !isLoopbackHost(out.host) && !out.insecureNoAuth) out.auth = 'token';
  if ((out.tlsCert === null) !== (out.tlsKey === null)) {
    throw new ConfigError(`--tls-cert and --tls-key go together: give both (a PEM certificate chain and its private key) or neither`);
  }
  if (out.tlsCert !== null) out.tls = true;
  if (out.auth === 'none' && !isLoopbackHost(out.host) && !out.insecureNoAuth) {
    throw new ConfigError(
      `refusing to serve on ${out.host} without authentication: anyone who can reach this machine could push and delete images. ` +
        `Use --auth token (and "berth user add"), bind to 127.0.0.1, or pass --insecure-no-auth to accept the risk`,
    );
  }
  return out;
}

export async function readConfigFile(file: string, env: NodeJS.ProcessEnv = process.env): Promise<Partial<BerthConfig>> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`config file ${file}: ${readProblem(err)}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`config file ${file}: not valid JSON (${(err as Error).message})`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ConfigError(`config file ${file}: must be a JSON object`);
  }
  const { webhooks, ...settings } = parsed as Record<string, unknown>;
  const unknown = Object.keys(settings).filter((k) => !(INPUT_KEYS as readonly string[]).includes(k));
  if (unknown.length > 0) {
    throw new ConfigError(`config file ${file}: unknown setting ${unknown.map((k) => `"${k}"`).join(', ')} (known: ${INPUT_KEYS.join(', ')}, webhooks)`);
  }
  const relative = settings as ConfigInput;
  // A relative data path in a config file is relative to the file, not to the working directory.
  if (typeof relative.data === 'string') relative.data = path.resolve(path.dirname(file), relative.data);
  for (const key of ['tlsCert', 'tlsKey'] as const) {
    const value = relative[key];
    if (typeof value === 'string' && value.trim() !== '') relative[key] = path.resolve(path.dirname(file), value);
  }
  const out = validate(relative, (key) => `config file ${file}: "${key}"`);
  if (webhooks !== undefined) out.webhooks = await configuredEndpoints(webhooks, file, env, (message) => new ConfigError(`config file ${file}: ${message}`));
  return out;
}

/** The storage lifecycle's settings in the environment: BERTH_GC_SCHEDULE, BERTH_GC_GRACE, ... */
const LIFECYCLE_ENV = {
  gcSchedule: 'BERTH_GC_SCHEDULE',
  gcGrace: 'BERTH_GC_GRACE',
  gcUntagged: 'BERTH_GC_UNTAGGED',
  uploadPurgeAge: 'BERTH_UPLOAD_PURGE_AGE',
  uploadPurgeSchedule: 'BERTH_UPLOAD_PURGE_SCHEDULE',
  retentionSchedule: 'BERTH_RETENTION_SCHEDULE',
} as const;

/** The request-handling limits in the environment. */
const LIMITS_ENV = {
  allowedHosts: 'BERTH_ALLOWED_HOSTS',
  bodyIdleTimeout: 'BERTH_BODY_IDLE_TIMEOUT',
  uploadsPerClient: 'BERTH_UPLOADS_PER_CLIENT',
} as const;

export function fromEnv(env: NodeJS.ProcessEnv): Partial<BerthConfig> {
  const names: Record<string, string> = {
    host: 'BERTH_HOST', port: 'BERTH_PORT', data: 'BERTH_DATA', logLevel: 'BERTH_LOG_LEVEL', auth: 'BERTH_AUTH', anonymousPull: 'BERTH_ANONYMOUS_PULL',
    tls: 'BERTH_TLS', tlsCert: 'BERTH_TLS_CERT', tlsKey: 'BERTH_TLS_KEY', insecureNoAuth: 'BERTH_INSECURE_NO_AUTH', mirrors: 'BERTH_MIRRORS',
    metadata: 'BERTH_METADATA_URL',
    ...LIFECYCLE_ENV,
    ...LIMITS_ENV,
  };
  const lifecycle: ConfigInput = {};
  for (const [key, name] of Object.entries({ ...LIFECYCLE_ENV, ...LIMITS_ENV })) if (env[name]) lifecycle[key as keyof ConfigInput] = env[name];
  return validate(
    {
      host: env.BERTH_HOST || undefined, port: env.BERTH_PORT || undefined, data: env.BERTH_DATA || undefined, logLevel: env.BERTH_LOG_LEVEL || undefined,
      auth: env.BERTH_AUTH || undefined, anonymousPull: env.BERTH_ANONYMOUS_PULL || undefined, tls: env.BERTH_TLS || undefined,
      tlsCert: env.BERTH_TLS_CERT || undefined, tlsKey: env.BERTH_TLS_KEY || undefined, insecureNoAuth: env.BERTH_INSECURE_NO_AUTH || undefined,
      mirrors: env.BERTH_MIRRORS || undefined,
      metadata: env.BERTH_METADATA_URL || undefined,
      ...lifecycle,
    },
    (key) => names[key] ?? key,
  );
}

export async function loadConfig(options: { flags?: ConfigInput; configFile?: string; env?: NodeJS.ProcessEnv }): Promise<BerthConfig> {
  const env = options.env ?? process.env;
  // `--config=` (an empty value, say from an unset variable) is a mistake to name, not "no file".
  if (options.configFile !== undefined && options.configFile.trim() === '') throw new ConfigError('--config: needs a file path');
  const file = options.configFile ?? (env.BERTH_CONFIG || undefined);
  const fromFile = file ? await readConfigFile(path.resolve(file), env) : {};
  const flagNames: Record<string, string> = {
    host: '--host', port: '--port', data: '--data', logLevel: '--log-level', anonymousPull: '--anonymous-pull',
    tlsCert: '--tls-cert', tlsKey: '--tls-key', insecureNoAuth: '--insecure-no-auth', mirrors: '--mirror', metadata: '--metadata-url',
  };
  const fromFlags = validate(options.flags ?? {}, (key) => flagNames[key] ?? `--${key}`);
  const environment = fromEnv(env);
  const storage = storageFromEnv(env, fromFile.storage);
  if (storage) environment.storage = storage;
  const authGiven = [fromFile, environment, fromFlags].some((layer) => layer.auth !== undefined);
  const mirrors = mergeMirrors(fromFile.mirrors, environment.mirrors, fromFlags.mirrors);
  return finish({ ...defaults(), ...fromFile, ...environment, ...fromFlags, mirrors, adminPassword: env.BERTH_ADMIN_PASSWORD || null }, authGiven);
}
