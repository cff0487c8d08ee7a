/** GET /api/status: what this Berth is and where it listens (the UI's first call). */
import type { BerthConfig } from '../../config.ts';
import { VERSION } from '../../version.ts';
import { sendJson, type Ctx } from '../context.ts';

export interface ServerInfo {
  config: BerthConfig;
  startedAt: Date;
  /** Where the server listens, once it does. */
  url(): string | null;
}

export function statusHandlers(info: ServerInfo) {
  return {
    async getStatus(ctx: Ctx): Promise<void> {
      sendJson(ctx, {
        version: VERSION,
        url: info.url(),
        host: info.config.host,
        port: info.config.port,
        dataDir: info.config.dataDir,
        startedAt: info.startedAt.toISOString(),
      });
    },
  };
}
