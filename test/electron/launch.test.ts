/**
 * `npm start`: the desktop app where Electron can run; elsewhere one line saying why, then the
 * headless server with the same UI. The decision functions (scripts/launch.js) and the real script.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { afterElectronExit, electronBinary, electronNodeProblem, electronProblem, findElectronDir } from '../../scripts/launch.js';
import { freePort, ROOT } from '../helpers/berth-process.ts';
import { scratchDirs } from './helpers.ts';

const scratch = scratchDirs();

describe('whether Electron can start', () => {
  const electronDir = '/project/node_modules/electron';

  it('not with ELECTRON_RUN_AS_NODE set (Electron would be plain Node)', () => {
    assert.match(electronProblem({ env: { ELECTRON_RUN_AS_NODE: '1', DISPLAY: ':0' }, platform: 'linux', electronDir }) ?? '', /ELECTRON_RUN_AS_NODE/);
    assert.match(electronProblem({ env: { ELECTRON_RUN_AS_NODE: '1' }, platform: 'darwin', electronDir }) ?? '', /ELECTRON_RUN_AS_NODE/);
  });

  it('not on Linux without a display (X11 or Wayland)', () => {
    assert.match(electronProblem({ env: {}, platform: 'linux', electronDir }) ?? '', /no display/);
    assert.equal(electronProblem({ env: { DISPLAY: ':0' }, platform: 'linux', electronDir }), null);
    assert.equal(electronProblem({ env: { WAYLAND_DISPLAY: 'wayland-0' }, platform: 'linux', electronDir }), null);
  });

  it('macOS and Windows always have a display', () => {
    assert.equal(electronProblem({ env: {}, platform: 'darwin', electronDir }), null);
    assert.equal(electronProblem({ env: {}, platform: 'win32', electronDir }), null);
  });

  it('not without the electron package', () => {
    assert.match(electronProblem({ env: { DISPLAY: ':0' }, platform: 'linux', electronDir: null }) ?? '', /not installed/);
  });

  it('finds the installed electron package', () => {
    assert.equal(findElectronDir(ROOT), path.join(ROOT, 'node_modules', 'electron'));
    assert.equal(findElectronDir('/'), null);
  });

  it('knows whether the binary was downloaded (path.txt naming an existing executable)', async () => {
    const pkg = await scratch('berth-electron-pkg-');
    assert.equal(electronBinary(pkg, {}), null, 'no path.txt: never downloaded');
    await fs.writeFile(path.join(pkg, 'path.txt'), 'electron');
    assert.equal(electronBinary(pkg, {}), null, 'path.txt but no dist/');
    await fs.mkdir(path.join(pkg, 'dist'));
    await fs.writeFile(path.join(pkg, 'dist', 'electron'), '');
    assert.equal(electronBinary(pkg, {}), path.join(pkg, 'dist', 'electron'));
  });

  it('needs the Node.js the electron package names in its engines to download the binary', async () => {
    const pkg = await scratch('berth-electron-engines-');
    await fs.writeFile(path.join(pkg, 'package.json'), JSON.stringify({ name: 'electron', engines: { node: '>= 22.12.0' } }));
    assert.equal(
      electronNodeProblem(pkg, '20.20.2'),
      'downloading Electron needs Node.js 22.12.0 or newer, this is 20.20.2: install Node.js 22 LTS or newer',
    );
    assert.match(electronNodeProblem(pkg, 'v22.11.0') ?? '', /this is 22\.11\.0/);
    for (const fine of ['22.12.0', '22.13.1', '24.1.0']) assert.equal(electronNodeProblem(pkg, fine), null, fine);
    assert.equal(electronNodeProblem(path.join(pkg, 'missing'), '18.0.0'), null, 'no package: nothing to say here');
    // What the installed Electron asks for is what package.json tells npm start's users.
    const installed = JSON.parse(await fs.readFile(path.join(ROOT, 'node_modules', 'electron', 'package.json'), 'utf8')) as { engines: { node: string } };
    const ours = JSON.parse(await fs.readFile(path.join(ROOT, 'package.json'), 'utf8')) as { engines: { node: string } };
    assert.match(installed.engines.node, /22\.12\.0/, 'Electron 45 wants Node.js 22.12; README and package.json say so');
    assert.match(ours.engines.node, /\|\| >=22\.12\.0$/);
  });

  it('falls back when Electron dies at start, but not after it ran, on a clean handover or on Ctrl-C', () => {
    assert.equal(afterElectronExit({ code: 1, signal: null, ready: false, interrupted: false }), 'fallback');
    assert.equal(afterElectronExit({ code: null, signal: 'SIGTRAP', ready: false, interrupted: false }), 'fallback');
    assert.equal(afterElectronExit({ code: 1, signal: null, ready: true, interrupted: false }), 'exit');
    assert.equal(afterElectronExit({ code: 0, signal: null, ready: false, interrupted: false }), 'exit', 'a second instance hands over');
    assert.equal(afterElectronExit({ code: null, signal: 'SIGINT', ready: false, interrupted: true }), 'exit');
  });
});

/** Runs scripts/start.js until the headless server listens; returns its first line and URL. */
async function startScript(env: NodeJS.ProcessEnv, args: string[]) {
  const child = spawn(process.execPath, [path.join(ROOT, 'scripts', 'start.js'), ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const url = await new Promise<string>((resolve, reject) => {
    const check = () => {
      const match = /Berth registry at (http:\/\/\S+)/.exec(out);
      if (match) resolve(match[1]!);
    };
    child.stdout.on('data', check);
    child.stderr.on('data', check);
    child.on('exit', (code) => reject(new Error(`start.js exited with ${code}:\n${out}`)));
  });
  return {
    url,
    output: out,
    stop: () => new Promise<number | null>((resolve) => {
      child.removeAllListeners('exit');
      child.on('exit', (code) => resolve(code));
      child.kill('SIGTERM');
    }),
  };
}

describe('npm start where the desktop app cannot run', () => {
  for (const [what, env] of [
    ['no display', { DISPLAY: '', WAYLAND_DISPLAY: '' }],
    ['ELECTRON_RUN_AS_NODE', { ELECTRON_RUN_AS_NODE: '1', DISPLAY: ':0' }],
    // A display, but no binary and a mirror that refuses: the download fails at once, on any machine.
    ['binary not downloadable', { DISPLAY: ':0', ELECTRON_OVERRIDE_DIST_PATH: '/nonexistent/electron-dist', ELECTRON_MIRROR: 'http://127.0.0.1:9/', electron_config_cache: '/nonexistent/electron-cache' }],
  ] as const) {
    it(`${what}: says why in one line and serves the registry and its API headless`, { skip: process.platform !== 'linux' && what === 'no display' ? 'Linux only' : false }, async () => {
      const data = await scratch('berth-start-');
      const port = await freePort();
      const started = await startScript(env, ['--port', String(port), '--data', data, '--log-level', 'warn']);
      try {
        const lines = started.output.split('\n');
        const reason = lines.find((l) => l.startsWith('berth: cannot open the desktop app'));
        assert.match(reason ?? '', /^berth: cannot open the desktop app \(.+\); running the headless server instead/);
        // Below the Node.js Electron's tooling needs, npm start says so before trying to download.
        if (what === 'binary not downloadable') assert.match(reason ?? '', electronNodeProblem(path.join(ROOT, 'node_modules', 'electron')) ? /downloading Electron needs Node\.js 22\.12\.0 or newer, this is \d+\.\d+\.\d+: install Node\.js 22 LTS or newer/ : /could not be downloaded/);
        else assert.equal(lines[0], reason, 'the first line says why');
        assert.equal(started.url, `http://127.0.0.1:${port}`);
        assert.equal((await fetch(`${started.url}/v2/`)).status, 200);
        assert.equal((await fetch(`${started.url}/api/status`)).status, 200, 'the management API is open on loopback headless');
      } finally {
        assert.equal(await started.stop(), 0);
      }
    });
  }
});
