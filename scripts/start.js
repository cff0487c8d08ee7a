// `npm start`: the desktop app where Electron can run; elsewhere (no display, ELECTRON_RUN_AS_NODE,
// no binary and none downloadable, or Electron dying at start) one line saying why, then the
// headless server, which serves the same UI at http://127.0.0.1:PORT/. Arguments go to the
// headless server (`npm start -- --port 5001`); the desktop app uses its saved settings.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { READY_LINE, afterElectronExit, electronBinary, electronNodeProblem, electronProblem, findElectronDir } from './launch.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const args = process.argv.slice(2);
let child = null;
let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    interrupted = true;
    if (child) child.kill(signal);
    else process.exit(130);
  });
}

function headless(reason) {
  console.log(`berth: cannot open the desktop app (${reason}); running the headless server instead, with the same UI in a browser`);
  // The flags and the environment bin/berth.js's #! line gives it (see there).
  child = spawn(process.execPath, ['--max-semi-space-size=2', '--expose-gc', path.join(root, 'bin', 'berth.js'), 'serve', ...args], {
    stdio: 'inherit',
    env: { MALLOC_ARENA_MAX: '2', ...process.env },
  });
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
}

// A fresh clone that skipped the install's build step: build once.
if (!existsSync(path.join(root, 'dist', 'electron', 'main.js')) || !existsSync(path.join(root, 'dist', 'server', 'cli.js'))) {
  const build = spawnSync(process.execPath, [path.join(root, 'scripts', 'build.js')], { stdio: 'inherit' });
  if (build.status !== 0) process.exit(build.status ?? 1);
}

const electronDir = findElectronDir(root);
const problem = electronProblem({ env: process.env, platform: process.platform, electronDir });
if (problem) {
  headless(problem);
} else {
  let binary = electronBinary(electronDir);
  // Fetching the binary takes Electron's own tooling, which needs a newer Node than the server.
  const tooOld = binary ? null : electronNodeProblem(electronDir);
  if (!binary && !tooOld) {
    // The electron package downloads its binary on first use (its install.js), once per version.
    console.log('berth: downloading Electron (once)…');
    // Five minutes is ample for ~100 MB on a real connection; a network that swallows the request
    // (instead of refusing it) must not leave `npm start` hanging.
    const install = spawnSync(process.execPath, [path.join(electronDir, 'install.js')], { stdio: 'ignore', timeout: 300_000 });
    binary = install.status === 0 ? electronBinary(electronDir) : null;
  }
  if (tooOld) {
    headless(tooOld);
  } else if (!binary) {
    headless("Electron's binary is not downloaded and could not be downloaded");
  } else {
    let ready = false;
    const env = { ...process.env };
    delete env.ELECTRON_RUN_AS_NODE;
    child = spawn(binary, [root], { cwd: root, env, stdio: ['inherit', 'pipe', 'inherit'] });
    child.stdout.on('data', (chunk) => {
      process.stdout.write(chunk);
      if (!ready && chunk.toString().includes(READY_LINE)) ready = true;
    });
    child.on('error', (err) => {
      child = null;
      headless(`Electron did not start: ${err.message}`);
    });
    child.on('exit', (code, signal) => {
      if (afterElectronExit({ code, signal, ready, interrupted }) === 'fallback') {
        child = null;
        headless(`Electron exited at start with ${signal ?? `code ${code}`}`);
      } else {
        process.exit(code ?? (signal ? 1 : 0));
      }
    });
  }
}
