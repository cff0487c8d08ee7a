/**
 * THE route table: every endpoint of the OCI Distribution Spec v1.1 / Docker Registry HTTP API V2
 * (spec "Endpoints" end-1 .. end-13). Repository names contain '/', so routes are native RegExps; the
 * captures are named by `params` and decoded once here. Names, digests and references are validated
 * by the handlers, so a malformed one gets its own error code instead of a 404 from the router.
 */
import type { Ctx, Handler, RegistryServices } from './context.ts';
import { blobHandlers } from './blobs.ts';
import { blobUploadHandlers } from './blob-uploads.ts';
import { listingHandlers } from './listings.ts';
import { manifestHandlers } from './manifests.ts';
import { baseHandlers } from './base.ts';

export type Method = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface Route {
  method: Method;
  pattern: RegExp;
  params: readonly string[];
  handler: Handler;
}

const NAME = '(.+)';
const SEGMENT = '([^/]+)';

export function registryRoutes(services: RegistryServices): Route[] {
  const base = baseHandlers();
  const blobs = blobHandlers(services);
  const uploads = blobUploadHandlers(services);
  const manifests = manifestHandlers(services);
  const listings = listingHandlers(services);

  const blob = new RegExp(`^/v2/${NAME}/blobs/${SEGMENT}$`);
  const uploadStart = new RegExp(`^/v2/${NAME}/blobs/uploads/?$`);
  const upload = new RegExp(`^/v2/${NAME}/blobs/uploads/${SEGMENT}$`);
  const manifest = new RegExp(`^/v2/${NAME}/manifests/${SEGMENT}$`);
  const tags = new RegExp(`^/v2/${NAME}/tags/list$`);
  const referrers = new RegExp(`^/v2/${NAME}/referrers/${SEGMENT}$`);

  // Order matters only where patterns overlap: uploads before blobs, HEAD before GET.
  return [
    { method: 'GET', pattern: /^\/v2\/?$/, params: [], handler: base.getBase },
    { method: 'GET', pattern: /^\/v2\/_catalog$/, params: [], handler: listings.getCatalog },
    { method: 'POST', pattern: uploadStart, params: ['name'], handler: uploads.startBlobUpload },
    { method: 'GET', pattern: upload, params: ['name', 'uuid'], handler: uploads.getBlobUploadStatus },
    { method: 'PATCH', pattern: upload, params: ['name', 'uuid'], handler: uploads.patchBlobData },
    { method: 'PUT', pattern: upload, params: ['name', 'uuid'], handler: uploads.putBlobUploadComplete },
    { method: 'DELETE', pattern: upload, params: ['name', 'uuid'], handler: uploads.cancelBlobUpload },
    { method: 'HEAD', pattern: blob, params: ['name', 'digest'], handler: blobs.headBlob },
    { method: 'GET', pattern: blob, params: ['name', 'digest'], handler: blobs.getBlob },
    { method: 'DELETE', pattern: blob, params: ['name', 'digest'], handler: blobs.deleteBlob },
    { method: 'HEAD', pattern: manifest, params: ['name', 'reference'], handler: manifests.headManifest },
    { method: 'GET', pattern: manifest, params: ['name', 'reference'], handler: manifests.getManifest },
    { method: 'PUT', pattern: manifest, params: ['name', 'reference'], handler: manifests.putManifest },
    { method: 'DELETE', pattern: manifest, params: ['name', 'reference'], handler: manifests.deleteManifest },
    { method: 'GET', pattern: tags, params: ['name'], handler: listings.listTags },
    { method: 'GET', pattern: referrers, params: ['name', 'digest'], handler: listings.getReferrers },
  ];
}

/** Names the captures of a matched route (percent-decoded; a bad escape is left as is and fails validation). */
export function bindParams(ctx: Ctx, route: Route, captures: readonly string[]): void {
  const params: Record<string, string> = {};
  route.params.forEach((name, i) => {
    const raw = captures[i] ?? '';
    try {
      params[name] = decodeURIComponent(raw);
    } catch {
      params[name] = raw;
    }
  });
  ctx.params = params;
}
