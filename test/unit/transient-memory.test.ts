/**
 * Received upload bytes ask for a minor GC every few MiB, through whatever `gc` the runtime exposes
 * (server/storage/transient-memory.ts); the effect on memory is measured by bench/ (docs/benchmarks.md).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { FILL_RELEASE_EVERY, releaseTransient } from '../../server/storage/transient-memory.ts';

describe('transient upload memory', () => {
  it('asks for one minor GC per 4 MiB received (per 2 MiB for a fill), and none without a gc function', () => {
    const original = globalThis.gc;
    const calls: unknown[] = [];
    try {
      globalThis.gc = ((options: unknown) => void calls.push(options)) as typeof globalThis.gc;
      for (let i = 0; i < 64 * 3; i++) releaseTransient(64 * 1024); // 12 MiB in 64 KiB chunks
      assert.deepEqual(calls, [{ type: 'minor' }, { type: 'minor' }, { type: 'minor' }]);
      calls.length = 0;
      for (let i = 0; i < 32 * 3; i++) releaseTransient(64 * 1024, FILL_RELEASE_EVERY); // a fill's 6 MiB
      assert.deepEqual(calls, [{ type: 'minor' }, { type: 'minor' }, { type: 'minor' }], 'a fill asks every 2 MiB');
      globalThis.gc = undefined;
      for (let i = 0; i < 64 * 3; i++) releaseTransient(64 * 1024); // and without one, nothing breaks
    } finally {
      globalThis.gc = original;
    }
  });

  it('tuneHeap exposes the runtime gc in a process started without --expose-gc (the desktop app) and sets the heap growth', () => {
    const module = new URL('../../server/storage/transient-memory.ts', import.meta.url).href;
    const script = `
      import { tuneHeap } from '${module}';
      const before = typeof globalThis.gc;
      tuneHeap();
      globalThis.gc({ type: 'minor' });
      console.log(before, typeof globalThis.gc);`;
    const run = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', cwd: new URL('../..', import.meta.url) });
    assert.equal(run.status, 0, run.stderr);
    assert.equal(run.stdout.trim(), 'undefined function');
    assert.equal(run.stderr, '', 'V8 took the flags without a word');
  });
});
