/**
 * DELETE /api/repositories/<name>: deletes a repository — its tags, manifests and links — and answers
 * {repository, tags, manifests, layers} with what it held. Its blobs are freed by the next garbage
 * collection. One service call (registry/repository-delete.ts); the UI's repository page uses it.
 */
import { sendJson, type Ctx, type LifecycleServices } from '../context.ts';

export function repositoryDeleteHandlers({ deleteRepository }: LifecycleServices) {
  return {
    async deleteRepository(ctx: Ctx): Promise<void> {
      sendJson(ctx, await deleteRepository(ctx.params.name ?? ''));
    },
  };
}
