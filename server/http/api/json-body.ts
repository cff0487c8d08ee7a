/** JSON request bodies of the management API: small objects, read whole. */
import getRawBody from 'raw-body';
import { ConfigError, parseDuration } from '../../config.ts';
import type { FieldErrorDetail } from '../../registry/api-types.ts';
import { RegistryError } from '../../registry/errors.ts';
import type { Ctx } from '../context.ts';

/** Management requests are a few settings; anything larger is a mistake or an attack. */
const MAX_JSON_BYTES = 64 * 1024;

/** The body as a JSON object; an empty body is {}. `limit`: for the few requests that carry a file. */
export async function readJsonObject(ctx: Ctx, limit = MAX_JSON_BYTES): Promise<Record<string, unknown>> {
  let text: string;
  try {
    // Decoded here, not by raw-body, whose decoding loads iconv-lite's tables (scripts/build.js).
    // TextDecoder drops a BOM and turns bad bytes into U+FFFD, as that decoder did.
    text = new TextDecoder().decode(await getRawBody(ctx.req, { limit }));
  } catch (err) {
    if ((err as { type?: string }).type === 'entity.too.large') {
      throw new RegistryError('TOO_LARGE', { message: `request bodies of the management API may be at most ${limit} bytes here` });
    }
    throw err;
  }
  if (text.trim() === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new RegistryError('BAD_REQUEST', { message: `the request body is not valid JSON: ${(err as Error).message}` });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new RegistryError('BAD_REQUEST', { message: 'the request body must be a JSON object' });
  }
  return parsed as Record<string, unknown>;
}

/** Refuses fields a request does not know, naming the ones it does. */
export function onlyFields(body: Record<string, unknown>, known: readonly string[]): void {
  const unknown = Object.keys(body).filter((k) => !known.includes(k));
  if (unknown.length > 0) {
    throw new RegistryError('BAD_REQUEST', {
      message: `unknown field ${unknown.map((k) => `"${k.slice(0, 50)}"`).join(', ')}${known.length ? ` (known: ${known.join(', ')})` : ''}`,
    });
  }
}

export function optionalBoolean(body: Record<string, unknown>, key: string, fallback: boolean): boolean {
  const value = body[key];
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw new RegistryError('BAD_REQUEST', { message: `"${key}" must be true or false` });
  return value;
}

/** A duration field ("1h"), or `fallbackMs` when absent; a bad one names its field (FieldErrorDetail). */
export function durationField(body: Record<string, unknown>, key: string, fallbackMs: number): number {
  if (body[key] === undefined) return fallbackMs;
  try {
    return parseDuration(body[key], `"${key}"`);
  } catch (err) {
    if (err instanceof ConfigError) throw new RegistryError('BAD_REQUEST', { message: err.message, detail: { fields: [key] } satisfies FieldErrorDetail });
    throw err;
  }
}
