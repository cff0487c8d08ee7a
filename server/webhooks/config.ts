/**
 * Webhook endpoints in the config file (config.ts), `"webhooks": [...]`:
 *   {"name": "ci", "url": "https://ci.example/hooks/berth", "events": ["push"], "repositories": "team/*",
 *    "format": "distribution", "secretFile": "/etc/berth/ci-webhook.secret", "timeout": "10s"}
 * `name` is the endpoint's id (letters, digits, ".", "_", "-"); the other fields are those of the API
 * (endpoints.ts), but the secret comes from `secretFile` (its first line) or `secretEnv` (an environment
 * variable), and the CA from `caFile`: never inline, since config files get shared and committed.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { ENDPOINT_FIELDS, ENDPOINT_ID, EndpointInputError, validateEndpoint, validateSecret } from './endpoints.ts';
import type { ConfiguredEndpoint } from './service.ts';

const CONFIG_FIELDS = [...ENDPOINT_FIELDS.filter((f) => f !== 'secret' && f !== 'ca'), 'secretFile', 'secretEnv', 'caFile'];

/** `fail` makes the caller's error (config.ts: ConfigError) from a message. */
export async function configuredEndpoints(value: unknown, file: string, env: NodeJS.ProcessEnv, fail: (message: string) => Error): Promise<ConfiguredEndpoint[]> {
  if (!Array.isArray(value)) throw fail('"webhooks" must be a list of endpoints ({"name": ..., "url": ...})');
  const out: ConfiguredEndpoint[] = [];
  for (const [i, entry] of value.entries()) {
    const where = `"webhooks"[${i}]`;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) throw fail(`${where} must be an object`);
    const input = entry as Record<string, unknown>;
    const unknown = Object.keys(input).filter((k) => !CONFIG_FIELDS.includes(k));
    if (unknown.includes('secret') || unknown.includes('ca')) {
      throw fail(`${where}: put the ${unknown.includes('secret') ? 'secret in a file ("secretFile") or an environment variable ("secretEnv")' : 'CA in a file ("caFile")'}, not in the config file`);
    }
    if (unknown.length > 0) throw fail(`${where}: unknown field ${unknown.map((k) => `"${k}"`).join(', ')} (known: ${CONFIG_FIELDS.join(', ')})`);
    const id = input.name;
    if (typeof id !== 'string' || !ENDPOINT_ID.test(id)) throw fail(`${where}: "name" is required: letters, digits, ".", "_" and "-" (up to 64), used as the endpoint's id`);
    if (out.some((e) => e.id === id)) throw fail(`${where}: another endpoint is named "${id}"`);
    const { secretFile, secretEnv, caFile, ...fields } = input;
    let secret: string | null = null;
    try {
      if (secretFile !== undefined && secretEnv !== undefined) throw new EndpointInputError('secretFile', 'give "secretFile" or "secretEnv", not both');
      if (secretFile !== undefined) {
        const text = await readText(secretFile, file, 'secretFile');
        secret = validateSecret(text.split(/\r?\n/)[0]?.trim() ?? '');
      } else if (secretEnv !== undefined) {
        if (typeof secretEnv !== 'string' || !env[secretEnv]) throw new EndpointInputError('secretEnv', `"secretEnv": the environment variable ${String(secretEnv)} is not set`);
        secret = validateSecret(env[secretEnv]);
      }
      const ca = caFile === undefined ? null : await readText(caFile, file, 'caFile');
      out.push({ id, fields: validateEndpoint({ ...fields, ca }, null), secret });
    } catch (err) {
      if (err instanceof EndpointInputError) throw fail(`${where} ("${id}"): ${err.message}`);
      throw err;
    }
  }
  return out;
}

/** A file named in the config, relative to it. */
async function readText(value: unknown, configFile: string, field: string): Promise<string> {
  if (typeof value !== 'string' || value.trim() === '') throw new EndpointInputError(field, `"${field}" must be a file path`);
  const resolved = path.resolve(path.dirname(configFile), value);
  try {
    return await fs.readFile(resolved, 'utf8');
  } catch (err) {
    throw new EndpointInputError(field, `"${field}": cannot read ${resolved} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}
