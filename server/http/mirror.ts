/**
 * The registry routes' step into the pull-through cache (mirror/router.ts), after a route matched and
 * before authorization: a request the cache answers gets the cache repository as its name
 * (docker.io/library/alpine), so authorization checks pull permission on the cached name and the
 * handlers serve it through the cache (ctx.state.mirror); a write into a cache namespace is refused.
 */
import type { MirrorService } from '../mirror/service.ts';
import type { MirrorTarget } from '../mirror/upstreams.ts';
import { isValidName } from '../registry/reference.ts';
import type { Ctx } from './context.ts';

export type MirrorRouting = (ctx: Ctx) => Promise<void>;

export function mirrorRouting(mirror: MirrorService): MirrorRouting {
  return async function routeToMirror(ctx) {
    const name = ctx.params.name;
    // An invalid name is the handler's to report (NAME_INVALID).
    if (name === undefined || !isValidName(name)) return;
    // containerd's hosts.toml mirrors add ?ns=<registry host> (../shared/REGISTRY-NOTES.md "Mirrors").
    const ns = ctx.querystring.includes('ns=') && typeof ctx.query.ns === 'string' ? ctx.query.ns : undefined;
    const target = await mirror.route(name, ns, ctx.method !== 'GET' && ctx.method !== 'HEAD');
    if (!target) return;
    ctx.params.name = target.cache;
    ctx.state.mirror = target;
  };
}

/** The cache target the routing step chose for this request, if any. */
export function mirrorTarget(ctx: Ctx): MirrorTarget | undefined {
  return ctx.state.mirror as MirrorTarget | undefined;
}
