/**
 * Who may send a request (http/request-origin.ts), header by header, as browsers, proxies and
 * registry clients send them. The pages themselves are driven in Chromium by
 * test/e2e/browser-attacks.test.ts; these are the cases a browser is not needed to send.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import os from 'node:os';
import { after, before, describe, it } from 'node:test';
import { hostOf, isLoopbackName } from '../../server/http/request-origin.ts';
import { ADMIN_PASSWORD } from '../helpers/auth.ts';
import { Client } from '../helpers/registry-client.ts';
import { inCluster, startServer, type TestServer } from '../helpers/server.ts';

interface Sent {
  status: number;
  body: string;
}

function send(server: TestServer, method: string, path: string, headers: Record<string, string>, body?: string): Promise<Sent> {
  const url = new URL(server.url);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: url.hostname, port: url.port, method, path, headers, agent: false }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('request origins with auth off', () => {
  let server: TestServer;
  let port: string;
  before(async () => {
    server = await startServer();
    port = new URL(server.url).port;
    await new Client(server.url).pushImage('demo', 'latest');
  });
  after(() => server.close({ remove: true }));

  it('refuses the rebinding write of the report: PUT with Host and Origin of another name', async () => {
    const res = await send(server, 'PUT', '/v2/demo/manifests/latest', { Host: `evil.example:${port}`, Origin: `http://evil.example:${port}`, 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' }, '{}');
    assert.equal(res.status, 403);
    assert.equal(JSON.parse(res.body).errors[0].code, 'DENIED');
    assert.match(JSON.parse(res.body).errors[0].message, /Host "evil\.example:\d+" does not name this registry.*allowedHosts/);
  });

  it('serves registry clients under every name of this machine, with no browser headers', async () => {
    const names = ['localhost', '127.0.0.1', '127.0.0.2', '[::1]', 'host.docker.internal', 'app.localhost', os.hostname().toLowerCase(), 'LOCALHOST.'];
    for (const name of names) {
      const res = await send(server, 'GET', '/v2/_catalog', { Host: `${name}:${port}` });
      assert.equal(res.status, 200, `${name}: ${res.body}`);
    }
    // No Host at all is refused by Node itself (HTTP/1.1 requires it).
  });

  it('keeps the pages it serves working: same-origin fetches, the Vite dev proxy, a typed address', async () => {
    // The page's own fetch: Origin (on POST) and Sec-Fetch-Site: same-origin.
    const own = { Host: `127.0.0.1:${port}`, Origin: `http://127.0.0.1:${port}`, 'Sec-Fetch-Site': 'same-origin', 'Sec-Fetch-Mode': 'cors' };
    assert.equal((await send(server, 'POST', '/api/gc/preview', { ...own, 'Content-Type': 'application/json', 'X-Berth-Client': 'berth-ui' }, '{}')).status, 200);
    // `npx vite` proxies /api and /v2 keeping its own Host; to the browser it is all one origin.
    const vite = { Host: 'localhost:5173', Origin: 'http://localhost:5173', 'Sec-Fetch-Site': 'same-origin', 'Sec-Fetch-Mode': 'cors' };
    assert.equal((await send(server, 'GET', '/api/status', vite)).status, 200);
    assert.equal((await send(server, 'DELETE', '/api/repositories/nothing-here', { ...vite, 'X-Berth-Client': 'berth-ui' })).status, 404);
    // Someone typing the address of a registry URL into the browser.
    assert.equal((await send(server, 'GET', '/v2/_catalog', { Host: `localhost:${port}`, 'Sec-Fetch-Site': 'none', 'Sec-Fetch-Mode': 'navigate' })).status, 200);
  });

  it('refuses requests pages of other sites make to /v2/, /api/ and /metrics, saying why', async () => {
    const host = { Host: `127.0.0.1:${port}` };
    const cases: [string, string, Record<string, string>][] = [
      ['GET', '/v2/_catalog', { 'Sec-Fetch-Site': 'cross-site', 'Sec-Fetch-Mode': 'no-cors' }],
      ['GET', '/v2/_catalog', { 'Sec-Fetch-Site': 'same-site', 'Sec-Fetch-Mode': 'cors', Origin: 'http://127.0.0.1:1' }],
      ['POST', '/v2/x/blobs/uploads/', { Origin: 'http://127.0.0.1:1' }],
      ['POST', '/v2/x/blobs/uploads/', { Origin: 'null' }],
      ['GET', '/v2/', { 'Sec-Fetch-Site': 'cross-site', 'Sec-Fetch-Mode': 'navigate' }],
      ['GET', '/api/disk-usage', { 'Sec-Fetch-Site': 'same-site', 'Sec-Fetch-Mode': 'no-cors' }],
      ['GET', '/metrics', { 'Sec-Fetch-Site': 'cross-site' }],
      ['GET', '/v2/_catalog', { Origin: `https://127.0.0.1:${port}` }],
    ];
    for (const [method, path, headers] of cases) {
      const res = await send(server, method, path, { ...host, ...headers });
      assert.equal(res.status, 403, `${method} ${path} ${JSON.stringify(headers)}: ${res.body}`);
      assert.match(JSON.parse(res.body).errors[0].message, /a web page on another site made \((Sec-Fetch-Site|Origin): /);
    }
  });

  it('answers /healthz under any name and from any page, and serves the UI when linked from another site', async () => {
    assert.equal((await send(server, 'GET', '/healthz', { Host: 'lb.internal:80', 'Sec-Fetch-Site': 'cross-site' })).status, 200);
    // A link to http://localhost:PORT/ from a page elsewhere opens the UI (no UI build in this server: 404,
    // not 403; the cluster pass's `berth serve` replicas serve theirs: 200).
    assert.equal((await send(server, 'GET', '/', { Host: `localhost:${port}`, 'Sec-Fetch-Site': 'cross-site', 'Sec-Fetch-Mode': 'navigate', Accept: 'text/html' })).status, inCluster ? 200 : 404);
  });
});

describe('request origins with auth on', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer({ auth: 'token', adminPassword: ADMIN_PASSWORD });
  });
  after(() => server.close({ remove: true }));

  it('leaves /v2/ to the token check (a page has no token) but keeps other sites off /token', async () => {
    const port = new URL(server.url).port;
    const crossSite = { Host: `127.0.0.1:${port}`, 'Sec-Fetch-Site': 'cross-site', Origin: 'http://evil.example' };
    assert.equal((await send(server, 'GET', '/v2/_catalog', crossSite)).status, 401);
    const login = await send(server, 'POST', '/token', { ...crossSite, 'Content-Type': 'application/x-www-form-urlencoded' }, 'grant_type=password&username=admin&password=wrong');
    assert.equal(login.status, 403, 'a foreign page cannot spend the visitor\'s login throttle');
    assert.equal((await send(server, 'GET', '/v2/', { Host: `evil.example:${port}` })).status, 403, 'the Host check holds with auth on too');
  });
});

describe('host names', () => {
  it('parses Host headers and knows loopback names', () => {
    assert.equal(hostOf('Example.COM:5000'), 'example.com');
    assert.equal(hostOf('[::1]:5000'), '::1');
    assert.equal(hostOf('localhost.'), 'localhost');
    assert.equal(hostOf('a:b:c'), null);
    assert.equal(hostOf(''), null);
    for (const name of ['localhost', 'x.localhost', '127.0.0.1', '127.255.0.9', '::1', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1']) assert.ok(isLoopbackName(name), name);
    for (const name of ['localhost.example', '128.0.0.1', '::2', 'evil.example', '0.0.0.0']) assert.ok(!isLoopbackName(name), name);
  });
});
