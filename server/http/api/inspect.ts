/**
 * Inside an image (issue 15), through the management API:
 *   GET  .../-/manifests/<ref>/files?platform=&path=&search=   one directory of the merged tree (or a search),
 *                                                              with the layers and wasted space; &all=1: every path
 *   GET  .../-/manifests/<ref>/file?path=&platform=            what a path is; text content up to 1 MiB
 *   GET  .../-/manifests/<ref>/download?path=&platform=        the file's bytes, streamed from its layer
 *   GET  .../-/layers/<digest>                                 one layer's entries
 *   GET  /api/diff?from=REF&to=REF[&platform=][&fromPlatform=][&toPlatform=][&timestamps=1]
 *                                                              REF: repository:tag or repository@digest
 *   GET  .../-/manifests/<ref>/artifacts                       signatures, SBOMs, attestations attached
 *   GET  .../-/manifests/<ref>/sbom/<digest>                   an attached SBOM's package table
 *   POST .../-/manifests/<ref>/verify  {publicKey: PEM}        cosign signatures checked with the key
 * ("..." is /api/repositories/<name>). Layers are read in worker threads; a first request for a large
 * image waits until its layers are listed (seconds per gigabyte), later ones are answered from the cache.
 */
import { PassThrough, Readable } from 'node:stream';
import type { ArtifactService } from '../../registry/artifacts.ts';
import { RegistryError } from '../../registry/errors.ts';
import type { InspectService } from '../../registry/inspect.ts';
import { repositoryName, sendJson, singleQuery, type Ctx } from '../context.ts';
import { onlyFields, readJsonObject } from './json-body.ts';
import { textQuery } from './query.ts';

/** "repository:tag" or "repository@sha256:..." (a tag-less name means "latest", as docker does). */
export function parseImageRef(text: string, what: string): { repo: string; reference: string } {
  const at = text.indexOf('@');
  if (at > 0) return { repo: text.slice(0, at), reference: text.slice(at + 1) };
  const slash = text.lastIndexOf('/');
  const colon = text.lastIndexOf(':');
  if (colon > slash && colon > 0) return { repo: text.slice(0, colon), reference: text.slice(colon + 1) };
  if (!text) throw new RegistryError('BAD_REQUEST', { message: `"${what}" must name an image: repository:tag or repository@digest` });
  return { repo: text, reference: 'latest' };
}

function platformQuery(ctx: Ctx, key = 'platform'): string | undefined {
  const value = textQuery(ctx, key, 100);
  if (value !== undefined && !/^[a-z0-9._-]+\/[a-z0-9._-]+(\/[a-z0-9._-]+)?$/i.test(value)) {
    throw new RegistryError('BAD_REQUEST', { message: `"${key}" must be os/arch or os/arch/variant, like linux/arm64` });
  }
  return value;
}

export function inspectHandlers(inspect: InspectService, artifacts: ArtifactService) {
  return {
    async getImageFiles(ctx: Ctx): Promise<void> {
      const repo = repositoryName(ctx);
      const platform = platformQuery(ctx);
      if (singleQuery(ctx, 'all') === '1') {
        sendJson(ctx, await inspect.allFiles(repo, ctx.params.reference!, platform));
        return;
      }
      const path = textQuery(ctx, 'path', 4096);
      const search = textQuery(ctx, 'search', 256);
      sendJson(ctx, await inspect.files(repo, ctx.params.reference!, {
        ...(platform ? { platform } : {}),
        ...(path ? { path } : {}),
        ...(search ? { search } : {}),
      }));
    },

    async getImageFile(ctx: Ctx): Promise<void> {
      const path = textQuery(ctx, 'path', 4096);
      if (!path) throw new RegistryError('BAD_REQUEST', { message: '"path" is required: the file to show, like /etc/os-release' });
      sendJson(ctx, await inspect.file(repositoryName(ctx), ctx.params.reference!, path, platformQuery(ctx)));
    },

    async downloadImageFile(ctx: Ctx): Promise<void> {
      const repo = repositoryName(ctx);
      const path = textQuery(ctx, 'path', 4096);
      if (!path) throw new RegistryError('BAD_REQUEST', { message: '"path" is required: the file to download' });
      const platform = platformQuery(ctx);
      // Everything that can fail as JSON fails before the first byte.
      const { node } = await inspect.downloadSource(repo, ctx.params.reference!, path, platform);
      const body = new PassThrough();
      const stop = new AbortController();
      ctx.req.on('close', () => {
        if (!ctx.res.writableFinished) stop.abort();
      });
      ctx.status = 200;
      ctx.set('Content-Type', 'application/octet-stream');
      ctx.set('Content-Disposition', `attachment; filename="${node.name.replace(/["\\\r\n]/g, '_')}"; filename*=UTF-8''${encodeURIComponent(node.name)}`);
      ctx.set('X-Content-Type-Options', 'nosniff');
      ctx.length = node.size;
      ctx.body = body;
      inspect.download(repo, ctx.params.reference!, path, platform, async (chunk) => {
        if (!body.write(chunk)) await new Promise<void>((resolve) => body.once('drain', resolve));
      }, stop.signal).then(
        () => body.end(),
        (err: Error) => body.destroy(err),
      );
    },

    async getLayer(ctx: Ctx): Promise<void> {
      // Streamed: a listing can be tens of MB of JSON, never built whole in memory.
      const json = await inspect.layer(repositoryName(ctx), ctx.params.digest!);
      ctx.set('Content-Type', 'application/json');
      ctx.body = Readable.from(json, { objectMode: false });
    },

    async getImageDiff(ctx: Ctx): Promise<void> {
      const fromText = textQuery(ctx, 'from', 512);
      const toText = textQuery(ctx, 'to', 512);
      if (!fromText || !toText) throw new RegistryError('BAD_REQUEST', { message: '"from" and "to" are required: repository:tag or repository@digest' });
      const from = parseImageRef(fromText, 'from');
      const to = parseImageRef(toText, 'to');
      const both = platformQuery(ctx);
      const fromPlatform = platformQuery(ctx, 'fromPlatform') ?? both;
      const toPlatform = platformQuery(ctx, 'toPlatform') ?? both;
      const timestamps = singleQuery(ctx, 'timestamps') === '1';
      sendJson(ctx, await inspect.diff(
        { ...from, ...(fromPlatform ? { platform: fromPlatform } : {}) },
        { ...to, ...(toPlatform ? { platform: toPlatform } : {}) },
        { timestamps },
      ));
    },

    async getArtifacts(ctx: Ctx): Promise<void> {
      sendJson(ctx, await artifacts.list(repositoryName(ctx), ctx.params.reference!));
    },

    async getSbom(ctx: Ctx): Promise<void> {
      sendJson(ctx, await artifacts.sbom(repositoryName(ctx), ctx.params.reference!, ctx.params.digest!));
    },

    async verifySignatures(ctx: Ctx): Promise<void> {
      const body = await readJsonObject(ctx);
      onlyFields(body, ['publicKey']);
      if (typeof body.publicKey !== 'string' || !body.publicKey.includes('PUBLIC KEY')) {
        throw new RegistryError('BAD_REQUEST', { message: '"publicKey" must be a PEM public key (-----BEGIN PUBLIC KEY-----), like cosign.pub', detail: { fields: ['publicKey'] } });
      }
      sendJson(ctx, await artifacts.verify(repositoryName(ctx), ctx.params.reference!, body.publicKey));
    },
  };
}
