/**
 * The web UI as the desktop app runs it: a server that demands the window's per-launch token, and a
 * `window.berth` object with the shape of the preload's API (electron/shared/ipc.ts). Electron cannot
 * run here, so the page gets that object from an init script; what is tested is the renderer's side
 * of the contract: the token on every request and on the live stream, and the settings form.
 */
import assert from 'node:assert/strict';
import { validateSettings } from '../../electron/main/settings.ts';
import { after, before, describe, it } from 'node:test';
import type { DesktopSettings, SaveSettingsResult } from '../../electron/shared/ipc.ts';
import { builtUiDir } from '../../server/http/ui.ts';
import { pushImageWith } from '../helpers/api-client.ts';
import { openBrowser, settled, valueBecomes, type UiBrowser } from '../helpers/browser.ts';
import { Client } from '../helpers/registry-client.ts';
import { startServer, type TestServer } from '../helpers/server.ts';
import { skipUnless } from '../helpers/tools.ts';

const skip = skipUnless('chromium');
const TOKEN = 'per-launch-token-for-this-window';

describe('web UI inside the desktop app (Chromium)', { skip }, () => {
  let server: TestServer;
  let ui: UiBrowser;
  const saved: DesktopSettings[] = [];

  before(async () => {
    const uiDir = builtUiDir();
    assert.ok(uiDir, 'the web UI is built (npm run build)');
    server = await startServer({ managementToken: TOKEN, uiDir });
    ui = await openBrowser(server.url);
    await ui.page.exposeFunction('berthSaveSettings', (settings: DesktopSettings): SaveSettingsResult => {
      saved.push(settings);
      // Main's own validation (the server's rules, storage included), then what it answers for a
      // directory it cannot use.
      const checked = validateSettings(settings);
      if (!checked.ok) return { ok: false, errors: checked.errors };
      if (settings.dataDir === '/proc/nope') return { ok: false, errors: { dataDir: 'This folder cannot be written to.' } };
      return { ok: true, restarted: true, url: server.url };
    });
    // A string, not a function: the test runner's transpiler would add helpers the page does not have.
    await ui.page.addInitScript(`
      const settings = { port: 5000, bindAddress: 'loopback', dataDir: ${JSON.stringify(server.dataDir)}, tls: false, startAtLogin: false };
      const calls = [];
      window.berthCalls = calls;
      window.berth = {
        apiToken: ${JSON.stringify(TOKEN)},
        openDataFolder: async () => void calls.push('openDataFolder'),
        revealCaCertificate: async () => void calls.push('revealCaCertificate'),
        copyToClipboard: async (text) => void calls.push('copy:' + text),
        pickDirectory: async () => '/srv/berth-data',
        getSettings: async () => ({ ...settings }),
        saveSettings: (s) => window.berthSaveSettings(s),
      };
    `);
  });
  after(async () => {
    await ui?.close();
    await server?.close({ remove: true });
  });

  it('sends the token: pages load, and pushes arrive over the live stream', async () => {
    await ui.page.goto('/');
    await ui.page.getByRole('heading', { name: 'Push your first image' }).waitFor();
    await pushImageWith(new Client(server.url), 'desk/app', 'v1');
    await ui.page.locator('tr[data-repository="desk/app"]').waitFor();
  });

  it('copies through the desktop app’s clipboard', async () => {
    await ui.page.getByRole('button', { name: 'Copy registry address' }).click();
    // The click starts the copy; the page hands it to the desktop app's API in its own time.
    const expected = `copy:localhost:${new URL(server.url).port}`;
    await settled(() => ui.page.evaluate(() => (globalThis as unknown as { berthCalls: string[] }).berthCalls), (calls) => calls.includes(expected), expected);
  });

  it('edits settings: validation messages, the restart notice, and main’s own errors per field', async () => {
    await ui.page.goto('/settings');
    const port = ui.page.getByLabel('Port');
    await port.waitFor();
    assert.equal(await port.inputValue(), '5000');
    // The form checks as main does (electron/shared/settings-rules.ts), with main's words.
    await port.fill('0');
    await ui.page.getByText('Must be a fixed port from 1 to 65535 (0 would change at every start).').waitFor();
    assert.equal(await ui.page.getByRole('button', { name: 'Save and restart' }).isDisabled(), true);
    await port.fill('70000');
    await ui.page.getByText('Must be a whole number from 1 to 65535.').waitFor();
    assert.equal(await ui.page.getByRole('button', { name: 'Save and restart' }).isDisabled(), true);
    await port.fill('5001');
    await ui.page.getByText('Saving restarts the registry').waitFor();

    await ui.page.getByLabel('Data directory').fill('/proc/nope');
    await ui.page.getByRole('button', { name: 'Save and restart' }).click();
    await ui.page.getByText('This folder cannot be written to.').waitFor();

    await ui.page.getByRole('button', { name: 'Choose…' }).click();
    // The folder comes back from the desktop app's picker asynchronously.
    await valueBecomes(ui.page.getByLabel('Data directory'), '/srv/berth-data');
    await ui.page.getByRole('button', { name: 'Save and restart' }).click();
    await ui.page.getByText(`Saved. The registry restarted at ${server.url}`).waitFor();
    assert.deepEqual(saved.at(-1), { port: 5001, bindAddress: 'loopback', dataDir: '/srv/berth-data', tls: false, startAtLogin: false });
    await ui.screenshot('settings-desktop');
  });

  it('edits the storage: an S3 bucket, checked by the form and by main with the server’s rules', async () => {
    await ui.page.goto('/settings');
    const section = ui.page.getByTestId('storage-settings');
    await section.getByLabel('Amazon S3 or compatible').check();
    await section.getByText('Enter the bucket name.').waitFor();
    assert.equal(await ui.page.getByRole('button', { name: 'Save and restart' }).isDisabled(), true);
    await section.getByLabel('Bucket', { exact: true }).fill('Bad_Bucket');
    await section.getByLabel('Endpoint URL').fill('http://minio.local:9000');
    await ui.page.getByRole('button', { name: 'Save and restart' }).click();
    await section.getByText(/"Bad_Bucket" is not a valid bucket name/).waitFor();
    await section.getByLabel('Bucket', { exact: true }).fill('registry');
    await section.getByLabel('Prefix').fill('berth');
    await ui.page.getByRole('button', { name: 'Save and restart' }).click();
    await ui.page.getByText(`Saved. The registry restarted at ${server.url}`).waitFor();
    assert.deepEqual(
      saved.at(-1)?.storage && { driver: saved.at(-1)!.storage!.driver, bucket: saved.at(-1)!.storage!.bucket, endpoint: saved.at(-1)!.storage!.endpoint, prefix: saved.at(-1)!.storage!.prefix },
      { driver: 's3', bucket: 'registry', endpoint: 'http://minio.local:9000', prefix: 'berth' },
    );
    await ui.screenshot('settings-storage');
  });

  it('runs maintenance with the token: a collection preview and a scrub, and says how the schedule is set', async () => {
    await ui.page.goto('/disk-usage');
    await ui.page.getByRole('button', { name: 'Preview', exact: true }).click();
    await ui.page.getByTestId('gc-preview').waitFor();
    await ui.page.locator('li[data-task="scrub"]').getByRole('button', { name: 'Run scrub' }).click();
    await ui.page.getByTestId('scrub-clean').waitFor();
    await ui.page.getByText('The desktop app runs these with the defaults shown.').waitFor();
  });

  it('logged no errors in the browser', () => {
    assert.deepEqual(ui.errors, []);
  });
});
