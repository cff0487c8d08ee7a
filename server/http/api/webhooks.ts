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
import { ConfigError, parseDuration } from '../../config.ts';
import type { FieldErrorDetail } from '../../registry/api-types.ts';
import { RegistryError } from '../../registry/errors.ts';
import type { DeliveryState } from '../../webhooks/api-types.ts';
import type { WebhookService } from '../../webhooks/service.ts';
import { sendEmpty, sendJson, singleQuery, type Ctx } from '../context.ts';
import { onlyFields, readJsonObject } from './json-body.ts';

const MAX_LIST = 200;
const STATES: readonly DeliveryState[] = ['pending', 'delivered', 'dead', 'dropped'];
const DEFAULT_GRACE = '24h';

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
      let graceMs: number;
      try {
        graceMs = parseDuration(body.grace ?? DEFAULT_GRACE, '"grace"');
      } catch (err) {
        if (err instanceof ConfigError) throw new RegistryError('BAD_REQUEST', { message: err.message, detail: { fields: ['grace'] } satisfies FieldErrorDetail });
        throw err;
      }
      sendJson(ctx, await webhooks().rotateSecret(ctx.params.id!, { ...('secret' in body ? { secret: body.secret } : {}), graceMs }));
    },

    async testWebhook(ctx: Ctx): Promise<void> {
      onlyFields(await readJsonObject(ctx), []);
      sendJson(ctx, await webhooks().test(ctx.params.id!));
    },

    async listWebhookDeliveries(ctx: Ctx): Promise<void> {
      const state = singleQuery(ctx, 'state');
      if (state !== undefined && !(STATES as readonly string[]).includes(state)) {
        throw new RegistryError('BAD_REQUEST', { message: `state must be one of ${STATES.join(', ')}` });
      }
      const limitText = singleQuery(ctx, 'limit');
      const limit = limitText === undefined ? 50 : Number(limitText);
      if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIST) throw new RegistryError('BAD_REQUEST', { message: `limit must be a whole number from 1 to ${MAX_LIST}` });
      const beforeText = singleQuery(ctx, 'before');
      const before = beforeText === undefined ? undefined : Number(beforeText);
      if (before !== undefined && (!Number.isInteger(before) || before < 0)) {
        throw new RegistryError('BAD_REQUEST', { message: '"before" must be the "next" value of a previous page of deliveries' });
      }
      sendJson(ctx, await webhooks().deliveries(ctx.params.id!, { limit, ...(state ? { state: state as DeliveryState } : {}), ...(before !== undefined ? { before } : {}) }));
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
