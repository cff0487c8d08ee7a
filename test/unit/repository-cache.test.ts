/**
 * The repository store's caches (storage/repository-store.ts) against a lookup that is still reading
 * the store while a write finishes: what it read is returned, but not kept, or the cache would answer
 * with the old state until the entry is evicted. Made deterministic by holding the lookup's read.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import { after, describe, it } from 'node:test';
import { digestOf } from '../../server/registry/digester.ts';
import { FilesystemDriver } from '../../server/storage/driver/filesystem.ts';
import type { StoredContent } from '../../server/storage/driver/driver.ts';
import { StoragePaths, keys } from '../../server/storage/paths.ts';
import { DriverRepositoryStore } from '../../server/storage/repository-store.ts';
import { tempDir } from '../helpers/server.ts';

/** A filesystem driver that can hold one getContent() of a key after it has read the content. */
class HeldReads extends FilesystemDriver {
  private held: { key: string; reached: () => void; release: Promise<void> } | null = null;

  /** Holds the next read of `key` once it has its content; resolves `reached` then, and returns the release. */
  hold(key: string): { reached: Promise<void>; release: () => void } {
    let reached!: () => void;
    let release!: () => void;
    const reachedP = new Promise<void>((resolve) => (reached = resolve));
    const releaseP = new Promise<void>((resolve) => (release = resolve));
    this.held = { key, reached, release: releaseP };
    return { reached: reachedP, release };
  }

  override async getContent(key: string, maxBytes?: number): Promise<StoredContent | null> {
    const content = await super.getContent(key, maxBytes);
    const held = this.held;
    if (held && held.key === key) {
      this.held = null;
      held.reached();
      await held.release;
    }
    return content;
  }
}

describe('repository store caches', () => {
  const dirs: string[] = [];
  after(async () => {
    for (const dir of dirs) await fs.rm(dir, { recursive: true, force: true });
  });

  it('does not keep the digest a tag lookup read while a push moved the tag', async () => {
    const dataDir = await tempDir('berth-repo-cache-');
    dirs.push(dataDir);
    await fs.mkdir(new StoragePaths(dataDir).tmpDir, { recursive: true });
    const before = digestOf(Buffer.from('the image before'));
    const pushed = digestOf(Buffer.from('the image pushed'));
    await new DriverRepositoryStore(new FilesystemDriver(dataDir)).putTag('app', 'latest', before);

    // A store that has not seen the tag yet: a pull looks it up while a push moves it.
    const driver = new HeldReads(dataDir);
    const store = new DriverRepositoryStore(driver);
    const { reached, release } = driver.hold(keys.tag('app', 'latest'));
    const lookup = store.resolveTag('app', 'latest');
    await reached;
    await store.putTag('app', 'latest', pushed);
    release();
    assert.equal((await lookup)?.value, before.value, 'the lookup read the tag before it moved');
    assert.equal((await store.resolveTag('app', 'latest'))?.value, pushed.value, 'the next lookup sees the push');
    assert.ok(store.generation > 0, 'a tag written changes the generation answers from memory are checked against');
  });

  it('moves a repository\'s generation for its own changes only', async () => {
    const dataDir = await tempDir('berth-repo-cache-');
    dirs.push(dataDir);
    await fs.mkdir(new StoragePaths(dataDir).tmpDir, { recursive: true });
    const store = new DriverRepositoryStore(new FilesystemDriver(dataDir));
    const digest = digestOf(Buffer.from('an image'));
    const [app, other] = [store.generationOf('team/app'), store.generationOf('team/other')];
    const all = store.generation;
    await store.putTag('team/app', 'v1', digest);
    assert.equal(store.generationOf('team/app'), app + 1, 'a tag written');
    assert.equal(store.generationOf('team/other'), other, 'another repository: unchanged');
    await store.deleteTag('team/app', 'v1');
    await store.removeRepository('team/app');
    assert.equal(store.generationOf('team/app'), app + 3, 'a tag deleted, the repository removed');
    assert.equal(store.generationOf('team/other'), other);
    assert.equal(store.generation, all + 3, 'the store\'s generation moves with every change');
  });
});
