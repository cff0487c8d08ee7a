/**
 * Retention rules through the management API: create, list, change and delete rules (and refuse bad
 * ones), preview what they would untag, apply them for real (the same tags go), and free the space
 * with a collection of untagged manifests. Push times are set on the tag files, not waited for.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { RetentionReport, RetentionRule } from '../../server/registry/retention.ts';
import { tagFileName } from '../../server/storage/paths.ts';
import { Client, expectError } from '../helpers/registry-client.ts';
import { apiCall, assertPulls, runAndWait, runGc } from '../helpers/lifecycle.ts';
import { startServer, type TestServer } from '../helpers/server.ts';

const DAY_MS = 24 * 60 * 60 * 1000;

describe('retention rules', () => {
  let server: TestServer;
  let client: Client;
  before(async () => {
    server = await startServer();
    client = new Client(server.url);
  });
  after(() => server.close({ remove: true }));

  /** Pushes `tag` and sets its push time to `daysAgo` days ago. */
  async function pushTag(repo: string, tag: string, daysAgo: number): Promise<void> {
    await client.pushImage(repo, tag);
    const when = new Date(Date.now() - daysAgo * DAY_MS);
    await fs.utimes(path.join(server.dataDir, 'repositories', ...repo.split('/'), '_manifests', 'tags', tagFileName(tag)), when, when);
  }

  async function createRule(rule: Record<string, unknown>): Promise<RetentionRule> {
    const res = await apiCall(client, 'POST', '/api/retention/rules', rule);
    assert.equal(res.status, 201, await res.clone().text());
    return (await res.json()) as RetentionRule;
  }

  it('creates, lists, changes and deletes rules, and refuses bad ones with a reason', async () => {
    const rule = await createRule({ repositories: 'crud/*', keepLast: 3 });
    assert.deepEqual({ ...rule, id: undefined, createdAt: undefined, updatedAt: undefined }, {
      id: undefined, repositories: 'crud/*', keepLast: 3, keepDays: null, keepTags: null, enabled: true, createdAt: undefined, updatedAt: undefined,
    });
    const changed = (await (await apiCall(client, 'PUT', `/api/retention/rules/${rule.id}`, { keepDays: 30, keepTags: 'v*' })).json()) as RetentionRule;
    assert.equal(changed.keepLast, 3, 'fields left out keep their values');
    assert.equal(changed.keepDays, 30);
    assert.equal(changed.keepTags, 'v*');
    const listed = (await (await client.fetch('/api/retention/rules')).json()) as { rules: RetentionRule[] };
    assert.deepEqual(listed.rules.map((r) => r.id), [rule.id]);
    assert.equal((await apiCall(client, 'DELETE', `/api/retention/rules/${rule.id}`)).status, 204);
    await expectError(await apiCall(client, 'DELETE', `/api/retention/rules/${rule.id}`), 404, 'NOT_FOUND');
    await expectError(await apiCall(client, 'PUT', '/api/retention/rules/nope', { keepLast: 1 }), 404, 'NOT_FOUND');

    for (const [body, pattern] of [
      [{ keepLast: 3 }, /"repositories" must be a pattern/],
      [{ repositories: 'a/*' }, /needs "keepLast".*"keepDays"/],
      [{ repositories: 'a/*', keepLast: 0 }, /"keepLast" must be a whole number/],
      [{ repositories: 'a/*', keepLast: 2.5 }, /"keepLast" must be a whole number/],
      [{ repositories: 'a/*', keepDays: -1 }, /"keepDays" must be a number of days/],
      [{ repositories: 'a/*', keepDays: 7, keepTags: 5 }, /"keepTags" must be a pattern/],
      [{ repositories: 'a/*', keepDays: 7, enabled: 'yes' }, /"enabled" must be true or false/],
      [{ repositories: 'a/*', keepDays: 7, keep: 1 }, /unknown field "keep"/],
    ] as const) {
      const error = await expectError(await apiCall(client, 'POST', '/api/retention/rules', body), 400, 'BAD_REQUEST');
      assert.match(error.message, pattern);
    }
    await expectError(await apiCall(client, 'POST', '/api/retention/rules', [1]), 400, 'BAD_REQUEST');
  });

  it('reads patterns in the dialect permissions use: * reaches nested repositories, {a,b} either', async () => {
    for (const [tag, days] of [['v1', 3], ['v2', 2], ['v3', 1]] as const) await pushTag('nest/deep/app', tag, days);
    const preview = async (rules: Record<string, unknown>[]) =>
      ((await (await apiCall(client, 'POST', '/api/retention/preview', { rules })).json()) as RetentionReport).untagged.map((t) => `${t.repository}:${t.tag}`).sort();
    assert.deepEqual(await preview([{ repositories: 'nest/*', keepLast: 1 }]), ['nest/deep/app:v1', 'nest/deep/app:v2']);
    assert.deepEqual(await preview([{ repositories: 'nest/**', keepLast: 1, keepTags: '{v1,latest}' }]), ['nest/deep/app:v2']);
    assert.deepEqual(await preview([{ repositories: 'nest/deep/ap?', keepLast: 3 }]), []);
    await expectError(await apiCall(client, 'POST', '/api/retention/rules', { repositories: 'nest/{a', keepLast: 1 }), 400, 'BAD_REQUEST');
  });

  it('previews, applies exactly the preview, and frees the space with a collection', async () => {
    // Newest first: v5 (1 day), v4 (2 days), ... v1 (5 days), plus "stable" 40 days old.
    for (let i = 1; i <= 5; i++) await pushTag('team/api', `v${i}`, 6 - i);
    await pushTag('team/api', 'stable', 40);
    await pushTag('team/web', 'old', 100);
    await pushTag('other/app', 'ancient', 400);
    await createRule({ repositories: 'team/*', keepLast: 2, keepTags: 'stable' });
    await createRule({ repositories: 'team/api', keepDays: 3.5 });
    await createRule({ repositories: '**', keepLast: 1, enabled: false });

    // Unsaved rules can be tried first.
    const tryout = (await (await apiCall(client, 'POST', '/api/retention/preview', { rules: [{ repositories: 'other/*', keepDays: 30 }] })).json()) as RetentionReport;
    assert.deepEqual(tryout.untagged.map((t) => `${t.repository}:${t.tag}`), ['other/app:ancient']);

    const preview = (await (await apiCall(client, 'POST', '/api/retention/preview', {})).json()) as RetentionReport;
    // team/api keeps v5, v4 (newest two), v3 (within 3.5 days) and stable (pattern); team/web keeps its newest.
    assert.deepEqual(preview.untagged.map((t) => `${t.repository}:${t.tag}`).sort(), ['team/api:v1', 'team/api:v2']);
    assert.equal(preview.rules, 2, 'the disabled rule plays no part');
    assert.equal(preview.repositories, 2);
    assert.deepEqual((await client.listTags('team/api')).tags.length, 6, 'a preview changes nothing');

    const applied = (await runAndWait(client, '/api/retention/apply')).result as RetentionReport;
    assert.deepEqual(applied.untagged, preview.untagged);
    assert.deepEqual((await client.listTags('team/api')).tags, ['stable', 'v3', 'v4', 'v5']);
    assert.deepEqual((await client.listTags('other/app')).tags, ['ancient']);
    for (const tag of ['stable', 'v3', 'v4', 'v5']) await assertPulls(client, 'team/api', tag);

    const report = await runGc(client, { untagged: true, grace: '0s' });
    assert.equal(report.removed.manifests.filter((m) => m.repository === 'team/api').length, 2);
    assert.ok(report.bytesFreed > 0);
  });
});
