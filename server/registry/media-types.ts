/** Media types from the OCI Image Spec v1.1 and the Docker Image Manifest V2 Schema 2. */

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
/** Image spec v1.1 "Guidance for an Empty Descriptor": the two bytes `{}`. */
export const OCI_EMPTY = 'application/vnd.oci.empty.v1+json';
export const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
export const DOCKER_MANIFEST_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
export const DOCKER_CONFIG = 'application/vnd.docker.container.image.v1+json';
/** Schema 1, deprecated since 2017 and refused here (Docker itself stopped pushing it in 20.10). */
export const DOCKER_SCHEMA1 = 'application/vnd.docker.distribution.manifest.v1+json';
export const DOCKER_SCHEMA1_SIGNED = 'application/vnd.docker.distribution.manifest.v1+prettyjws';

export const MANIFEST_MEDIA_TYPES = [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST] as const;
export type ManifestMediaType = (typeof MANIFEST_MEDIA_TYPES)[number];

export function isManifestMediaType(value: string): value is ManifestMediaType {
  return (MANIFEST_MEDIA_TYPES as readonly string[]).includes(value);
}

export function isIndexMediaType(value: string): boolean {
  return value === OCI_INDEX || value === DOCKER_MANIFEST_LIST;
}

/** Config media types whose blob is an image configuration we can read platform and history from. */
export function isImageConfigMediaType(value: string): boolean {
  return value === OCI_CONFIG || value === DOCKER_CONFIG;
}

/**
 * Media types of an `Accept` header value. Node joins repeated header lines with ", ", and clients
 * send several lines (Docker one per type), so this splits on commas and drops parameters, except that
 * a type weighted q=0 is left out: RFC 9110 §12.4.2 makes weight 0 mean "not acceptable".
 * Returns null when the header lists no type at all, or a wildcard that matches manifests.
 */
export function parseAccept(header: string | undefined): Set<string> | null {
  if (!header) return null;
  const types = new Set<string>();
  let listed = false;
  for (const part of header.split(',')) {
    const [range = '', ...params] = part.split(';');
    const type = range.trim().toLowerCase();
    if (!type) continue;
    listed = true;
    if (params.some((p) => /^\s*q\s*=\s*0(?:\.0{0,3})?\s*$/i.test(p))) continue;
    if (type === '*/*' || type === 'application/*') return null;
    types.add(type);
  }
  return listed ? types : null;
}

/** The bare media type of a Content-Type header (parameters dropped), or '' when absent. */
export function bareMediaType(contentType: string | undefined): string {
  return (contentType ?? '').split(';', 1)[0]!.trim().toLowerCase();
}
