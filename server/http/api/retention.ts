/**
 * Retention rules (registry/retention.ts) through the management API:
 *   GET    /api/retention/rules           {rules: [rule]}
 *   POST   /api/retention/rules           {repositories, keepLast?, keepDays?, keepTags?, enabled?} -> 201 rule
 *   PUT    /api/retention/rules/<id>      the fields to change -> rule
 *   DELETE /api/retention/rules/<id>      -> 204
 *   POST   /api/retention/preview         {rules?: [rule fields]}: what the saved (or the given, unsaved)
 *                                         rules would untag now; changes nothing and is not recorded
 * Applying the rules for real is a recorded maintenance run: POST /api/retention/apply (maintenance.ts).
 * A rule that does not validate is refused 400 BAD_REQUEST with detail {"fields": [...]}, the fields at
 * fault (api-types.ts FieldErrorDetail), so the UI shows the message next to them.
 */
import { RegistryError } from '../../registry/errors.ts';
import type { RetentionRuleInput } from '../../registry/retention.ts';
import { sendEmpty, sendJson, type Ctx, type LifecycleServices } from '../context.ts';
import { onlyFields, readJsonObject } from './json-body.ts';

export function retentionHandlers({ retention }: LifecycleServices) {
  return {
    async listRetentionRules(ctx: Ctx): Promise<void> {
      sendJson(ctx, { rules: await retention.listRules() });
    },

    async createRetentionRule(ctx: Ctx): Promise<void> {
      const rule = await retention.createRule(await readJsonObject(ctx));
      ctx.status = 201;
      ctx.set('Location', `/api/retention/rules/${rule.id}`);
      sendJson(ctx, rule);
    },

    async updateRetentionRule(ctx: Ctx): Promise<void> {
      sendJson(ctx, await retention.updateRule(ctx.params.id!, await readJsonObject(ctx)));
    },

    async deleteRetentionRule(ctx: Ctx): Promise<void> {
      await retention.deleteRule(ctx.params.id!);
      sendEmpty(ctx, 204);
    },

    async previewRetention(ctx: Ctx): Promise<void> {
      const body = await readJsonObject(ctx);
      onlyFields(body, ['rules']);
      if (body.rules !== undefined && !Array.isArray(body.rules)) {
        throw new RegistryError('BAD_REQUEST', { message: '"rules" must be an array of rules' });
      }
      const rules = body.rules as RetentionRuleInput[] | undefined;
      sendJson(ctx, await retention.apply({ dryRun: true, ...(rules ? { rules } : {}) }));
    },
  };
}
