import assert from 'node:assert/strict';
import { it } from 'node:test';
import { startServer } from '../helpers/server.ts';

it('never cuts a long request: no request timeout (Node defaults to 300 s), headers still time out', async () => {
  const server = await startServer();
  try {
    const http = server.registry.server!;
    assert.equal(http.requestTimeout, 0);
    assert.equal(http.timeout, 0, 'no socket inactivity timeout either');
    assert.equal(http.headersTimeout, 60_000);
  } finally {
    await server.close({ remove: true });
  }
});
