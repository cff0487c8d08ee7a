/**
 * The management API's route table (/api/), used by the UI in the desktop app and in a browser
 * against `berth serve`. Guarded by guard.ts; errors use the same envelope as the registry API.
 */
import type { RegistryEvents } from '../../registry/events.ts';
import type { RegistryServices } from '../context.ts';
import type { Route } from '../routes.ts';
import { eventHandlers } from './events.ts';
import { statusHandlers, type ServerInfo } from './status.ts';

export interface ApiDeps {
  services: RegistryServices;
  events: RegistryEvents;
  info: ServerInfo;
}

export function apiRoutes({ events, info }: ApiDeps): Route[] {
  const status = statusHandlers(info);
  const live = eventHandlers(events);
  return [
    { method: 'GET', pattern: /^\/api\/status$/, params: [], handler: status.getStatus },
    { method: 'GET', pattern: /^\/api\/events$/, params: [], handler: live.streamEvents },
  ];
}
