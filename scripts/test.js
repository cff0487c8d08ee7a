// Runs every test file (test/**/*.test.ts) with node:test through tsx, prints the spec report, and
// ends with one line CI reads: "N passed, N failed" (skipped tests are counted and named too).
//
// A full run (no arguments) has a second pass: the suites that drive a server through its HTTP API
// (POSTGRES_SUITES) run again with the metadata in PostgreSQL (issue 16), on a server this script
// starts (Debian's postgresql: scripts/postgres.js) and removes. Without PostgreSQL installed the
// pass is skipped and said so, except under CI=true, where it fails. The last line counts both passes.
// BERTH_TEST_METADATA=postgres runs the files given (or every file) in the PostgreSQL pass only.
//
// The cluster pass (issue 16) runs the registry's HTTP suite (CLUSTER_SUITES) once more through a load
// balancer: each test server is three `berth serve` replicas from dist/ behind HAProxy
// (deploy/haproxy.cfg) over the S3 server and the PostgreSQL server of the run (test/helpers/cluster.ts,
// startClusterServer). It needs the S3 server, PostgreSQL and haproxy (a failure under CI=true when one
// is missing, a SKIP otherwise). BERTH_TEST_CLUSTER=1 runs the files given in the cluster pass only.
// Each test there has 3 minutes: a test waiting for something only its own process would see (a replica
// never tells) fails instead of hanging the run.
//
// The newer-Node pass (issue 15) runs the layer readers' suites (NEWER_NODE_SUITES) again on Node 22 and
// 24 (scripts/newer-node.js: official builds from the npm registry, fetched once): there zlib decodes
// zstd, as in Electron, a path Node 20 never takes. Under CI=true a release that cannot be had is a
// failure, else a SKIP. BERTH_TEST_NEWER_NODE=1 runs the files given in this pass only.
//
// Usage: node scripts/test.js [file or folder ...]
//
// Storage drivers: the whole run uses the filesystem driver; then the registry's HTTP suite and the
// real-client end-to-end tests, and kill -9 during pushes (PER_DRIVER below) run again on S3 and on Azure (BERTH_TEST_STORAGE=s3,
// azure), each against a real server started once for the whole run (scripts/storage-servers.js):
// OpenStack Swift + s3api, a strict S3 that refuses parts under 5 MiB, and Azurite. The driver test
// suite and the storage fault tests (test/storage) use the same servers. Without Swift's Debian packages
// the S3 runs are skipped with the reason (with CI=true, a failure); BERTH_TEST_DRIVERS=filesystem runs
// only the first pass.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { NEWER_NODES, newerNode } from './newer-node.js';
import { postgresBinDir, startPostgres } from './postgres.js';
import { startAzurite, startSwift, swiftAvailable } from './storage-servers.js';

/** What runs again with the metadata in PostgreSQL (issue 16): the suites that drive a server through its API. */
const POSTGRES_SUITES = ['test/http', 'test/lifecycle', 'test/webhooks', 'test/mirror'];
/** What runs again through HAProxy in front of three replicas (issue 16). */
const CLUSTER_SUITES = ['test/http'];
/** What runs again on newer Node releases: everything that reads a zstd layer. */
const NEWER_NODE_SUITES = [
  'test/unit/layer-archive.test.ts', 'test/unit/zstd-frames.test.ts', 'test/unit/layer-digest-thread.test.ts',
  'test/unit/layer-file-source.test.ts', 'test/unit/layer-listing-file.test.ts', 'test/http/api-inspect.test.ts',
];
/** What runs again on every other driver: the registry API and the real clients. */
const PER_DRIVER = ['test/http', 'test/e2e/skopeo.test.ts', 'test/e2e/podman-buildah.test.ts', 'test/e2e/docker.test.ts', 'test/e2e/crash-safety.test.ts'];

function testFiles(target) {
  if (statSync(target).isFile()) return [target];
  return readdirSync(target, { recursive: true })
    .filter((f) => f.endsWith('.test.ts'))
    .map((f) => path.join(target, f))
    .sort();
}

/** One node --test run (on this Node, or on `node`); resolves with its counts. */
async function run(files, env, label, options = [], node = process.execPath) {
  const tap = path.join(tmpdir(), `berth-test-${process.pid}-${label}.tap`);
  const child = spawn(
    node,
    [
      '--import', 'tsx',
      '--test',
      '--test-reporter=spec', '--test-reporter-destination=stdout',
      '--test-reporter=tap', `--test-reporter-destination=${tap}`,
      ...options,
      ...files,
    ],
    { stdio: 'inherit', env: { ...process.env, ...env } },
  );
  const code = await new Promise((resolve) => child.on('exit', (c, signal) => resolve(c ?? (signal ? 1 : 0))));
  const counts = { passed: 0, failed: 0, skipped: 0 };
  try {
    const text = readFileSync(tap, 'utf8');
    counts.passed = Number(/^# pass (\d+)/m.exec(text)?.[1] ?? 0);
    counts.failed = Number(/^# fail (\d+)/m.exec(text)?.[1] ?? 0) + Number(/^# cancelled (\d+)/m.exec(text)?.[1] ?? 0);
    counts.skipped = Number(/^# skipped (\d+)/m.exec(text)?.[1] ?? 0);
    rmSync(tap, { force: true });
  } catch {
    counts.failed = Math.max(counts.failed, 1);
  }
  if (code !== 0 && counts.failed === 0) counts.failed = 1;
  return counts;
}

function hasHaproxy() {
  return (process.env.PATH ?? '').split(path.delimiter).some((dir) => dir && existsSync(path.join(dir, 'haproxy')));
}

/** A pass that cannot run: a failure under CI=true, else a SKIP of its files. */
function cannotRun(what, why, files) {
  if (process.env.CI === 'true') {
    console.log(`# ${what} cannot run: ${why}`);
    return { passed: 0, failed: 1, skipped: 0 };
  }
  console.log(`# SKIP ${what}: ${why}`);
  return { passed: 0, failed: 0, skipped: files.length };
}

/**
 * The PostgreSQL pass, then the cluster pass: one PostgreSQL server for both (each test server gets a
 * database of its own), removed afterwards.
 */
async function postgresPasses(files, clusterFiles, env) {
  if (!postgresBinDir()) {
    const why = 'PostgreSQL is not installed (apt-get install postgresql)';
    return [cannotRun('the PostgreSQL metadata pass', why, files), cannotRun('the cluster pass', why, clusterFiles)];
  }
  const server = await startPostgres({ fast: true });
  const counts = [];
  try {
    if (files.length > 0) {
      console.log(`\n==> the registry API again with the metadata in PostgreSQL (${server.url()}): ${files.length} files\n`);
      counts.push(await run(files, { ...env, BERTH_TEST_STORAGE: 'filesystem', BERTH_TEST_POSTGRES: server.url() }, 'postgres'));
    }
    if (clusterFiles.length > 0) {
      if (!env.BERTH_TEST_S3_ENDPOINT) counts.push(cannotRun('the cluster pass', 'its S3 server is not running (see above)', clusterFiles));
      else if (!hasHaproxy()) counts.push(cannotRun('the cluster pass', 'HAProxy is not installed (apt-get install haproxy)', clusterFiles));
      else {
        console.log(`\n==> the registry API again through HAProxy in front of three replicas (S3 + PostgreSQL): ${clusterFiles.length} files\n`);
        const started = Date.now();
        counts.push(await run(clusterFiles, { ...env, BERTH_TEST_STORAGE: 's3', BERTH_TEST_POSTGRES: server.url(), BERTH_TEST_CLUSTER: '1' }, 'cluster', ['--test-timeout=180000']));
        console.log(`# the cluster pass took ${Math.round((Date.now() - started) / 1000)} s`);
      }
    }
  } finally {
    await server.remove();
  }
  return counts;
}

/** The newer-Node pass: the files again on each release of NEWER_NODES, on the filesystem driver. */
async function newerNodePasses(files, env) {
  const counts = [];
  for (const release of NEWER_NODES) {
    let node;
    try {
      node = newerNode(release);
    } catch (err) {
      counts.push(cannotRun(`the Node ${release.version} pass`, err.message, files));
      continue;
    }
    console.log(`\n==> the layer readers again on Node ${release.version} (zstd in zlib): ${files.length} files\n`);
    counts.push(await run(files, { ...env, BERTH_TEST_STORAGE: 'filesystem' }, `node-${release.version}`, [], node));
  }
  return counts;
}

const targets = process.argv.slice(2);
const files = (targets.length ? targets : ['test']).flatMap(testFiles);
const drivers = (process.env.BERTH_TEST_DRIVERS || 'filesystem,s3,azure').split(',').map((d) => d.trim());
const total = { passed: 0, failed: 0, skipped: 0 };
const add = (c) => {
  total.passed += c.passed;
  total.failed += c.failed;
  total.skipped += c.skipped;
};

// Servers for the drivers that need them: started once, shared by every pass (each test server uses its
// own prefix in the bucket or container).
const servers = [];
const env = {};
const notes = [];
try {
  if (drivers.includes('s3')) {
    if (swiftAvailable() || process.getuid?.() === 0) {
      try {
        const swift = await startSwift();
        servers.push(swift);
        Object.assign(env, swift.env);
      } catch (err) {
        notes.push(`S3 server: ${err.message}`);
      }
    } else notes.push('S3 server: Swift is not installed (apt-get install python3-swift swift-proxy swift-account swift-container swift-object)');
  }
  if (drivers.includes('azure')) {
    try {
      const azurite = await startAzurite();
      servers.push(azurite);
      Object.assign(env, azurite.env);
    } catch (err) {
      notes.push(`Azure server: ${err.message}`);
    }
  }
  for (const note of notes) console.log(`# ${note}`);
  if (notes.length > 0 && process.env.CI === 'true') total.failed += notes.length;

  const metadataOnly = process.env.BERTH_TEST_METADATA === 'postgres';
  const clusterOnly = process.env.BERTH_TEST_CLUSTER === '1';
  const newerNodeOnly = process.env.BERTH_TEST_NEWER_NODE === '1';
  if (newerNodeOnly) for (const counts of await newerNodePasses(files, env)) add(counts);
  else if (!metadataOnly && !clusterOnly) add(await run(files, { ...env, BERTH_TEST_STORAGE: 'filesystem' }, 'filesystem'));
  const again = metadataOnly || clusterOnly || newerNodeOnly ? [] : files.filter((f) => PER_DRIVER.some((p) => f === p || f.startsWith(`${p}${path.sep}`) || f.startsWith(`${p}/`)));
  for (const driver of drivers.filter((d) => d !== 'filesystem')) {
    if (again.length === 0) break;
    const ready = driver === 's3' ? Boolean(env.BERTH_TEST_S3_ENDPOINT) : Boolean(env.BERTH_TEST_AZURE_CONNECTION_STRING);
    if (!ready) {
      console.log(`# SKIP the ${driver} pass: its server is not running (see above)`);
      total.skipped += again.length;
      continue;
    }
    console.log(`\n==> the registry API and the real clients again, on the ${driver} driver (${driver === 's3' ? 'Swift + s3api' : 'Azurite'})\n`);
    add(await run(again, { ...env, BERTH_TEST_STORAGE: driver }, driver));
  }
  const full = targets.length === 0 && !metadataOnly && !clusterOnly && !newerNodeOnly;
  if (full) for (const counts of await newerNodePasses(NEWER_NODE_SUITES, env)) add(counts);
  const inPostgres = metadataOnly ? files : full ? POSTGRES_SUITES.flatMap(testFiles) : [];
  const inCluster = clusterOnly ? files : full ? CLUSTER_SUITES.flatMap(testFiles) : [];
  if (inPostgres.length > 0 || inCluster.length > 0) for (const counts of await postgresPasses(inPostgres, inCluster, env)) add(counts);
} finally {
  for (const server of servers) await server.stop();
}
if (total.skipped > 0) console.log(`${total.skipped} skipped (see "# SKIP" lines above)`);
console.log(`${total.passed} passed, ${total.failed} failed`);
process.exit(total.failed === 0 ? 0 : 1);
