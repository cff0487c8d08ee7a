/** GET /v2/: the API version check (spec end-1) every client pings first. */
import { sendJson, type Ctx } from './context.ts';

export function baseHandlers() {
  return {
    async getBase(ctx: Ctx): Promise<void> {
      sendJson(ctx, {});
    },
  };
}
