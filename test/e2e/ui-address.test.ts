/**
 * Copyable commands carry the address Berth really listens on: Debian's Chromium (playwright-core)
 * against `berth serve` on a random port (never 5000). While /api/status has not answered (held by
 * page.route until the test lets it through) or after it failed, the UI shows no command at all, and
 * never a guessed localhost:5000 that someone on another port would copy and run.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Route } from 'playwright-core';
import { pushImageWith } from '../helpers/api-client.ts';
import { startBerth, type BerthProcess } from '../helpers/berth-process.ts';
import { expectRefusal, openBrowser, textMatching, type UiBrowser } from '../helpers/browser.ts';
import { Client } from '../helpers/registry-client.ts';
import { tempDir } from '../helpers/server.ts';
import { skipUnless } from '../helpers/tools.ts';

const STATUS = '**/api/status';
const GUESS = 'localhost:5000';

describe('commands in the web UI name the real address (Chromium)', { skip: skipUnless('chromium') }, () => {
  let berth: BerthProcess;
  let work: string;
  let ui: UiBrowser;

  before(async () => {
    work = await tempDir('berth-ui-address-');
    berth = await startBerth({ dataDir: path.join(work, 'data') });
    assert.notEqual(berth.port, 5000, 'the point is a port other than the usual one');
    ui = await openBrowser(berth.url);
  });
  after(async () => {
    await ui?.close();
    await berth?.stop();
    await fs.rm(work, { recursive: true, force: true });
  });

  const address = () => `localhost:${berth.port}`;
  const pageText = () => ui.page.locator('body').innerText();

  /** Holds every /api/status request until release(): the page stays where the address is unknown. */
  async function holdStatus(): Promise<{ release(): Promise<void> }> {
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const passed: Promise<void>[] = [];
    const handler = (route: Route) => {
      const pass = gate.then(() => route.continue());
      passed.push(pass);
      return pass;
    };
    await ui.page.route(STATUS, handler);
    return {
      async release() {
        open();
        await Promise.all(passed);
        await ui.page.unroute(STATUS, handler);
      },
    };
  }

  /** While the address is unknown: no guessed address anywhere, and no command to copy. */
  async function expectNoCommands(where: string): Promise<void> {
    const text = await pageText();
    assert.ok(!text.includes(GUESS), `${where}: no ${GUESS} while the address is unknown:\n${text}`);
    const code = await ui.page.locator('pre, code').allInnerTexts();
    assert.deepEqual(code.filter((c) => /\b(docker|podman) (pull|tag|push|login)\b/.test(c)), [], `${where}: no command while the address is unknown`);
  }

  it('shows the first-push commands with the port Berth listens on', async () => {
    await ui.page.goto('/');
    await ui.page.getByRole('heading', { name: 'Push your first image' }).waitFor();
    const docker = await ui.page.getByLabel('Docker commands', { exact: true }).innerText();
    assert.match(docker, new RegExp(`^docker push ${address()}/alpine:latest$`, 'm'));
    assert.match(await ui.page.getByLabel('Podman commands', { exact: true }).innerText(), new RegExp(`podman push --tls-verify=false alpine:latest ${address()}/alpine:latest`));
    assert.ok(!(await pageText()).includes(GUESS));
  });

  it('shows no first-push command until /api/status answers, then the real one', async () => {
    const status = await holdStatus();
    await ui.page.goto('/');
    await ui.page.getByRole('heading', { name: 'Push your first image' }).waitFor();
    await expectNoCommands('first push');
    await ui.page.getByTestId('address-pending').filter({ hasText: 'Loading the address…' }).waitFor();
    await ui.screenshot('first-push-address-loading');
    await status.release();
    await textMatching(ui.page.getByLabel('Docker commands', { exact: true }), new RegExp(`docker push ${address()}/alpine:latest`));
    await ui.page.getByTestId('address-pending').waitFor({ state: 'detached' });
  });

  it('says why when /api/status fails, shows no command, and shows them after Try again', async () => {
    const failing = (route: Route) =>
      route.fulfill({ status: 503, contentType: 'application/json', body: JSON.stringify({ errors: [{ code: 'UNAVAILABLE', message: 'The status is out to lunch.' }] }) });
    await ui.page.route(STATUS, failing);
    await ui.page.goto('/');
    await ui.page.getByRole('heading', { name: 'Push your first image' }).waitFor();
    const alert = ui.page.getByTestId('address-pending');
    await textMatching(alert, /Could not read Berth’s address, so its commands are not shown: The status is out to lunch\./);
    assert.equal(await alert.getAttribute('role'), 'alert');
    await expectNoCommands('first push, status failed');
    await ui.screenshot('first-push-address-failed');
    expectRefusal(ui, `${berth.url}/api/status`, 503);

    await ui.page.unroute(STATUS, failing);
    await alert.getByRole('button', { name: 'Try again' }).click();
    await textMatching(ui.page.getByLabel('Docker commands', { exact: true }), new RegExp(`docker push ${address()}/alpine:latest`));
  });

  it('shows a repository without tags how to push a tag only once the address is known', async () => {
    await pushImageWith(new Client(berth.url), 'untagged/app', null);
    const status = await holdStatus();
    await ui.page.goto('/repositories/untagged/app');
    await ui.page.getByRole('heading', { name: 'No tags' }).waitFor();
    await expectNoCommands('repository without tags');
    await ui.page.getByTestId('address-pending').filter({ hasText: 'Loading the address…' }).waitFor();
    await status.release();
    await textMatching(ui.page.locator('.state code'), new RegExp(`^docker push ${address()}/untagged/app:latest$`));
  });

  it('gives the docker login for a new user with the real address, never a guessed one', async () => {
    const status = await holdStatus();
    await ui.page.goto('/users');
    await ui.page.getByRole('button', { name: 'Add user' }).click();
    const form = ui.page.getByRole('form', { name: 'New user' });
    await form.getByLabel('User name').fill('alice');
    await form.getByRole('button', { name: 'Add user' }).click();
    const secret = ui.page.getByTestId('secret-once');
    await secret.getByText('Password of alice').waitFor();
    await secret.getByTestId('address-pending').filter({ hasText: 'Loading the address…' }).waitFor();
    await expectNoCommands('new user password');
    await status.release();
    await textMatching(secret.locator('code').filter({ hasText: 'docker login' }), new RegExp(`^docker login ${address()} -u alice$`));
  });

  it('logged no errors in the browser', () => {
    assert.deepEqual(ui.errors, []);
  });
});
