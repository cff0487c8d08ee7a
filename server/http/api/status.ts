/** GET /api/status: what this Berth is, where it listens and how clients reach it (the UI's first call). */
import type { BerthConfig } from '../../config.ts';
import { clientAddresses } from '../../registry/addresses.ts';
import type { StatusView, StorageView } from '../../registry/api-types.ts';
import { VERSION } from '../../version.ts';
import { sendJson, type Ctx } from '../context.ts';

export interface ServerInfo {
  config: BerthConfig;
  startedAt: Date;
  /** Where the server listens, once it does. */
  url(): string | null;
  /** How the disk of the data directory is doing (registry/storage-health.ts). */
  storage?: () => Promise<StorageView>;
  /** True once the server is stopping. */
  stopping?: () => boolean;
}

const UNKNOWN_STORAGE: StorageView = { state: 'ok', freeBytes: null, totalBytes: null, headline: null, problem: null, since: null, setAside: [] };

export function statusHandlers(info: ServerInfo) {
  return {
    async getStatus(ctx: Ctx): Promise<void> {
      const url = info.url();
      const { config } = info;
      // With --port 0 the port is the one the system chose, known from the URL once listening.
      const port = url ? Number(new URL(url).port) : config.port;
      const status: StatusView = {
        version: VERSION,
        url,
        host: config.host,
        port,
        dataDir: config.dataDir,
        logLevel: config.logLevel,
        shutdownGraceSeconds: config.shutdownGraceSeconds,
        startedAt: info.startedAt.toISOString(),
        addresses: clientAddresses(config.host, port),
        // Berth's own CA is offered for download; a bring-your-own certificate's CA is the user's.
        tls: { enabled: config.tls, caCertificateUrl: config.tls && !config.tlsCert ? '/api/tls/ca.crt' : null },
        auth: { enabled: config.auth === 'token' },
        storage: info.storage ? await info.storage() : UNKNOWN_STORAGE,
      };
      sendJson(ctx, status);
    },
  };
}
