/** GET, HEAD, PUT and DELETE /v2/<name>/manifests/<reference>. */
import getRawBody from 'raw-body';
import { RegistryError } from '../registry/errors.ts';
import { MAX_MANIFEST_BYTES } from '../registry/manifests.ts';
import { parseAccept } from '../registry/media-types.ts';
import { parseDigest } from '../registry/reference.ts';
import { eventOrigin, repositoryName, sendEmpty, singleQuery, type Ctx, type RegistryServices } from './context.ts';
import { CONTENT_DIGEST_HEADER, OCI_SUBJECT_HEADER, contentLength, ifNoneMatchHolds } from './headers.ts';
import { offerAnswer } from './manifest-answers.ts';
import { mirrorTarget } from './mirror.ts';

export function manifestHandlers({ manifests, mirror }: RegistryServices) {
  async function respond(ctx: Ctx, withBody: boolean): Promise<void> {
    const repo = repositoryName(ctx);
    const accept = parseAccept(ctx.get('Accept') || undefined);
    const target = mirrorTarget(ctx);
    const manifest = target && mirror
      ? await mirror.getManifest(target, ctx.params.reference!, accept, withBody ? { pull: true, origin: eventOrigin(ctx) } : {})
      : await manifests.get(repo, ctx.params.reference!, accept, withBody ? { pull: true, origin: eventOrigin(ctx) } : {});
    ctx.set('Content-Type', manifest.mediaType);
    ctx.set(CONTENT_DIGEST_HEADER, manifest.digest.value);
    ctx.set('ETag', `"${manifest.digest.value}"`);
    if (ifNoneMatchHolds(ctx.get('If-None-Match') || undefined, `"${manifest.digest.value}"`)) {
      sendEmpty(ctx, 304);
      return;
    }
    ctx.status = 200;
    if (withBody) ctx.body = manifest.bytes;
    ctx.length = manifest.bytes.length;
    // The same request may be answered the same way again, until the store changes (manifest-answers.ts).
    if (!target) offerAnswer(ctx.res, { repository: repo, reference: ctx.params.reference!, digest: manifest.digest.value, mediaType: manifest.mediaType, bytes: manifest.bytes });
  }

  return {
    async headManifest(ctx: Ctx): Promise<void> {
      await respond(ctx, false);
    },

    async getManifest(ctx: Ctx): Promise<void> {
      await respond(ctx, true);
    },

    async putManifest(ctx: Ctx): Promise<void> {
      const repo = repositoryName(ctx);
      // ?digest=<algorithm>:<hex>: the digest the client computed, by the algorithm it wants (see ManifestService.put).
      const digestParam = singleQuery(ctx, 'digest');
      const expected = digestParam === undefined ? undefined : parseDigest(digestParam);
      const bytes = await readManifestBody(ctx);
      const pushed = await manifests.put(repo, ctx.params.reference!, ctx.get('Content-Type') || undefined, bytes, expected, eventOrigin(ctx));
      ctx.set('Location', `/v2/${repo}/manifests/${pushed.digest.value}`);
      ctx.set(CONTENT_DIGEST_HEADER, pushed.digest.value);
      if (pushed.subject) ctx.set(OCI_SUBJECT_HEADER, pushed.subject.value);
      sendEmpty(ctx, 201);
    },

    async deleteManifest(ctx: Ctx): Promise<void> {
      const repo = repositoryName(ctx);
      await manifests.delete(repo, ctx.params.reference!, eventOrigin(ctx));
      sendEmpty(ctx, 202);
    },
  };
}

/** The manifest body, at most MAX_MANIFEST_BYTES (413 beyond, before reading it when announced). */
async function readManifestBody(ctx: Ctx): Promise<Buffer> {
  const length = contentLength(ctx.req);
  const tooLarge = () =>
    new RegistryError('TOO_LARGE', {
      message: `manifests may be at most ${MAX_MANIFEST_BYTES} bytes`,
      detail: { limit: MAX_MANIFEST_BYTES },
    });
  if (length !== undefined && length > MAX_MANIFEST_BYTES) throw tooLarge();
  try {
    return await getRawBody(ctx.req, { limit: MAX_MANIFEST_BYTES, ...(length !== undefined ? { length } : {}) });
  } catch (err) {
    const type = (err as { type?: string }).type;
    if (type === 'entity.too.large') throw tooLarge();
    if (type === 'request.size.invalid') {
      throw new RegistryError('SIZE_INVALID', { message: 'the manifest body is shorter or longer than its Content-Length' });
    }
    throw err;
  }
}
