/**
 * `berth storage copy --from CONFIG --to CONFIG`: copies a registry between storage drivers
 * (storage/copy.ts), verified and resumable, with progress; `berth storage check`: whether the
 * configured store answers. A CONFIG is a Berth config file (its `storage` and `data`), or a data
 * directory (the filesystem driver on it).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import prettyBytes from 'pretty-bytes';
import { defaults, loadConfig, readConfigFile, type BerthConfig } from '../config.ts';
import { StartupError } from '../index.ts';
import { copyRegistry, type CopyProgress } from '../storage/copy.ts';
import { createDriver } from '../storage/driver/create.ts';
import { isStorageError, type StorageDriver } from '../storage/driver/driver.ts';
import { liveHolder } from '../storage/lock.ts';
import { StoragePaths } from '../storage/paths.ts';
import { parseOptions, requireDataDir, subcommandError, UsageError, type Command } from './common.ts';

const USAGE = `Usage: berth storage copy --from CONFIG --to CONFIG [--json]
       berth storage check [--data DIR] [--config FILE]

copy   Copies every blob, manifest and tag from one store to another: a data directory, an S3 bucket
       or an Azure container. CONFIG is a Berth config file (its "storage" and "data" settings) or a
       data directory. Each blob is verified against its digest while it streams; what the destination
       already holds is skipped, so an interrupted copy just runs again. Upload sessions in progress
       are not copied. Run it with no server writing to the source (or run it again after the last
       push), and with no server on the destination: its index is rebuilt at its next start.
check  Says whether the configured store answers (and creates a missing bucket or container when
       the settings allow).

  --json    print the copy's report as JSON`;

export const storageCommand: Command = {
  summary: 'Copy a registry between storage drivers (filesystem, S3, Azure), or check the store',
  usage: `${USAGE}\n`,
  async run(args) {
    const [sub, ...rest] = args;
    if (sub === 'copy') return copy(rest);
    if (sub === 'check') return check(rest);
    throw subcommandError('storage', sub, ['copy', 'check']);
  },
};

/** A config file or a data directory, as the store it names. */
async function storeOf(spec: string, flag: string): Promise<{ config: Pick<BerthConfig, 'storage' | 'dataDir'>; driver: StorageDriver; name: string }> {
  // "s3:bucket", "s3://bucket", "azure:container": a store named the way other tools name one. Taken as
  // a path it would become a folder of that name; no driver is named on the command line.
  if (/^[a-z][a-z0-9+.-]*:/i.test(spec) && !/^[a-z]:[\\/]/i.test(spec)) {
    throw new UsageError(`${flag} ${spec}: give a data directory or a config file; for S3 or Azure, a config file whose "storage" names the bucket or container`);
  }
  const resolved = path.resolve(spec);
  const st = await fs.stat(resolved).catch(() => null);
  let config: Pick<BerthConfig, 'storage' | 'dataDir'>;
  if (st?.isDirectory()) {
    // The source must be a registry: a mistyped folder would copy nothing and say "done".
    if (flag === '--from' && !(await fs.stat(path.join(resolved, 'blobs')).then((b) => b.isDirectory(), () => false))) {
      throw new UsageError(`--from ${spec}: not a Berth data directory (it has no blobs/ folder)`);
    }
    config = { ...defaults(), dataDir: resolved };
  } else if (st?.isFile()) {
    const file = await readConfigFile(resolved);
    config = { storage: file.storage ?? defaults().storage, dataDir: file.dataDir ?? path.join(path.dirname(resolved), 'data') };
  } else if (st) {
    throw new UsageError(`${flag} ${spec}: neither a config file nor a data directory`);
  } else if (flag === '--from') {
    throw new UsageError(`--from ${spec}: not found (give the data directory or the config file of the registry to copy)`);
  } else if (/\.json$/i.test(spec)) {
    throw new UsageError(`--to ${spec}: config file not found`);
  } else {
    // A data directory to be: the destination of a copy back to disk.
    config = { ...defaults(), dataDir: resolved };
  }
  const driver = createDriver(config.storage, config.dataDir);
  return { config, driver, name: driver.location.description };
}

async function copy(args: string[]): Promise<number> {
  const { values } = parseOptions(args, { from: { type: 'string' }, to: { type: 'string' }, json: { type: 'boolean' } });
  if (!values.from || !values.to) throw new UsageError('berth storage copy needs --from CONFIG and --to CONFIG');
  const from = await storeOf(values.from, '--from');
  const to = await storeOf(values.to, '--to');
  if (from.name === to.name) throw new UsageError(`--from and --to are the same store (${from.name})`);
  // The destination's index must be rebuilt from what the copy wrote: no server may hold it meanwhile.
  const destination = new StoragePaths(to.config.dataDir);
  const holder = await liveHolder(destination.lockFile).catch(() => null);
  if (holder && holder.pid !== process.pid) {
    throw new StartupError(`a Berth server (pid ${holder.pid}) uses the destination's data directory ${destination.root}: stop it first`);
  }
  for (const [store, role] of [[from, 'source'], [to, 'destination']] as const) {
    try {
      await store.driver.check({ create: role === 'destination' });
    } catch (err) {
      throw new StartupError(`${role}: ${isStorageError(err) ? err.message : (err as Error).message}`);
    }
  }
  const out = process.stderr;
  const live = out.isTTY === true;
  let last = 0;
  const show = (p: CopyProgress) => {
    const now = Date.now();
    if (p.phase !== 'done' && now - last < (live ? 200 : 2000) && p.done !== p.total) return;
    last = now;
    const line = p.phase === 'blobs'
      ? `blobs ${p.done}/${p.total} (${prettyBytes(p.bytesDone)} of ${prettyBytes(p.bytesTotal)})`
      : p.phase === 'done' ? 'done' : `${p.phase} ${p.done}/${p.total}`;
    out.write(live ? `\r\x1b[K${line}` : `${line}\n`);
  };
  out.write(`copying ${from.name} -> ${to.name}\n`);
  let report;
  try {
    report = await copyRegistry(from.driver, to.driver, show);
  } catch (err) {
    if (live) out.write('\n');
    throw new StartupError(`copy stopped (run it again to resume): ${isStorageError(err) ? err.message : (err as Error).message}`);
  } finally {
    await from.driver.close();
    await to.driver.close();
  }
  if (live) out.write('\n');
  // The destination's index (if any) described what was there before: the next start rebuilds it.
  await fs.rm(path.join(destination.root, 'index'), { recursive: true, force: true });
  if (values.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  else {
    process.stdout.write(
      `Copied ${report.blobs.copied} blobs (${prettyBytes(report.blobs.bytesCopied)}), ${report.links.copied} links and ${report.tags.copied} tags in ${(report.ms / 1000).toFixed(1)} s; ` +
        `${report.blobs.skipped + report.links.skipped + report.tags.skipped} already there\n`,
    );
    if (report.blobs.gone > 0) process.stdout.write(`${report.blobs.gone} blobs were deleted from the source during the copy (a collection): not copied\n`);
    for (const c of report.corrupt) process.stdout.write(`not copied: blob ${c.digest} in the source has digest ${c.actual} (run "berth scrub" on the source)\n`);
  }
  return report.corrupt.length > 0 ? 1 : 0;
}

async function check(args: string[]): Promise<number> {
  const { values } = parseOptions(args, { data: { type: 'string' }, config: { type: 'string' } });
  const config = await loadConfig({ flags: { data: values.data }, ...(values.config !== undefined ? { configFile: values.config } : {}) });
  // On disk the store is the data directory itself: checking a mistyped one must not make it (and say "ok").
  if (config.storage.driver === 'filesystem') await requireDataDir(config.dataDir);
  const driver = createDriver(config.storage, config.dataDir);
  try {
    await driver.check();
  } catch (err) {
    throw new StartupError(isStorageError(err) ? err.message : (err as Error).message);
  } finally {
    await driver.close();
  }
  process.stdout.write(`storage ok: ${driver.location.description}\n`);
  return 0;
}
