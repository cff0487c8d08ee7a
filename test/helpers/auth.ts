/**
 * Readable helpers for Docker token auth in tests: asking /token for a token (GET with Basic
 * credentials, POST with an OAuth2 form), sending it, and asserting a challenge exactly.
 */
import assert from 'node:assert/strict';
import { parseGrant } from '../../server/auth/permissions.ts';
import type { TestServer } from './server.ts';
import { expectError } from './registry-client.ts';

export const ADMIN_PASSWORD = 'admin-password-for-tests';

export function basic(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

export function bearer(token: string): Record<string, string> {
  return { Authorization: `Bearer ${token}` };
}

/** Adds a user through the server's own auth service; `permissions` as the CLI takes them ("team/*:pull"). */
export async function addUser(server: TestServer, name: string, password: string, ...permissions: string[]): Promise<void> {
  await server.registry.auth!.addUser({ name, password, permissions: permissions.map(parseGrant) });
}

export interface TokenAnswer {
  token: string;
  access_token: string;
  expires_in: number;
  issued_at: string;
  refresh_token?: string;
  scope?: string;
}

/** GET /token as Docker sends it; returns the raw response. */
export function fetchToken(base: string, options: { user?: string; password?: string; scopes?: string[]; offline?: boolean; extra?: Record<string, string> } = {}): Promise<Response> {
  const query = new URLSearchParams({ service: 'berth', client_id: 'tests', ...options.extra });
  for (const scope of options.scopes ?? []) query.append('scope', scope);
  if (options.offline) query.set('offline_token', 'true');
  if (options.user !== undefined) query.set('account', options.user);
  const headers: Record<string, string> = {};
  if (options.user !== undefined) headers.Authorization = basic(options.user, options.password ?? '');
  return fetch(`${base}/token?${query.toString()}`, { headers });
}

/** GET /token, asserting 200; the token's answer. */
export async function getToken(base: string, user: string | undefined, password: string | undefined, ...scopes: string[]): Promise<TokenAnswer> {
  const res = await fetchToken(base, { ...(user !== undefined ? { user, password: password ?? '' } : {}), scopes });
  const text = await res.text();
  assert.equal(res.status, 200, text);
  return JSON.parse(text) as TokenAnswer;
}

/** POST /token with a form; returns the raw response. */
export function postToken(base: string, form: Record<string, string>): Promise<Response> {
  return fetch(`${base}/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ service: 'berth', client_id: 'tests', ...form }).toString(),
  });
}

/** The claims of a JWT, read without verifying (what the tests check the server put there). */
export function claimsOf(jwt: string): Record<string, unknown> & { access: { type: string; name: string; actions: string[] }[] } {
  return JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString('utf8'));
}

/** Asserts an error answer and its WWW-Authenticate challenge, exactly. */
export async function expectChallenge(res: Response, status: number, code: string, challenge: string): Promise<void> {
  const header = res.headers.get('www-authenticate');
  await expectError(res, status, code);
  assert.equal(header, challenge);
}

/** The Bearer challenge this server sends for `scope` (and `error`). */
export function challengeFor(server: { url: string }, scope?: string, error?: string): string {
  let value = `Bearer realm="${server.url}/token",service="berth"`;
  if (scope) value += `,scope="${scope}"`;
  if (error) value += `,error="${error}"`;
  return value;
}
