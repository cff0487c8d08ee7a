/**
 * The Mirrors page in Debian's Chromium against `berth serve --mirror docker.io=<upstream>`: an upstream
 * with its counters, a cached image (and a stale one while the upstream is down), an upstream added in
 * the UI with credentials that are never shown back, the mirror test, the Docker setup page's mirror
 * lines and its own mirror test, cached bytes apart from pushed ones on the Disk usage page, and clearing
 * one upstream's cache. Screenshots go to test-results/screenshots/.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { DiskUsage, MirrorsOverview } from '../../server/registry/api-types.ts';
import { pushImageWith } from '../helpers/api-client.ts';
import { startBerth, type BerthProcess } from '../helpers/berth-process.ts';
import { openBrowser, type UiBrowser } from '../helpers/browser.ts';
import { MANIFEST_ACCEPT, pullImage } from '../helpers/mirror.ts';
import { Client, waitFor } from '../helpers/registry-client.ts';
import { tempDir } from '../helpers/server.ts';
import { skipUnless } from '../helpers/tools.ts';
import { pushRandomImage, startFakeHub, type FakeHub, type PushedImage } from '../helpers/upstream.ts';

const skip = skipUnless('chromium');

describe('Mirrors page (Chromium)', { skip, timeout: 300_000 }, () => {
  let hub: FakeHub;
  let berth: BerthProcess;
  let work: string;
  let ui: UiBrowser;
  let alpine: PushedImage;

  before(async () => {
    work = await tempDir('berth-ui-mirrors-');
    hub = await startFakeHub();
    alpine = await pushRandomImage(hub, 'library/alpine', 'latest', [300_000, 100_000]);
    await pushRandomImage(hub, 'library/hello-world', 'latest', [2000]);
    // A short check interval, so the stale test below only waits for its condition, never long.
    const config = path.join(work, 'berth.json');
    await fs.writeFile(config, JSON.stringify({ mirrors: [{ name: 'docker.io', url: hub.url, checkInterval: '1s', timeout: '2s' }] }));
    berth = await startBerth({ dataDir: path.join(work, 'data'), args: ['--config', config] });
    ui = await openBrowser(berth.url);
  });
  after(async () => {
    await ui?.close();
    await berth?.stop();
    await hub?.close();
    await fs.rm(work, { recursive: true, force: true });
  });

  const api = async () => (await (await fetch(`${berth.url}/api/mirrors`)).json()) as MirrorsOverview;

  it('shows the upstream, a cached image and its counters', async () => {
    await pullImage(berth.url, 'library/alpine', 'latest');
    await pullImage(berth.url, 'library/alpine', 'latest');
    await ui.page.goto('/mirrors');
    const card = ui.page.locator('[data-upstream="docker.io"]');
    await card.waitFor();
    const row = ui.page.locator('tr[data-repository="docker.io/library/alpine"][data-reference="latest"]');
    await row.waitFor();
    assert.match(await row.innerText(), new RegExp(alpine.digest.slice(7, 19)));
    const counters = (await api()).upstreams[0]!.counters;
    assert.equal(counters.misses, 4);
    const hits = String((await api()).upstreams[0]!.counters.hits);
    await card.getByTestId('mirror-hits').locator('.stat-value').filter({ hasText: new RegExp(`^${hits}$`) }).waitFor();
    assert.equal((await card.getByTestId('mirror-misses').locator('.stat-value').innerText()).trim(), '4');
    assert.equal(Number(await card.getByTestId('mirror-bytes-cache').locator('data').first().getAttribute('value')), counters.bytesFromCache);
    assert.equal((await card.getByTestId('mirror-ratelimit').locator('.stat-value').innerText()).trim(), String(counters.rateLimitRemaining));
    assert.match(await ui.page.locator('section.card', { has: card }).innerText(), /default/);
    await ui.screenshot('mirrors');
  });

  it('shows a cached tag served stale while the upstream is down', async () => {
    await hub.stop();
    try {
      // Pull until a check falls due (the interval is 1 s) and finds the upstream gone: then it is stale.
      await waitFor(async () => {
        const res = await fetch(`${berth.url}/v2/library/alpine/manifests/latest`, { headers: { Accept: MANIFEST_ACCEPT } });
        assert.equal(res.status, 200, 'served from the cache');
        return (await api()).cached.some((c) => c.reference === 'latest' && c.staleSince !== null);
      }, 'the cached tag to be served stale', 15_000);
      const row = ui.page.locator('tr[data-repository="docker.io/library/alpine"][data-reference="latest"][data-stale="true"]');
      await row.waitFor();
      assert.match(await row.innerText(), /stale since/);
      await ui.page.getByTestId('mirror-stale').locator('.stat-value').filter({ hasText: /^[1-9]\d*$/ }).waitFor();
      await ui.screenshot('mirrors-stale');
    } finally {
      await hub.start();
    }
  });

  it('adds an upstream in the UI; its credentials are saved and never shown back', async () => {
    await ui.page.getByRole('button', { name: 'Add an upstream' }).click();
    const form = ui.page.getByRole('form', { name: 'New upstream' });
    await form.getByLabel('Name', { exact: true }).fill('ghcr.io');
    await form.getByLabel('Registry URL').fill('ftp://nope');
    await form.getByRole('button', { name: 'Add upstream' }).click();
    await form.getByRole('alert').filter({ hasText: 'is not a registry URL' }).waitFor();
    // The 400 provoked on purpose: Chromium logs every failed request; anything else stays an error.
    const provoked = ui.errors.findIndex((e) => e.includes('status of 400') && e.includes(`${berth.url}/api/mirrors)`));
    assert.ok(provoked >= 0, ui.errors.join('\n'));
    ui.errors.splice(provoked, 1);
    await form.getByLabel('Registry URL').fill(hub.url);
    await form.getByRole('button', { name: 'Add upstream' }).click();
    const card = ui.page.locator('[data-upstream="ghcr.io"]');
    await card.waitFor();
    const section = ui.page.locator('section.card', { has: card });
    await section.getByRole('button', { name: 'Credentials' }).click();
    const credentials = ui.page.getByRole('form', { name: 'Credentials for ghcr.io' });
    await credentials.getByLabel('User name').fill('robot');
    await credentials.getByLabel('Password or access token').fill('s3cret-token-value');
    await credentials.getByRole('button', { name: 'Save credentials' }).click();
    await section.getByText('logs in as').waitFor();
    assert.match(await section.innerText(), /logs in as robot/);
    assert.doesNotMatch(await ui.page.content(), /s3cret-token-value/);
    const view = (await api()).upstreams.find((u) => u.name === 'ghcr.io')!;
    assert.deepEqual(view.credentials, { username: 'robot' });
    await ui.screenshot('mirrors-added');
  });

  it('tests the mirror by pulling an image through it', async () => {
    const section = ui.page.locator('section.card', { has: ui.page.locator('[data-upstream="docker.io"]') });
    await section.getByRole('button', { name: 'Test' }).click();
    await section.getByRole('button', { name: 'Pull through the mirror' }).click();
    const result = section.getByTestId('self-test-result');
    await result.waitFor();
    assert.match(await result.innerText(), /All steps passed/);
    assert.match(await section.locator('[data-step="again"]').innerText(), /nothing fetched/);
  });

  it('gives each client its mirror lines on the Docker setup page', async () => {
    await ui.page.goto('/setup');
    const setup = ui.page.getByTestId('mirror-setup');
    await setup.waitFor();
    const docker = await setup.locator('[data-client="docker"]').innerText();
    assert.match(docker, new RegExp(`"registry-mirrors": \\[\\s*"http://localhost:${berth.port}"\\s*\\]`));
    const containerd = await setup.locator('[data-client="containerd"]').innerText();
    assert.match(containerd, /\/etc\/containerd\/certs\.d\/docker\.io\/hosts\.toml/);
    assert.match(containerd, new RegExp(`\\[host\\."http://localhost:${berth.port}"\\]`));
    const podman = await setup.locator('[data-client="podman"]').innerText();
    assert.match(podman, new RegExp(`location = "localhost:${berth.port}/docker\\.io"`));
    await ui.screenshot('setup-mirror');
    assert.deepEqual(ui.errors, []);
  });

  it('tests the mirror from the Docker setup page, through the upstream chosen', async () => {
    const setup = ui.page.getByTestId('mirror-setup');
    // Two upstreams now (ghcr.io was added above): the page asks which one.
    await setup.getByLabel('Upstream').selectOption('docker.io');
    await setup.getByLabel('Image').fill('library/hello-world:latest');
    await setup.getByRole('button', { name: 'Pull through the mirror of docker.io' }).click();
    const result = setup.getByTestId('self-test-result');
    await result.waitFor();
    assert.match(await result.innerText(), /All steps passed/);
    assert.ok((await api()).cached.some((c) => c.repository === 'docker.io/library/hello-world' && c.reference === 'latest'), 'the image it pulled stays cached');
    assert.deepEqual(ui.errors, []);
  });

  it('shows the cached bytes apart from the pushed ones on the Disk usage page', async () => {
    await pushImageWith(new Client(berth.url), 'team/app', 'v1');
    const usage = (await (await fetch(`${berth.url}/api/disk-usage`)).json()) as DiskUsage;
    assert.ok(usage.cachedBytes > 0 && usage.cachedBytes < usage.referencedBytes, 'both cached and pushed bytes are held');
    await ui.page.goto('/disk-usage');
    const cached = ui.page.getByTestId('cached-bytes');
    await cached.waitFor();
    assert.equal(Number(await cached.locator('data').first().getAttribute('value')), usage.cachedBytes);
    const cachedRow = ui.page.locator('tr[data-repository="docker.io/library/alpine"]');
    assert.equal((await cachedRow.locator('.chip').innerText()).trim(), 'cache');
    assert.equal(await ui.page.locator('tr[data-repository="team/app"] .chip').count(), 0, 'a pushed repository is not marked as cache');
    await ui.screenshot('disk-usage-cached');
    assert.deepEqual(ui.errors, []);
  });

  it("clears one upstream's cache after a confirmation; pushed images stay", async () => {
    await ui.page.goto('/mirrors');
    const section = ui.page.locator('section.card', { has: ui.page.locator('[data-upstream="docker.io"]') });
    await section.getByRole('button', { name: 'Clear cache' }).click();
    const dialog = ui.page.getByRole('dialog', { name: 'Clear the cache of docker.io?' });
    await dialog.getByRole('button', { name: 'Clear cache' }).click();
    await ui.page.getByRole('status').filter({ hasText: /Deleted 2 cached repositories/ }).waitFor();
    await waitFor(async () => (await api()).cached.length === 0, 'the cache list to be empty');
    await ui.page.locator('tr[data-repository="docker.io/library/alpine"]').waitFor({ state: 'detached' });
    assert.equal((await fetch(`${berth.url}/v2/team/app/manifests/v1`, { method: 'HEAD', headers: { Accept: MANIFEST_ACCEPT } })).status, 200);
    assert.deepEqual(ui.errors, []);
  });
});
