/**
 * The Users & tokens page end to end: Debian's Chromium (playwright-core) against `berth serve --auth
 * token`, signed in as the admin. A user is created with permissions, a robot token is created and its
 * secret copied once, a real login with it (skopeo login) shows as its last use, and once revoked the
 * same login is refused. With auth off the page says that users apply only once auth is on.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startBerth, type BerthProcess } from '../helpers/berth-process.ts';
import { expectRefusal, openBrowser, settled, textMatching, type UiBrowser } from '../helpers/browser.ts';
import { tempDir } from '../helpers/server.ts';
import { run, skipUnless } from '../helpers/tools.ts';

const skip = skipUnless('skopeo', 'chromium');
const PASSWORD = 'a-password-for-the-users-test';

describe('Users & tokens page with registry auth on (Chromium)', { skip }, () => {
  let berth: BerthProcess;
  let work: string;
  let ui: UiBrowser;

  before(async () => {
    work = await tempDir('berth-ui-users-');
    berth = await startBerth({ dataDir: path.join(work, 'data'), args: ['--auth', 'token'], env: { BERTH_ADMIN_PASSWORD: PASSWORD } });
    ui = await openBrowser(berth.url);
    await ui.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: berth.url });
  });
  after(async () => {
    await ui?.close();
    await berth?.stop();
    await fs.rm(work, { recursive: true, force: true });
  });

  /** `skopeo login` with its own auth file (never the user's): resolves to its exit status and output. */
  async function skopeoLogin(user: string, secret: string): Promise<{ ok: boolean; output: string }> {
    try {
      const output = await run('skopeo', ['login', '--tls-verify=false', '--authfile', path.join(work, 'auth.json'), '-u', user, '-p', secret, berth.hostPort]);
      return { ok: true, output };
    } catch (err) {
      return { ok: false, output: (err as Error).message };
    }
  }


  // A string: the test runner's types know no navigator (the page has one).
  const clipboard = () => ui.page.evaluate<string>('navigator.clipboard.readText()');

  it('signs in and lists the admin', async () => {
    await ui.page.goto('/');
    await ui.page.getByLabel('Password or access token').fill(PASSWORD);
    await ui.page.getByRole('button', { name: 'Sign in' }).click();
    await ui.page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Users & tokens' }).click();
    const admin = ui.page.locator('[data-testid="users"] tr[data-user="admin"]');
    await admin.getByText('admin', { exact: true }).last().waitFor();
    assert.match(await admin.innerText(), /\*: admin/);
    assert.equal(await ui.page.getByTestId('auth-off').count(), 0, 'auth is on: no notice');
  });

  it('creates a user with permissions, refusing a bad name next to its field, and shows the generated password once', async () => {
    await ui.page.getByRole('button', { name: 'Add user' }).click();
    const form = ui.page.getByRole('form', { name: 'New user' });
    const name = form.getByLabel('User name');
    await name.fill('Not a name!');
    await form.getByLabel('Repositories of permission 1').fill('team/*');
    await form.locator('[data-permission="0"]').getByLabel('Push').check();
    await form.getByRole('button', { name: 'Add user' }).click();
    const error = form.getByRole('alert').filter({ hasText: /is not a valid name: a user name is 1-64 letters/ });
    await error.waitFor();
    assert.equal(await name.getAttribute('aria-invalid'), 'true');
    assert.match((await name.getAttribute('aria-describedby'))!, new RegExp(`\\b${await error.getAttribute('id')}\\b`));
    expectRefusal(ui, `${berth.url}/api/users`);
    await ui.screenshot('users-error');

    await name.fill('alice');
    await form.getByRole('button', { name: 'Add user' }).click();
    const secret = ui.page.getByTestId('secret-once');
    await secret.getByText('Password of alice').waitFor();
    const password = (await secret.locator('[data-secret]').innerText()).trim();
    assert.match(password, /^[A-Za-z0-9]{24}$/);
    const row = ui.page.locator('[data-testid="users"] tr[data-user="alice"]');
    await row.waitFor();
    assert.match(await row.innerText(), /team\/\*: pull, push/);
    const login = await fetch(`${berth.url}/token?service=berth&scope=repository:team/app:push`, { headers: { Authorization: `Basic ${Buffer.from(`alice:${password}`).toString('base64')}` } });
    assert.equal(login.status, 200, 'the user logs in with the password shown');
    await secret.getByRole('button', { name: 'I have copied it' }).click();
    await secret.waitFor({ state: 'detached' });
  });

  let tokenSecret = '';

  it('creates a robot token, refusing a permission without a pattern next to its row, and copies its secret once', async () => {
    await ui.page.getByRole('button', { name: 'Create token' }).click();
    const form = ui.page.getByRole('form', { name: 'New token' });
    await form.getByLabel('Robot account', { exact: true }).fill('ci');
    await form.getByLabel('Token name').fill('pipeline');
    await form.getByRole('button', { name: 'Create token' }).click();
    // The new robot's permission row is empty: the server names permissions.0.repository.
    const pattern = form.getByLabel('Repositories of permission 1');
    await form.getByRole('alert').filter({ hasText: /^Permission 1 needs a repository pattern, such as team\/\*/ }).waitFor();
    assert.equal(await pattern.getAttribute('aria-invalid'), 'true');
    expectRefusal(ui, `${berth.url}/api/tokens`);

    await pattern.fill('ci/*');
    await form.getByRole('button', { name: 'Create token' }).click();
    const secret = ui.page.getByTestId('secret-once');
    await secret.getByText('Token pipeline for ci').waitFor();
    tokenSecret = (await secret.locator('[data-secret]').innerText()).trim();
    assert.match(tokenSecret, /^berth_pat_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    await secret.getByRole('button', { name: 'Copy the token for ci' }).click();
    assert.equal(await clipboard(), tokenSecret, 'the copy button copies the secret');
    await settled(() => ui.page.locator('.toast').count(), (n) => n === 0, 'the toasts to fade'); // a clean picture for the README
    await ui.screenshot('users');

    await secret.getByRole('button', { name: 'I have copied it' }).click();
    await secret.waitFor({ state: 'detached' });
    assert.ok(!(await ui.page.content()).includes(tokenSecret), 'the secret is gone from the page');
    const row = ui.page.locator('[data-testid="tokens"] tr[data-label="pipeline"]');
    assert.equal(await row.getAttribute('data-kind'), 'robot');
    assert.equal((await row.locator('[data-field="last-used"]').innerText()).trim(), 'never');
    await ui.page.reload();
    await row.waitFor();
    assert.ok(!(await ui.page.content()).includes(tokenSecret), 'nor shown again after a reload');
  });

  it('shows when the token was last used after a real login with it', async () => {
    const login = await skopeoLogin('ci', tokenSecret);
    assert.ok(login.ok, login.output);
    const row = ui.page.locator('[data-testid="tokens"] tr[data-label="pipeline"]');
    await ui.page.getByRole('button', { name: 'Refresh' }).click();
    await textMatching(row.locator('[data-field="last-used"]'), /^just now$/);
  });

  it('revokes the token: gone from the list, and the same login is refused', async () => {
    await ui.page.getByRole('button', { name: 'Revoke pipeline of ci' }).click();
    await ui.page.getByRole('dialog', { name: 'Revoke pipeline?' }).getByRole('button', { name: 'Revoke' }).click();
    await ui.page.locator('[data-testid="tokens"] tr[data-label="pipeline"]').waitFor({ state: 'detached' });
    const refused = await skopeoLogin('ci', tokenSecret);
    assert.equal(refused.ok, false, 'a revoked token no longer logs in');
    assert.match(refused.output, /401|unauthorized|invalid username\/password/i);
  });

  it('logged no errors in the browser', () => {
    // Before signing in the browser was refused (401): expected; nothing else.
    assert.deepEqual(ui.errors.filter((e) => !/status of 401/.test(e)), []);
  });
});

describe('Users & tokens page with registry auth off (Chromium)', { skip: skipUnless('chromium') }, () => {
  let berth: BerthProcess;
  let work: string;
  let ui: UiBrowser;

  before(async () => {
    work = await tempDir('berth-ui-users-off-');
    berth = await startBerth({ dataDir: path.join(work, 'data') });
    ui = await openBrowser(berth.url);
  });
  after(async () => {
    await ui?.close();
    await berth?.stop();
    await fs.rm(work, { recursive: true, force: true });
  });

  it('explains that users apply only once authentication is on, and still prepares them', async () => {
    await ui.page.goto('/users');
    await textMatching(ui.page.getByTestId('auth-off'), /Registry authentication is off\..*They apply once authentication is on/s);
    await ui.page.getByRole('heading', { name: 'No users yet' }).waitFor();
    await ui.screenshot('users-auth-off');
    await ui.page.getByRole('button', { name: 'Add user' }).click();
    const form = ui.page.getByRole('form', { name: 'New user' });
    await form.getByLabel('User name').fill('prepared');
    await form.getByRole('button', { name: 'Add user' }).click();
    await ui.page.locator('[data-testid="users"] tr[data-user="prepared"]').waitFor();
    assert.deepEqual(ui.errors, []);
  });
});
