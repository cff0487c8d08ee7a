/**
 * A refused retention rule or maintenance duration names the request fields at fault in the error's
 * detail ({"fields": [...]}, api-types.ts FieldErrorDetail), so the UI shows the message next to them.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { RetentionRule } from '../../server/registry/api-types.ts';
import { apiCall } from '../helpers/lifecycle.ts';
import { Client, expectError } from '../helpers/registry-client.ts';
import { startServer, type TestServer } from '../helpers/server.ts';

describe('field errors of the storage lifecycle API', () => {
  let server: TestServer;
  let client: Client;
  before(async () => {
    server = await startServer();
    client = new Client(server.url);
  });
  after(() => server.close({ remove: true }));

  async function fieldsOf(res: Response): Promise<unknown> {
    return (await expectError(res, 400, 'BAD_REQUEST')).detail;
  }

  const badRules: [Record<string, unknown>, string[]][] = [
    [{ keepLast: 3 }, ['repositories']],
    [{ repositories: ' ', keepLast: 3 }, ['repositories']],
    [{ repositories: 'a/*' }, ['keepLast', 'keepDays']],
    [{ repositories: 'a/*', keepLast: 0 }, ['keepLast']],
    [{ repositories: 'a/*', keepDays: -1 }, ['keepDays']],
    [{ repositories: 'a/*', keepDays: 7, keepTags: 5 }, ['keepTags']],
    [{ repositories: 'a/*', keepDays: 7, enabled: 'yes' }, ['enabled']],
    [{ repositories: 'a/*', keepDays: 7, keep: 1 }, ['keep']],
  ];

  it('names the fields of a rule that is refused on create', async () => {
    for (const [body, fields] of badRules) {
      assert.deepEqual(await fieldsOf(await apiCall(client, 'POST', '/api/retention/rules', body)), { fields }, JSON.stringify(body));
    }
  });

  it('names them on a change, and in the preview of unsaved rules', async () => {
    const created = (await (await apiCall(client, 'POST', '/api/retention/rules', { repositories: 'a/*', keepLast: 2 })).json()) as RetentionRule;
    assert.deepEqual(await fieldsOf(await apiCall(client, 'PUT', `/api/retention/rules/${created.id}`, { keepLast: 2.5 })), { fields: ['keepLast'] });
    assert.deepEqual(await fieldsOf(await apiCall(client, 'PUT', `/api/retention/rules/${created.id}`, { keepLast: null })), { fields: ['keepLast', 'keepDays'] });
    const preview = await apiCall(client, 'POST', '/api/retention/preview', { rules: [{ repositories: 'a/*', keepLast: 1 }, { repositories: 'b/*', keepDays: 0 }] });
    assert.deepEqual(await fieldsOf(preview), { fields: ['keepDays'] });
  });

  it('names the duration a collection, its preview or an upload purge got wrong', async () => {
    assert.deepEqual(await fieldsOf(await apiCall(client, 'POST', '/api/gc', { grace: 'soon' })), { fields: ['grace'] });
    assert.deepEqual(await fieldsOf(await apiCall(client, 'POST', '/api/gc/preview', { grace: '3600' })), { fields: ['grace'] });
    assert.deepEqual(await fieldsOf(await apiCall(client, 'POST', '/api/uploads/purge', { olderThan: -1 })), { fields: ['olderThan'] });
  });
});
