/**
 * `berth webhook add|list|rm|test`: webhook endpoints (webhooks/). Like the maintenance commands, they
 * go through the management API of the server holding the data directory when one does (it owns the
 * nedb files and delivers), and open <data>/webhooks/ themselves, under the directory's lock, when none
 * does.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { pino } from 'pino';
import { NedbWebhookStore } from '../metadata/webhook-db.ts';
import { RegistryError } from '../registry/errors.ts';
import { readProblem } from '../storage/files.ts';
import { RegistryEvents } from '../registry/events.ts';
import { systemClock } from '../scheduler.ts';
import { DataDirLock, DataDirLockedError } from '../storage/lock.ts';
import { StoragePaths } from '../storage/paths.ts';
import { StartupError } from '../index.ts';
import { WEBHOOK_EVENT_KINDS, WEBHOOK_FORMATS, type WebhookDelivery, type WebhookEndpoint, type WebhookSecretAnswer } from '../webhooks/api-types.ts';
import { DEFAULT_QUEUE_CAP, WebhookService } from '../webhooks/service.ts';
import type { BerthConfig } from '../config.ts';
import { readPasswordFromStdin, table } from './auth-store.ts';
import { UsageError, parseOptions, requireDataDir, subcommandError, type Command } from './common.ts';
import { MAINTENANCE_OPTIONS_USAGE, maintenanceConfig } from './maintenance.ts';
import { serverHolding, type ManagementClient } from './management-client.ts';

const USAGE = `Usage:
  berth webhook add URL [--events push,delete,...] [--format distribution|cloudevents|slack] [--secret-stdin | --no-secret]
                        [--name NAME] [--repositories PATTERN] [--media-type PATTERN]... [--header "Name: value"]...
                        [--timeout 10s] [--ca FILE] [--disabled]
  berth webhook list [--json]
  berth webhook rm ID
  berth webhook test ID

Sends registry events to URL as they happen: signed (Standard Webhooks' webhook-signature and
X-Hub-Signature-256), retried with backoff for about a day, in order, each delivery with a stable
webhook-id. Without --secret-stdin a secret is made and printed once; --secret-stdin reads it from the
first line of standard input.

  --events     ${WEBHOOK_EVENT_KINDS.join(', ')}
               (default: all but pull)
  --format     ${WEBHOOK_FORMATS.join(', ')} (default distribution: CNCF Distribution's envelope)
  --repositories  a pattern of repository names, as in permissions ("team/*": all under team/); default all

Endpoints of the config file ("webhooks": [...]) are listed and tested, and changed only in the file.

${MAINTENANCE_OPTIONS_USAGE.replace(/\n.*--json.*$/m, '')}
  --json             list: print the endpoints as JSON

When a Berth server holds the data directory it does the work (through its management API); otherwise
the command works on the directory directly. A server with registry auth on wants an admin: set
BERTH_USERNAME and BERTH_PASSWORD (a password or access token).
`;

const OPTIONS = {
  data: { type: 'string' },
  config: { type: 'string' },
  json: { type: 'boolean' },
  events: { type: 'string' },
  format: { type: 'string' },
  'secret-stdin': { type: 'boolean' },
  'no-secret': { type: 'boolean' },
  name: { type: 'string' },
  repositories: { type: 'string' },
  'media-type': { type: 'string', multiple: true },
  header: { type: 'string', multiple: true },
  timeout: { type: 'string' },
  ca: { type: 'string' },
  disabled: { type: 'boolean' },
} as const;

/** Where the work happens: the server's API, or the store opened here. */
interface Target {
  server: ManagementClient | null;
  local: WebhookService | null;
}

export const webhookCommand: Command = {
  summary: 'Manage webhook endpoints: add, list, rm, test',
  usage: USAGE,
  async run(args) {
    const [sub, ...rest] = args;
    if (sub !== 'add' && sub !== 'list' && sub !== 'rm' && sub !== 'remove' && sub !== 'test') throw subcommandError('webhook', sub, ['add', 'list', 'rm', 'test']);
    const { values, positionals } = parseOptions(rest, OPTIONS, true);
    const config = await maintenanceConfig(values);
    const out = (text: string) => process.stdout.write(text);
    switch (sub) {
      case 'add': {
        if (positionals.length !== 1) throw new UsageError('webhook add takes one URL; see berth help webhook');
        if (values['secret-stdin'] && values['no-secret']) throw new UsageError('--secret-stdin and --no-secret go separately');
        const body: Record<string, unknown> = { url: positionals[0] };
        if (values.events !== undefined) body.events = eventsFrom(values.events);
        if (values.format !== undefined) {
          if (!(WEBHOOK_FORMATS as readonly string[]).includes(values.format)) throw new UsageError(`--format "${values.format}" is not one of ${WEBHOOK_FORMATS.join(', ')}`);
          body.format = values.format;
        }
        if (values.name !== undefined) body.name = values.name;
        if (values.repositories !== undefined) body.repositories = values.repositories;
        if (values['media-type']) body.mediaTypes = values['media-type'];
        if (values.header) body.headers = Object.fromEntries(values.header.map(parseHeader));
        if (values.timeout !== undefined) body.timeout = values.timeout;
        if (values.disabled) body.enabled = false;
        if (values.ca !== undefined) {
          body.ca = await readFile(values.ca, '--ca');
          // Named by its file here; the API can only say that "ca" is not PEM.
          if (!/-----BEGIN CERTIFICATE-----/.test(body.ca as string)) throw new UsageError(`--ca ${values.ca} is not a PEM certificate: it has no "-----BEGIN CERTIFICATE-----" line`);
        }
        if (values['no-secret']) body.secret = null;
        else if (values['secret-stdin']) body.secret = (await readPasswordFromStdin('--secret-stdin')).trim();
        const answer = await withTarget(config, (t) =>
          t.server ? t.server.call<WebhookSecretAnswer>('POST', '/api/webhooks', body) : t.local!.create(body),
        );
        const e = answer.endpoint;
        out(`Added webhook ${e.id}: ${e.url} (${e.events.join(', ')}; ${e.format}${e.repositories ? `; repositories ${e.repositories}` : ''})\n`);
        if (answer.secret && !values['secret-stdin']) out(`Secret (shown only this once): ${answer.secret}\n`);
        if (!answer.secret) out('Deliveries are not signed (no secret).\n');
        return 0;
      }
      case 'list': {
        const endpoints = await withTarget(config, async (t) =>
          t.server ? (await t.server.call<{ endpoints: WebhookEndpoint[] }>('GET', '/api/webhooks')).endpoints : t.local!.list(),
        );
        if (values.json) out(`${JSON.stringify(endpoints, null, 2)}\n`);
        else if (endpoints.length === 0) out('No webhooks. Add one with: berth webhook add URL\n');
        else {
          out(table(
            ['ID', 'URL', 'EVENTS', 'FORMAT', 'STATE', 'QUEUED', 'LAST SUCCESS', 'FAILURES'],
            endpoints.map((e) => [
              e.id,
              e.url,
              e.events.join(','),
              e.format,
              `${e.enabled ? 'enabled' : 'disabled'}${e.source === 'config' ? ' (config)' : ''}${e.stats.circuitOpenUntil ? ', circuit open' : ''}`,
              String(e.stats.queued),
              e.stats.lastSuccessAt ?? '-',
              String(e.stats.failureStreak),
            ]),
          ));
        }
        return 0;
      }
      case 'rm':
      case 'remove': {
        const id = oneId(positionals, 'rm');
        await withTarget(config, (t) => (t.server ? t.server.call<void>('DELETE', `/api/webhooks/${encodeURIComponent(id)}`) : t.local!.remove(id)));
        out(`Removed webhook ${id} with its queued deliveries and log\n`);
        return 0;
      }
      case 'test': {
        const id = oneId(positionals, 'test');
        const delivery = await withTarget(config, (t) =>
          t.server ? t.server.call<WebhookDelivery>('POST', `/api/webhooks/${encodeURIComponent(id)}/test`, {}) : t.local!.test(id),
        );
        const attempt = delivery.history.at(-1);
        if (delivery.state === 'delivered') {
          out(`Test event delivered: ${attempt?.status} in ${attempt?.durationMs} ms (webhook-id ${delivery.id})\n`);
          return 0;
        }
        process.stderr.write(`berth: the test event was not delivered: ${attempt?.error ?? 'no answer'}${attempt?.response ? `\n  the receiver said: ${attempt.response.slice(0, 200)}` : ''}\n`);
        return 1;
      }
    }
  },
};

/** --events as a list, every name checked here (before the data directory is touched) and a wrong one named. */
function eventsFrom(text: string): string[] {
  const events = text.split(',').map((e) => e.trim()).filter(Boolean);
  if (events.length === 0) throw new UsageError(`--events needs at least one of ${WEBHOOK_EVENT_KINDS.join(', ')}`);
  const unknown = events.filter((e) => !(WEBHOOK_EVENT_KINDS as readonly string[]).includes(e));
  if (unknown.length > 0) {
    throw new UsageError(`--events: unknown event ${unknown.map((e) => `"${e}"`).join(', ')}; the events are ${WEBHOOK_EVENT_KINDS.join(', ')}`);
  }
  return events;
}

function oneId(positionals: string[], sub: string): string {
  if (positionals.length !== 1) throw new UsageError(`webhook ${sub} takes one endpoint id (see berth webhook list)`);
  return positionals[0]!;
}

function parseHeader(text: string): [string, string] {
  const at = text.indexOf(':');
  if (at <= 0) throw new UsageError(`--header "${text.slice(0, 50)}": write it as "Name: value"`);
  return [text.slice(0, at).trim(), text.slice(at + 1).trim()];
}

async function readFile(file: string, option: string): Promise<string> {
  try {
    return await fs.readFile(path.resolve(file), 'utf8');
  } catch (err) {
    throw new UsageError(`${option} ${file}: ${readProblem(err)}`);
  }
}

/** Runs `work` against the server holding the data directory, or on the directory itself. */
async function withTarget<T>(config: BerthConfig, work: (target: Target) => Promise<T>): Promise<T> {
  const paths = new StoragePaths(config.dataDir);
  const held = await serverHolding(paths);
  if (held) return work({ server: held.client, local: null });
  // Endpoints belong to a registry: a mistyped --data is an error, not a new directory.
  await requireDataDir(paths.root);
  let lock: DataDirLock;
  try {
    lock = await DataDirLock.acquire(paths.lockFile);
  } catch (err) {
    if (err instanceof DataDirLockedError) throw new StartupError(`the data directory ${paths.root} is in use (pid ${err.holder.pid}); try again when it is done`);
    throw new StartupError(`cannot use data directory ${paths.root}: ${(err as Error).message}`);
  }
  // Logs go to stderr (warnings only): stdout is the command's output.
  const log = pino({ level: 'warn', base: { app: 'berth' } }, pino.destination(2));
  const service = new WebhookService({
    store: new NedbWebhookStore(paths.webhooksDir),
    events: new RegistryEvents(),
    configured: config.webhooks ?? [],
    queueCap: config.webhookQueueCap ?? DEFAULT_QUEUE_CAP,
    run: () => Promise.reject(new Error('no maintenance runs here')),
    registryUrl: () => null,
    clock: systemClock,
    log,
  });
  try {
    await service.open();
    return await work({ server: null, local: service });
  } catch (err) {
    // The API's errors, as the server would have said them.
    if (err instanceof RegistryError) throw new StartupError(err.message);
    throw err;
  } finally {
    await service.close().catch(() => undefined);
    await lock.release();
  }
}
