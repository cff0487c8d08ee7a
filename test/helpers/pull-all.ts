/** Everything a client can pull from a registry, and byte-for-byte comparison of two such pulls. */
import assert from 'node:assert/strict';
import { Client, OCI_INDEX, OCI_MANIFEST, sha256 } from './registry-client.ts';

export interface Pulled {
  tags: Map<string, string[]>;
  /** repo:reference -> manifest bytes; digest -> blob bytes. */
  manifests: Map<string, Buffer>;
  blobs: Map<string, Buffer>;
}

/** Everything a client can pull: every tag of every repository, its manifest and every blob it names. */
export async function pullAll(url: string): Promise<Pulled> {
  const client = new Client(url);
  const out: Pulled = { tags: new Map(), manifests: new Map(), blobs: new Map() };
  const { repositories } = await client.catalog();
  for (const repo of repositories) {
    const { tags } = await client.listTags(repo);
    out.tags.set(repo, tags);
    for (const tag of tags) {
      const res = await client.getManifest(repo, tag, [OCI_MANIFEST, OCI_INDEX]);
      assert.equal(res.status, 200, `${repo}:${tag}`);
      const bytes = Buffer.from(await res.arrayBuffer());
      out.manifests.set(`${repo}:${tag}`, bytes);
      const parsed = JSON.parse(bytes.toString()) as { config?: { digest: string }; layers?: { digest: string }[] };
      for (const d of [parsed.config, ...(parsed.layers ?? [])]) {
        if (!d) continue;
        const blob = await client.getBlob(repo, d.digest);
        assert.equal(blob.status, 200, `${repo} ${d.digest}`);
        out.blobs.set(d.digest, Buffer.from(await blob.arrayBuffer()));
      }
    }
  }
  return out;
}

export function assertSame(a: Pulled, b: Pulled): void {
  assert.deepEqual([...b.tags.entries()].sort(), [...a.tags.entries()].sort());
  assert.equal(b.manifests.size, a.manifests.size);
  for (const [key, bytes] of a.manifests) assert.ok(b.manifests.get(key)?.equals(bytes), `manifest ${key} byte-identical`);
  assert.equal(b.blobs.size, a.blobs.size);
  for (const [digest, bytes] of a.blobs) {
    assert.ok(b.blobs.get(digest)?.equals(bytes), `blob ${digest} byte-identical`);
    assert.equal(sha256(bytes), digest);
  }
}
