/**
 * Moving a registry to a bucket from the web UI, end to end in Debian's Chromium (playwright-core):
 * `berth serve` on its data directory, the Disk usage page's "Copy to another store" filled in for the
 * test S3 server (Swift + s3api), its mistakes shown next to the form, the copy followed to its result;
 * then `berth serve` on that bucket pulls the image byte-identical and its Disk usage page shows the
 * bucket instead of the volume. Screenshots go to test-results/screenshots/.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { DiskUsage } from '../../server/registry/api-types.ts';
import { startBerth, type BerthProcess } from '../helpers/berth-process.ts';
import { openBrowser, type UiBrowser } from '../helpers/browser.ts';
import { assertSame, pullAll } from '../helpers/pull-all.ts';
import { Client } from '../helpers/registry-client.ts';
import { tempDir } from '../helpers/server.ts';
import { envOf, freshStorage, missingServer } from '../helpers/storage.ts';
import { skipUnless } from '../helpers/tools.ts';

const skip = skipUnless('chromium') || missingServer('s3');

describe('copy to a bucket in the web UI (Chromium)', { skip: skip || false, timeout: 300_000 }, () => {
  let work: string;
  let berth: BerthProcess;
  let onBucket: BerthProcess | undefined;
  let ui: UiBrowser;
  const storage = freshStorage('s3');
  const s3 = storage.s3!;

  before(async () => {
    work = await tempDir('berth-ui-storage-');
    berth = await startBerth({ dataDir: path.join(work, 'data'), env: { BERTH_STORAGE_DRIVER: 'filesystem' } });
    const client = new Client(berth.url);
    await client.pushImage('apps/web', 'v1');
    await client.pushImage('apps/web', 'v2');
    ui = await openBrowser(berth.url);
  });
  after(async () => {
    await ui?.close();
    await onBucket?.stop();
    await berth?.stop();
    await fs.rm(work, { recursive: true, force: true });
  });

  /** The 400 the test provoked on purpose: Chromium logs every failed request. */
  function expectRefusal(): void {
    const index = ui.errors.findIndex((e) => e.includes('status of 400') && e.includes('/api/storage/copy'));
    assert.ok(index >= 0, `a 400 for the copy in ${ui.errors.join('\n')}`);
    ui.errors.splice(index, 1);
  }

  it('copies the registry to an S3 bucket: mistakes are explained, progress and the result are shown', async () => {
    const { page } = ui;
    await page.goto('/disk-usage');
    const card = page.locator('section', { has: page.getByRole('heading', { name: 'Copy to another store' }) });
    await card.waitFor();
    const form = card.getByTestId('copy-form');
    await form.getByRole('radio', { name: /Amazon S3 or compatible/ }).check();
    await form.getByRole('button', { name: 'Copy' }).click();
    await form.getByText('Enter the bucket name.').waitFor();

    // The server's own check of the destination: a store that does not answer.
    await form.getByLabel('Bucket', { exact: true }).fill(s3.bucket);
    await form.getByLabel('Endpoint URL', { exact: true }).fill('http://127.0.0.1:1');
    await form.getByLabel('Prefix', { exact: true }).fill(s3.prefix);
    await form.getByLabel('Access key ID', { exact: true }).fill(s3.accessKeyId!);
    await form.getByLabel('Secret access key', { exact: true }).fill(s3.secretAccessKey!);
    await form.getByRole('button', { name: 'Copy' }).click();
    await form.getByText(/^the destination cannot be used: /).waitFor();
    expectRefusal();

    await form.getByLabel('Endpoint URL', { exact: true }).fill(s3.endpoint!);
    await form.getByRole('button', { name: 'Copy' }).click();
    const outcome = card.getByTestId('copy-outcome');
    await outcome.getByText(/^Copied 5 blobs \(.+\), 5 links and 2 tags to s3:\/\//).waitFor({ timeout: 120_000 });
    assert.match(await outcome.innerText(), new RegExp(`s3://${s3.bucket}/${s3.prefix} at ${s3.endpoint!.replace(/[.]/g, '\\.')}`));
    await ui.screenshot('disk-usage-copied-to-bucket');
    assert.deepEqual(ui.errors, []);
  });

  it('a registry on that bucket pulls the same bytes, and its Disk usage page shows the bucket', async () => {
    onBucket = await startBerth({
      dataDir: path.join(work, 'bucket-data'),
      env: envOf(storage),
    });
    assertSame(await pullAll(berth.url), await pullAll(onBucket.url));
    const usage = (await (await fetch(`${onBucket.url}/api/disk-usage`)).json()) as DiskUsage;
    assert.equal(usage.volume, null);

    const { page } = ui;
    await page.goto(`${onBucket.url}/disk-usage`);
    const bucket = page.getByTestId('bucket');
    await bucket.waitFor();
    assert.equal(await bucket.getByTestId('bucket-location').innerText(), usage.storage.location);
    assert.match(usage.storage.location, new RegExp(`^s3://${s3.bucket}/${s3.prefix}`));
    assert.equal(Number((await bucket.getByTestId('bucket-objects').innerText()).replace(/\D/g, '')), usage.storage.objects);
    await page.getByTestId('bucket-objects-stat').getByText('In the bucket').waitFor();
    assert.equal(await page.getByTestId('free-bytes').count(), 0, 'no volume to show free space of');
    await page.getByTestId('usage-table').locator('tr[data-repository="apps/web"]').waitFor();
    await ui.screenshot('disk-usage-bucket');
    assert.deepEqual(ui.errors, []);
  });
});
