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
