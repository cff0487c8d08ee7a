/**
 * The web UI against `berth serve --auth token`: the management API serves administrators only, so a
 * browser signs in first (POST /token for the admin grant), stays signed in across a reload, gets live
 * updates with its token, and signs out. Chromium via playwright-core.
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

const skip = skipUnless('skopeo', 'chromium');
const PASSWORD = 'a-password-for-the-ui-test';

describe('web UI with registry auth on (Chromium)', { skip }, () => {
  let berth: BerthProcess;
  let work: string;
  let images: Record<FixtureName, Fixture>;
  let ui: UiBrowser;

  before(async () => {
    work = await tempDir('berth-ui-auth-');
    images = await fixtures();
    berth = await startBerth({ dataDir: path.join(work, 'data'), args: ['--auth', 'token'], env: { BERTH_ADMIN_PASSWORD: PASSWORD } });
    ui = await openBrowser(berth.url);
  });
  after(async () => {
    await ui?.close();
    await berth?.stop();
    await fs.rm(work, { recursive: true, force: true });
  });

  const signInForm = () => ui.page.getByRole('heading', { name: 'Sign in to manage this registry' });

  it('asks to sign in, and says so when the password is wrong', async () => {
    await ui.page.goto('/');
    await signInForm().waitFor();
    await ui.page.getByLabel('User name').fill('admin');
    await ui.page.getByLabel('Password or access token').fill('not the password');
    await ui.page.getByRole('button', { name: 'Sign in' }).click();
    await ui.page.getByRole('alert').filter({ hasText: 'The user name or password is wrong.' }).waitFor();
    await ui.screenshot('sign-in');
  });

  it('signs in as the admin and shows the registry', async () => {
    await ui.page.getByLabel('Password or access token').fill(PASSWORD);
    await ui.page.getByRole('button', { name: 'Sign in' }).click();
    await ui.page.getByRole('heading', { name: 'Push your first image' }).waitFor();
    await ui.page.getByText('Signed in as admin').waitFor();
    // Until now the browser was refused (401) and told the password was wrong (400): expected.
    assert.ok(ui.errors.every((e) => /status of (401|400)/.test(e)), ui.errors.join('\n'));
    ui.errors.length = 0;
  });

  it('gets live updates with its token: a push appears without a reload', async () => {
    await run('skopeo', ['copy', '--dest-tls-verify=false', '--dest-creds', `admin:${PASSWORD}`, `oci:${images.tiny.dir}:latest`, `docker://${berth.hostPort}/secured/tiny:v1`]);
    await ui.page.locator('tr[data-repository="secured/tiny"]').waitFor();
  });

  it('stays signed in across a reload of the tab', async () => {
    await ui.page.reload();
    await ui.page.locator('tr[data-repository="secured/tiny"]').waitFor();
    await ui.page.goto('/repositories/secured/tiny');
    await ui.page.locator('tr[data-tag="v1"]').waitFor();
  });

  it('signs out, and the session\'s refresh token no longer works anywhere', async () => {
    const stored = await ui.page.evaluate('sessionStorage.getItem("berth.session")') as string | null;
    const refreshToken = (JSON.parse(stored!) as { refreshToken: string }).refreshToken;
    assert.match(refreshToken, /^berth_rt_/);
    const revoked = ui.page.waitForResponse((r) => r.url().endsWith('/token/revoke'));
    await ui.page.getByRole('button', { name: 'Sign out' }).click();
    assert.equal((await revoked).status(), 200);
    await signInForm().waitFor();
    const reuse = await fetch(`${berth.url}/token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken, service: 'berth', client_id: 'berth-ui' }),
    });
    assert.equal(reuse.status, 400, 'revoked on the server, not only forgotten by the tab');
    await ui.page.reload();
    await signInForm().waitFor();
  });

  it('logged no errors in the browser while signed in', () => {
    assert.deepEqual(ui.errors.filter((e) => !/status of 401/.test(e)), []);
  });
});
