/**
 * At least once across a crash: `berth serve` is killed with SIGKILL right after answering 100 pushes
 * whose webhooks were not delivered yet (the receiver holds the first one without answering); after a
 * restart every one of them is delivered, each exactly once by webhook-id, in push order.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { WebhookEndpoint, WebhookSecretAnswer } from '../../server/webhooks/api-types.ts';
import { startBerth, type BerthProcess } from '../helpers/berth-process.ts';
import { sha256 } from '../helpers/registry-client.ts';
import { tempDir } from '../helpers/server.ts';
import { envelopeEvents, startReceiver, type Receiver } from '../helpers/webhook-receiver.ts';

const EVENTS = 100;

describe('webhooks across kill -9', { timeout: 180_000 }, () => {
  let work: string;
  let hook: Receiver;
  let berth: BerthProcess | null = null;
  before(async () => {
    work = await tempDir('berth-webhook-crash-');
    hook = await startReceiver();
  });
  after(async () => {
    await berth?.kill9();
    await hook.close();
    await fs.rm(work, { recursive: true, force: true });
  });

  it('delivers all 100 undelivered events after a restart, each exactly once', async () => {
    const data = path.join(work, 'data');
    berth = await startBerth({ dataDir: data });
    const res = await fetch(`${berth.url}/api/webhooks`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-Berth-Client': 'test' },
      body: JSON.stringify({ url: hook.url, events: ['push'] }),
    });
    assert.equal(res.status, 201);
    const { endpoint, secret } = (await res.json()) as WebhookSecretAnswer;
    hook.options.secrets = [secret!];

    // The receiver takes the first delivery and never answers: nothing is delivered before the kill.
    hook.hang(true);
    const digests: string[] = [];
    for (let i = 0; i < EVENTS; i++) {
      const blob = `crash blob ${i}`;
      const pushed = await fetch(`${berth.url}/v2/crash/app/blobs/uploads/?digest=${sha256(blob)}`, { method: 'POST', body: blob });
      assert.equal(pushed.status, 201);
      digests.push(sha256(blob));
    }
    await berth.kill9();
    assert.equal(hook.received.length, 0, 'nothing was answered before the kill');

    hook.hang(false);
    berth = await startBerth({ dataDir: data });
    const received = await hook.until((r) => r.length >= EVENTS, 120_000);
    // Let the worker finish: the queue is empty once all are delivered; nothing more comes after that.
    const api = async () => (await (await fetch(`${berth!.url}/api/webhooks/${endpoint.id}`)).json()) as WebhookEndpoint;
    for (let view = await api(); view.stats.queued > 0; view = await api()) await hook.until((r) => r.length > received.length - 1, 1000).catch(() => undefined);
    assert.equal((await api()).stats.queued, 0);

    const ids = hook.received.map((r) => String(r.headers['webhook-id']));
    assert.equal(hook.received.length, EVENTS, 'no delivery twice');
    assert.equal(new Set(ids).size, EVENTS, 'each webhook-id once');
    assert.ok(hook.received.every((r) => r.status === 200 && r.standardOk && r.hubOk));
    assert.deepEqual(envelopeEvents(hook.received).map((e) => e.target.digest), digests, 'in push order');
  });
});
