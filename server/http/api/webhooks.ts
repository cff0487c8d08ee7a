/**
 * Webhooks (webhooks/service.ts) through the management API:
 *   GET    /api/webhooks                                   {endpoints: [endpoint]} with each one's stats
 *   POST   /api/webhooks                                   {url, name?, enabled?, events?, repositories?, mediaTypes?,
 *                                                          format?, headers?, secret?, timeout?, ca?} -> 201
 *                                                          {endpoint, secret}: the secret (made when not given;
 *                                                          null: unsigned) is shown in this answer only
 *   GET    /api/webhooks/<id>                              endpoint
 *   PUT    /api/webhooks/<id>                              the fields to change (not the secret) -> endpoint
 *   DELETE /api/webhooks/<id>                              -> 204, with its queue and log
 *   POST   /api/webhooks/<id>/rotate-secret                {secret?, grace?: "24h"} -> {endpoint, secret}; the old
 *                                                          secret signs beside the new one for the grace period
 *   POST   /api/webhooks/<id>/test                         sends a test event now -> the delivery as recorded
 *   GET    /api/webhooks/<id>/deliveries[?state=&limit=&before=]   the delivery log, newest first -> {deliveries, next}
 *   GET    /api/webhooks/<id>/deliveries/<delivery>        one delivery with its latest attempts
 *   POST   /api/webhooks/<id>/deliveries/<delivery>/redeliver     a pending one: tried now, in order (202); a
 *                                                          finished one: sent again now, same webhook-id (200)
 * Secrets are never shown again after the answer that made them; headers that look like credentials
 * are masked. Endpoints of the config file are listed but changed only there (400).
 */
import { RegistryError } from '../../registry/errors.ts';
import type { DeliveryState } from '../../webhooks/api-types.ts';
import type { WebhookService } from '../../webhooks/service.ts';
import { sendEmpty, sendJson, type Ctx } from '../context.ts';
import { durationField, onlyFields, readJsonObject } from './json-body.ts';
import { enumQuery, intQuery } from './query.ts';

const MAX_LIST = 200;
const STATES: readonly DeliveryState[] = ['pending', 'delivered', 'dead', 'dropped'];
/** The old secret signs beside the new one this long unless asked otherwise. */
const DEFAULT_GRACE_MS = 24 * 3600 * 1000;

export function webhookHandlers(service: () => WebhookService | undefined) {
  const webhooks = (): WebhookService => {
    const s = service();
    if (!s) throw new RegistryError('UNAVAILABLE', { message: 'webhooks are not available in this process' });
    return s;
  };

  return {
    async listWebhooks(ctx: Ctx): Promise<void> {
      sendJson(ctx, { endpoints: webhooks().list() });
    },

    async createWebhook(ctx: Ctx): Promise<void> {
      const answer = await webhooks().create(await readJsonObject(ctx));
      ctx.status = 201;
      ctx.set('Location', `/api/webhooks/${answer.endpoint.id}`);
      sendJson(ctx, answer);
    },

    async getWebhook(ctx: Ctx): Promise<void> {
      sendJson(ctx, webhooks().get(ctx.params.id!));
    },

    async updateWebhook(ctx: Ctx): Promise<void> {
      sendJson(ctx, await webhooks().update(ctx.params.id!, await readJsonObject(ctx)));
    },

    async deleteWebhook(ctx: Ctx): Promise<void> {
      await webhooks().remove(ctx.params.id!);
      sendEmpty(ctx, 204);
    },

    async rotateWebhookSecret(ctx: Ctx): Promise<void> {
      const body = await readJsonObject(ctx);
      onlyFields(body, ['secret', 'grace']);
      const graceMs = durationField(body, 'grace', DEFAULT_GRACE_MS);
      sendJson(ctx, await webhooks().rotateSecret(ctx.params.id!, { ...('secret' in body ? { secret: body.secret } : {}), graceMs }));
    },

    async testWebhook(ctx: Ctx): Promise<void> {
      onlyFields(await readJsonObject(ctx), []);
      sendJson(ctx, await webhooks().test(ctx.params.id!));
    },

    async listWebhookDeliveries(ctx: Ctx): Promise<void> {
      const state = enumQuery(ctx, 'state', ['all', ...STATES], 'all');
      const limit = intQuery(ctx, 'limit', { min: 1, max: MAX_LIST, fallback: 50 });
      // "next" of a previous page: a position in the outbox.
      const before = intQuery(ctx, 'before', { min: 0, max: Number.MAX_SAFE_INTEGER, fallback: -1 });
      sendJson(ctx, await webhooks().deliveries(ctx.params.id!, { limit, ...(state !== 'all' ? { state } : {}), ...(before >= 0 ? { before } : {}) }));
    },

    async getWebhookDelivery(ctx: Ctx): Promise<void> {
      sendJson(ctx, await webhooks().delivery(ctx.params.id!, ctx.params.delivery!));
    },

    async redeliverWebhook(ctx: Ctx): Promise<void> {
      onlyFields(await readJsonObject(ctx), []);
      const { delivery, queued } = await webhooks().redeliver(ctx.params.id!, ctx.params.delivery!);
      ctx.status = queued ? 202 : 200;
      sendJson(ctx, delivery);
    },
  };
}
