/**
 * The maintenance part of the management API: a run is queued (202 + Location) and followed to its
 * end, announced as server-sent events, and kept in the history; bad requests get a reason.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { RunJson } from '../../server/registry/maintenance.ts';
import { Client, expectError } from '../helpers/registry-client.ts';
import { apiCall } from '../helpers/lifecycle.ts';
import { startServer, type TestServer } from '../helpers/server.ts';

describe('maintenance API', () => {
  let server: TestServer;
  let client: Client;
  before(async () => {
    server = await startServer({ gcIntervalMs: 24 * 60 * 60 * 1000 });
    client = new Client(server.url);
    await client.pushImage('api/app', 'v1');
  });
  after(() => server.close({ remove: true }));

  it('queues a collection, reports progress as events, and keeps the result in the history', async () => {
    const controller = new AbortController();
    const events = await client.fetch('/api/events', { signal: controller.signal });
    const reader = events.body!.getReader();

    const res = await apiCall(client, 'POST', '/api/gc', { dryRun: true, grace: '0s' });
    assert.equal(res.status, 202);
    const queued = (await res.json()) as RunJson;
    assert.equal(res.headers.get('location'), `/api/runs/${queued.id}`);
    assert.equal(queued.kind, 'gc');
    assert.equal(queued.trigger, 'api');
    assert.deepEqual(queued.options, { dryRun: true, untagged: false, graceSeconds: 0 });

    let run = queued;
    while (run.state === 'queued' || run.state === 'running') {
      await new Promise((r) => setTimeout(r, 10));
      run = (await (await client.fetch(`/api/runs/${queued.id}`)).json()) as RunJson;
    }
    assert.equal(run.state, 'succeeded');
    assert.ok(run.durationMs !== null && run.startedAt && run.finishedAt);
    assert.equal((run.result as { dryRun: boolean }).dryRun, true);

    let text = '';
    const decoder = new TextDecoder();
    while (!/"state":"succeeded"/.test(text)) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value);
    }
    controller.abort();
    assert.match(text, new RegExp(`event: maintenance\\ndata: \\{"id":"${queued.id}","kind":"gc","state":"running"`));
    assert.match(text, new RegExp(`event: maintenance\\ndata: \\{"id":"${queued.id}","kind":"gc","state":"succeeded"`));

    const history = (await (await client.fetch('/api/runs?kind=gc&limit=5')).json()) as { runs: RunJson[] };
    assert.equal(history.runs[0]!.id, queued.id);
  });

  it('answers a preview when it is done', async () => {
    const res = await apiCall(client, 'POST', '/api/gc/preview', { untagged: true });
    assert.equal(res.status, 200);
    const run = (await res.json()) as RunJson;
    assert.deepEqual(run.options, { dryRun: true, untagged: true, graceSeconds: 3600 });
    assert.equal(run.state, 'succeeded');
  });

  it('runs one at a time, in the order asked', async () => {
    const first = (await (await apiCall(client, 'POST', '/api/scrub')).json()) as RunJson;
    const second = (await (await apiCall(client, 'POST', '/api/reindex')).json()) as RunJson;
    const done = (await (await apiCall(client, 'POST', '/api/gc', { dryRun: true, wait: true })).json()) as RunJson;
    const [a, b] = await Promise.all([first, second].map(async (r) => (await (await client.fetch(`/api/runs/${r.id}`)).json()) as RunJson));
    assert.equal(a!.state, 'succeeded');
    assert.equal(b!.state, 'succeeded');
    assert.ok(a!.finishedAt! <= b!.startedAt! && b!.finishedAt! <= done.startedAt!, 'no two runs overlap');
  });

  it('shows the settings, the schedule and the last run of each kind', async () => {
    const body = (await (await client.fetch('/api/maintenance')).json()) as {
      settings: Record<string, unknown>;
      nextRuns: Record<string, string>;
      current: unknown;
      last: Record<string, RunJson | null>;
    };
    assert.deepEqual(body.settings, {
      gcIntervalSeconds: 86400, gcGraceSeconds: 3600, gcUntagged: false,
      uploadPurgeAgeSeconds: 86400, uploadPurgeIntervalSeconds: 3600, retentionIntervalSeconds: null,
    });
    assert.deepEqual(Object.keys(body.nextRuns).sort(), ['gc', 'purge-uploads']);
    assert.ok(Date.parse(body.nextRuns.gc!) > Date.now());
    assert.equal(body.last.gc!.kind, 'gc');
    assert.equal(body.last.retention, null);
  });

  it('refuses bad requests with a reason', async () => {
    const cases: [string, unknown, RegExp][] = [
      ['/api/gc', { grace: 'soon' }, /"grace": "soon" is not a duration/],
      ['/api/gc', { grace: '3600' }, /use a number with a unit/],
      ['/api/gc', { dryRun: 'yes' }, /"dryRun" must be true or false/],
      ['/api/gc', { everything: true }, /unknown field "everything"/],
      ['/api/gc', [], /must be a JSON object/],
      ['/api/uploads/purge', { olderThan: -1 }, /"olderThan"/],
      ['/api/scrub', { deep: true }, /unknown field "deep"/],
    ];
    for (const [path, body, pattern] of cases) {
      const error = await expectError(await apiCall(client, 'POST', path, body), 400, 'BAD_REQUEST');
      assert.match(error.message, pattern);
    }
    const res = await client.fetch('/api/gc', { method: 'POST', headers: { 'X-Berth-Client': 'test' }, body: '{not json' });
    assert.match((await expectError(res, 400, 'BAD_REQUEST')).message, /not valid JSON/);
    // A UTF-8 byte order mark is read past (json-body.ts decodes the body itself): the field is reached.
    const withBom = await client.fetch('/api/gc', { method: 'POST', headers: { 'X-Berth-Client': 'test' }, body: '\ufeff{"everything":true}' });
    assert.match((await expectError(withBom, 400, 'BAD_REQUEST')).message, /unknown field "everything"/);
    await expectError(await client.fetch('/api/gc', { method: 'POST' }), 403, 'DENIED');
    await expectError(await client.fetch('/api/runs/no-such-run'), 404, 'NOT_FOUND');
    await expectError(await client.fetch('/api/runs?kind=defrag'), 400, 'BAD_REQUEST');
    await expectError(await client.fetch('/api/runs?limit=0'), 400, 'BAD_REQUEST');
  });
});
