/** GET /v2/<name>/tags/list, GET /v2/_catalog and GET /v2/<name>/referrers/<digest>. */
import { RegistryError } from '../registry/errors.ts';
import { REFERRERS_MEDIA_TYPE, type Page, type PageRequest } from '../registry/listings.ts';
import { parseDigest } from '../registry/reference.ts';
import { repositoryName, singleQuery, sendJson, type Ctx, type RegistryServices } from './context.ts';
import { OCI_FILTERS_APPLIED_HEADER } from './headers.ts';


/** `n` and `last` of the spec's pagination ("Listing Tags"); n must be a non-negative integer. */
function pageRequest(ctx: Ctx): PageRequest {
  const page: PageRequest = {};
  const n = singleQuery(ctx, 'n');
  if (n !== undefined) {
    if (!/^\d{1,9}$/.test(n)) {
      throw new RegistryError('PAGINATION_NUMBER_INVALID', {
        message: `n must be a whole number from 0 to 999999999, not "${n.slice(0, 50)}"`,
        detail: { n: n.slice(0, 50) },
      });
    }
    page.n = Number(n);
  }
  const last = singleQuery(ctx, 'last');
  if (last !== undefined) page.last = last;
  return page;
}

/** RFC 8288 Link to the next page, on the same path, carrying n and last. */
function setNextLink(ctx: Ctx, page: Page, n: number | undefined): void {
  if (page.next === undefined || n === undefined) return;
  const query = new URLSearchParams({ n: String(n), last: page.next });
  ctx.set('Link', `<${ctx.path}?${query.toString()}>; rel="next"`);
}

export function listingHandlers({ listings }: RegistryServices) {
  return {
    async listTags(ctx: Ctx): Promise<void> {
      const repo = repositoryName(ctx);
      const request = pageRequest(ctx);
      const page = await listings.tags(repo, request);
      setNextLink(ctx, page, request.n);
      sendJson(ctx, { name: repo, tags: page.items });
    },

    async getCatalog(ctx: Ctx): Promise<void> {
      const request = pageRequest(ctx);
      const page = await listings.catalog(request);
      setNextLink(ctx, page, request.n);
      sendJson(ctx, { repositories: page.items });
    },

    async getReferrers(ctx: Ctx): Promise<void> {
      const repo = repositoryName(ctx);
      const subject = parseDigest(ctx.params.digest!);
      const artifactType = singleQuery(ctx, 'artifactType');
      const manifests = await listings.referrers(repo, subject, artifactType);
      if (artifactType !== undefined) ctx.set(OCI_FILTERS_APPLIED_HEADER, 'artifactType');
      sendJson(ctx, { schemaVersion: 2, mediaType: REFERRERS_MEDIA_TYPE, manifests }, REFERRERS_MEDIA_TYPE);
    },
  };
}
