/**
 * The caches of a cluster's replicas (storage/cache.ts): entries age from when the store was asked, and
 * a write that removed or moved something is answered only once every older entry has expired.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { cacheClock, entryCache, StoreChanges } from '../../server/storage/cache.ts';

describe('cluster caches', () => {
  it('an entry ages from when the store was asked, not from when the answer came', async () => {
    const cache = entryCache<string>(10, 1000);
    cache.set('old', 'seen long ago', cacheClock() - 1000);
    assert.equal(cache.get('old'), undefined, 'an answer older than the TTL is not kept');
    cache.set('young', 'seen just now');
    assert.equal(cache.get('young'), 'seen just now');
    const seen = cacheClock() - 950;
    cache.set('ageing', 'seen 950 ms ago', seen);
    // Expires once its TTL from then has passed (waiting for the condition, bounded).
    while (cache.has('ageing')) {
      assert.ok(cacheClock() - seen < 5_000, 'expired within its TTL');
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.ok(cacheClock() >= seen + 1000, 'not before');
  });

  it('without a TTL (one server) entries stay until removed or evicted', () => {
    const cache = entryCache<string>(2);
    cache.set('a', '1', cacheClock() - 10_000_000);
    assert.equal(cache.get('a'), '1');
    cache.set('b', '2');
    cache.set('c', '3');
    assert.deepEqual([...cache.keys()].sort(), ['b', 'c'], 'least recently used evicted');
  });

  it('a request that changed nothing cached is answered at once; one that removed something waits out the TTL', async () => {
    const changes = new StoreChanges(300);
    let since = changes.now();
    let started = cacheClock();
    await changes.settled(since);
    assert.ok(cacheClock() - started < 100, 'no change: no wait');

    since = changes.now();
    changes.changed();
    started = cacheClock();
    await changes.settled(since);
    assert.ok(cacheClock() - started >= 290, 'waited until entries seen before the removal expired');

    // A change made before the request began is not its to wait for (it waited itself).
    since = changes.now();
    started = cacheClock();
    await changes.settled(since);
    assert.ok(cacheClock() - started < 100);
  });
});
