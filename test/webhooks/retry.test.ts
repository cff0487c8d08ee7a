/**
 * Retries on a fake clock (the worker's timers are the test's): a receiver that answers 500 N times
 * then 200 gets its attempts on the backoff schedule (schedule.ts) and in order; a receiver that is
 * down for good gets its deliveries dead-lettered, its queue capped with every drop counted, and the
 * server's memory stays flat however many events follow.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { RegistryEventMap } from '../../server/registry/events.ts';
import { EventOrigin } from '../../server/registry/events.ts';
import { exposeGc } from '../../server/storage/transient-memory.ts';
import type { WebhookDeliveryPage, WebhookEndpoint, WebhookSecretAnswer } from '../../server/webhooks/api-types.ts';
import { MAX_ATTEMPTS, retryCeiling } from '../../server/webhooks/schedule.ts';
import { ApiClient } from '../helpers/api-client.ts';
import { freePort } from '../helpers/berth-process.ts';
import { FakeClock } from '../helpers/fake-clock.ts';
import { Client, waitFor } from '../helpers/registry-client.ts';
import { startServer, type TestServer } from '../helpers/server.ts';
import { startReceiver, type Receiver } from '../helpers/webhook-receiver.ts';

async function addEndpoint(api: ApiClient, body: Record<string, unknown>): Promise<WebhookEndpoint> {
  const res = await api.fetch('/api/webhooks', { method: 'POST', body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' } });
  const text = await res.text();
  assert.equal(res.status, 201, text);
  return (JSON.parse(text) as WebhookSecretAnswer).endpoint;
}

/** A metric's value from /metrics (0 when absent). */
async function metric(server: TestServer, name: string, endpoint: string): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{endpoint="${endpoint}"}`));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

/** The next timer the worker sets; if none comes, the failure says what the delivery log shows. */
async function nextTimer(clock: FakeClock, api: ApiClient, endpointId: string): Promise<number> {
  try {
    return await clock.timerAfter(clock.now());
  } catch (err) {
    const log = await api.fetch(`/api/webhooks/${endpointId}/deliveries`).then((r) => r.text(), (e: Error) => e.message);
    throw new Error(`${(err as Error).message}; the delivery log: ${log.slice(0, 3000)}`);
  }
}

describe('webhook retries', () => {
  const cleanup: (() => Promise<void>)[] = [];
  after(async () => {
    for (const c of cleanup.reverse()) await c();
  });

  it('retries 500s on the backoff schedule, then delivers, in order per endpoint', async () => {
    const N = 6;
    const clock = new FakeClock(Date.now());
    // random() = 0.5: every wait is exactly 3/4 of its ceiling (half fixed, half jitter).
    const server = await startServer({ uploadPurgeIntervalMs: null }, { clock, random: () => 0.5 });
    cleanup.push(() => server.close({ remove: true }));
    const hook: Receiver = await startReceiver({ status: (n) => (n < N ? 500 : 200) });
    cleanup.push(() => hook.close());
    const api = new ApiClient(server.url);
    const endpoint = await addEndpoint(api, { url: hook.url, events: ['push'] });
    const registry = new Client(server.url);
    await registry.pushBlob('retry/app', 'first');
    await registry.pushBlob('retry/app', 'second');

    await hook.until((r) => r.length >= 1);
    const attemptTimes = [clock.now()];
    for (let failures = 1; failures <= N; failures++) {
      const due = await nextTimer(clock, api, endpoint.id);
      assert.equal(due - clock.now(), Math.round(retryCeiling(failures) * 0.75), `the wait after failure ${failures}`);
      await clock.advance(due - clock.now());
      attemptTimes.push(clock.now());
      await hook.until((r) => r.length >= failures + 1);
    }
    // The second delivery waited behind the first, then went at once.
    const received = await hook.until((r) => r.length >= N + 2);
    const ids = received.map((r) => String(r.headers['webhook-id']));
    assert.equal(new Set(ids.slice(0, N + 1)).size, 1, 'every attempt of the first delivery carries the same webhook-id');
    assert.notEqual(ids[N + 1], ids[0]);
    assert.deepEqual(received.map((r) => r.status), [...Array(N).fill(500), 200, 200]);

    const page = await api.json<WebhookDeliveryPage>(`/api/webhooks/${endpoint.id}/deliveries`);
    const first = page.deliveries.find((d) => d.id === ids[0])!;
    assert.equal(first.state, 'delivered');
    assert.equal(first.attempts, N + 1);
    assert.deepEqual(first.history.map((a) => Date.parse(a.at)), attemptTimes, 'attempt times follow the schedule (5 s, 10 s, 20 s ... x 3/4)');
    assert.deepEqual(first.history.map((a) => a.status), [...Array(N).fill(500), 200]);
    assert.equal(await metric(server, 'berth_webhook_failed_attempts_total', endpoint.id), N);
    assert.equal(await metric(server, 'berth_webhook_retries_total', endpoint.id), N);
    assert.equal(await metric(server, 'berth_webhook_delivered_total', endpoint.id), 2);
    const view = await api.json<WebhookEndpoint>(`/api/webhooks/${endpoint.id}`);
    assert.equal(view.stats.failureStreak, 0);
    assert.equal(view.stats.delivered, 2);
  });

  it('"retry now" on a waiting delivery sends it at once, skipping the backoff, with the same webhook-id', async () => {
    const clock = new FakeClock(Date.now());
    const server = await startServer({ uploadPurgeIntervalMs: null }, { clock });
    cleanup.push(() => server.close({ remove: true }));
    const hook = await startReceiver({ status: (n) => (n === 0 ? 500 : 200) });
    cleanup.push(() => hook.close());
    const api = new ApiClient(server.url);
    const endpoint = await addEndpoint(api, { url: hook.url, events: ['push'] });
    await new Client(server.url).pushBlob('retry-now/app', 'waiting');
    await hook.until((r) => r.length >= 1);
    await nextTimer(clock, api, endpoint.id);
    const [waiting] = (await api.json<WebhookDeliveryPage>(`/api/webhooks/${endpoint.id}/deliveries?state=pending`)).deliveries;
    assert.ok(waiting && Date.parse(waiting.nextAttemptAt!) > clock.now());
    const res = await api.fetch(`/api/webhooks/${endpoint.id}/deliveries/${waiting.id}/redeliver`, { method: 'POST' });
    assert.equal(res.status, 202, await res.clone().text());
    const received = await hook.until((r) => r.length >= 2);
    assert.deepEqual(received.map((r) => [r.headers['webhook-id'], r.status]), [[waiting.id, 500], [waiting.id, 200]]);
  });

  it('with the receiver down for good: dead-letters, caps the queue with counted drops, memory stays flat', async () => {
    const CAP = 50;
    const clock = new FakeClock(Date.now());
    const server = await startServer({ uploadPurgeIntervalMs: null, webhookQueueCap: CAP }, { clock, random: () => 1 });
    cleanup.push(() => server.close({ remove: true }));
    const api = new ApiClient(server.url);
    // Nothing listens there: every attempt is refused.
    const endpoint = await addEndpoint(api, { url: `http://127.0.0.1:${await freePort()}/hook`, events: ['push'] });
    const { events } = server.registry;
    let n = 0;
    /** Events as the registry emits them for a request, written to the outbox before this resolves. */
    async function push(count: number): Promise<void> {
      for (let i = 0; i < count; i++) {
        const origin = new EventOrigin({ addr: '127.0.0.1:1', host: 'localhost', method: 'PUT', useragent: 'test', scheme: 'http' });
        const event: RegistryEventMap['blob-pushed'] = { repository: 'down/app', digest: `sha256:${(n++).toString(16).padStart(64, '0')}`, size: 1, origin };
        events.emit('blob-pushed', event);
        await origin.settled();
      }
    }
    const stats = async () => (await api.json<WebhookEndpoint>(`/api/webhooks/${endpoint.id}`)).stats;

    await push(CAP + 10);
    let s = await stats();
    assert.equal(s.queued, CAP);
    assert.equal(s.dropped, 10);
    assert.equal(await metric(server, 'berth_webhook_dropped_total', endpoint.id), 10);
    assert.equal(await metric(server, 'berth_webhook_queued', endpoint.id), CAP);
    const dropped = await api.json<WebhookDeliveryPage>(`/api/webhooks/${endpoint.id}/deliveries?state=dropped&limit=200`);
    assert.equal(dropped.deliveries.length, 10, 'dropped deliveries stay in the log (redeliverable)');

    // Walk the clock through every retry of the head: after MAX_ATTEMPTS it is dead-lettered.
    // Each step waits until the attempt it set off has failed, so the loop stops right after the
    // dead-lettering attempt, never one timer later (when the circuit it opened may have expired).
    for (let step = 0; (await stats()).deadLettered === 0; step++) {
      assert.ok(step < MAX_ATTEMPTS * 3, 'dead-lettered within the schedule');
      const streak = (await stats()).failureStreak;
      const due = await nextTimer(clock, api, endpoint.id);
      await clock.advance(due - clock.now());
      await waitFor(async () => (await stats()).failureStreak > streak, 'the attempt set off by the timer failed');
    }
    s = await stats();
    assert.equal(s.deadLettered, 1);
    assert.ok(s.failureStreak >= MAX_ATTEMPTS);
    assert.ok(s.circuitOpenUntil, 'the circuit is open');
    const dead = await api.json<WebhookDeliveryPage>(`/api/webhooks/${endpoint.id}/deliveries?state=dead`);
    assert.equal(dead.deliveries[0]!.attempts, MAX_ATTEMPTS);
    assert.match(dead.deliveries[0]!.history.at(-1)!.error!, /connection refused/);
    const hoursToDeath = (Date.parse(dead.deliveries[0]!.finishedAt!) - Date.parse(dead.deliveries[0]!.createdAt)) / 3_600_000;
    assert.ok(hoursToDeath > 10 && hoursToDeath < 20, `dead-lettered after ${hoursToDeath} hours`);

    // Thousands more events: the queue stays at the cap and the heap does not grow with them.
    exposeGc();
    const heap = () => {
      globalThis.gc!();
      return process.memoryUsage().heapUsed;
    };
    await push(1000);
    const before = heap();
    await push(4000);
    const grown = heap() - before;
    s = await stats();
    assert.equal(s.queued, CAP);
    assert.equal(s.dropped, 10 + 5000 - 1, 'every event beyond the cap is counted (the dead one left room for one)');
    assert.ok(grown < 8 * 1024 * 1024, `heap grew ${(grown / 1048576).toFixed(1)} MB over 4000 more events`);
  });
});
