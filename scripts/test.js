// Runs every test file (test/**/*.test.ts) with node:test through tsx, prints the spec report, and
// ends with one line CI reads: "N passed, N failed" (skipped tests are counted and named too).
//
// A full run (no arguments) has a second pass: the suites that drive a server through its HTTP API
// (POSTGRES_SUITES) run again with the metadata in PostgreSQL (issue 16), on a server this script
// starts (Debian's postgresql: scripts/postgres.js) and removes. Without PostgreSQL installed the
// pass is skipped and said so, except under CI=true, where it fails. The last line counts both passes.
// BERTH_TEST_METADATA=postgres runs the files given (or every file) in the PostgreSQL pass only.
//
// Usage: node scripts/test.js [file or folder ...]
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { postgresBinDir, startPostgres } from './postgres.js';

const POSTGRES_SUITES = ['test/http', 'test/lifecycle', 'test/webhooks', 'test/mirror'];

function testFiles(target) {
  if (statSync(target).isFile()) return [target];
  return readdirSync(target, { recursive: true })
    .filter((f) => f.endsWith('.test.ts'))
    .map((f) => path.join(target, f))
    .sort();
}

async function runPass(files, env, label) {
  const tap = path.join(tmpdir(), `berth-test-${process.pid}-${label}.tap`);
  const child = spawn(
    process.execPath,
    [
      '--import', 'tsx',
      '--test',
      '--test-reporter=spec', '--test-reporter-destination=stdout',
      '--test-reporter=tap', `--test-reporter-destination=${tap}`,
      ...files,
    ],
    { stdio: 'inherit', env: { ...process.env, ...env } },
  );
  const code = await new Promise((resolve) => child.on('exit', (c, signal) => resolve(c ?? (signal ? 1 : 0))));
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  try {
    const text = readFileSync(tap, 'utf8');
    passed = Number(/^# pass (\d+)/m.exec(text)?.[1] ?? 0);
    failed = Number(/^# fail (\d+)/m.exec(text)?.[1] ?? 0) + Number(/^# cancelled (\d+)/m.exec(text)?.[1] ?? 0);
    skipped = Number(/^# skipped (\d+)/m.exec(text)?.[1] ?? 0);
    rmSync(tap, { force: true });
  } catch {
    failed = Math.max(failed, 1);
  }
  if (code !== 0 && failed === 0) failed = 1;
  return { passed, failed, skipped, ok: code === 0 && failed === 0 };
}

/** The PostgreSQL pass: a server of its own for the run, removed afterwards. */
async function postgresPass(files) {
  if (!postgresBinDir()) {
    if (process.env.CI === 'true') {
      console.log('PostgreSQL is not installed: the metadata pass cannot run (apt-get install postgresql)');
      return { passed: 0, failed: 1, skipped: 0, ok: false };
    }
    console.log('# SKIP the PostgreSQL metadata pass: PostgreSQL is not installed (apt-get install postgresql)');
    return { passed: 0, failed: 0, skipped: 1, ok: true };
  }
  const server = await startPostgres({ fast: true });
  try {
    console.log(`\n# metadata in PostgreSQL (${server.url()}): ${files.length} files\n`);
    return await runPass(files, { BERTH_TEST_POSTGRES: server.url() }, 'postgres');
  } finally {
    await server.remove();
  }
}

const targets = process.argv.slice(2);
const files = (targets.length ? targets : ['test']).flatMap(testFiles);
const passes = [];
if (process.env.BERTH_TEST_METADATA === 'postgres') {
  passes.push(await postgresPass(files));
} else {
  passes.push(await runPass(files, {}, 'nedb'));
  if (targets.length === 0) passes.push(await postgresPass(POSTGRES_SUITES.flatMap(testFiles)));
}
const total = passes.reduce((t, p) => ({ passed: t.passed + p.passed, failed: t.failed + p.failed, skipped: t.skipped + p.skipped }), { passed: 0, failed: 0, skipped: 0 });
if (total.skipped > 0) console.log(`${total.skipped} skipped (see "# SKIP" lines above)`);
console.log(`${total.passed} passed, ${total.failed} failed`);
process.exit(passes.every((p) => p.ok) ? 0 : 1);
