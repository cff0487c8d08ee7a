/** Clients that go away mid-download: the server survives, releases the file, and serves on. */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { pseudoRandom } from '../fixtures/images.ts';
import { Client, sha256, waitFor } from '../helpers/registry-client.ts';
import { startServer, type TestServer, singleProcess } from '../helpers/server.ts';

describe('blob downloads cut short', { skip: singleProcess('it counts the open connections of the one server process (HAProxy in between keeps its own)') }, () => {
  let server: TestServer;
  let client: Client;
  let digest: string;
  const blob = pseudoRandom('cut-short', 24 * 1024 * 1024);
  before(async () => {
    server = await startServer();
    client = new Client(server.url);
    digest = await client.pushBlob('cut/short', blob);
  });
  after(() => server.close({ remove: true }));

  /** Requests the blob on a raw socket, reads `after` bytes, then ends the connection the given way. */
  function cut(how: 'reset' | 'close', afterBytes: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const { port } = new URL(server.url);
      const socket = net.connect(Number(port), '127.0.0.1', () => {
        socket.write(`GET /v2/cut/short/blobs/${digest} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
      });
      let received = 0;
      socket.on('data', (chunk) => {
        received += chunk.length;
        if (received >= afterBytes) {
          if (how === 'reset') socket.resetAndDestroy();
          else socket.destroy();
          resolve();
        }
      });
      socket.on('error', reject);
    });
  }

  it('survives connections reset and closed mid-body, again and again', async () => {
    const connections = () => new Promise<number>((resolve, reject) => server.registry.server!.getConnections((err, n) => (err ? reject(err) : resolve(n))));
    const before_ = await connections();
    for (let i = 0; i < 6; i++) await cut(i % 2 ? 'reset' : 'close', 64 * 1024 * (i + 1));
    // Until the server has noticed every cut (its failed writes end those sockets): an unhandled
    // failure would have ended the process by then.
    await waitFor(async () => (await connections()) <= before_, 'the server to close the cut connections', 30_000);
    const res = await client.fetch(`/v2/cut/short/blobs/${digest}`);
    assert.equal(res.status, 200);
    assert.equal(sha256(Buffer.from(await res.arrayBuffer())), digest, 'the next download is whole');
  });
});
