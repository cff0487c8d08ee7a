/**
 * The README's hot-reload UI: `npx berth serve` and, beside it, `npx vite`, whose dev server serves
 * renderer/ and forwards the API to Berth (vite.config.ts). Loaded in Chromium, the page must show the
 * registry's data, not a blank page (the proxy's '/api' prefix once caught the module /api.ts).
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ROOT, freePort, startBerth, type BerthProcess } from '../helpers/berth-process.ts';
import { openBrowser, type UiBrowser } from '../helpers/browser.ts';
import { tempDir } from '../helpers/server.ts';
import { skipUnless } from '../helpers/tools.ts';

const skip = skipUnless('chromium');

describe('the UI under `npx vite`', { skip, timeout: 180_000 }, () => {
  let work: string;
  let berth: BerthProcess;
  let vite: ChildProcess;
  let viteUrl: string;
  let ui: UiBrowser;
  let viteOutput = '';

  before(async () => {
    work = await tempDir('berth-vite-');
    berth = await startBerth({ dataDir: path.join(work, 'data') });
    const port = await freePort();
    viteUrl = `http://127.0.0.1:${port}`;
    vite = spawn(process.execPath, [path.join(ROOT, 'node_modules', 'vite', 'bin', 'vite.js'), '--port', String(port), '--strictPort', '--host', '127.0.0.1'], {
      cwd: ROOT,
      env: { ...process.env, BERTH_DEV_SERVER: berth.url },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    vite.stdout!.on('data', (d) => (viteOutput += d));
    vite.stderr!.on('data', (d) => (viteOutput += d));
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (vite.exitCode !== null) throw new Error(`vite exited: ${viteOutput}`);
      const up = await fetch(viteUrl).then((r) => r.ok, () => false);
      if (up) break;
      if (Date.now() > deadline) throw new Error(`vite did not answer: ${viteOutput}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    ui = await openBrowser(viteUrl);
  });
  after(async () => {
    await ui?.close();
    if (vite && vite.exitCode === null) {
      const exited = new Promise((resolve) => vite.once('exit', resolve));
      vite.kill('SIGTERM');
      await exited;
    }
    await berth?.stop();
    await fs.rm(work, { recursive: true, force: true });
  });

  it('serves the UI module /api.ts itself, and forwards /api/ to Berth', async () => {
    const module = await fetch(`${viteUrl}/api.ts`);
    assert.equal(module.status, 200);
    assert.match(module.headers.get('content-type') ?? '', /javascript/);
    const status = await fetch(`${viteUrl}/api/status`, { headers: { 'X-Berth-Client': 'tests' } });
    assert.equal(status.status, 200);
    assert.equal(((await status.json()) as { url: string }).url, berth.url);
  });

  it('shows the registry in Chromium, live', async () => {
    await ui.page.goto('/');
    await ui.page.getByRole('heading', { name: 'Push your first image' }).waitFor();
    await ui.page.locator('.live').filter({ hasText: 'Live' }).waitFor();
    assert.match(await ui.page.locator('.sidebar-footer').innerText(), new RegExp(`localhost:${berth.port}`));
    await ui.screenshot('vite-dev');
    assert.deepEqual(ui.errors, []);
  });
});
