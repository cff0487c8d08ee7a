/**
 * The pull-through cache's upstreams through the management API (mirror/service.ts):
 *   GET    /api/mirrors                          upstreams with counters, cached tags, fills in progress
 *   POST   /api/mirrors                          {name, url, aliases?, checkInterval?, keep?, enabled?,
 *                                                default?, trustedRealms?, timeout?} -> 201 upstream
 *   PUT    /api/mirrors/<name>                   the fields to change (upstreams added here only; those of
 *                                                the configuration are changed there: 403 DENIED)
 *   DELETE /api/mirrors/<name>                   -> 204; its cached content goes too
 *   PUT    /api/mirrors/<name>/credentials       {username, password} -> upstream (the password is never
 *                                                shown again: stored 0600 in the data directory)
 *   DELETE /api/mirrors/<name>/credentials       -> upstream
 *   POST   /api/mirrors/<name>/clear             deletes its cached repositories -> {repositories}
 *   POST   /api/mirrors/<name>/self-test         {image?} -> application/x-ndjson steps, as /api/self-test
 *   POST   /api/mirrors/expire                   drops what nobody pulled for the keep period -> report
 * A field that does not validate is refused 400 BAD_REQUEST with detail {"fields": [...]}.
 */
import { Readable } from 'node:stream';
import { RegistryError } from '../../registry/errors.ts';
import type { UpstreamInput } from '../../registry/api-types.ts';
import type { MirrorService } from '../../mirror/service.ts';
import { runMirrorSelfTest, type MirrorSelfTestDeps } from '../../mirror/self-test.ts';
import { sendEmpty, sendJson, type Ctx } from '../context.ts';
import { onlyFields, readJsonObject } from './json-body.ts';

export function mirrorHandlers(mirror: MirrorService, selfTest: Omit<MirrorSelfTestDeps, 'mirror'>) {
  return {
    async getMirrors(ctx: Ctx): Promise<void> {
      sendJson(ctx, await mirror.overview());
    },

    async addMirror(ctx: Ctx): Promise<void> {
      const upstream = await mirror.addUpstream((await readJsonObject(ctx)) as UpstreamInput);
      ctx.status = 201;
      ctx.set('Location', `/api/mirrors/${upstream.name}`);
      sendJson(ctx, upstream);
    },

    async updateMirror(ctx: Ctx): Promise<void> {
      sendJson(ctx, await mirror.updateUpstream(ctx.params.name!, (await readJsonObject(ctx)) as UpstreamInput));
    },

    async deleteMirror(ctx: Ctx): Promise<void> {
      await mirror.removeUpstream(ctx.params.name!);
      sendEmpty(ctx, 204);
    },

    async putMirrorCredentials(ctx: Ctx): Promise<void> {
      const body = await readJsonObject(ctx);
      onlyFields(body, ['username', 'password']);
      const { username, password } = body;
      if (typeof username !== 'string' || typeof password !== 'string') {
        throw new RegistryError('BAD_REQUEST', { message: 'give "username" and "password" (or an access token) as strings', detail: { fields: ['username', 'password'] } });
      }
      sendJson(ctx, await mirror.setCredentials(ctx.params.name!, { username, password }));
    },

    async deleteMirrorCredentials(ctx: Ctx): Promise<void> {
      sendJson(ctx, await mirror.setCredentials(ctx.params.name!, null));
    },

    async clearMirror(ctx: Ctx): Promise<void> {
      sendJson(ctx, await mirror.clear(ctx.params.name!));
    },

    async expireMirrors(ctx: Ctx): Promise<void> {
      sendJson(ctx, await mirror.expire());
    },

    async testMirror(ctx: Ctx): Promise<void> {
      const body = await readJsonObject(ctx);
      onlyFields(body, ['image']);
      if (body.image !== undefined && typeof body.image !== 'string') throw new RegistryError('BAD_REQUEST', { message: '"image" must be a string', detail: { fields: ['image'] } });
      // Validated before the stream starts, so a bad name or image is a plain 4xx.
      const steps = runMirrorSelfTest({ ...selfTest, mirror }, ctx.params.name!, body.image as string | undefined);
      const first = await steps.next();
      async function* lines(): AsyncGenerator<string> {
        if (!first.done) yield `${JSON.stringify(first.value)}\n`;
        for await (const step of steps) yield `${JSON.stringify(step)}\n`;
      }
      ctx.status = 200;
      ctx.set('Content-Type', 'application/x-ndjson');
      ctx.set('Cache-Control', 'no-store');
      ctx.set('X-Accel-Buffering', 'no');
      ctx.body = Readable.from(lines());
    },
  };
}
