/**
 * The copy of this registry's store to another one (registry/storage-copy.ts):
 *   GET  /api/storage/copy    the copy in progress or the last one ({state: "idle"} before any)
 *   POST /api/storage/copy    {storage: <a config file's "storage">, dataDir?: "/abs/dir" (filesystem)}
 * The POST answers 202 with the status once the destination has been checked and the copy runs; 400
 * says what is wrong with the destination, 409 that a copy is running already.
 */
import type { StorageCopyService } from '../../registry/storage-copy.ts';
import { sendJson, type Ctx } from '../context.ts';
import { onlyFields, readJsonObject } from './json-body.ts';

export function storageCopyHandlers(copy: StorageCopyService) {
  return {
    async getCopy(ctx: Ctx): Promise<void> {
      sendJson(ctx, copy.current());
    },
    async startCopy(ctx: Ctx): Promise<void> {
      const body = await readJsonObject(ctx);
      onlyFields(body, ['storage', 'dataDir']);
      const status = await copy.start({ storage: body.storage, dataDir: body.dataDir });
      ctx.status = 202;
      ctx.set('Location', '/api/storage/copy');
      sendJson(ctx, status);
    },
  };
}
