/** GET /api/repositories, GET and DELETE /api/repositories/<name>. */
import { REPOSITORY_SORTS } from '../../registry/api-types.ts';
import type { RepositoryService } from '../../registry/repositories.ts';
import { repositoryName, sendJson, type Ctx } from '../context.ts';
import { enumQuery, intQuery, textQuery } from './query.ts';

export function repositoryHandlers(repositories: RepositoryService) {
  return {
    async listRepositories(ctx: Ctx): Promise<void> {
      const q = textQuery(ctx, 'q', 255);
      const sort = enumQuery(ctx, 'sort', REPOSITORY_SORTS, 'name');
      // Names read A to Z; sizes and push times read largest and newest first.
      const order = enumQuery(ctx, 'order', ['asc', 'desc'] as const, sort === 'name' ? 'asc' : 'desc');
      const limit = intQuery(ctx, 'limit', { min: 1, max: 10_000, fallback: 100 });
      const offset = intQuery(ctx, 'offset', { min: 0, max: 100_000_000, fallback: 0 });
      sendJson(ctx, await repositories.list({ ...(q !== undefined ? { q } : {}), sort, order, limit, offset }));
    },

    async getRepository(ctx: Ctx): Promise<void> {
      sendJson(ctx, await repositories.get(repositoryName(ctx)));
    },

    async deleteRepository(ctx: Ctx): Promise<void> {
      sendJson(ctx, await repositories.delete(repositoryName(ctx)));
    },
  };
}
