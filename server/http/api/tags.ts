/** DELETE /api/repositories/<name>/-/tags/<tag>: untags (the manifest stays, listed as untagged). */
import type { RepositoryService } from '../../registry/repositories.ts';
import { repositoryName, sendJson, type Ctx } from '../context.ts';

export function tagHandlers(repositories: RepositoryService) {
  return {
    async deleteTag(ctx: Ctx): Promise<void> {
      sendJson(ctx, await repositories.deleteTag(repositoryName(ctx), ctx.params.tag!));
    },
  };
}
