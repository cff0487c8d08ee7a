/** A layer listed by LayerWorkers, collected whole: its summary and its JSON lines as one string. */
import type { ListSummary } from '../../server/registry/layers/archive.ts';
import type { LayerWorkers } from '../../server/registry/layers/worker-pool.ts';
import { parseDigest } from '../../server/registry/reference.ts';

/** `during` runs as each batch of lines arrives (while the worker threads are still running). */
export async function listAll(workers: LayerWorkers, digest: string, during?: () => void): Promise<{ summary: ListSummary; lines: string }> {
  const parts: Buffer[] = [];
  const summary = await workers.list(parseDigest(digest), async (bytes) => {
    during?.();
    parts.push(Buffer.from(bytes));
  });
  return { summary, lines: Buffer.concat(parts).toString('utf8') };
}
