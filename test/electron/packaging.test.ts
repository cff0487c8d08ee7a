/**
 * What `npm run dist` packs, checked as far as this machine allows. Electron's binary cannot be
 * downloaded here, so no installer is built: the configuration is checked against
 * electron-builder's own schema, and electron-builder lays out the app (asar, resources) around a
 * stand-in for the Electron distribution it would otherwise download (-c.electronDist). The
 * installers' targets themselves (AppImage, deb, dmg, nsis) are not run.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { ROOT } from '../helpers/berth-process.ts';
import { scratchDirs } from './helpers.ts';

const require = createRequire(path.join(ROOT, 'package.json'));
const execFileAsync = promisify(execFile);

interface BuilderConfig {
  appId?: string;
  files?: string[];
  mac?: { target?: { target: string }[]; icon?: string; entitlements?: string };
  win?: { target?: { target: string }[]; icon?: string };
  linux?: { target?: string[]; icon?: string; maintainer?: string };
  extraResources?: { from: string; to: string }[];
}

/** electron-builder's own loader and schema validation (app-builder-lib), offline. */
async function loadBuilderConfig(overrides: object | null = null): Promise<BuilderConfig> {
  const { getConfig, validateConfiguration } = require('app-builder-lib/out/util/config/config.js') as {
    getConfig(dir: string, file: string | null, overrides: object | null): Promise<BuilderConfig>;
    validateConfiguration(config: BuilderConfig, logger: unknown): Promise<void>;
  };
  const { DebugLogger, log } = require('builder-util') as { DebugLogger: new (enabled: boolean) => unknown; log: { stream: NodeJS.WritableStream } };
  // Its log ("• loaded configuration ...") goes to this process's stdout, which node --test reads as its
  // own protocol: text landing between the runner's messages broke a run under load ("Unable to
  // deserialize cloned data"). It is dropped here.
  log.stream = new Writable({ write: (_chunk, _encoding, done) => done() });
  const config = await getConfig(ROOT, null, overrides);
  await validateConfiguration(config, new DebugLogger(false));
  return config;
}

/** Width and height from a PNG's IHDR chunk (PNG spec, 11.2.2). */
async function pngSize(file: string): Promise<[number, number]> {
  const bytes = await fs.readFile(file);
  assert.equal(bytes.subarray(1, 4).toString('latin1'), 'PNG', `${file} is a PNG`);
  return [bytes.readUInt32BE(16), bytes.readUInt32BE(20)];
}

const scratch = scratchDirs();

describe('electron-builder configuration', () => {
  it('passes electron-builder’s schema and targets AppImage + deb, dmg and nsis', async () => {
    const config = await loadBuilderConfig();
    assert.equal(config.appId, 'dev.berth.desktop');
    assert.deepEqual(config.linux?.target, ['AppImage', 'deb']);
    assert.deepEqual(config.mac?.target?.map((t) => t.target), ['dmg']);
    assert.deepEqual(config.win?.target?.map((t) => t.target), ['nsis']);
    assert.match(config.linux?.maintainer ?? '', /<.+@.+>/, 'deb packages need a maintainer with an address');
  });

  it('the schema check is real: a wrong option is refused', async () => {
    await assert.rejects(loadBuilderConfig({ linux: { target: 'AppImage', iconn: 'x' } }), /configuration/i);
  });

  it('package.json points Electron at the main bundle, and the app id matches the one main sets', async () => {
    const pkg = JSON.parse(await fs.readFile(path.join(ROOT, 'package.json'), 'utf8')) as { main: string; productName: string; devDependencies: Record<string, string> };
    assert.equal(pkg.main, 'dist/electron/main.js');
    assert.equal(pkg.productName, 'Berth');
    assert.equal(pkg.devDependencies.electron, '45.5.0');
    assert.equal(pkg.devDependencies['electron-builder'], '26.17.0');
    const main = await fs.readFile(path.join(ROOT, 'electron', 'main', 'index.ts'), 'utf8');
    assert.match(main, /setAppUserModelId\('dev\.berth\.desktop'\)/);
  });
});

describe('icons', () => {
  it('every platform has its icon at the right size', async () => {
    const build = path.join(ROOT, 'build');
    assert.deepEqual(await pngSize(path.join(build, 'icon.png')), [1024, 1024]);
    for (const size of [16, 32, 48, 64, 128, 256, 512]) {
      assert.deepEqual(await pngSize(path.join(build, 'icons', `${size}x${size}.png`)), [size, size]);
    }
    const icns = await fs.readFile(path.join(build, 'icon.icns'));
    assert.equal(icns.subarray(0, 4).toString('latin1'), 'icns');
    assert.equal(icns.readUInt32BE(4), icns.length, 'the icns length field covers the file');
    const ico = await fs.readFile(path.join(build, 'icon.ico'));
    assert.deepEqual([ico.readUInt16LE(0), ico.readUInt16LE(2)], [0, 1], 'an ICO header');
    const widths = Array.from({ length: ico.readUInt16LE(4) }, (_, i) => ico[6 + i * 16] || 256);
    assert.ok(widths.includes(256) && widths.includes(16), `ICO sizes ${widths.join(', ')}`);
    assert.deepEqual(await pngSize(path.join(build, 'tray', 'tray.png')), [16, 16]);
    assert.deepEqual(await pngSize(path.join(build, 'tray', 'tray@2x.png')), [32, 32]);
    assert.deepEqual(await pngSize(path.join(build, 'tray', 'trayTemplate.png')), [16, 16]);
    assert.deepEqual(await pngSize(path.join(build, 'tray', 'trayTemplate@2x.png')), [32, 32]);
  });

  it('the committed icons are what `npm run icons` makes from the SVGs', async () => {
    const out = await scratch('berth-icons-');
    await execFileAsync(process.execPath, [path.join(ROOT, 'scripts', 'icons.js'), out]);
    const made = (await fs.readdir(out, { recursive: true })).filter((f) => f.endsWith('.png') || f.endsWith('.icns') || f.endsWith('.ico'));
    assert.ok(made.length >= 14);
    for (const file of made) {
      if ((await fs.stat(path.join(out, file))).isDirectory()) continue;
      assert.ok((await fs.readFile(path.join(out, file))).equals(await fs.readFile(path.join(ROOT, 'build', file))), `build/${file} is stale: run npm run icons`);
    }
  });
});

describe('the packaged app layout', { timeout: 300_000 }, () => {
  it('holds the bundles and production dependencies in app.asar, and the tray icons beside it', async () => {
    const work = await scratch('berth-pack-');
    // Stands in for the Electron distribution electron-builder would download: an executable it
    // copies and renames, and the version file it reads.
    const electronDist = path.join(work, 'electron-dist');
    await fs.mkdir(electronDist);
    await fs.writeFile(path.join(electronDist, 'electron'), '#!/bin/sh\n', { mode: 0o755 });
    await fs.writeFile(path.join(electronDist, 'version'), 'v45.5.0');
    const output = path.join(work, 'release');
    const cli = path.join(path.dirname(require.resolve('electron-builder/package.json')), 'cli.js');
    await execFileAsync(
      process.execPath,
      [cli, '--linux', 'dir', '--publish', 'never', `-c.electronDist=${electronDist}`, `-c.directories.output=${output}`],
      { cwd: ROOT, maxBuffer: 16 * 1024 * 1024 },
    );
    const unpacked = path.join(output, 'linux-unpacked');
    const resources = path.join(unpacked, 'resources');
    await fs.access(path.join(unpacked, 'berth-desktop'));
    assert.deepEqual((await fs.readdir(path.join(resources, 'tray'))).sort(), ['tray.png', 'tray@2x.png', 'trayTemplate.png', 'trayTemplate@2x.png']);
    assert.deepEqual(await pngSize(path.join(resources, 'icon.png')), [512, 512]);

    const asar = require('@electron/asar') as { listPackage(file: string, options: object): string[]; extractFile(file: string, name: string): Buffer };
    const archive = path.join(resources, 'app.asar');
    const files = asar.listPackage(archive, {}).map((f) => f.replaceAll('\\', '/'));
    for (const file of ['/package.json', '/dist/electron/main.js', '/dist/electron/preload.cjs']) assert.ok(files.includes(file), `${file} is packed`);
    assert.ok(!files.some((f) => f.endsWith('.map')), 'no source maps');
    assert.ok(!files.some((f) => f.startsWith('/electron/') || f.startsWith('/server/') || f.startsWith('/test/')), 'no sources');
    const modules = new Set(files.filter((f) => f.startsWith('/node_modules/')).map((f) => f.split('/')[2]));
    for (const dep of ['koa', '@koa', 'nedb-promises', 'pino', 'find-process']) assert.ok(modules.has(dep), `${dep} is packed`);
    for (const dev of ['electron', 'electron-builder', 'typescript', 'esbuild', 'tsx']) assert.ok(!modules.has(dev), `${dev} is not packed`);
    const packedPkg = JSON.parse(asar.extractFile(archive, 'package.json').toString()) as { main: string };
    assert.equal(packedPkg.main, 'dist/electron/main.js');
  });
});
