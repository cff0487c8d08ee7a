/**
 * A real Berth server on a random loopback port with a fresh data directory, in this process, on the
 * storage driver of this test run (helpers/storage.ts: BERTH_TEST_STORAGE).
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { defaults, type BerthConfig } from '../../server/config.ts';
import { createRegistry, type Registry, type RegistryDeps } from '../../server/index.ts';
import { storageFor } from './storage.ts';

export interface TestServer {
  url: string;
  dataDir: string;
  registry: Registry;
  /** Stops the server; keeps the data directory (pass remove to delete it). */
  close(options?: { remove?: boolean }): Promise<void>;
}

export async function tempDir(prefix = 'berth-test-'): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), prefix));
}

export async function startServer(overrides: Partial<BerthConfig> = {}, deps: RegistryDeps = {}): Promise<TestServer> {
  const dataDir = overrides.dataDir ?? (await tempDir());
  const config: BerthConfig = { ...defaults(), host: '127.0.0.1', port: 0, logLevel: 'silent', shutdownGraceSeconds: 2, storage: storageFor(dataDir), ...overrides, dataDir };
  const registry = createRegistry(config, deps);
  const { url } = await registry.listen();
  await registry.indexReady();
  return {
    url,
    dataDir,
    registry,
    async close(options = {}) {
      await registry.close();
      if (options.remove) await fs.rm(dataDir, { recursive: true, force: true });
    },
  };
}
