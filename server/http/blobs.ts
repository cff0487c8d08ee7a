/** GET, HEAD and DELETE /v2/<name>/blobs/<digest>. */
import { parseDigest } from '../registry/reference.ts';
import type { ByteRange } from '../registry/blobs.ts';
import { eventOrigin, repositoryName, sendEmpty, type Ctx, type RegistryServices } from './context.ts';
import { CONTENT_DIGEST_HEADER, ifNoneMatchHolds, parseRange } from './headers.ts';
import { mirrorTarget } from './mirror.ts';

/** Blobs are immutable: a client may cache one for as long as it likes (a year, RFC 9111 practice). */
const IMMUTABLE_CACHE = 'max-age=31536000, immutable';

export function blobHandlers({ blobs, mirror }: RegistryServices) {
  function setBlobHeaders(ctx: Ctx, digest: string): void {
    ctx.set(CONTENT_DIGEST_HEADER, digest);
    ctx.set('ETag', `"${digest}"`);
    ctx.set('Cache-Control', IMMUTABLE_CACHE);
    ctx.set('Accept-Ranges', 'bytes');
    ctx.set('Content-Type', 'application/octet-stream');
  }

  return {
    async headBlob(ctx: Ctx): Promise<void> {
      const repo = repositoryName(ctx);
      const digest = parseDigest(ctx.params.digest!);
      const target = mirrorTarget(ctx);
      const size = target && mirror ? await mirror.statBlob(target, digest) : await blobs.stat(repo, digest);
      setBlobHeaders(ctx, digest.value);
      if (ifNoneMatchHolds(ctx.get('If-None-Match') || undefined, `"${digest.value}"`)) {
        sendEmpty(ctx, 304);
        return;
      }
      ctx.status = 200;
      ctx.length = size;
    },

    async getBlob(ctx: Ctx): Promise<void> {
      const repo = repositoryName(ctx);
      const digest = parseDigest(ctx.params.digest!);
      const target = mirrorTarget(ctx);
      // storage.redirect: the client downloads from the bucket itself (Range works there as here).
      const url = target && mirror ? null : await blobs.redirect(repo, digest);
      if (url) {
        ctx.set(CONTENT_DIGEST_HEADER, digest.value);
        ctx.set('Location', url);
        sendEmpty(ctx, 307);
        return;
      }
      const blob = target && mirror ? await mirror.openBlob(target, digest) : await blobs.open(repo, digest, { pull: true, origin: eventOrigin(ctx) });
      let range: ByteRange | null;
      try {
        setBlobHeaders(ctx, digest.value);
        if (ifNoneMatchHolds(ctx.get('If-None-Match') || undefined, `"${digest.value}"`)) {
          sendEmpty(ctx, 304);
          await blob.close();
          return;
        }
        ctx.status = 200;
        range = parseRange(ctx.get('Range') || undefined, blob.size);
        if (range) {
          ctx.status = 206;
          ctx.set('Content-Range', `bytes ${range.start}-${range.end}/${blob.size}`);
        }
        ctx.length = range ? range.end - range.start + 1 : blob.size;
      } catch (err) {
        await blob.close();
        throw err;
      }
      // The body bypasses Koa: the blob store writes it to the socket with pooled buffers.
      ctx.respond = false;
      const res = ctx.res;
      res.statusCode = ctx.status;
      try {
        await blob.sendTo(res, range ?? undefined);
        res.end();
      } catch (err) {
        // Headers are out: the only honest signal left is to cut the connection.
        res.destroy();
        throw err;
      }
    },

    async deleteBlob(ctx: Ctx): Promise<void> {
      const repo = repositoryName(ctx);
      const digest = parseDigest(ctx.params.digest!);
      await blobs.delete(repo, digest, eventOrigin(ctx));
      sendEmpty(ctx, 202);
    },
  };
}
