/**
 * Upload purging: upload sessions idle for longer than the configured age (default 24 h) are removed
 * with their bytes, like Distribution's upload purging. Idle means no byte arrived: the age is taken
 * from the session's files on disk, so it survives restarts. A session receiving bytes right now is
 * never removed, however old it is; folders a crash left without their session file go too.
 */
import type { UploadStore } from '../storage/upload-store.ts';
import type { PurgedUpload, PurgeReport } from './api-types.ts';
import type { UploadService } from './uploads.ts';

export interface PurgeOptions {
  /** Sessions idle for longer than this are removed. */
  olderThanMs: number;
  dryRun: boolean;
}

// The report's shapes are part of the management API (the UI shows them): they live in api-types.ts.
export type { PurgedUpload, PurgeReport } from './api-types.ts';

export interface UploadPurgerDeps {
  uploads: UploadStore;
  service: UploadService;
  now?: () => number;
}

export async function purgeUploads(deps: UploadPurgerDeps, options: PurgeOptions): Promise<PurgeReport> {
  const now = (deps.now ?? Date.now)();
  const report: PurgeReport = { dryRun: options.dryRun, olderThanSeconds: Math.round(options.olderThanMs / 1000), removed: [], bytesFreed: 0, kept: 0 };
  const receiving = new Set(deps.service.receivingUploads().map((u) => u.id));
  for (const entry of await deps.uploads.entries()) {
    if (now - entry.updatedAt.getTime() <= options.olderThanMs || receiving.has(entry.id)) {
      report.kept++;
      continue;
    }
    const session = await deps.uploads.get(entry.id);
    if (!options.dryRun && !(await deps.service.expire(entry.id))) {
      report.kept++;
      continue;
    }
    report.removed.push({ id: entry.id, repository: session?.repository ?? null, size: entry.size, lastActivity: entry.updatedAt.toISOString() });
    report.bytesFreed += entry.size;
  }
  return report;
}
