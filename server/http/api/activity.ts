/** GET /api/activity: recent pushes, pulls and deletes (newest first, paged), and uploads in progress. */
import type { ActivityService } from '../../registry/activity.ts';
import { singleQuery, sendJson, type Ctx } from '../context.ts';
import { intQuery } from './query.ts';

export function activityHandlers(activity: ActivityService) {
  return {
    async getActivity(ctx: Ctx): Promise<void> {
      const limit = intQuery(ctx, 'limit', { min: 1, max: 500, fallback: 50 });
      const before = singleQuery(ctx, 'before');
      sendJson(ctx, await activity.feed({ limit, ...(before !== undefined ? { before } : {}) }));
    },
  };
}
