/** The `storage` settings (server/storage/config.ts): config file key, BERTH_STORAGE_* over it, one-line errors. */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../../server/config.ts';
import { parsePartSize } from '../../server/storage/config.ts';
import { tempDir } from '../helpers/server.ts';

describe('storage settings', () => {
  const dirs: string[] = [];
  after(async () => {
    for (const d of dirs) await fs.rm(d, { recursive: true, force: true });
  });
  async function file(storage: unknown): Promise<string> {
    const dir = await tempDir('berth-storage-config-');
    dirs.push(dir);
    const f = path.join(dir, 'berth.json');
    await fs.writeFile(f, JSON.stringify({ storage }));
    return f;
  }

  it('is the data directory unless told otherwise', async () => {
    const config = await loadConfig({ env: {} });
    assert.deepEqual(config.storage, { driver: 'filesystem', redirect: false, s3: null, azure: null });
  });

  it('takes S3 from the environment, with the defaults an S3-compatible server wants', async () => {
    const config = await loadConfig({ env: { BERTH_STORAGE_DRIVER: 's3', BERTH_STORAGE_S3_BUCKET: 'registry', BERTH_STORAGE_S3_ENDPOINT: 'http://127.0.0.1:9000', BERTH_STORAGE_S3_PREFIX: '/berth/' } });
    assert.equal(config.storage.driver, 's3');
    assert.deepEqual(config.storage.s3, {
      endpoint: 'http://127.0.0.1:9000', bucket: 'registry', region: 'us-east-1', prefix: 'berth', forcePathStyle: true,
      accessKeyId: null, secretAccessKey: null, partBytes: 16 * 1024 * 1024, createBucket: true,
    });
  });

  it('takes Azure from the config file, and the environment wins over it', async () => {
    const f = await file({ azure: { connectionString: 'UseDevelopmentStorage=true', container: 'from-file', prefix: 'p' } });
    const config = await loadConfig({ configFile: f, env: { BERTH_STORAGE_AZURE_CONTAINER: 'from-env' } });
    assert.equal(config.storage.driver, 'azure', 'the one section given picks the driver');
    assert.equal(config.storage.azure?.container, 'from-env');
    assert.equal(config.storage.azure?.prefix, 'p');
    const s3 = await loadConfig({ configFile: await file({ driver: 's3', redirect: true, s3: { bucket: 'bucket1', partSize: '32MiB' } }), env: {} });
    assert.equal(s3.storage.redirect, true);
    assert.equal(s3.storage.s3?.partBytes, 32 * 1024 * 1024);
    assert.equal(s3.storage.s3?.forcePathStyle, false, 'AWS itself: virtual-hosted addresses');
  });

  it('refuses what cannot work, in one line that names the setting', async () => {
    const refused = async (env: NodeJS.ProcessEnv, pattern: RegExp) => {
      await assert.rejects(loadConfig({ env }), (err: Error) => err instanceof ConfigError && pattern.test(err.message) && !err.message.includes('\n'));
    };
    await refused({ BERTH_STORAGE_DRIVER: 'ftp' }, /BERTH_STORAGE_DRIVER: "ftp" is not one of filesystem, s3, azure/);
    await refused({ BERTH_STORAGE_DRIVER: 's3' }, /the s3 driver needs its settings \(a bucket at least: BERTH_STORAGE_S3_BUCKET\)/);
    await refused({ BERTH_STORAGE_S3_BUCKET: 'Bad_Bucket' }, /BERTH_STORAGE_S3_BUCKET: "Bad_Bucket" is not a valid bucket name/);
    await refused({ BERTH_STORAGE_S3_BUCKET: 'ok-bucket', BERTH_STORAGE_S3_ENDPOINT: 'minio:9000' }, /BERTH_STORAGE_S3_ENDPOINT: "minio:9000" is not an http\(s\) URL/);
    await refused({ BERTH_STORAGE_S3_BUCKET: 'ok-bucket', BERTH_STORAGE_S3_PART_SIZE: '1MiB' }, /part size from 5MiB to 512MiB/);
    await refused({ BERTH_STORAGE_DRIVER: 'azure', BERTH_STORAGE_AZURE_CONTAINER: 'cont1' }, /connectionString, or an account with an accountKey or a sasToken/);
    await assert.rejects(loadConfig({ configFile: await file({ s3: { bucket: 'bucket1', secret: 'x' } }), env: {} }), /unknown setting "secret"/);
  });

  it('reads part sizes with units', () => {
    assert.equal(parsePartSize('16MiB', 'x'), 16 * 1024 * 1024);
    assert.equal(parsePartSize('8 MB', 'x'), 8_000_000);
    assert.equal(parsePartSize(5242880, 'x'), 5 * 1024 * 1024);
    assert.throws(() => parsePartSize('lots', 'x'), ConfigError);
  });
});
