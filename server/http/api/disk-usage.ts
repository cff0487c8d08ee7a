/** GET /api/disk-usage: bytes on disk, per repository unique and shared, free space on the volume. */
import type { DiskUsageService } from '../../registry/usage.ts';
import { sendJson, type Ctx } from '../context.ts';

export function diskUsageHandlers(usage: DiskUsageService) {
  return {
    async getDiskUsage(ctx: Ctx): Promise<void> {
      sendJson(ctx, await usage.get());
    },
  };
}
