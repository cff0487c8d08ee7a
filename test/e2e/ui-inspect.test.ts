/**
 * Inside images in the web UI (issue 15), in Debian's Chromium against `berth serve`: browse the file
 * tree from the image page, open a file, compare two images, read an attached SBOM and verify a
 * cosign signature, see the SBOM and provenance BuildKit put in an image index. Screenshots go to test-results/screenshots/ (the README's come from here).
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { layer, pushImage, whiteoutImage } from '../fixtures/layers.ts';
import { startBerth, type BerthProcess } from '../helpers/berth-process.ts';
import { openBrowser, type UiBrowser } from '../helpers/browser.ts';
import { Client } from '../helpers/registry-client.ts';
import { tempDir } from '../helpers/server.ts';
import { skipUnless } from '../helpers/tools.ts';
import { CYCLONEDX_DOC, SPDX_DOC, cosignSignature, pushArtifact, pushBuildxIndex } from '../fixtures/artifacts.ts';

describe('inside images in the web UI (Chromium)', { skip: skipUnless('chromium') }, () => {
  let berth: BerthProcess;
  let work: string;
  let ui: UiBrowser;
  let digest: string;
  const keys = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });

  before(async () => {
    work = await tempDir('berth-ui-inspect-');
    berth = await startBerth({ dataDir: path.join(work, 'data') });
    const registry = new Client(berth.url);
    const v1 = await whiteoutImage();
    digest = await pushImage(registry, 'shop/web', 'v1', { ...v1, config: { Env: ['PATH=/usr/bin:/bin', 'MODE=dev'], Cmd: ['/bin/tool'], User: 'app' } });
    const extra = await layer([{ name: 'srv/', type: 'directory' }, { name: 'srv/new.txt', content: 'new in v2\n' }, { name: 'etc/', type: 'directory' }, { name: 'etc/.wh.os-release' }]);
    await pushImage(registry, 'shop/web', 'v2', { layers: [...v1.layers, extra], config: { Env: ['PATH=/usr/bin:/bin', 'MODE=prod'], Cmd: ['/bin/tool'], User: 'app' } });
    const size = (await (await registry.getManifest('shop/web', digest)).arrayBuffer()).byteLength;
    await pushArtifact(registry, 'shop/web', { subject: { digest, size }, artifactType: 'application/spdx+json', layers: [{ mediaType: 'application/spdx+json', bytes: Buffer.from(JSON.stringify(SPDX_DOC)) }] });
    await pushArtifact(registry, 'shop/web', { tag: `sha256-${digest.slice(7)}.sbom`, layers: [{ mediaType: 'application/vnd.cyclonedx+json', bytes: Buffer.from(JSON.stringify(CYCLONEDX_DOC)) }] });
    const { payload, signature } = cosignSignature(digest, 'localhost/shop/web', keys.privateKey);
    await pushArtifact(registry, 'shop/web', { tag: `sha256-${digest.slice(7)}.sig`, layers: [{ mediaType: 'application/vnd.dev.cosign.simplesigning.v1+json', bytes: payload, annotations: { 'dev.cosignproject.cosign/signature': signature } }] });
    ui = await openBrowser(berth.url);
  });
  after(async () => {
    await ui?.close();
    await berth?.stop();
    await fs.rm(work, { recursive: true, force: true });
  });

  it('browses the file tree from the image page and opens a file', async () => {
    const { page } = ui;
    await page.goto('/repositories/shop/web/-/manifests/v1');
    await page.getByRole('link', { name: 'Browse files' }).click();
    const table = page.getByTestId('fs-table');
    await table.getByRole('button', { name: 'etc/' }).click();
    await table.getByRole('button', { name: 'os-release' }).click();
    await assert.doesNotReject(page.getByTestId('file-view').getByText('VERSION=2').waitFor());
    assert.match(await page.getByTestId('fs-wasted').innerText(), /15\.0 kB|15 kB/);
    await page.getByTestId('fs-breadcrumbs').getByRole('button', { name: '/', exact: true }).click();
    await table.getByRole('button', { name: 'app/' }).click();
    await table.getByRole('button', { name: 'cache/' }).click();
    await table.getByRole('button', { name: 'fresh.txt' }).waitFor();
    await table.getByRole('button', { name: 'keep.txt' }).waitFor({ state: 'detached' });
    assert.deepEqual(await table.locator('tbody tr').count(), 1, 'only fresh.txt: the opaque directory hid the rest');
    await page.getByRole('textbox', { name: 'Search paths' }).fill('long-file');
    await page.getByRole('textbox', { name: 'Search paths' }).press('Enter');
    await table.getByRole('button', { name: /a-very-long-file-name/ }).click();
    await page.getByTestId('file-view').getByText('long name').waitFor();
    await page.getByRole('textbox', { name: 'Search paths' }).fill('');
    await page.getByRole('button', { name: 'Clear' }).click();
    await page.getByTestId('fs-breadcrumbs').getByRole('button', { name: '/', exact: true }).click();
    await table.getByRole('button', { name: 'bin/' }).click();
    await table.getByRole('button', { name: 'tool', exact: true }).click();
    await page.getByTestId('file-view').getByText('ELF executable or library').waitFor();
    const download = page.waitForEvent('download');
    await page.getByTestId('file-view').getByRole('button', { name: 'Download' }).click();
    const saved = await (await download).path();
    assert.deepEqual([...await fs.readFile(saved!)], [0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0, 0, 0]);
    await ui.screenshot('image-files');
  });

  it('compares two images', async () => {
    const { page } = ui;
    await page.goto('/repositories/shop/web/-/manifests/v1/files');
    await page.getByRole('link', { name: 'Compare with…' }).click();
    await page.getByRole('textbox', { name: 'To image' }).fill('shop/web:v2');
    await page.getByRole('button', { name: 'Compare' }).click();
    const files = page.getByTestId('diff-files');
    await files.getByText('/srv/new.txt').waitFor();
    await files.getByText('/etc/os-release').waitFor();
    assert.equal(await page.getByTestId('diff-added').innerText().then((t) => /\b2\b/.test(t)), true, 'srv/ and srv/new.txt');
    await page.getByTestId('diff-config').getByText('env.MODE').waitFor();
    await ui.screenshot('image-diff');
  });

  it('lists the attached SBOMs and signature, searches packages and verifies the signature', async () => {
    const { page } = ui;
    await page.goto('/repositories/shop/web/-/manifests/v1');
    await page.getByRole('link', { name: 'Signatures & SBOMs' }).click();
    assert.match(await page.getByTestId('count-sboms').innerText(), /2/);
    await page.getByRole('button', { name: /SPDX SBOM: 3 packages/ }).click();
    const packages = page.getByTestId('sbom-packages');
    await packages.getByText('openssl', { exact: true }).waitFor();
    await page.getByRole('textbox', { name: 'Search packages' }).fill('busy');
    assert.equal(await packages.locator('tbody tr').count(), 1);
    await page.getByRole('textbox', { name: 'Search packages' }).fill('');
    await page.getByRole('textbox', { name: 'Public key' }).fill(keys.publicKey.export({ type: 'spki', format: 'pem' }).toString());
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.getByTestId('verify-result').getByText('Verified', { exact: true }).waitFor();
    await ui.screenshot('image-sbom');
  });

  it('shows the SBOM and provenance attestations BuildKit keeps in a multi-platform index', async () => {
    const { page } = ui;
    const registry = new Client(berth.url);
    const images = [];
    for (const architecture of ['amd64', 'arm64']) {
      const platform = { os: 'linux', architecture };
      const d = await pushImage(registry, 'shop/multi', `only-${architecture}`, { platform, layers: [await layer([{ name: 'arch', content: `${architecture}\n` }])] });
      images.push({ digest: d, size: (await (await registry.getManifest('shop/multi', d)).arrayBuffer()).byteLength, platform });
    }
    await pushBuildxIndex(registry, 'shop/multi', 'v1', images);
    await page.goto('/repositories/shop/multi/-/manifests/v1/artifacts');
    const table = page.getByTestId('artifacts');
    await table.getByText('for linux/arm64').waitFor();
    assert.equal(await table.getByText('image index (BuildKit)').count(), 2);
    assert.match(await table.getByTestId('provenance').first().innerText(), /built by https:\/\/github\.com\/docker\/buildx/);
    await page.getByRole('button', { name: /SPDX SBOM: 3 packages \(sbom-arm64\)/ }).click();
    await page.getByTestId('sbom-packages').getByText('busybox', { exact: true }).waitFor();
  });

  it('shows what is attached before deleting a tag', async () => {
    const { page } = ui;
    await page.goto('/repositories/shop/web');
    await page.getByRole('button', { name: 'Delete tag v1', exact: true }).click();
    await page.getByTestId('delete-attached').getByText(/Attached to it/).waitFor();
    assert.match(await page.getByTestId('delete-attached').innerText(), /signature[\s\S]*sbom \(spdx\)|sbom \(spdx\)[\s\S]*signature/);
    await page.keyboard.press('Escape');
    assert.deepEqual(ui.errors, []);
  });
});
