/** GET and DELETE /api/repositories/<name>/-/manifests/<tag or digest>: one image, index or artifact. */
import type { ImageService } from '../../registry/images.ts';
import type { RepositoryService } from '../../registry/repositories.ts';
import { repositoryName, sendJson, type Ctx } from '../context.ts';

export function imageHandlers(images: ImageService, repositories: RepositoryService) {
  return {
    async getImage(ctx: Ctx): Promise<void> {
      sendJson(ctx, await images.get(repositoryName(ctx), ctx.params.reference!));
    },

    /** By digest only: deleting by tag is DELETE .../-/tags/<tag>. */
    async deleteManifest(ctx: Ctx): Promise<void> {
      sendJson(ctx, await repositories.deleteManifest(repositoryName(ctx), ctx.params.reference!));
    },
  };
}
