/**
 * The storage lifecycle in the web UI, end to end: Debian's Chromium (playwright-core) against
 * `berth serve` with a one-second grace window (config file), images pushed by skopeo. Garbage
 * collection is checked against the blob files on disk (what the preview lists is exactly what the
 * collection deletes), retention against /v2/<name>/tags/list, the scrub against a blob file this test
 * corrupts, upload purging against an upload session it leaves idle. Screenshots of each new view go to
 * test-results/screenshots/; the browser must log no errors.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { DiskUsage } from '../../server/registry/api-types.ts';
import { tagFileName } from '../../server/storage/paths.ts';
import { fixtures, type Fixture, type FixtureName } from '../fixtures/images.ts';
import { runBerth, startBerth, type BerthProcess } from '../helpers/berth-process.ts';
import { blobFiles, sum } from '../helpers/blob-files.ts';
import { openBrowser, SCREENSHOTS, type UiBrowser } from '../helpers/browser.ts';
import { age, HOUR_MS } from '../helpers/lifecycle.ts';
import { Client, uploadId, waitFor } from '../helpers/registry-client.ts';
import { tempDir } from '../helpers/server.ts';
import { run, skipUnless } from '../helpers/tools.ts';

const skip = skipUnless('skopeo', 'chromium');
const DAY_MS = 24 * HOUR_MS;

describe('storage lifecycle in the web UI (Chromium)', { skip }, () => {
  let berth: BerthProcess;
  let work: string;
  let dataDir: string;
  let images: Record<FixtureName, Fixture>;
  let ui: UiBrowser;
  let client: Client;

  before(async () => {
    work = await tempDir('berth-ui-lifecycle-');
    dataDir = path.join(work, 'data');
    images = await fixtures();
    const config = path.join(work, 'berth.json');
    await fs.writeFile(config, JSON.stringify({ gcGrace: '1s' }));
    berth = await startBerth({ dataDir, args: ['--config', config] });
    client = new Client(berth.url);
    ui = await openBrowser(berth.url);
  });
  after(async () => {
    await ui?.close();
    await berth?.stop();
    await fs.rm(work, { recursive: true, force: true });
  });

  const push = (fixture: FixtureName, reference: string) =>
    run('skopeo', ['copy', '--dest-tls-verify=false', `oci:${images[fixture].dir}:latest`, `docker://${berth.hostPort}/${reference}`]);

  /** The exact byte count behind a size shown on the page (<data value>). */
  async function bytesAt(selector: string): Promise<number> {
    return Number(await ui.page.locator(`${selector} data`).first().getAttribute('value'));
  }

  /** The 400 a test provoked on purpose: Chromium logs every failed request; anything else stays an error. */
  function expectRefusal(pathname: string): void {
    const index = ui.errors.findIndex((e) => e.includes('status of 400') && e.includes(`${berth.url}${pathname})`));
    assert.ok(index >= 0, `a 400 for ${pathname} in ${ui.errors.join('\n')}`);
    ui.errors.splice(index, 1);
  }

  async function diskUsage(): Promise<DiskUsage> {
    return (await (await fetch(`${berth.url}/api/disk-usage`)).json()) as DiskUsage;
  }

  async function tags(repository: string): Promise<string[]> {
    return ((await (await fetch(`${berth.url}/v2/${repository}/tags/list`)).json()) as { tags: string[] }).tags.sort();
  }

  it('previews exactly the blobs a deleted repository leaves, and collecting deletes those files and no other', async () => {
    await push('small', 'e2e/keep:v1');
    await push('tiny', 'e2e/gone:v1');
    await push('small', 'e2e/gone:shared');
    await ui.page.goto('/repositories/e2e/gone');
    await ui.page.getByRole('button', { name: 'Delete repository' }).click();
    const dialog = ui.page.getByRole('dialog', { name: 'Delete e2e/gone?' });
    await dialog.getByLabel('Type e2e/gone to confirm').fill('e2e/gone');
    await dialog.getByRole('button', { name: 'Delete repository' }).click();
    await ui.page.getByRole('heading', { name: 'Repositories', level: 1 }).waitFor();
    // The files on disk become older than the one-second grace window without waiting for it; the
    // server's own memory of digests just used (the delete touched them) is waited out.
    await age(dataDir, HOUR_MS);
    const expected = images.tiny.blobs; // e2e/gone's alone: the small image is shared with e2e/keep
    const expectedBytes = sum(expected.values());
    await waitFor(async () => (await diskUsage()).reclaimableByGcBytes === expectedBytes, 'the grace window to pass', 30_000);
    await ui.page.goto('/disk-usage');
    const grace = ui.page.getByLabel('Grace window');
    assert.equal(await grace.inputValue(), '1s', 'the configured grace window');
    assert.equal(await bytesAt('[data-testid="reclaimable-bytes"] .stat-value'), expectedBytes);
    await ui.screenshot('disk-usage-gc-idle');

    await ui.page.getByRole('button', { name: 'Preview', exact: true }).click();
    const preview = ui.page.getByTestId('gc-preview');
    await preview.waitFor();
    const rows = preview.locator('tr[data-blob]');
    const listed = new Map<string, number>();
    for (const row of await rows.all()) listed.set((await row.getAttribute('data-blob'))!, Number(await row.locator('data').getAttribute('value')));
    assert.deepEqual(new Map([...listed].sort()), new Map([...expected].sort()), 'the preview lists each blob of the deleted image, with its size');
    assert.equal(await bytesAt('[data-testid="gc-preview-bytes"]'), expectedBytes);
    await ui.page.getByTestId('gc-preview-repositories').getByText('0').waitFor();
    await ui.screenshot('disk-usage-gc-preview');
    await ui.page.locator('#garbage-collection').screenshot({ path: path.join(SCREENSHOTS, 'garbage-collection-preview.png') });

    const before = await blobFiles(dataDir);
    await ui.page.getByRole('button', { name: 'Collect…' }).click();
    const confirm = ui.page.getByRole('dialog', { name: 'Collect garbage now?' });
    await confirm.getByRole('button', { name: /^Delete and free / }).click();
    const result = ui.page.getByTestId('gc-result');
    await result.waitFor();
    assert.equal(await bytesAt('[data-testid="gc-result"]'), expectedBytes);

    const afterwards = await blobFiles(dataDir);
    const deleted = new Map([...before].filter(([digest]) => !afterwards.has(digest)));
    assert.deepEqual(new Map([...deleted].sort()), new Map([...listed].sort()), 'the files deleted are exactly the ones previewed');
    assert.equal(sum(deleted.values()), expectedBytes);
    assert.equal(afterwards.size, before.size - expected.size, 'no other file went');
    assert.deepEqual(await tags('e2e/keep'), ['v1']);

    // The history shows the collection (and the preview before it) with what it freed.
    const collected = ui.page.locator('[data-testid="gc-history"] tr[data-dry-run="false"]').first();
    await collected.locator('[data-state="succeeded"]').waitFor();
    assert.equal(await collected.locator('[data-trigger]').getAttribute('data-trigger'), 'ui', 'started from the UI, and recorded so');
    assert.equal(Number(await collected.locator('[data-field="bytes-freed"] data').getAttribute('value')), expectedBytes);
    await ui.page.locator('[data-testid="gc-history"] tr[data-dry-run="true"]').first().waitFor();
    await ui.page.locator('[data-testid="reclaimable-bytes"] .stat-value data[value="0"]').waitFor();
    await ui.screenshot('disk-usage-gc-collected');
  });

  it('refuses a bad grace window next to the field', async () => {
    const grace = ui.page.getByLabel('Grace window');
    await grace.fill('soon');
    await ui.page.getByRole('button', { name: 'Preview', exact: true }).click();
    await ui.page.getByRole('alert').filter({ hasText: '"grace": "soon" is not a duration' }).waitFor();
    assert.equal(await grace.getAttribute('aria-invalid'), 'true');
    expectRefusal('/api/gc/preview');
    await grace.fill('1s');
  });

  it('creates a retention rule, previews the tags it would untag, and applies it', async () => {
    // Push times set on the tag files: 1.2 newest, then 1.1, 1.0; latest is the oldest.
    const daysAgo: Record<string, number> = { '1.0': 4, '1.1': 3, '1.2': 2, latest: 5 };
    for (const [tag, days] of Object.entries(daysAgo)) {
      await push('tiny', `ret/app:${tag}`);
      const when = new Date(Date.now() - days * DAY_MS);
      await fs.utimes(path.join(dataDir, 'repositories', 'ret', 'app', '_manifests', 'tags', tagFileName(tag)), when, when);
    }
    await ui.page.goto('/retention');
    await ui.page.getByRole('heading', { name: 'No retention rules' }).waitFor();
    await ui.screenshot('retention-empty');

    await ui.page.getByRole('button', { name: 'Add rule' }).first().click();
    const form = ui.page.getByRole('form', { name: 'New retention rule' });
    await form.getByLabel('Repositories').fill('ret/*');
    await form.getByLabel('Keep the newest … tags').fill('');
    await form.getByRole('button', { name: 'Add rule' }).click();
    // The server's reason, next to the field it names.
    const error = form.getByRole('alert').filter({ hasText: /needs "keepLast".*"keepDays"/ });
    await error.waitFor();
    const keepLast = form.getByLabel('Keep the newest … tags');
    assert.equal(await keepLast.getAttribute('aria-invalid'), 'true');
    assert.match((await keepLast.getAttribute('aria-describedby'))!, new RegExp(`\\b${await error.getAttribute('id')}\\b`));
    expectRefusal('/api/retention/rules');
    await ui.screenshot('retention-rule-error');

    await keepLast.fill('1');
    await form.getByLabel('Always keep tags matching').fill('latest');
    await form.getByRole('button', { name: 'Preview with this rule' }).click();
    const preview = ui.page.getByTestId('retention-preview');
    await preview.and(ui.page.locator('[data-draft="true"]')).waitFor();
    const untagged = async () => (await preview.locator('tr[data-tag]').evaluateAll((rows) => rows.map((r) => `${r.getAttribute('data-repository')}:${r.getAttribute('data-tag')}`))).sort();
    assert.deepEqual(await untagged(), ['ret/app:1.0', 'ret/app:1.1'], 'the unsaved rule, previewed');

    await form.getByRole('button', { name: 'Add rule' }).click();
    const rule = ui.page.locator('[data-testid="retention-rules"] tr[data-repositories="ret/*"]');
    await rule.waitFor();
    assert.match(await rule.innerText(), /the newest tag/);
    await ui.page.getByRole('button', { name: 'Preview', exact: true }).click();
    await preview.and(ui.page.locator('[data-draft="false"]')).waitFor();
    assert.deepEqual(await untagged(), ['ret/app:1.0', 'ret/app:1.1'], 'the saved rule, previewed');
    assert.equal(await ui.page.getByTestId('retention-untag-count').locator('dd').innerText(), '2');
    assert.deepEqual(await tags('ret/app'), ['1.0', '1.1', '1.2', 'latest'], 'a preview changes nothing');
    await ui.page.locator('.toast').waitFor({ state: 'detached' }); // "Rule added" fades: a clean picture for the README
    await ui.screenshot('retention-preview');

    await ui.page.getByRole('button', { name: 'Apply…' }).click();
    await ui.page.getByRole('dialog', { name: 'Untag 2 tags?' }).getByRole('button', { name: 'Apply rules' }).click();
    const result = ui.page.getByTestId('retention-result');
    await result.waitFor();
    assert.deepEqual(
      (await result.locator('tr[data-tag]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-tag')))).sort(),
      ['1.0', '1.1'],
    );
    assert.deepEqual(await tags('ret/app'), ['1.2', 'latest']);
    await ui.screenshot('retention-applied');
  });

  it('scrubs: a corrupted blob file is quarantined and the rest still serves', async () => {
    const manifest = JSON.parse(await fs.readFile(path.join(images.small.dir, 'blobs', 'sha256', images.small.digest.slice(7)), 'utf8')) as {
      config: { digest: string };
      layers: { digest: string }[];
    };
    const layer = manifest.layers[0]!.digest;
    const hex = layer.slice(7);
    const file = path.join(dataDir, 'blobs', 'sha256', hex.slice(0, 2), hex);
    const bytes = await fs.readFile(file);
    const middle = bytes.length >> 1;
    bytes[middle] = bytes[middle]! ^ 0xff; // same size, other bytes: only re-hashing can tell
    await fs.writeFile(file, bytes);

    await ui.page.goto('/disk-usage');
    const task = ui.page.locator('li[data-task="scrub"]');
    await task.getByRole('button', { name: 'Run scrub' }).click();
    const corrupt = task.locator(`[data-testid="scrub-corrupt"] tr[data-corrupt="${layer}"]`);
    await corrupt.waitFor();
    const movedTo = (await corrupt.locator('[data-field="quarantined-to"]').innerText()).trim();
    assert.ok(movedTo.startsWith(path.join(dataDir, 'quarantine')), movedTo);
    assert.ok(existsSync(movedTo), 'the corrupt file is in quarantine');
    assert.ok(!existsSync(file), 'and no longer among the blobs');
    assert.match(await corrupt.innerText(), /e2e\/keep \(layer\)/);
    await ui.screenshot('disk-usage-scrub');

    assert.equal((await client.getBlob('e2e/keep', layer)).status, 404, 'the corrupt layer is not served');
    const config = await client.getBlob('e2e/keep', manifest.config.digest);
    assert.equal(config.status, 200, 'the rest still serves');
  });

  it('rebuilds the index and purges an idle upload session', async () => {
    const task = (kind: string) => ui.page.locator(`li[data-task="${kind}"]`);
    await task('reindex').getByRole('button', { name: 'Rebuild index' }).click();
    await task('reindex').getByTestId('reindex-summary').filter({ hasText: /^Indexed 2 repositories, \d+ manifests and 3 tags/ }).waitFor();

    // An upload session nobody sent a byte to for two days.
    const location = await client.startUpload('e2e/keep');
    const session = path.join(dataDir, 'uploads', uploadId(location));
    const when = new Date(Date.now() - 2 * DAY_MS);
    for (const entry of await fs.readdir(session)) await fs.utimes(path.join(session, entry), when, when);
    await fs.utimes(session, when, when);

    await task('purge-uploads').getByRole('button', { name: 'Purge…' }).click();
    await ui.page.getByRole('dialog', { name: 'Purge idle uploads?' }).getByRole('button', { name: 'Purge' }).click();
    await task('purge-uploads').getByTestId('purge-summary').filter({ hasText: /^Removed 1 session and freed/ }).waitFor();
    assert.ok(!existsSync(session), 'the session is gone from disk');
    await ui.screenshot('disk-usage-maintenance');
  });

  it('shows a run started elsewhere as it finishes, without a reload', async () => {
    const shown = () => ui.page.locator('li[data-task="reindex"] [data-testid="reindex-result"]').getAttribute('data-run');
    const before = await shown();
    const res = await fetch(`${berth.url}/api/reindex`, { method: 'POST', headers: { 'X-Berth-Client': 'test' } });
    assert.equal(res.status, 202);
    const { id } = (await res.json()) as { id: string };
    assert.notEqual(id, before);
    const shownRun = ui.page.locator(`li[data-task="reindex"] [data-testid="reindex-result"][data-run="${id}"]`);
    await shownRun.waitFor();
    // Started by a client that is neither the UI nor the CLI: said so, not "the UI".
    assert.equal(await shownRun.locator('[data-trigger]').innerText(), 'API client');

    // The CLI through this server: recorded and shown as the command line's.
    const cli = await runBerth(['reindex', '--data', dataDir]);
    assert.equal(cli.code, 0, cli.stderr);
    const { runs } = (await (await fetch(`${berth.url}/api/runs?kind=reindex&limit=1`)).json()) as { runs: { id: string; trigger: string }[] };
    assert.equal(runs[0]!.trigger, 'cli');
    await ui.page.locator(`li[data-task="reindex"] [data-testid="reindex-result"][data-run="${runs[0]!.id}"] [data-trigger="cli"]`).filter({ hasText: 'Command line' }).waitFor();
  });

  it('shows the schedule read-only, with the settings that change it', async () => {
    const setting = (key: string) => ui.page.locator(`[data-testid="schedule"] tr[data-setting="${key}"] [data-field="value"]`).innerText();
    assert.equal(await setting('gcGrace'), '1 second');
    assert.match(await setting('gcSchedule'), /^Off/);
    assert.equal(await setting('uploadPurgeSchedule'), 'Every 1 hour');
    assert.equal(await setting('uploadPurgeAge'), '1 day');
    await ui.page.getByText('has no flags for these').waitFor();
  });

  it('logged no errors in the browser', () => {
    assert.deepEqual(ui.errors, []);
  });
});

describe('storage lifecycle in the web UI with registry auth on (Chromium)', { skip }, () => {
  const PASSWORD = 'a-password-for-the-lifecycle-test';
  let berth: BerthProcess;
  let work: string;
  let ui: UiBrowser;

  before(async () => {
    work = await tempDir('berth-ui-lifecycle-auth-');
    berth = await startBerth({ dataDir: path.join(work, 'data'), args: ['--auth', 'token'], env: { BERTH_ADMIN_PASSWORD: PASSWORD } });
    ui = await openBrowser(berth.url);
  });
  after(async () => {
    await ui?.close();
    await berth?.stop();
    await fs.rm(work, { recursive: true, force: true });
  });

  it('previews and collects, and saves a retention rule, as the signed-in admin', async () => {
    await ui.page.goto('/disk-usage');
    await ui.page.getByLabel('Password or access token').fill(PASSWORD);
    await ui.page.getByRole('button', { name: 'Sign in' }).click();
    await ui.page.getByRole('button', { name: 'Preview', exact: true }).click();
    await ui.page.getByTestId('gc-preview').getByText('Nothing to collect').waitFor();
    await ui.page.getByRole('button', { name: 'Collect…' }).click();
    await ui.page.getByRole('dialog', { name: 'Collect garbage now?' }).getByRole('button', { name: /^Delete and free / }).click();
    await ui.page.getByTestId('gc-result').waitFor();
    await ui.page.locator('[data-testid="gc-history"] tr[data-dry-run="false"] [data-state="succeeded"]').waitFor();

    await ui.page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Retention' }).click();
    await ui.page.getByRole('button', { name: 'Add rule' }).first().click();
    await ui.page.getByRole('form', { name: 'New retention rule' }).getByRole('button', { name: 'Add rule' }).click();
    await ui.page.locator('[data-testid="retention-rules"] tr[data-repositories="**"]').waitFor();
    // Before signing in the browser was refused (401): expected; nothing else.
    assert.deepEqual(ui.errors.filter((e) => !/status of 401/.test(e)), []);
  });
});
