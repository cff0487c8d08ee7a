/** Upload progress and rates (server/registry/upload-monitor.ts), on a fake clock. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ABANDONED_AFTER_MS, UploadMonitor } from '../../server/registry/upload-monitor.ts';
import type { ActiveUpload } from '../../server/registry/uploads.ts';

describe('UploadMonitor', () => {
  it('measures the rate over the last seconds from successive samples', () => {
    let now = 1_000_000;
    const upload: ActiveUpload = { id: 'u1', repository: 'r', size: 0, startedAt: new Date(now), receiving: true };
    const monitor = new UploadMonitor({ activeUploads: () => [upload] }, () => now);
    monitor.snapshot();
    now += 1000;
    upload.size = 2_000_000;
    assert.equal(monitor.snapshot()[0]!.rate, 2_000_000);
    now += 1000;
    upload.size = 3_000_000;
    assert.equal(monitor.snapshot()[0]!.rate, 1_500_000, '3 MB over 2 s');
    assert.equal(monitor.snapshot()[0]!.bytes, 3_000_000);
  });

  it('leaves out sessions idle for an hour (a client that went away)', () => {
    let now = 5_000_000;
    const upload: ActiveUpload = { id: 'u2', repository: 'r', size: 10, startedAt: new Date(now), receiving: false };
    const monitor = new UploadMonitor({ activeUploads: () => [upload] }, () => now);
    assert.equal(monitor.snapshot().length, 1);
    now += ABANDONED_AFTER_MS + 1;
    assert.equal(monitor.snapshot().length, 0);
  });
});
