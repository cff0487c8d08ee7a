/**
 * Access tokens and logins through the management API (registry/user-admin.ts):
 *   GET    /api/tokens[?user=NAME]   {authEnabled, tokens: [token]}: robot and personal access tokens,
 *                                    and logins (refresh tokens kept by docker login or the UI), with
 *                                    when each was last used; never a secret
 *   POST   /api/tokens               {robot | user, name?, expires?, permissions?} -> 201 {token, secret}:
 *                                    the secret is in this answer only (stored as a hash); a robot
 *                                    account is made on its first token (then permissions are needed);
 *                                    expires: "90d" (default), "12h", "4w", "2027-01-31" or "never"
 *   DELETE /api/tokens/<id>          -> 204; logins made with a revoked token end with it
 * Bad input is 400 BAD_REQUEST with detail {"fields": [...]} (api-types.ts FieldErrorDetail).
 */
import type { UserAdmin } from '../../registry/user-admin.ts';
import { sendEmpty, sendJson, singleQuery, type Ctx } from '../context.ts';
import { readJsonObject } from './json-body.ts';

export function accessTokenHandlers(users: UserAdmin) {
  return {
    async listTokens(ctx: Ctx): Promise<void> {
      const user = singleQuery(ctx, 'user');
      sendJson(ctx, await users.listTokens(user === undefined ? {} : { user }));
    },

    async createToken(ctx: Ctx): Promise<void> {
      const created = await users.createToken(await readJsonObject(ctx));
      ctx.status = 201;
      // RFC 6749 §5.1's rule for answers carrying tokens: never cached.
      ctx.set('Cache-Control', 'no-store');
      sendJson(ctx, created);
    },

    async revokeToken(ctx: Ctx): Promise<void> {
      await users.revokeToken(ctx.params.id!);
      sendEmpty(ctx, 204);
    },
  };
}
