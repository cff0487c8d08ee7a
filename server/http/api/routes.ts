/**
 * The management API's route table (/api/), used by the UI in the desktop app and in a browser
 * against `berth serve`. Guarded by guard.ts; errors use the same envelope as the registry API.
 */
import type { RegistryEvents } from '../../registry/events.ts';
import type { RegistryServices } from '../context.ts';
import type { Route } from '../routes.ts';
import { eventHandlers } from './events.ts';
import { maintenanceHandlers } from './maintenance.ts';
import { repositoryDeleteHandlers } from './repository-delete.ts';
import { retentionHandlers } from './retention.ts';
import { statusHandlers, type ServerInfo } from './status.ts';

export interface ApiDeps {
  services: RegistryServices;
  events: RegistryEvents;
  info: ServerInfo;
}

export function apiRoutes({ services, events, info }: ApiDeps): Route[] {
  const status = statusHandlers(info);
  const live = eventHandlers(events);
  const maintenance = maintenanceHandlers(services.lifecycle);
  const retention = retentionHandlers(services.lifecycle);
  const repositories = repositoryDeleteHandlers(services.lifecycle);
  const rule = /^\/api\/retention\/rules\/([^/]+)$/;
  return [
    { method: 'GET', pattern: /^\/api\/status$/, params: [], handler: status.getStatus },
    { method: 'GET', pattern: /^\/api\/events$/, params: [], handler: live.streamEvents },
    // Storage lifecycle (issue 6)
    { method: 'GET', pattern: /^\/api\/maintenance$/, params: [], handler: maintenance.getMaintenance },
    { method: 'GET', pattern: /^\/api\/runs$/, params: [], handler: maintenance.listRuns },
    { method: 'GET', pattern: /^\/api\/runs\/([^/]+)$/, params: ['id'], handler: maintenance.getRun },
    { method: 'POST', pattern: /^\/api\/gc$/, params: [], handler: maintenance.startGc },
    { method: 'POST', pattern: /^\/api\/gc\/preview$/, params: [], handler: maintenance.previewGc },
    { method: 'POST', pattern: /^\/api\/scrub$/, params: [], handler: maintenance.startScrub },
    { method: 'POST', pattern: /^\/api\/reindex$/, params: [], handler: maintenance.startReindex },
    { method: 'POST', pattern: /^\/api\/uploads\/purge$/, params: [], handler: maintenance.startUploadPurge },
    { method: 'GET', pattern: /^\/api\/retention\/rules$/, params: [], handler: retention.listRetentionRules },
    { method: 'POST', pattern: /^\/api\/retention\/rules$/, params: [], handler: retention.createRetentionRule },
    { method: 'PUT', pattern: rule, params: ['id'], handler: retention.updateRetentionRule },
    { method: 'DELETE', pattern: rule, params: ['id'], handler: retention.deleteRetentionRule },
    { method: 'POST', pattern: /^\/api\/retention\/preview$/, params: [], handler: retention.previewRetention },
    { method: 'POST', pattern: /^\/api\/retention\/apply$/, params: [], handler: maintenance.startRetention },
    { method: 'DELETE', pattern: /^\/api\/repositories\/(.+)$/, params: ['name'], handler: repositories.deleteRepository },
  ];
}
