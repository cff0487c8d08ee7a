/**
 * Web pages against a registry on this machine (http/request-origin.ts), in real Chromium against
 * `berth serve` with auth off (the default on loopback):
 *   - DNS rebinding: a page served as http://evil.example:PORT/ whose name then resolves to
 *     127.0.0.1 (a host resolver rule plays the rebound DNS) sends same-origin requests that reach
 *     Berth with `Host: evil.example:PORT`, and could read every answer;
 *   - another origin on loopback: a page on http://127.0.0.1:OTHER/ (same-site: a site ignores the
 *     port) or http://localhost:OTHER/ (cross-site) sends no-cors requests, whose answers it cannot
 *     read but whose effects happen.
 * Neither may read, write or delete images, open upload sessions, or start a garbage-collection dry
 * run. What reached which handler is read back from /metrics, and the images from the registry.
 * Chromium's own Private Network Access checks are switched off: the defence under test is Berth's.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { freePort, startBerth, type BerthProcess } from '../helpers/berth-process.ts';
import { openBrowser, type UiBrowser } from '../helpers/browser.ts';
import { Client, OCI_CONFIG, OCI_LAYER, descriptor, imageManifest, sha256 } from '../helpers/registry-client.ts';
import { tempDir } from '../helpers/server.ts';
import { skipUnless } from '../helpers/tools.ts';

const skip = skipUnless('chromium');

interface Answer {
  status: number;
  text: string;
}

/** Requests per operation and status from /metrics, e.g. "getDiskUsage 200" -> 1. */
async function handled(url: string): Promise<Map<string, number>> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const counts = new Map<string, number>();
  for (const match of text.matchAll(/^berth_http_requests_total\{method="([A-Z]+)",operation="([^"]+)",status="(\d+)"\} (\d+)/gm)) {
    const key = `${match[2]} ${match[3]}`;
    counts.set(key, (counts.get(key) ?? 0) + Number(match[4]));
  }
  return counts;
}

/** Operations that ran their handler (any status but a refusal before routing). */
function ran(counts: Map<string, number>, operation: string): number {
  return [...counts].filter(([key]) => key.startsWith(`${operation} `)).reduce((sum, [, n]) => sum + n, 0);
}

describe('web pages against berth serve with auth off (Chromium)', { skip, timeout: 180_000 }, () => {
  let berth: BerthProcess;
  let work: string;
  let ui: UiBrowser;
  let registry: Client;
  let pushed: { digest: string; config: string; layer: string };

  before(async () => {
    work = await tempDir('berth-attacks-');
    berth = await startBerth({ dataDir: path.join(work, 'data') });
    registry = new Client(berth.url);
    const image = await registry.pushImage('demo', 'latest');
    pushed = { digest: image.digest, config: image.config, layer: image.layer };
    ui = await openBrowser(berth.url, {
      args: [
        // The rebound name: evil.example now resolves to this machine.
        '--host-resolver-rules=MAP evil.example 127.0.0.1',
        '--disable-features=PrivateNetworkAccessSendPreflights,PrivateNetworkAccessRespectPreflightResults,BlockInsecurePrivateNetworkRequests,LocalNetworkAccessChecks',
      ],
    });
    // tsx compiles the page functions below with esbuild's keepNames, which wraps named inner
    // functions in a __name() helper the page does not have.
    await ui.page.addInitScript('globalThis.__name = (f) => f;');
  });
  after(async () => {
    await ui?.close();
    await berth?.stop();
    await fs.rm(work, { recursive: true, force: true });
  });

  /** Opens an empty page of the attacker's at `origin` (served by the test, never by Berth). */
  async function attackerPage(origin: string): Promise<void> {
    await ui.page.route(`${origin}/attack.html`, (route) => route.fulfill({ status: 200, contentType: 'text/html', body: '<!doctype html><title>attack</title>' }));
    await ui.page.goto(`${origin}/attack.html`);
  }

  it('a rebound name can neither read, replace nor delete an image, nor reach the management API', async () => {
    const before = await handled(berth.url);
    await attackerPage(`http://evil.example:${berth.port}`);
    const attackerManifest = imageManifest(descriptor(OCI_CONFIG, pushed.config), [descriptor(OCI_LAYER, pushed.layer)], { annotations: { 'org.example.owned': 'yes' } });
    const answers = await ui.page.evaluate(async (manifest: string): Promise<Record<string, Answer>> => {
      const call = async (path: string, init: RequestInit = {}): Promise<Answer> => {
        const res = await fetch(path, init);
        return { status: res.status, text: await res.text() };
      };
      return {
        catalog: await call('/v2/_catalog'),
        manifest: await call('/v2/demo/manifests/latest', { headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' } }),
        replace: await call('/v2/demo/manifests/latest', { method: 'PUT', headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' }, body: manifest }),
        untag: await call('/v2/demo/manifests/latest', { method: 'DELETE' }),
        diskUsage: await call('/api/disk-usage'),
        collect: await call('/api/gc', { method: 'POST', headers: { 'Content-Type': 'application/json', 'X-Berth-Client': 'evil' }, body: JSON.stringify({ untagged: true, grace: '0s' }) }),
        ui: await call('/'),
      };
    }, attackerManifest);
    const after = await handled(berth.url);
    for (const [name, answer] of Object.entries(answers)) {
      if (name === 'ui') continue;
      assert.equal(answer.status, 403, `${name}: ${answer.text}`);
      assert.match(answer.text, /"code":"DENIED".*Host \\"evil\.example:\d+\\" does not name this registry/, name);
      assert.doesNotMatch(answer.text, /demo|sha256:/, `${name}: nothing of the registry leaks into the refusal`);
    }
    assert.equal(answers.ui!.status, 403, 'not even the UI files are served under a foreign name');
    // The registry is as it was: the tag still points to the developer's image.
    assert.equal((await registry.headManifest('demo', 'latest')).headers.get('docker-content-digest'), pushed.digest);
    assert.deepEqual((await registry.catalog()).repositories, ['demo']);
    for (const operation of ['getCatalog', 'getManifest', 'putManifest', 'deleteManifest', 'getDiskUsage', 'startGc']) {
      assert.equal(ran(after, operation) - ran(before, operation), 0, `${operation} never ran`);
    }
  });

  for (const origin of ['same-site (another port of 127.0.0.1)', 'cross-site (localhost, another port)']) {
    it(`a page on a second loopback origin, ${origin}, cannot write, open uploads or start dry runs`, async () => {
      const other = await freePort();
      const pageOrigin = origin.startsWith('same-site') ? `http://127.0.0.1:${other}` : `http://localhost:${other}`;
      const before = await handled(berth.url);
      await attackerPage(pageOrigin);
      const blob = `planted by ${pageOrigin}`;
      const results = await ui.page.evaluate(async ({ base, blob, digest }): Promise<string[]> => {
        const sent: string[] = [];
        const send = async (what: string, url: string, init: RequestInit) => {
          try {
            await fetch(url, { mode: 'no-cors', ...init });
            sent.push(`${what}: sent`);
          } catch (err) {
            sent.push(`${what}: ${(err as Error).message}`);
          }
        };
        await send('monolithic upload', `${base}/v2/planted/blobs/uploads/?digest=${digest}`, { method: 'POST', body: blob });
        await send('upload session', `${base}/v2/planted-session/blobs/uploads/`, { method: 'POST' });
        await send('catalog', `${base}/v2/_catalog`, {});
        for (let i = 0; i < 5; i++) await send(`disk usage ${i}`, `${base}/api/disk-usage`, {});
        // A form POST, the oldest cross-site write there is.
        await send('gc form', `${base}/api/gc`, { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: '{"untagged":true,"grace":"0s"}' });
        // A CORS read: the request goes out, the browser hides the answer.
        await send('cors catalog', `${base}/v2/_catalog`, { mode: 'cors' });
        return sent;
      }, { base: berth.url, blob, digest: sha256(blob) });
      const after = await handled(berth.url);
      assert.ok(results.filter((r) => r.endsWith(': sent')).length >= 9, results.join('\n'));
      assert.deepEqual((await registry.catalog()).repositories, ['demo'], 'no repository was planted');
      assert.equal((await registry.headBlob('demo', sha256(blob))).status, 404);
      const uploads = await fs.readdir(path.join(work, 'data', 'uploads')).catch(() => []);
      assert.deepEqual(uploads, [], 'no upload session was opened');
      for (const operation of ['startBlobUpload', 'getCatalog', 'getDiskUsage', 'startGc']) {
        assert.equal(ran(after, operation) - ran(before, operation), 0, `${operation} never ran`);
      }
      assert.ok((after.get('none 403') ?? 0) - (before.get('none 403') ?? 0) >= 9, 'every request was refused before routing');
    });
  }

  it('the UI itself still works: its own pages call /api/ and /v2/ on their origin', async () => {
    await ui.page.goto(`${berth.url}/`);
    const answers = await ui.page.evaluate(async () => {
      const status = await fetch('/api/status');
      const catalog = await fetch('/v2/_catalog');
      const change = await fetch('/api/gc/preview', { method: 'POST', headers: { 'Content-Type': 'application/json', 'X-Berth-Client': 'berth-ui' }, body: '{"untagged":false,"grace":"1h"}' });
      return [status.status, catalog.status, change.status];
    });
    assert.deepEqual(answers, [200, 200, 200]);
    await ui.page.getByRole('link', { name: 'demo' }).first().waitFor();
  });
});
