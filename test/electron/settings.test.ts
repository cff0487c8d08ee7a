/** Desktop settings: every field validated with server/config.ts rules, persisted as JSON, never lost. */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { defaultDataDir } from '../../server/config.ts';
import {
  defaultSettings,
  desktopUserDataDir,
  loadSettings,
  restartNeeded,
  saveSettings,
  serverConfig,
  SETTINGS_FILE,
  validateSettings,
} from '../../electron/main/settings.ts';
import type { DesktopSettings } from '../../electron/shared/ipc.ts';
import { scratchDirs } from './helpers.ts';

const good: DesktopSettings = { port: 5001, bindAddress: 'loopback', dataDir: path.resolve('/tmp/berth-data'), tls: false, startAtLogin: true };

function errorsOf(input: unknown) {
  const result = validateSettings(input);
  assert.equal(result.ok, false, 'expected the settings to be refused');
  return result.ok ? {} : result.errors;
}

describe('settings validation', () => {
  it('accepts good settings and returns exactly the five fields', () => {
    const result = validateSettings({ ...good, extra: 'ignored' });
    assert.deepEqual(result, { ok: true, settings: good });
  });

  it('defaults: port 5000 on loopback, the headless data directory, TLS and login start off', () => {
    assert.deepEqual(defaultSettings(), { port: 5000, bindAddress: 'loopback', dataDir: defaultDataDir(), tls: false, startAtLogin: false });
    assert.equal(validateSettings(defaultSettings()).ok, true);
  });

  it('port: whole numbers from 1 to 65535', () => {
    for (const port of [1, 80, 5000, 65535]) assert.equal(validateSettings({ ...good, port }).ok, true, `port ${port}`);
    for (const port of [-1, 65536, 1.5, Number.NaN, '5000', null]) {
      assert.match(errorsOf({ ...good, port }).port ?? '', /1 to 65535/, `port ${String(port)}`);
    }
  });

  it('port 0 (any free port) is refused: the address must stay the same between starts', () => {
    assert.match(errorsOf({ ...good, port: 0 }).port ?? '', /fixed port/);
  });

  it('bindAddress: loopback or all', () => {
    assert.equal(validateSettings({ ...good, bindAddress: 'all' }).ok, true);
    for (const bindAddress of ['0.0.0.0', 'LOOPBACK', '', 1]) {
      assert.match(errorsOf({ ...good, bindAddress }).bindAddress ?? '', /"loopback".*"all"/);
    }
  });

  it('dataDir: an absolute path', () => {
    assert.match(errorsOf({ ...good, dataDir: 'relative/dir' }).dataDir ?? '', /not an absolute path/);
    assert.match(errorsOf({ ...good, dataDir: '' }).dataDir ?? '', /needs a folder/);
    assert.match(errorsOf({ ...good, dataDir: '   ' }).dataDir ?? '', /needs a folder/);
    assert.match(errorsOf({ ...good, dataDir: 42 }).dataDir ?? '', /needs a folder/);
    assert.match(errorsOf({ ...good, dataDir: '/tmp/a\0b' }).dataDir ?? '', /NUL/);
  });

  it('dataDir is normalized the way the server resolves it', () => {
    const result = validateSettings({ ...good, dataDir: '/tmp/x/../berth//data/' });
    assert.ok(result.ok);
    assert.equal(result.settings.dataDir, path.resolve('/tmp/berth/data'));
  });

  it('tls and startAtLogin: booleans only', () => {
    for (const value of ['true', 1, null]) {
      const errors = errorsOf({ ...good, tls: value, startAtLogin: value });
      assert.equal(errors.tls, 'must be true or false');
      assert.equal(errors.startAtLogin, 'must be true or false');
    }
  });

  it('reports every bad field at once, and missing fields', () => {
    const errors = errorsOf({ port: 'x', bindAddress: 'lan', dataDir: 'rel', tls: 'no' });
    assert.deepEqual(Object.keys(errors).sort(), ['bindAddress', 'dataDir', 'port', 'startAtLogin', 'tls']);
    assert.equal(errors.startAtLogin, 'missing');
  });

  it('refuses what is not an object', () => {
    for (const input of [null, 'settings', [good], 5]) assert.equal(validateSettings(input).ok, false);
  });
});

describe('settings that need a registry restart', () => {
  it('port, bind address, data directory and TLS do; start at login does not', () => {
    assert.equal(restartNeeded(good, { ...good, startAtLogin: !good.startAtLogin }), false);
    for (const change of [{ port: 5002 }, { bindAddress: 'all' as const }, { dataDir: '/elsewhere' }, { tls: true }]) {
      assert.equal(restartNeeded(good, { ...good, ...change }), true, JSON.stringify(change));
    }
  });

  it('the server config binds loopback or every interface, with the launch token and a short grace period', () => {
    const config = serverConfig({ ...good, bindAddress: 'all' }, 'secret');
    assert.equal(config.host, '0.0.0.0');
    assert.equal(config.port, 5001);
    assert.equal(config.dataDir, good.dataDir);
    assert.equal(config.managementToken, 'secret');
    assert.ok(config.shutdownGraceSeconds > 0 && config.shutdownGraceSeconds <= 10);
    assert.equal(serverConfig(good, 't').host, '127.0.0.1');
  });

  it('every interface turns registry auth on; loopback stays open like berth serve', () => {
    assert.equal(serverConfig({ ...good, bindAddress: 'all' }, 't').auth, 'token');
    assert.equal(serverConfig(good, 't').auth, 'none');
    assert.equal(serverConfig({ ...good, bindAddress: 'all' }, 't').insecureNoAuth, false);
  });

  it('TLS is passed through to the server', () => {
    assert.equal(serverConfig({ ...good, tls: true }, 't').tls, true);
    assert.equal(serverConfig(good, 't').tls, false);
  });
});

describe('where the desktop app keeps its own files', () => {
  it('never in the registry data directory shared with berth serve', () => {
    const cases: [NodeJS.Platform, string, NodeJS.ProcessEnv, string][] = [
      ['darwin', '/Users/ana/Library/Application Support', {}, '/Users/ana'],
      ['win32', 'C:\\Users\\ana\\AppData\\Roaming', { APPDATA: 'C:\\Users\\ana\\AppData\\Roaming' }, 'C:\\Users\\ana'],
      ['linux', '/home/ana/.config', {}, '/home/ana'],
    ];
    for (const [platform, appData, env, home] of cases) {
      const userData = desktopUserDataDir(appData, platform);
      assert.notEqual(path.resolve(userData), path.resolve(defaultDataDir(env, platform, home)), platform);
      assert.ok(!path.resolve(defaultDataDir(env, platform, home)).startsWith(`${path.resolve(userData)}${path.sep}`), platform);
    }
    assert.equal(desktopUserDataDir('/Users/ana/Library/Application Support', 'darwin'), '/Users/ana/Library/Application Support/Berth Desktop');
    assert.equal(desktopUserDataDir('/home/ana/.config', 'linux'), '/home/ana/.config/Berth');
  });
});

describe('settings file', () => {
  const scratch = scratchDirs();
  const dir = () => scratch('berth-settings-');

  it('a missing file gives the defaults without complaint', async () => {
    assert.deepEqual(await loadSettings(await dir()), { settings: defaultSettings(), problems: [] });
  });

  it('saves and loads back the same settings, readable by the user only', async () => {
    const d = await dir();
    await saveSettings(d, good);
    assert.deepEqual((await loadSettings(d)).settings, good);
    const stat = await fs.stat(path.join(d, SETTINGS_FILE));
    if (process.platform !== 'win32') assert.equal(stat.mode & 0o077, 0);
    assert.deepEqual((await fs.readdir(d)).sort(), [SETTINGS_FILE], 'no temp file left');
  });

  it('a damaged file is kept aside and the defaults are used', async () => {
    const d = await dir();
    await fs.writeFile(path.join(d, SETTINGS_FILE), '{"port": 50');
    const loaded = await loadSettings(d);
    assert.deepEqual(loaded.settings, defaultSettings());
    assert.match(loaded.problems[0] ?? '', /not a JSON object/);
    assert.equal(await fs.readFile(path.join(d, `${SETTINGS_FILE}.damaged`), 'utf8'), '{"port": 50');
  });

  it('a bad field falls back to its default and the good ones are kept', async () => {
    const d = await dir();
    await fs.writeFile(path.join(d, SETTINGS_FILE), JSON.stringify({ ...good, port: 99999, tls: 'yes' }));
    const loaded = await loadSettings(d);
    assert.deepEqual(loaded.settings, { ...good, port: 5000, tls: false });
    assert.equal(loaded.problems.length, 2);
    assert.match(loaded.problems.join('\n'), /"port".*using 5000/);
  });
});

describe('settings: storage', () => {
  const scratch = scratchDirs();
  const s3 = { driver: 's3', endpoint: 'http://127.0.0.1:9000', bucket: 'registry', region: 'us-east-1', forcePathStyle: true, accessKeyId: 'AKIA', secretAccessKey: 'secret', connectionString: '', container: '', prefix: 'berth', redirect: false } as const;

  it('takes an S3 bucket with the server’s rules, and the registry is configured with it', () => {
    const result = validateSettings({ ...good, storage: s3 });
    assert.equal(result.ok, true);
    const config = serverConfig(result.ok ? result.settings : good, 'token');
    assert.equal(config.storage.driver, 's3');
    assert.equal(config.storage.s3?.bucket, 'registry');
    assert.equal(config.storage.s3?.prefix, 'berth');
    assert.equal(config.dataDir, good.dataDir, 'the data directory still holds the local state');
  });

  it('says what is wrong with the storage settings, in the server’s words', () => {
    assert.match(errorsOf({ ...good, storage: { ...s3, bucket: '' } }).storage ?? '', /needs a text value|bucket/);
    assert.match(errorsOf({ ...good, storage: { ...s3, bucket: 'Not_A_Bucket' } }).storage ?? '', /not a valid bucket name/);
    assert.match(errorsOf({ ...good, storage: { ...s3, secretAccessKey: '' } }).storage ?? '', /go together/);
    assert.match(errorsOf({ ...good, storage: { ...s3, driver: 'azure' } }).storage ?? '', /container/);
    assert.match(errorsOf({ ...good, storage: { driver: 'ftp' } }).storage ?? '', /filesystem, s3 or azure/);
  });

  it('restarts the registry when the storage changes, and loads settings saved without it as the data directory', async () => {
    assert.equal(restartNeeded(good, { ...good, storage: s3 }), true);
    assert.equal(restartNeeded({ ...good, storage: s3 }, { ...good, storage: { ...s3 } }), false);
    assert.equal(serverConfig(good, 'token').storage.driver, 'filesystem');
    const saved = await scratch('berth-settings-storage-');
    await saveSettings(saved, { ...good, storage: s3 });
    assert.deepEqual((await loadSettings(saved)).settings.storage, s3);
  });
});
