/**
 * The web UI end to end: Debian's Chromium (playwright-core) against `berth serve`, with images
 * pushed by skopeo. Each page is checked against what the registry and the files on disk hold, and
 * photographed into test-results/screenshots/. The browser must log no errors throughout.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { DiskUsage } from '../../server/registry/api-types.ts';
import { fixtures, type Fixture, type FixtureName } from '../fixtures/images.ts';
import { startBerth, type BerthProcess } from '../helpers/berth-process.ts';
import { blobFiles, sum } from '../helpers/blob-files.ts';
import { openBrowser, settled, textMatching, type UiBrowser } from '../helpers/browser.ts';
import { tempDir } from '../helpers/server.ts';
import { run, skipUnless } from '../helpers/tools.ts';

const skip = skipUnless('skopeo', 'chromium');

interface OciManifest {
  config: { digest: string };
  layers: { digest: string; size: number }[];
}

describe('web UI end to end (Chromium)', { skip }, () => {
  let berth: BerthProcess;
  let work: string;
  let images: Record<FixtureName, Fixture>;
  let ui: UiBrowser;

  before(async () => {
    work = await tempDir('berth-ui-');
    images = await fixtures();
    berth = await startBerth({ dataDir: path.join(work, 'data') });
    ui = await openBrowser(berth.url);
  });
  after(async () => {
    await ui?.close();
    await berth?.stop();
    await fs.rm(work, { recursive: true, force: true });
  });

  const push = (fixture: FixtureName, reference: string) =>
    run('skopeo', ['copy', '--dest-tls-verify=false', `oci:${images[fixture].dir}:latest`, `docker://${berth.hostPort}/${reference}`]);

  async function fixtureManifest(fixture: FixtureName): Promise<OciManifest> {
    const digest = images[fixture].digest;
    return JSON.parse(await fs.readFile(path.join(images[fixture].dir, 'blobs', 'sha256', digest.slice(7)), 'utf8')) as OciManifest;
  }

  /** The exact byte count behind a size shown on the page (<data value>). */
  async function bytesAt(selector: string): Promise<number> {
    return Number(await ui.page.locator(`${selector} data`).first().getAttribute('value'));
  }

  it('shows a fresh install how to push a first image', async () => {
    await ui.page.goto('/');
    await ui.page.getByRole('heading', { name: 'Push your first image' }).waitFor();
    assert.match(await ui.page.locator('pre').first().innerText(), new RegExp(`docker push localhost:${berth.port}/alpine:latest`));
    await ui.screenshot('repositories-empty');
  });

  it('shows an image pushed with skopeo without reloading the page', async () => {
    await ui.page.evaluate(() => Object.assign(globalThis, { berthTestMarker: 'same page' }));
    await push('small', 'e2e/small:v1');
    const row = ui.page.locator('tr[data-repository="e2e/small"]');
    await row.waitFor();
    assert.equal(await ui.page.evaluate(() => (globalThis as { berthTestMarker?: string }).berthTestMarker), 'same page', 'no reload happened');
    // The row can show up between the manifest and its tag being indexed: the count settles at one.
    await textMatching(row.locator('td').nth(1), /^\s*1\s*$/);
  });

  it('opens the image page with its layers and config', async () => {
    await ui.page.getByRole('link', { name: 'e2e/small' }).click();
    await ui.page.getByRole('heading', { name: 'e2e/small', level: 1 }).waitFor();
    await ui.page.locator('tr[data-tag="v1"]').getByRole('link', { name: 'v1' }).click();
    await ui.page.getByRole('heading', { name: 'e2e/small:v1', level: 1 }).waitFor();

    const manifest = await fixtureManifest('small');
    const layers = ui.page.locator('[data-testid="layers"] tbody tr');
    await layers.first().waitFor();
    assert.deepEqual(await layers.evaluateAll((rows) => rows.map((r) => r.getAttribute('data-layer'))), manifest.layers.map((l) => l.digest));
    assert.equal(Number(await layers.first().locator('data').getAttribute('value')), manifest.layers[0]!.size);
    assert.match(await layers.first().innerText(), /OCI layer \(gzip\)/);
    assert.match(await layers.first().innerText(), /ADD layer0 \/srv\//, 'the history step that made the layer');

    const field = (name: string) => ui.page.locator(`[data-testid="image-config"] [data-field="${name}"]`).innerText();
    assert.equal(await field('entrypoint'), '["/bin/fixture"]');
    assert.equal(await field('cmd'), '["--serve","small"]');
    assert.equal(await field('workingDir'), '/srv');
    assert.equal(await field('user'), '1000:1000');
    assert.equal(await field('exposedPorts'), '8080/tcp');
    const env = await ui.page.locator('[data-testid="image-env"] li').allInnerTexts();
    assert.deepEqual(env, ['PATH=/usr/local/bin:/usr/bin:/bin', 'FIXTURE=small']);
    const labels = await ui.page.locator('[data-testid="image-labels"]').innerText();
    assert.match(labels, /org\.opencontainers\.image\.title\s+berth-fixture-small/);
    assert.match(labels, /com\.example\.tier\s+test/);
    assert.match(await ui.page.getByLabel('raw manifest JSON', { exact: true }).innerText(), new RegExp(manifest.config.digest));
    await ui.screenshot('image');
  });

  it('deletes a tag: gone from the page and from /v2/<name>/tags/list', async () => {
    await push('tiny', 'e2e/tiny:a');
    await push('tiny', 'e2e/tiny:b');
    await ui.page.goto('/repositories/e2e/tiny');
    await ui.page.locator('tr[data-tag="a"]').waitFor();
    await ui.page.getByRole('button', { name: 'Delete tag a' }).click();
    const dialog = ui.page.getByRole('dialog', { name: 'Delete tag a?' });
    await dialog.waitFor();
    await dialog.getByRole('button', { name: 'Delete tag' }).click();
    await ui.page.locator('tr[data-tag="a"]').waitFor({ state: 'detached' });
    await ui.page.locator('tr[data-tag="b"]').waitFor();
    const tags = (await (await fetch(`${berth.url}/v2/e2e/tiny/tags/list`)).json()) as { tags: string[] };
    assert.deepEqual(tags.tags, ['b']);
    await ui.screenshot('repository');
  });

  it('shows disk usage equal to the blob files on disk, a layer shared by two repositories counted once', async () => {
    await run('skopeo', ['copy', '--src-tls-verify=false', '--dest-tls-verify=false', `docker://${berth.hostPort}/e2e/small:v1`, `docker://${berth.hostPort}/e2e/small-copy:v1`]);
    await ui.page.goto('/disk-usage');
    await ui.page.locator('tr[data-repository="e2e/small-copy"]').waitFor();
    const files = await blobFiles(path.join(work, 'data'));
    const onDisk = sum(files.values());
    const small = sum(images.small.blobs.values());
    const tiny = sum(images.tiny.blobs.values());

    assert.equal(await bytesAt('[data-testid="bytes-on-disk"]'), onDisk);
    assert.equal(onDisk, small + tiny, 'each blob is stored once');
    assert.equal(await bytesAt('[data-testid="referenced-bytes"]'), onDisk);
    assert.equal(await bytesAt('[data-testid="shared-bytes"]'), small, 'the shared image, once');
    for (const repo of ['e2e/small', 'e2e/small-copy']) {
      assert.equal(await bytesAt(`tr[data-repository="${repo}"] [data-field="shared"]`), small, `${repo} shares everything`);
      assert.equal(await bytesAt(`tr[data-repository="${repo}"] [data-field="unique"]`), 0);
    }
    assert.equal(await bytesAt('tr[data-repository="e2e/tiny"] [data-field="unique"]'), tiny);
    assert.match(await ui.page.getByTestId('bytes-on-disk').innerText(), /\d(\.\d)? (kB|MB)/, 'sizes read as people read them');
    assert.ok((await bytesAt('[data-testid="free-bytes"]')) > 0);
    await ui.page.getByRole('img', { name: /Disk use by repository/ }).waitFor();
    await ui.screenshot('disk-usage');
  });

  it('shows the Docker setup snippets for the configured port', async () => {
    await ui.page.goto('/setup');
    const panel = ui.page.getByRole('tabpanel');
    await panel.getByText('Nothing needed.').waitFor();
    assert.equal(await panel.getByTestId('engine-address').innerText(), `localhost:${berth.port}`);
    // Berth listens on loopback here: no steps for other computers, but how to let them in.
    await panel.getByText(/^Other computers cannot reach Berth yet: it listens on this computer only/).waitFor();
    assert.doesNotMatch(await panel.innerText(), /From another computer/);
    // Each tab's snippet is read once the panel shows that tab (a click only starts the switch).
    await ui.page.getByRole('tab', { name: 'Docker Desktop' }).click();
    await textMatching(panel.locator('pre').first(), new RegExp(`"insecure-registries": \\[\\s*"host\\.docker\\.internal:${berth.port}"\\s*\\]`));
    await ui.page.getByRole('tab', { name: 'Podman', exact: true }).click();
    await textMatching(panel.locator('pre').first(), new RegExp(`location = "localhost:${berth.port}"\\ninsecure = true`));
    await ui.page.getByRole('tab', { name: 'Docker Engine', exact: true }).click();
    await panel.getByText('Nothing needed.').waitFor();
    await ui.screenshot('setup');
  });

  it('runs the self-test: every step passes', async () => {
    await ui.page.getByRole('button', { name: 'Run self-test' }).click();
    await ui.page.getByTestId('self-test-result').filter({ hasText: 'All steps passed' }).waitFor();
    const steps = ui.page.locator('li[data-step]');
    assert.equal(await steps.count(), 9);
    assert.deepEqual(new Set(await steps.evaluateAll((items) => items.map((i) => i.getAttribute('data-status')))), new Set(['passed']));
    await ui.screenshot('setup-self-test');
  });

  it('lists pushes, pulls and deletes in the activity feed', async () => {
    await ui.page.goto('/activity');
    const feed = ui.page.getByTestId('activity-feed');
    await feed.locator('li[data-kind="push"][data-repository="e2e/small"]').waitFor();
    await feed.locator('li[data-kind="delete"][data-repository="e2e/tiny"]').waitFor();
    await feed.locator('li[data-kind="pull"][data-repository="e2e/small"]').waitFor();
    await ui.screenshot('activity');
  });

  it('shows the settings of berth serve read-only, with the equivalent flags', async () => {
    await ui.page.goto('/settings');
    await ui.page.getByText(`--port ${berth.port}`).waitFor();
    await ui.screenshot('settings');
  });

  it('lists every repository, searchable', async () => {
    await ui.page.goto('/');
    await ui.page.locator('tr[data-repository="e2e/tiny"]').waitFor();
    await ui.page.getByLabel('Search repositories').fill('copy');
    await ui.page.locator('tr[data-repository="e2e/small"]').waitFor({ state: 'detached' });
    assert.deepEqual(await ui.page.locator('tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-repository'))), ['e2e/small-copy']);
    await ui.page.getByLabel('Search repositories').fill('');
    await ui.page.locator('tr[data-repository="e2e/small"]').waitFor();
    await ui.screenshot('repositories');
  });

  it('deletes a repository once its name is typed: gone from the list and from the catalog', async () => {
    await ui.page.goto('/repositories/e2e/small-copy');
    await ui.page.getByRole('button', { name: 'Delete repository' }).click();
    const dialog = ui.page.getByRole('dialog', { name: 'Delete e2e/small-copy?' });
    const confirm = dialog.getByRole('button', { name: 'Delete repository' });
    assert.equal(await confirm.isDisabled(), true, 'disabled until the name is typed');
    await dialog.getByLabel('Type e2e/small-copy to confirm').fill('e2e/small-copy');
    await confirm.click();
    await ui.page.getByRole('heading', { name: 'Repositories', level: 1 }).waitFor();
    await ui.page.locator('tr[data-repository="e2e/small"]').waitFor();
    assert.equal(await ui.page.locator('tr[data-repository="e2e/small-copy"]').count(), 0);
    const catalog = (await (await fetch(`${berth.url}/v2/_catalog`)).json()) as { repositories: string[] };
    assert.ok(!catalog.repositories.includes('e2e/small-copy'));
    assert.ok(catalog.repositories.includes('e2e/small'), 'the repository it shared layers with keeps them');
  });

  it('shows what garbage collection frees now and what after the grace window, both labelled', async () => {
    await push('many', 'e2e/many:v1');
    const deleted = await fetch(`${berth.url}/api/repositories/e2e/many`, { method: 'DELETE', headers: { 'X-Berth-Client': 'test' } });
    assert.equal(deleted.status, 200);
    // Its blobs are its own, so all of them wait for a collection (with what the self-test left).
    const usage = (await (await fetch(`${berth.url}/api/disk-usage`)).json()) as DiskUsage;
    const left = usage.unreferencedBytes;
    assert.ok(left >= sum(images.many.blobs.values()), `${left} unreferenced bytes`);
    assert.equal(usage.reclaimableAfterGraceBytes, left);
    await ui.page.goto('/disk-usage');
    const card = ui.page.getByTestId('reclaimable-bytes');
    await card.getByText('Reclaimable now').waitFor();
    await ui.page.locator(`[data-testid="reclaimable-after-grace-bytes"] data[value="${left}"]`).waitFor();
    assert.equal(await bytesAt('[data-testid="reclaimable-bytes"] .stat-value'), 0, 'inside the one-hour grace window: nothing yet');
    assert.match(await card.innerText(), /after the 1 hour grace window/);
    const callout = ui.page.getByTestId('unreferenced-bytes');
    assert.equal(await bytesAt('[data-testid="unreferenced-bytes"]'), left);
    assert.match(await callout.innerText(), /0 B now, and .* more once they are older than the 1 hour grace window/);
    await ui.screenshot('disk-usage-reclaimable');
  });

  it('dates a multi-arch tag by its platform images instead of "unknown"', async () => {
    await run('skopeo', ['copy', '--all', '--dest-tls-verify=false', `oci:${images.multi.dir}:latest`, `docker://${berth.hostPort}/e2e/multi:v1`]);
    await ui.page.goto('/repositories/e2e/multi');
    // The fixture's platform images were created then (read once the page shows the pushed index).
    const created = ui.page.locator('tr[data-tag="v1"] [data-field="created"] time');
    await settled(() => created.getAttribute('datetime'), (at) => at === '2026-01-01T00:00:00.000Z', 'the index dated by its platforms');
    await ui.page.locator('tr[data-tag="v1"]').getByRole('link', { name: 'v1' }).click();
    assert.equal(await ui.page.getByTestId('image-created').locator('time').getAttribute('datetime'), '2026-01-01T00:00:00.000Z');
  });

  it('lays out long pull commands, times and the engine tabs without overlap or wrapping, in the default window and a narrow one', async () => {
    const repo = 'platform-team/some-really-long-service-name/api';
    await push('tiny', `${repo}:2024.10.01-build.1234`);
    // The desktop window's default size (electron/main/window.ts), then a narrow one (one column).
    for (const [width, height, name] of [[1240, 820, 'default'], [760, 900, 'narrow']] as const) {
      await ui.page.setViewportSize({ width, height });
      await ui.page.goto(`/repositories/${repo}`);
      const command = ui.page.locator('.commands .code').first();
      await command.locator('pre').filter({ hasText: 'build.1234' }).waitFor();
      const pre = (await command.locator('pre').boundingBox())!;
      const copy = (await command.getByRole('button').boundingBox())!;
      assert.ok(copy.x >= pre.x + pre.width - 0.5, `${name}: the copy button (x ${copy.x}) stays beside the command (ends at ${pre.x + pre.width})`);
      for (const time of await ui.page.locator('tr[data-tag] time').all()) {
        assert.equal(await time.evaluate((t) => t.getClientRects().length), 1, `${name}: "${await time.innerText()}" on one line`);
      }
      assert.equal(await ui.page.evaluate('document.documentElement.scrollWidth'), width, `${name}: nothing widens the page`);
      await ui.screenshot(`repository-${name}`);

      await ui.page.goto('/setup?engine=buildx');
      const tabs = ui.page.getByRole('tab');
      await ui.page.getByRole('tab', { name: 'Buildx', selected: true }).waitFor();
      const tops = new Set(await tabs.evaluateAll((list) => list.map((t) => Math.round(t.getBoundingClientRect().top))));
      assert.equal(tops.size, 1, `${name}: the tabs stay on one line`);
      const buildx = (await ui.page.getByRole('tab', { name: 'Buildx' }).boundingBox())!;
      const list = (await ui.page.getByRole('tablist').boundingBox())!;
      // In the narrow window the row scrolls: the chosen tab is brought into view.
      await settled(async () => (await ui.page.getByRole('tab', { name: 'Buildx' }).boundingBox())!, (b) => b.x + b.width <= list.x + list.width + 0.5, `${name}: the Buildx tab in view (at ${buildx.x})`);
      assert.equal(await ui.page.evaluate('document.documentElement.scrollWidth'), width, `${name}: nothing widens the page`);
      await ui.screenshot(`setup-${name}`);
    }
    await ui.page.setViewportSize({ width: 1280, height: 860 });
  });

  it('logged no errors in the browser', () => {
    assert.deepEqual(ui.errors, []);
  });
});
