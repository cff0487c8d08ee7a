/**
 * Users through the management API (registry/user-admin.ts):
 *   GET    /api/users                     {authEnabled, users: [user]}
 *   POST   /api/users                     {name, password?, permissions} -> 201 {user, password}: a password
 *                                         Berth generated is in the answer, this once (null when given)
 *   PUT    /api/users/<name>              {permissions} -> user (replaces the permissions)
 *   PUT    /api/users/<name>/password     {password?} -> {password}: generated when left out, shown once
 *   DELETE /api/users/<name>              -> 204, with every token and login of theirs
 *   POST   /api/users/htpasswd            {text, permissions?, replace?} -> {added, replaced, existing, skipped}
 * Permissions are [{repository: "team/*", actions: ["pull", "push"]}] (or "team/*:pull,push" strings).
 * Bad input is 400 BAD_REQUEST with detail {"fields": [...]} (api-types.ts FieldErrorDetail); a name
 * that exists, or a change that would leave no administrator, is 409 CONFLICT.
 */
import type { UserAdmin } from '../../registry/user-admin.ts';
import { MAX_HTPASSWD_CHARS } from '../../registry/user-admin.ts';
import { sendEmpty, sendJson, type Ctx } from '../context.ts';
import { readJsonObject } from './json-body.ts';

export function userHandlers(users: UserAdmin) {
  return {
    async listUsers(ctx: Ctx): Promise<void> {
      sendJson(ctx, await users.listUsers());
    },

    async createUser(ctx: Ctx): Promise<void> {
      const created = await users.createUser(await readJsonObject(ctx));
      ctx.status = 201;
      ctx.set('Location', `/api/users/${encodeURIComponent(created.user.name)}`);
      // The answer may carry a generated password (RFC 9111 §5.2.2.5: never stored by a cache).
      ctx.set('Cache-Control', 'no-store');
      sendJson(ctx, created);
    },

    async updateUser(ctx: Ctx): Promise<void> {
      sendJson(ctx, await users.updateUser(ctx.params.name!, await readJsonObject(ctx)));
    },

    async setPassword(ctx: Ctx): Promise<void> {
      const changed = await users.setPassword(ctx.params.name!, await readJsonObject(ctx));
      ctx.set('Cache-Control', 'no-store');
      sendJson(ctx, changed);
    },

    async removeUser(ctx: Ctx): Promise<void> {
      await users.removeUser(ctx.params.name!);
      sendEmpty(ctx, 204);
    },

    async importHtpasswd(ctx: Ctx): Promise<void> {
      // The file travels as a JSON string: room for its characters, escaped.
      sendJson(ctx, await users.importHtpasswd(await readJsonObject(ctx, 2 * MAX_HTPASSWD_CHARS)));
    },
  };
}
