/**
 * kill -9 during garbage collection, then restart on the same data directory: the registry is
 * consistent — every tag pulls, the scrub is clean — and the next collection finishes the job.
 * The shipped `berth serve` is killed once in each sweeping step (untagged manifests, layer links,
 * blobs). The garbage is written in the documented layout (storage/paths.ts) while the server is
 * stopped, so there is enough of it for each step to take a while.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import type { RunJson } from '../../server/registry/maintenance.ts';
import { startBerth, type BerthProcess } from '../helpers/berth-process.ts';
import { HOUR_MS, age, apiCall, assertEveryTagPulls, blobFiles, runGc, runScrub } from '../helpers/lifecycle.ts';
import { Client, OCI_CONFIG, OCI_LAYER, OCI_MANIFEST, descriptor, imageManifest } from '../helpers/registry-client.ts';
import { tempDir } from '../helpers/server.ts';

const JUNK_REPOSITORIES = 6;
const ORPHANS_PER_REPOSITORY = 250;
const UNTAGGED_PER_REPOSITORY = 60;

function sha256hex(bytes: string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

async function writeBlob(dataDir: string, content: string): Promise<string> {
  const hex = sha256hex(content);
  const file = path.join(dataDir, 'blobs', 'sha256', hex.slice(0, 2), hex);
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.writeFile(file, content);
  return hex;
}

async function writeLink(dataDir: string, repo: string, kind: '_layers' | '_manifests/revisions', hex: string, content = ''): Promise<void> {
  const file = path.join(dataDir, 'repositories', ...repo.split('/'), ...kind.split('/'), 'sha256', hex);
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.writeFile(file, content);
}

/** What failed pushes and deleted images leave behind: orphan layers and untagged manifests. */
async function writeJunk(dataDir: string): Promise<Set<string>> {
  const junk = new Set<string>();
  for (let r = 0; r < JUNK_REPOSITORIES; r++) {
    const repo = `junk/r${r}`;
    for (let i = 0; i < ORPHANS_PER_REPOSITORY; i++) {
      const hex = await writeBlob(dataDir, `orphan layer ${r}/${i}`);
      await writeLink(dataDir, repo, '_layers', hex);
      junk.add(`sha256:${hex}`);
    }
    for (let i = 0; i < UNTAGGED_PER_REPOSITORY; i++) {
      const config = JSON.stringify({ architecture: 'amd64', os: 'linux', junk: `${r}/${i}` });
      const layer = `untagged layer ${r}/${i}`;
      const manifest = imageManifest(descriptor(OCI_CONFIG, config), [descriptor(OCI_LAYER, layer)]);
      for (const content of [config, layer]) {
        const hex = await writeBlob(dataDir, content);
        await writeLink(dataDir, repo, '_layers', hex);
        junk.add(`sha256:${hex}`);
      }
      const hex = await writeBlob(dataDir, manifest);
      await writeLink(dataDir, repo, '_manifests/revisions', hex, `${OCI_MANIFEST}\n`);
      junk.add(`sha256:${hex}`);
    }
  }
  return junk;
}

describe('kill -9 during garbage collection', { timeout: 300_000 }, () => {
  let work: string;
  let berth: BerthProcess | undefined;
  after(async () => {
    await berth?.kill9();
    if (work) await fs.rm(work, { recursive: true, force: true });
  });

  it('leaves a consistent registry after a crash in every step of the sweep', async () => {
    work = await tempDir('berth-gc-crash-');
    const dataDir = path.join(work, 'data');
    berth = await startBerth({ dataDir });
    let client = new Client(berth.url);
    // Images that must survive, sharing layers with each other.
    for (let i = 0; i < 4; i++) {
      await client.pushImage(`keep/app${i % 2}`, `v${i}`, { layer: `kept layer ${i % 3}` });
    }
    assert.equal(await berth.stop(), 0);
    const junk = await writeJunk(dataDir);
    await age(dataDir, 2 * HOUR_MS);

    for (const phase of ['removing untagged manifests', 'removing unused layer links', 'deleting blobs']) {
      berth = await startBerth({ dataDir });
      client = new Client(berth.url);
      const started = await apiCall(client, 'POST', '/api/gc', { untagged: true });
      assert.equal(started.status, 202);
      const location = started.headers.get('location')!;
      let run: RunJson;
      for (;;) {
        run = (await (await client.fetch(location)).json()) as RunJson;
        if (run.state !== 'queued' && run.state !== 'running') break;
        if (run.progress?.phase === phase && run.progress.done > 0) break;
        await new Promise((r) => setTimeout(r, 5));
      }
      assert.equal(run.state, 'running', `still running in "${phase}" when killed (reached ${run.progress?.phase ?? run.state})`);
      await berth.kill9();

      berth = await startBerth({ dataDir });
      client = new Client(berth.url);
      assert.equal(await assertEveryTagPulls(client), 4, `after a crash in "${phase}" every tag pulls`);
      const scrub = await runScrub(client);
      assert.deepEqual({ corrupt: scrub.corrupt, missing: scrub.missing }, { corrupt: [], missing: [] }, `scrub is clean after a crash in "${phase}"`);
      const runs = (await (await client.fetch('/api/runs?kind=gc')).json()) as { runs: RunJson[] };
      assert.equal(runs.runs[0]!.state, 'interrupted', 'the killed run is recorded as interrupted');
      assert.equal(await berth.stop(), 0);
    }

    berth = await startBerth({ dataDir });
    client = new Client(berth.url);
    await runGc(client, { untagged: true });
    const left = await blobFiles(dataDir);
    assert.deepEqual([...junk].filter((d) => left.has(d)), [], 'the next collection finished the job');
    assert.equal(await assertEveryTagPulls(client), 4);
    assert.equal((await runScrub(client)).clean, true);
    assert.deepEqual((await client.catalog()).repositories, ['keep/app0', 'keep/app1'], 'the emptied repositories are gone');
  });
});
