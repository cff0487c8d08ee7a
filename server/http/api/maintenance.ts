/**
 * Maintenance runs (registry/maintenance.ts) through the management API:
 *   GET  /api/maintenance           settings, when scheduled tasks run next, the run in progress, the last run of each kind
 *   GET  /api/runs[?kind=&limit=]   run history, newest first
 *   GET  /api/runs/<id>             one run, with live progress while it runs
 *   POST /api/gc                    {dryRun?, untagged?, grace?, wait?}   garbage collection
 *   POST /api/gc/preview            {untagged?, grace?}                   a dry run, answered when done
 *   POST /api/scrub                 {wait?}                               integrity scrub
 *   POST /api/reindex               {wait?}                               rebuild the metadata index from disk
 *   POST /api/uploads/purge         {olderThan?, dryRun?, wait?}          remove idle upload sessions
 *   POST /api/retention/apply       {dryRun?, wait?}                      apply the retention rules
 * A run is queued and answered 202 with its record and a Location to follow; with "wait": true the
 * answer comes when it has finished (200). Durations are strings with a unit ("1h", "30m", "0s"); a bad
 * one is refused with detail {"fields": ["grace"]} (api-types.ts FieldErrorDetail), for the UI to show
 * next to its field.
 */
import type { MaintenanceOverview, MaintenanceTrigger } from '../../registry/api-types.ts';
import { RegistryError } from '../../registry/errors.ts';
import { RUN_KINDS, type RunJson, type RunRequest } from '../../registry/maintenance.ts';
import type { RunKind } from '../../metadata/maintenance-db.ts';
import { sendJson, singleQuery, type Ctx, type LifecycleServices } from '../context.ts';
import { CLIENT_HEADER } from './guard.ts';
import { durationField, onlyFields, optionalBoolean, readJsonObject } from './json-body.ts';

const MAX_LIST = 200;

/**
 * Who started a run, from the X-Berth-Client header every change carries (guard.ts): the web UI sends
 * "berth-ui", the CLI working through a server "berth-cli"; any other client is "api".
 */
export function triggerOf(ctx: Ctx): MaintenanceTrigger {
  const client = ctx.get(CLIENT_HEADER);
  return client === 'berth-ui' ? 'ui' : client === 'berth-cli' ? 'cli' : 'api';
}

export function maintenanceHandlers({ maintenance, settings, nextRuns }: LifecycleServices) {
  /** Queues the run; answers 202 + Location, or with wait the finished run (200). */
  async function startRun(ctx: Ctx, request: RunRequest, wait: boolean): Promise<void> {
    const run = await maintenance.start(request, triggerOf(ctx));
    if (wait) {
      sendRun(ctx, await maintenance.wait(run.id), 200);
      return;
    }
    ctx.set('Location', `/api/runs/${run.id}`);
    sendRun(ctx, run, 202);
  }

  function sendRun(ctx: Ctx, run: RunJson, status: number): void {
    ctx.status = status;
    sendJson(ctx, run);
  }

  return {
    async getMaintenance(ctx: Ctx): Promise<void> {
      const last = {} as MaintenanceOverview['last'];
      for (const kind of RUN_KINDS) last[kind] = (await maintenance.list({ kind, limit: 1 }))[0] ?? null;
      const next = nextRuns();
      const overview: MaintenanceOverview = {
        settings: {
          gcIntervalSeconds: settings.gcIntervalMs === null ? null : settings.gcIntervalMs / 1000,
          gcGraceSeconds: settings.gcGraceMs / 1000,
          gcUntagged: settings.gcUntagged,
          uploadPurgeAgeSeconds: settings.uploadPurgeAgeMs / 1000,
          uploadPurgeIntervalSeconds: settings.uploadPurgeIntervalMs === null ? null : settings.uploadPurgeIntervalMs / 1000,
          retentionIntervalSeconds: settings.retentionIntervalMs === null ? null : settings.retentionIntervalMs / 1000,
        },
        nextRuns: Object.fromEntries(Object.entries(next).map(([name, at]) => [name, new Date(at).toISOString()])),
        current: maintenance.current(),
        last,
      };
      sendJson(ctx, overview);
    },

    async listRuns(ctx: Ctx): Promise<void> {
      const kind = singleQuery(ctx, 'kind');
      if (kind !== undefined && !(RUN_KINDS as readonly string[]).includes(kind)) {
        throw new RegistryError('BAD_REQUEST', { message: `kind must be one of ${RUN_KINDS.join(', ')}` });
      }
      const limitText = singleQuery(ctx, 'limit');
      const limit = limitText === undefined ? 50 : Number(limitText);
      if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIST) {
        throw new RegistryError('BAD_REQUEST', { message: `limit must be a whole number from 1 to ${MAX_LIST}` });
      }
      sendJson(ctx, { runs: await maintenance.list({ ...(kind ? { kind: kind as RunKind } : {}), limit }) });
    },

    async getRun(ctx: Ctx): Promise<void> {
      sendJson(ctx, await maintenance.get(ctx.params.id!));
    },

    async startGc(ctx: Ctx): Promise<void> {
      const body = await readJsonObject(ctx);
      onlyFields(body, ['dryRun', 'untagged', 'grace', 'wait']);
      const options = {
        dryRun: optionalBoolean(body, 'dryRun', false),
        untagged: optionalBoolean(body, 'untagged', settings.gcUntagged),
        graceSeconds: durationField(body, 'grace', settings.gcGraceMs) / 1000,
      };
      await startRun(ctx, { kind: 'gc', options }, optionalBoolean(body, 'wait', false));
    },

    async previewGc(ctx: Ctx): Promise<void> {
      const body = await readJsonObject(ctx);
      onlyFields(body, ['untagged', 'grace']);
      const options = {
        dryRun: true,
        untagged: optionalBoolean(body, 'untagged', settings.gcUntagged),
        graceSeconds: durationField(body, 'grace', settings.gcGraceMs) / 1000,
      };
      await startRun(ctx, { kind: 'gc', options }, true);
    },

    async startScrub(ctx: Ctx): Promise<void> {
      const body = await readJsonObject(ctx);
      onlyFields(body, ['wait']);
      await startRun(ctx, { kind: 'scrub', options: {} }, optionalBoolean(body, 'wait', false));
    },

    async startReindex(ctx: Ctx): Promise<void> {
      const body = await readJsonObject(ctx);
      onlyFields(body, ['wait']);
      await startRun(ctx, { kind: 'reindex', options: {} }, optionalBoolean(body, 'wait', false));
    },

    async startUploadPurge(ctx: Ctx): Promise<void> {
      const body = await readJsonObject(ctx);
      onlyFields(body, ['olderThan', 'dryRun', 'wait']);
      const options = {
        dryRun: optionalBoolean(body, 'dryRun', false),
        olderThanSeconds: durationField(body, 'olderThan', settings.uploadPurgeAgeMs) / 1000,
      };
      await startRun(ctx, { kind: 'purge-uploads', options }, optionalBoolean(body, 'wait', false));
    },

    async startRetention(ctx: Ctx): Promise<void> {
      const body = await readJsonObject(ctx);
      onlyFields(body, ['dryRun', 'wait']);
      await startRun(ctx, { kind: 'retention', options: { dryRun: optionalBoolean(body, 'dryRun', false) } }, optionalBoolean(body, 'wait', false));
    },
  };
}
