/**
 * The Webhooks page in Debian's Chromium against `berth serve`: add an endpoint (its secret shown
 * once), send a test event and see its delivery, redeliver it (same webhook-id, both signatures
 * verified by the receiver), and see a skopeo push arrive in the delivery log. No browser errors.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fixtures, type Fixture, type FixtureName } from '../fixtures/images.ts';
import { startBerth, type BerthProcess } from '../helpers/berth-process.ts';
import { openBrowser, type UiBrowser } from '../helpers/browser.ts';
import { tempDir } from '../helpers/server.ts';
import { run, skipUnless } from '../helpers/tools.ts';
import { envelopeEvents, startReceiver, type Receiver } from '../helpers/webhook-receiver.ts';

const skip = skipUnless('skopeo', 'chromium');

describe('webhooks in the web UI (Chromium)', { skip }, () => {
  let berth: BerthProcess;
  let work: string;
  let ui: UiBrowser;
  let hook: Receiver;
  let images: Record<FixtureName, Fixture>;

  before(async () => {
    work = await tempDir('berth-ui-webhooks-');
    images = await fixtures();
    hook = await startReceiver();
    berth = await startBerth({ dataDir: path.join(work, 'data') });
    ui = await openBrowser(berth.url);
  });
  after(async () => {
    await ui?.close();
    await berth?.stop();
    await hook?.close();
    await fs.rm(work, { recursive: true, force: true });
  });

  it('adds an endpoint, sends a test event, shows the delivery and redelivers it', async () => {
    const { page } = ui;
    await page.goto('/webhooks');
    await page.getByRole('heading', { name: 'No webhooks' }).waitFor();
    await ui.screenshot('webhooks-empty');

    await page.getByRole('button', { name: 'Add endpoint' }).first().click();
    await page.getByLabel('URL').fill(hook.url);
    await page.getByLabel('Name').fill('ci');
    await page.getByLabel('Pull').check();
    await page.getByRole('form', { name: 'New webhook endpoint' }).getByRole('button', { name: 'Add endpoint' }).click();

    const secretBox = page.getByTestId('webhook-secret');
    await secretBox.waitFor();
    const secret = /whsec_[A-Za-z0-9+/]+=*/.exec((await secretBox.textContent()) ?? '')?.[0];
    assert.ok(secret, 'the secret is shown once');
    hook.options.secrets = [secret];
    const row = page.locator('[data-testid=webhook-endpoints] tr[data-endpoint]');
    await row.filter({ hasText: 'ci' }).waitFor();
    assert.match((await row.textContent()) ?? '', /pull/);
    await ui.screenshot('webhooks-added');
    await page.getByRole('button', { name: 'I stored it' }).click();
    assert.equal(await secretBox.count(), 0, 'and never again');

    await page.getByRole('button', { name: 'Send a test event to ci' }).click();
    await page.getByText(/Test event delivered: 200 in \d+ ms/).waitFor();
    const delivery = page.locator('[data-testid=webhook-deliveries] tr[data-delivery]').first();
    await delivery.locator('text=Test event').waitFor();
    assert.equal(await delivery.getAttribute('data-state'), 'delivered');
    const id = await delivery.getAttribute('data-delivery');
    await ui.screenshot('webhooks-test-event');

    await delivery.getByRole('button', { name: 'Redeliver Test event' }).click();
    await page.getByText(/Redelivered: the receiver answered 200/).waitFor();
    await page.locator(`tr[data-delivery="${id}"] td.num`).first().filter({ hasText: '2' }).waitFor();
    const received = await hook.until((r) => r.length >= 2);
    assert.deepEqual(received.map((r) => r.headers['webhook-id']), [id, id], 'redelivered with the same webhook-id');
    assert.ok(received.every((r) => r.standardOk && r.hubOk), 'both signatures verify with the secret the page showed');

    // A real push shows up in the log by itself (the page refreshes).
    await run('skopeo', ['copy', '--dest-tls-verify=false', `oci:${images.tiny.dir}:latest`, `docker://${berth.hostPort}/ui/hooked:v1`]);
    await page.locator('[data-testid=webhook-deliveries] tr[data-delivery]', { hasText: 'push ui/hooked:v1' }).waitFor();
    await hook.until((r) => envelopeEvents(r).some((e) => e.target.tag === 'v1'));
    await ui.screenshot('webhooks-deliveries');
    assert.deepEqual(ui.errors, []);
  });
});
