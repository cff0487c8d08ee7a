/**
 * The web UI against `berth serve --tls`: the Docker setup page offers Berth's CA for download and
 * shows certs.d steps instead of insecure-registry entries, the self-test passes over HTTPS, and pull
 * commands need no --tls-verify=false. Chromium via playwright-core (told to accept the certificate:
 * its fresh profile does not trust Berth's CA).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fixtures } from '../fixtures/images.ts';
import { startBerth, type BerthProcess } from '../helpers/berth-process.ts';
import { openBrowser, textMatching, type UiBrowser } from '../helpers/browser.ts';
import { tempDir } from '../helpers/server.ts';
import { run, skipUnless } from '../helpers/tools.ts';

const skip = skipUnless('skopeo', 'chromium');

describe('web UI with TLS on (Chromium)', { skip }, () => {
  let berth: BerthProcess;
  let work: string;
  let ui: UiBrowser;

  before(async () => {
    work = await tempDir('berth-ui-tls-');
    berth = await startBerth({ dataDir: path.join(work, 'data'), args: ['--tls'], tls: true });
    ui = await openBrowser(berth.url, { ignoreHTTPSErrors: true });
  });
  after(async () => {
    await ui?.close();
    await berth?.stop();
    await fs.rm(work, { recursive: true, force: true });
  });

  it('offers Berth’s CA for download and shows where each engine wants it', async () => {
    await ui.page.goto('/setup');
    await ui.page.getByRole('heading', { name: 'Trust Berth’s certificate' }).waitFor();
    const [download] = await Promise.all([ui.page.waitForEvent('download'), ui.page.getByRole('button', { name: 'Download CA certificate' }).click()]);
    assert.equal(download.suggestedFilename(), 'berth-ca.crt');
    const saved = await fs.readFile((await download.path())!, 'utf8');
    assert.equal(saved, await fs.readFile(path.join(work, 'data', 'tls', 'ca.crt'), 'utf8'));
    await ui.page.getByRole('tab', { name: 'Podman', exact: true }).click();
    const panel = ui.page.getByRole('tabpanel');
    // Read once the panel shows Podman's steps (a click only starts the switch).
    await textMatching(panel.locator('pre').first(), new RegExp(`/etc/containers/certs\\.d/localhost:${berth.port}/ca\\.crt`));
    assert.doesNotMatch(await panel.innerText(), /insecure = true|tls-verify=false/);
    await ui.screenshot('setup-tls');
  });

  it('passes the self-test over HTTPS', async () => {
    await ui.page.getByRole('button', { name: 'Run self-test' }).click();
    await ui.page.getByTestId('self-test-result').filter({ hasText: 'All steps passed' }).waitFor();
  });

  it('gives pull commands that verify the certificate', async () => {
    const images = await fixtures();
    const ca = path.join(work, 'certs');
    await fs.mkdir(ca);
    await fs.copyFile(path.join(work, 'data', 'tls', 'ca.crt'), path.join(ca, 'ca.crt'));
    await run('skopeo', ['copy', '--dest-cert-dir', ca, `oci:${images.tiny.dir}:latest`, `docker://${berth.hostPort}/tls/tiny:v1`]);
    await ui.page.goto('/repositories/tls/tiny');
    await ui.page.locator('.commands pre').first().waitFor();
    const commands = await ui.page.locator('.commands pre').allInnerTexts();
    assert.deepEqual(commands, [
      `docker pull localhost:${berth.port}/tls/tiny:v1`,
      `podman pull localhost:${berth.port}/tls/tiny:v1`,
      `skopeo copy docker://localhost:${berth.port}/tls/tiny:v1 oci:tiny-v1`,
      `nerdctl pull localhost:${berth.port}/tls/tiny:v1`,
    ]);
  });

  it('logged no errors in the browser', () => {
    assert.deepEqual(ui.errors, []);
  });
});
