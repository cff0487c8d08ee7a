// Real storage servers for the tests, on loopback, in temp folders, stopped by whoever started them:
//   - S3: OpenStack Swift + s3api (scripts/swift-s3.sh; Debian's python3-swift packages). A strict S3: it
//     refuses multipart parts under 5 MiB (EntityTooSmall), and has ListMultipartUploads and UploadPartCopy.
//   - Azure: Azurite (npm azurite), Microsoft's emulator.
// Each returns the environment the tests read (test/helpers/storage.ts) and a stop().
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const TEST_BUCKET = 'berth-test';
export const TEST_CONTAINER = 'berth-test';
/** Azurite's documented development account (public, the same in every Azurite). */
const AZURITE_ACCOUNT = 'devstoreaccount1';
const AZURITE_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

function portFree(port) {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** A base port with `count` consecutive free ports after it (Swift's servers take PORT..PORT+3). */
export async function freePorts(count) {
  for (let attempt = 0; attempt < 200; attempt++) {
    const base = 20000 + Math.floor(Math.random() * 30000);
    let ok = true;
    for (let i = 0; i < count && ok; i++) ok = await portFree(base + i);
    if (ok) return base;
  }
  throw new Error(`no ${count} consecutive free ports found`);
}

function listening(port) {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Whether Swift's Debian packages are there (swift-s3.sh installs them itself only as root). */
export function swiftAvailable() {
  return spawnSync('dpkg-query', ['-W', '-f=${db:Status-Abbrev}', 'python3-swift'], { encoding: 'utf8' }).stdout?.startsWith('ii') ?? false;
}

export async function startSwift() {
  const dir = mkdtempSync(path.join(tmpdir(), 'berth-swift-'));
  const script = path.join(ROOT, 'scripts', 'swift-s3.sh');
  const port = await freePorts(4);
  const started = spawnSync('bash', [script, 'start', dir, String(port)], { encoding: 'utf8', timeout: 180_000 });
  if (started.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`swift-s3.sh start failed: ${started.stderr || started.stdout}`);
  }
  const vars = Object.fromEntries(started.stdout.trim().split('\n').map((l) => l.split(/=(.*)/s).slice(0, 2)));
  const bucket = spawnSync('bash', [script, 'create-bucket', dir, TEST_BUCKET], { encoding: 'utf8' });
  if (bucket.status !== 0) throw new Error(`swift-s3.sh create-bucket failed: ${bucket.stderr}`);
  return {
    env: {
      BERTH_TEST_S3_ENDPOINT: vars.S3_ENDPOINT,
      BERTH_TEST_S3_REGION: vars.S3_REGION,
      BERTH_TEST_S3_BUCKET: TEST_BUCKET,
      BERTH_TEST_S3_ACCESS_KEY_ID: vars.AWS_ACCESS_KEY_ID,
      BERTH_TEST_S3_SECRET_ACCESS_KEY: vars.AWS_SECRET_ACCESS_KEY,
      BERTH_TEST_S3_SERVER: 'swift',
    },
    stop() {
      spawnSync('bash', [script, 'stop', dir], { stdio: 'ignore' });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function startAzurite() {
  const dir = mkdtempSync(path.join(tmpdir(), 'berth-azurite-'));
  const port = await freePorts(1);
  const child = spawn(
    process.execPath,
    [path.join(ROOT, 'node_modules', 'azurite', 'dist', 'src', 'blob', 'main.js'), '--blobHost', '127.0.0.1', '--blobPort', String(port), '--location', dir, '--silent', '--skipApiVersionCheck', '--loose', '--disableTelemetry'],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const deadline = Date.now() + 30_000;
  while (!(await listening(port))) {
    if (child.exitCode !== null) throw new Error(`azurite exited with ${child.exitCode}: ${stderr}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`azurite did not listen on ${port}: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    env: {
      BERTH_TEST_AZURE_CONNECTION_STRING: `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};BlobEndpoint=http://127.0.0.1:${port}/${AZURITE_ACCOUNT};`,
      BERTH_TEST_AZURE_CONTAINER: TEST_CONTAINER,
    },
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
