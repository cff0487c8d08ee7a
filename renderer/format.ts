/** How numbers, sizes, times and digests read in the UI. */
import prettyBytes from 'pretty-bytes';

/** "1.05 MB": SI units, as `docker images` shows them. */
export function formatBytes(bytes: number): string {
  return prettyBytes(bytes, { maximumFractionDigits: bytes >= 1e9 ? 2 : 1 });
}

export function formatRate(bytesPerSecond: number): string {
  return `${formatBytes(bytesPerSecond)}/s`;
}

export function formatCount(n: number, one: string, many = `${one}s`): string {
  return `${n.toLocaleString()} ${n === 1 ? one : many}`;
}

const absolute = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
const relative = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });

export function formatAbsolute(iso: string): string {
  return absolute.format(new Date(iso));
}

const STEPS: [Intl.RelativeTimeFormatUnit, number][] = [
  ['second', 60],
  ['minute', 60],
  ['hour', 24],
  ['day', 7],
  ['week', 4.35],
  ['month', 12],
  ['year', Number.POSITIVE_INFINITY],
];

/** "3 minutes ago", "yesterday", "just now". */
export function formatRelative(iso: string, now: number): string {
  let value = (new Date(iso).getTime() - now) / 1000;
  if (Math.abs(value) < 10) return 'just now';
  for (const [unit, size] of STEPS) {
    if (Math.abs(value) < size) return relative.format(Math.round(value), unit);
    value /= size;
  }
  return relative.format(Math.round(value), 'year');
}

/** "sha256:0123456789ab": enough to tell digests apart at a glance. */
export function shortDigest(digest: string): string {
  const [algorithm, hex = ''] = digest.split(':');
  return `${algorithm}:${hex.slice(0, 12)}`;
}

/** "linux/arm64/v8" -> "linux/arm64/v8"; null -> "unknown platform". */
export function platformName(platform: string | null): string {
  return platform ?? 'unknown platform';
}

/** A short readable name for a media type: "OCI image manifest", "Docker layer (gzip)". */
export function mediaTypeName(mediaType: string): string {
  const known: Record<string, string> = {
    'application/vnd.oci.image.manifest.v1+json': 'OCI image manifest',
    'application/vnd.oci.image.index.v1+json': 'OCI image index',
    'application/vnd.docker.distribution.manifest.v2+json': 'Docker manifest v2',
    'application/vnd.docker.distribution.manifest.list.v2+json': 'Docker manifest list',
    'application/vnd.oci.image.config.v1+json': 'OCI image config',
    'application/vnd.docker.container.image.v1+json': 'Docker image config',
    'application/vnd.oci.image.layer.v1.tar+gzip': 'OCI layer (gzip)',
    'application/vnd.oci.image.layer.v1.tar+zstd': 'OCI layer (zstd)',
    'application/vnd.oci.image.layer.v1.tar': 'OCI layer (uncompressed)',
    'application/vnd.docker.image.rootfs.diff.tar.gzip': 'Docker layer (gzip)',
    'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip': 'Docker foreign layer',
    'application/vnd.oci.empty.v1+json': 'Empty',
  };
  return known[mediaType] ?? mediaType;
}

const DURATION_UNITS: [suffix: string, name: string, seconds: number][] = [
  ['d', 'day', 86_400],
  ['h', 'hour', 3_600],
  ['m', 'minute', 60],
  ['s', 'second', 1],
];

/** The largest unit that measures `seconds` exactly: 5400 -> [90, minute]. */
function exactUnit(seconds: number): [value: number, suffix: string, name: string] {
  for (const [suffix, name, size] of DURATION_UNITS) {
    if (seconds >= size && seconds % size === 0) return [seconds / size, suffix, name];
  }
  return [seconds, 's', 'second'];
}

/** A duration as the server parses it ("1h", "90m", "0s"): exact, never rounded. */
export function durationInput(seconds: number): string {
  const [value, suffix] = exactUnit(seconds);
  return `${value}${suffix}`;
}

/** A configured interval in words: 3600 -> "1 hour", 5400 -> "90 minutes". */
export function formatInterval(seconds: number): string {
  const [value, , name] = exactUnit(seconds);
  return formatCount(value, name);
}

/** How long a run took: "850 ms", "4.2 s", "3 min 5 s". */
export function formatElapsed(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const seconds = Math.round(ms / 1000);
  return `${Math.floor(seconds / 60)} min ${seconds % 60} s`;
}
