/**
 * The object-store drivers are made on first use (server/storage/driver/create.ts): before their SDK is
 * loaded they must already name themselves and their objects as the loaded driver does (log lines, the
 * status API and `berth storage` messages read these first).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AzureSettings, S3Settings, StorageConfig } from '../../server/storage/config.ts';
import { AzureDriver } from '../../server/storage/driver/azure.ts';
import { createDriver } from '../../server/storage/driver/create.ts';
import { S3Driver } from '../../server/storage/driver/s3.ts';

const s3 = (over: Partial<S3Settings>): S3Settings => ({
  endpoint: null, bucket: 'images', region: 'eu-west-1', prefix: '', forcePathStyle: false,
  accessKeyId: 'AKIA', secretAccessKey: 'secret', partBytes: 8 * 1024 * 1024, ...over,
} as S3Settings);
const azure = (over: Partial<AzureSettings>): AzureSettings => ({
  connectionString: null, account: 'acct', accountKey: Buffer.from('key').toString('base64'), sasToken: null, endpoint: null,
  container: 'berth', prefix: '', partBytes: 8 * 1024 * 1024, createContainer: true, ...over,
});
const config = (storage: Partial<StorageConfig>): StorageConfig => ({ driver: 'filesystem', redirect: false, s3: null, azure: null, ...storage });

describe('object-store drivers made on first use', () => {
  for (const settings of [s3({}), s3({ endpoint: 'http://127.0.0.1:9000', prefix: 'team/a', forcePathStyle: true })]) {
    it(`name themselves as the S3 driver does (${settings.endpoint ?? 'AWS'})`, async () => {
      const lazy = createDriver(config({ driver: 's3', s3: settings }), '/unused');
      const real = new S3Driver(settings);
      assert.deepEqual({ ...lazy.location }, real.location);
      assert.equal(lazy.describe('blobs/sha256/ab/abcd'), real.describe('blobs/sha256/ab/abcd'));
      assert.equal(lazy.shared, real.shared);
      assert.equal(lazy.exactTimes, real.exactTimes);
      await Promise.all([lazy.close(), real.close()]);
    });
  }

  const key = Buffer.from('key').toString('base64');
  for (const settings of [
    azure({}),
    azure({ endpoint: 'http://127.0.0.1:10000/devstoreaccount1/', prefix: 'p' }),
    azure({ connectionString: 'UseDevelopmentStorage=true' }),
    azure({ connectionString: `DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=${key};BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;` }),
    azure({ connectionString: `DefaultEndpointsProtocol=https;AccountName=acct2;AccountKey=${key};EndpointSuffix=core.chinacloudapi.cn` }),
  ]) {
    it(`name themselves as the Azure driver does (${settings.connectionString ?? settings.endpoint ?? 'account'})`, async () => {
      const lazy = createDriver(config({ driver: 'azure', azure: settings }), '/unused');
      const real = new AzureDriver(settings);
      assert.deepEqual({ ...lazy.location }, real.location);
      assert.equal(lazy.describe('blobs/x'), real.describe('blobs/x'));
      await Promise.all([lazy.close(), real.close()]);
    });
  }
});
