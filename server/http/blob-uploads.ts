/**
 * /v2/<name>/blobs/uploads/: start (POST, with monolithic ?digest= and cross-repository ?mount=),
 * PATCH data, PUT to complete, GET status, DELETE to cancel.
 */
import { RegistryError } from '../registry/errors.ts';
import { parseDigest, parseName, type Digest } from '../registry/reference.ts';
import { rangeHeader, type UploadState } from '../registry/uploads.ts';
import { eventOrigin, repositoryName, sendEmpty, singleQuery, type Ctx, type RegistryServices } from './context.ts';
import { CONTENT_DIGEST_HEADER, UPLOAD_UUID_HEADER, chunkOptions, hasBody } from './headers.ts';

function uploadLocation(state: UploadState): string {
  return `/v2/${state.repository}/blobs/uploads/${state.id}`;
}

function blobLocation(repo: string, digest: Digest): string {
  return `/v2/${repo}/blobs/${digest.value}`;
}

/** 202 + Location, Range and Docker-Upload-UUID: what every step of an open session answers. */
function sessionResponse(ctx: Ctx, state: UploadState, status: 202 | 204): void {
  ctx.set('Location', uploadLocation(state));
  ctx.set('Range', rangeHeader(state.size));
  ctx.set(UPLOAD_UUID_HEADER, state.id);
  sendEmpty(ctx, status);
}

function blobCreated(ctx: Ctx, repo: string, digest: Digest): void {
  ctx.set('Location', blobLocation(repo, digest));
  ctx.set(CONTENT_DIGEST_HEADER, digest.value);
  sendEmpty(ctx, 201);
}


export function blobUploadHandlers({ uploads }: RegistryServices) {
  return {
    async startBlobUpload(ctx: Ctx): Promise<void> {
      const repo = repositoryName(ctx);
      const mount = singleQuery(ctx, 'mount');
      const from = singleQuery(ctx, 'from');
      const digestParam = singleQuery(ctx, 'digest');

      if (mount !== undefined) {
        const digest = parseDigest(mount);
        // Without "from" the spec lets a registry look for the blob anywhere; we do not, because that
        // would reveal blobs of repositories the client may not read. It gets an upload session instead.
        if (from !== undefined && (await uploads.mount(repo, parseName(from), digest, eventOrigin(ctx)))) {
          blobCreated(ctx, repo, digest);
          return;
        }
      }
      if (digestParam !== undefined) {
        // Monolithic upload: the body is the whole blob.
        const digest = parseDigest(digestParam);
        await uploads.uploadWhole(repo, digest, ctx.req, chunkOptions(ctx.req), eventOrigin(ctx));
        blobCreated(ctx, repo, digest);
        return;
      }
      sessionResponse(ctx, await uploads.start(repo), 202);
    },

    async patchBlobData(ctx: Ctx): Promise<void> {
      const repo = repositoryName(ctx);
      const id = ctx.params.uuid!;
      const current = await uploads.status(repo, id);
      const state = await uploads.append(repo, id, ctx.req, chunkOptions(ctx.req, () => current.size));
      sessionResponse(ctx, state, 202);
    },

    async putBlobUploadComplete(ctx: Ctx): Promise<void> {
      const repo = repositoryName(ctx);
      const id = ctx.params.uuid!;
      const digestParam = singleQuery(ctx, 'digest');
      if (digestParam === undefined) {
        throw new RegistryError('DIGEST_INVALID', { message: 'completing an upload needs ?digest=<digest of the whole blob>' });
      }
      const digest = parseDigest(digestParam);
      const current = await uploads.status(repo, id);
      const body = hasBody(ctx.req) ? ctx.req : null;
      await uploads.complete(repo, id, digest, body, chunkOptions(ctx.req, () => current.size), eventOrigin(ctx));
      blobCreated(ctx, repo, digest);
    },

    async getBlobUploadStatus(ctx: Ctx): Promise<void> {
      const repo = repositoryName(ctx);
      sessionResponse(ctx, await uploads.status(repo, ctx.params.uuid!), 204);
    },

    async cancelBlobUpload(ctx: Ctx): Promise<void> {
      const repo = repositoryName(ctx);
      await uploads.cancel(repo, ctx.params.uuid!);
      sendEmpty(ctx, 204);
    },
  };
}
