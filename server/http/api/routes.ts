/**
 * The management API's route table (/api/), used by the UI in the desktop app and in a browser
 * against `berth serve`. Guarded by guard.ts; errors use the same envelope as the registry API.
 *
 * Repository names contain '/', and "tags" or "manifests" are valid name components, so what follows
 * a name is introduced by "/-/", which no name can contain (a component starts with a letter or digit).
 */
import type { ActivityService } from '../../registry/activity.ts';
import type { ArtifactService } from '../../registry/artifacts.ts';
import type { InspectService } from '../../registry/inspect.ts';
import type { RegistryEvents } from '../../registry/events.ts';
import type { ImageService } from '../../registry/images.ts';
import type { RepositoryService } from '../../registry/repositories.ts';
import type { SelfTestDeps } from '../../registry/self-test.ts';
import type { UploadMonitor } from '../../registry/upload-monitor.ts';
import type { UserAdmin } from '../../registry/user-admin.ts';
import type { DiskUsageService } from '../../registry/usage.ts';
import type { RegistryServices } from '../context.ts';
import type { Route } from '../routes.ts';
import { activityHandlers } from './activity.ts';
import { diskUsageHandlers } from './disk-usage.ts';
import { eventHandlers } from './events.ts';
import { imageHandlers } from './images.ts';
import { inspectHandlers } from './inspect.ts';
import { maintenanceHandlers } from './maintenance.ts';
import { repositoryHandlers } from './repositories.ts';
import { retentionHandlers } from './retention.ts';
import { selfTestHandlers } from './self-test.ts';
import { statusHandlers, type ServerInfo } from './status.ts';
import { tagHandlers } from './tags.ts';
import { tlsHandlers } from './tls.ts';
import { accessTokenHandlers } from './tokens.ts';
import { userHandlers } from './users.ts';
import type { WebhookService } from '../../webhooks/service.ts';
import { webhookHandlers } from './webhooks.ts';
import { mirrorHandlers } from './mirrors.ts';
import type { StorageCopyService } from '../../registry/storage-copy.ts';
import { storageCopyHandlers } from './storage-copy.ts';

/** The services behind the management API (composed in server/index.ts). */
export interface ManagementServices {
  repositories: RepositoryService;
  images: ImageService;
  usage: DiskUsageService;
  activity: ActivityService;
  uploadMonitor: UploadMonitor;
  selfTest: SelfTestDeps;
  tls: { caCertificate(): string | null };
  users: UserAdmin;
  /** Inside images: files, diff (issue 15). */
  inspect: InspectService;
  /** Signatures, SBOMs, attestations attached to images (issue 15). */
  artifacts: ArtifactService;
  /** Set once composed (server/index.ts). */
  webhooks?: WebhookService;
  /** Copies this registry's store to another one (issue 13). */
  storageCopy: StorageCopyService;
}

export interface ApiDeps {
  services: RegistryServices;
  events: RegistryEvents;
  info: ServerInfo;
  manage: ManagementServices;
}

/** A repository name: anything up to a "/-/" (names are validated by the handlers). */
const NAME = '((?:(?!/-/).)+)';
const SEGMENT = '([^/]+)';

export function apiRoutes({ services, events, info, manage }: ApiDeps): Route[] {
  const status = statusHandlers(info);
  const live = eventHandlers(events, manage.uploadMonitor, info.stopping);
  const repositories = repositoryHandlers(manage.repositories);
  const tags = tagHandlers(manage.repositories);
  const images = imageHandlers(manage.images, manage.repositories);
  const usage = diskUsageHandlers(manage.usage);
  const activity = activityHandlers(manage.activity);
  const selfTest = selfTestHandlers(manage.selfTest);
  const tls = tlsHandlers(manage.tls);
  const maintenance = maintenanceHandlers(services.lifecycle);
  const retention = retentionHandlers(services.lifecycle);
  const users = userHandlers(manage.users);
  const tokens = accessTokenHandlers(manage.users);
  const inside = inspectHandlers(manage.inspect, manage.artifacts);
  const mirrors = services.mirror ? mirrorHandlers(services.mirror, manage.selfTest) : null;
  const storageCopy = storageCopyHandlers(manage.storageCopy);

  const repository = new RegExp(`^/api/repositories/${NAME}$`);
  const manifest = new RegExp(`^/api/repositories/${NAME}/-/manifests/${SEGMENT}$`);
  const tag = new RegExp(`^/api/repositories/${NAME}/-/tags/${SEGMENT}$`);
  const rule = /^\/api\/retention\/rules\/([^/]+)$/;
  const user = /^\/api\/users\/([^/]+)$/;
  const ofManifest = (what: string) => new RegExp(`^/api/repositories/${NAME}/-/manifests/${SEGMENT}/${what}$`);
  const webhooks = webhookHandlers(() => manage.webhooks);
  const webhook = /^\/api\/webhooks\/([^/]+)$/;
  const delivery = /^\/api\/webhooks\/([^/]+)\/deliveries\/([^/]+)$/;
  const upstream = /^\/api\/mirrors\/([a-z0-9._-]+)$/;
  const upstreamPart = (part: string) => new RegExp(`^/api/mirrors/([a-z0-9._-]+)/${part}$`);
  return [
    { method: 'GET', pattern: /^\/api\/status$/, params: [], handler: status.getStatus },
    { method: 'GET', pattern: /^\/api\/events$/, params: [], handler: live.streamEvents },
    // What the registry holds (issue 4)
    { method: 'GET', pattern: /^\/api\/repositories$/, params: [], handler: repositories.listRepositories },
    { method: 'GET', pattern: repository, params: ['name'], handler: repositories.getRepository },
    { method: 'DELETE', pattern: repository, params: ['name'], handler: repositories.deleteRepository },
    { method: 'GET', pattern: manifest, params: ['name', 'reference'], handler: images.getImage },
    { method: 'DELETE', pattern: manifest, params: ['name', 'reference'], handler: images.deleteManifest },
    { method: 'DELETE', pattern: tag, params: ['name', 'tag'], handler: tags.deleteTag },
    { method: 'GET', pattern: /^\/api\/disk-usage$/, params: [], handler: usage.getDiskUsage },
    { method: 'GET', pattern: /^\/api\/storage\/copy$/, params: [], handler: storageCopy.getCopy },
    { method: 'POST', pattern: /^\/api\/storage\/copy$/, params: [], handler: storageCopy.startCopy },
    { method: 'GET', pattern: /^\/api\/activity$/, params: [], handler: activity.getActivity },
    { method: 'POST', pattern: /^\/api\/self-test$/, params: [], handler: selfTest.runSelfTest },
    { method: 'GET', pattern: /^\/api\/tls\/ca\.crt$/, params: [], handler: tls.getCaCertificate },
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
    // Users and tokens (issue 10)
    { method: 'GET', pattern: /^\/api\/users$/, params: [], handler: users.listUsers },
    { method: 'POST', pattern: /^\/api\/users$/, params: [], handler: users.createUser },
    { method: 'POST', pattern: /^\/api\/users\/htpasswd$/, params: [], handler: users.importHtpasswd },
    { method: 'PUT', pattern: user, params: ['name'], handler: users.updateUser },
    { method: 'DELETE', pattern: user, params: ['name'], handler: users.removeUser },
    { method: 'PUT', pattern: /^\/api\/users\/([^/]+)\/password$/, params: ['name'], handler: users.setPassword },
    { method: 'GET', pattern: /^\/api\/tokens$/, params: [], handler: tokens.listTokens },
    { method: 'POST', pattern: /^\/api\/tokens$/, params: [], handler: tokens.createToken },
    { method: 'DELETE', pattern: /^\/api\/tokens\/([^/]+)$/, params: ['id'], handler: tokens.revokeToken },
    // Inside images: files, diff, signatures and SBOMs (issue 15)
    { method: 'GET', pattern: ofManifest('files'), params: ['name', 'reference'], handler: inside.getImageFiles },
    { method: 'GET', pattern: ofManifest('file'), params: ['name', 'reference'], handler: inside.getImageFile },
    { method: 'GET', pattern: ofManifest('download'), params: ['name', 'reference'], handler: inside.downloadImageFile },
    { method: 'GET', pattern: ofManifest('artifacts'), params: ['name', 'reference'], handler: inside.getArtifacts },
    { method: 'GET', pattern: ofManifest(`sbom/${SEGMENT}`), params: ['name', 'reference', 'digest'], handler: inside.getSbom },
    { method: 'POST', pattern: ofManifest('verify'), params: ['name', 'reference'], handler: inside.verifySignatures },
    { method: 'GET', pattern: new RegExp(`^/api/repositories/${NAME}/-/layers/${SEGMENT}$`), params: ['name', 'digest'], handler: inside.getLayer },
    { method: 'GET', pattern: /^\/api\/diff$/, params: [], handler: inside.getImageDiff },
    // Webhooks (issue 14)
    { method: 'GET', pattern: /^\/api\/webhooks$/, params: [], handler: webhooks.listWebhooks },
    { method: 'POST', pattern: /^\/api\/webhooks$/, params: [], handler: webhooks.createWebhook },
    { method: 'GET', pattern: webhook, params: ['id'], handler: webhooks.getWebhook },
    { method: 'PUT', pattern: webhook, params: ['id'], handler: webhooks.updateWebhook },
    { method: 'DELETE', pattern: webhook, params: ['id'], handler: webhooks.deleteWebhook },
    { method: 'POST', pattern: /^\/api\/webhooks\/([^/]+)\/rotate-secret$/, params: ['id'], handler: webhooks.rotateWebhookSecret },
    { method: 'POST', pattern: /^\/api\/webhooks\/([^/]+)\/test$/, params: ['id'], handler: webhooks.testWebhook },
    { method: 'GET', pattern: /^\/api\/webhooks\/([^/]+)\/deliveries$/, params: ['id'], handler: webhooks.listWebhookDeliveries },
    { method: 'GET', pattern: delivery, params: ['id', 'delivery'], handler: webhooks.getWebhookDelivery },
    { method: 'POST', pattern: /^\/api\/webhooks\/([^/]+)\/deliveries\/([^/]+)\/redeliver$/, params: ['id', 'delivery'], handler: webhooks.redeliverWebhook },
    // The pull-through cache (issue 12)
    ...(mirrors
      ? ([
          { method: 'GET', pattern: /^\/api\/mirrors$/, params: [], handler: mirrors.getMirrors },
          { method: 'POST', pattern: /^\/api\/mirrors$/, params: [], handler: mirrors.addMirror },
          { method: 'POST', pattern: /^\/api\/mirrors\/expire$/, params: [], handler: mirrors.expireMirrors },
          { method: 'PUT', pattern: upstream, params: ['name'], handler: mirrors.updateMirror },
          { method: 'DELETE', pattern: upstream, params: ['name'], handler: mirrors.deleteMirror },
          { method: 'PUT', pattern: upstreamPart('credentials'), params: ['name'], handler: mirrors.putMirrorCredentials },
          { method: 'DELETE', pattern: upstreamPart('credentials'), params: ['name'], handler: mirrors.deleteMirrorCredentials },
          { method: 'POST', pattern: upstreamPart('clear'), params: ['name'], handler: mirrors.clearMirror },
          { method: 'POST', pattern: upstreamPart('self-test'), params: ['name'], handler: mirrors.testMirror },
        ] satisfies Route[])
      : []),
  ];
}
