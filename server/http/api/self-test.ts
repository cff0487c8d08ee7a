/**
 * POST /api/self-test: pushes a tiny image to this registry and pulls it back over its own /v2 API.
 * The answer streams one JSON object per line (application/x-ndjson) as each step starts and ends,
 * then a summary line {"done":true,"ok":...}.
 */
import { Readable } from 'node:stream';
import { runSelfTest, type SelfTestDeps } from '../../registry/self-test.ts';
import type { Ctx } from '../context.ts';

export function selfTestHandlers(deps: SelfTestDeps) {
  return {
    async runSelfTest(ctx: Ctx): Promise<void> {
      async function* lines(): AsyncGenerator<string> {
        for await (const step of runSelfTest(deps)) yield `${JSON.stringify(step)}\n`;
      }
      ctx.status = 200;
      ctx.set('Content-Type', 'application/x-ndjson');
      ctx.set('Cache-Control', 'no-store');
      ctx.set('X-Accel-Buffering', 'no');
      ctx.body = Readable.from(lines());
    },
  };
}
