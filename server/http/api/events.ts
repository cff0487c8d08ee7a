/**
 * GET /api/events: server-sent events (HTML Living Standard, "Server-sent events") carrying every
 * registry event as it happens, so the UI updates without reloading, and `uploads` with the progress
 * of uploads in progress (registry/upload-monitor.ts). A comment line every 15 s
 * keeps proxies and idle timeouts from closing the stream.
 */
import { PassThrough } from 'node:stream';
import type { RegistryEventName, RegistryEvents } from '../../registry/events.ts';
import type { UploadMonitor } from '../../registry/upload-monitor.ts';
import type { Ctx } from '../context.ts';

const EVENT_NAMES: RegistryEventName[] = [
  'blob-pushed', 'blob-mounted', 'blob-deleted', 'manifest-pushed', 'manifest-pulled', 'manifest-deleted', 'tag-deleted',
  'repository-deleted', 'maintenance', 'storage', 'mirror-fetched', 'mirror-stale', 'mirror-error', 'mirror-changed',
];
const HEARTBEAT_MS = 15_000;

export function eventHandlers(events: RegistryEvents, monitor: UploadMonitor, stopping: () => boolean = () => false) {
  return {
    async streamEvents(ctx: Ctx): Promise<void> {
      const stream = new PassThrough();
      const send = (name: string, data: unknown) => stream.write(`event: ${name}\ndata: ${JSON.stringify(data)}\n\n`);
      // A stream is not a request in flight the shutdown should wait for: it says so and ends at once
      // (the UI then shows that live updates stopped), and one asked for while stopping ends at once.
      const end = () => {
        send('stopping', {});
        stream.end();
      };
      const unsubscribe = EVENT_NAMES.map((name) => events.on(name, (event) => send(name, event)));
      unsubscribe.push(events.on('stopping', end));
      // Upload progress, every second while uploads are in progress.
      unsubscribe.push(monitor.subscribe((uploads) => send('uploads', { uploads })));
      const heartbeat = setInterval(() => stream.write(': keep-alive\n\n'), HEARTBEAT_MS);
      const stop = () => {
        clearInterval(heartbeat);
        for (const off of unsubscribe) off();
      };
      ctx.req.once('close', stop);
      stream.once('close', stop);
      ctx.set('Content-Type', 'text/event-stream');
      ctx.set('Cache-Control', 'no-store');
      ctx.set('X-Accel-Buffering', 'no');
      ctx.status = 200;
      ctx.body = stream;
      stream.write(': connected\n\n');
      if (stopping()) end();
    },
  };
}
