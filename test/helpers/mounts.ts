/**
 * Real file systems with real faults for the disk tests, made and removed by the test: a small tmpfs
 * (a full disk, and remounted read-only: root ignores chmod, so a mode is no read-only test), and a
 * FUSE mirror that fails chosen files with EIO (eio-fs.py; this machine's kernel has no device-mapper
 * for dmsetup's "error" target). Every mount is removed with `umount -l` in cleanup, which also works
 * while a process still has files open there, so a failed test leaves no mount behind.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { hasTool, run } from './tools.ts';

/** The `skip` option for tests that mount: they need root (CI runs as root); under CI=true a lack fails. */
export function skipUnlessRoot(...tools: string[]): string | false {
  const missing = tools.filter((t) => !hasTool(t));
  const reason = process.getuid?.() !== 0 ? 'needs root (mount)' : missing.length > 0 ? `needs ${missing.join(', ')}` : null;
  if (!reason) return false;
  if (process.env.CI === 'true') throw new Error(`CI=true and the test ${reason}`);
  return reason;
}

export interface Tmpfs {
  dir: string;
  /** `mount -o remount,<options>`, e.g. "ro" or "rw". */
  remount(options: string): Promise<void>;
  unmount(): Promise<void>;
}

export async function mountTmpfs(dir: string, sizeBytes: number): Promise<Tmpfs> {
  await fs.mkdir(dir, { recursive: true });
  await run('mount', ['-t', 'tmpfs', '-o', `size=${sizeBytes}`, 'tmpfs', dir]);
  let mounted = true;
  return {
    dir,
    remount: async (options) => {
      await run('mount', ['-o', `remount,${options}`, dir]);
    },
    async unmount() {
      if (!mounted) return;
      mounted = false;
      await run('umount', ['-l', dir]).catch(() => undefined);
    },
  };
}

/** Writes zeros to `file` until the volume refuses (ENOSPC): the disk is then full to the last block. */
export async function fillDisk(file: string): Promise<number> {
  const handle = await fs.open(file, 'a');
  const chunk = Buffer.alloc(64 * 1024);
  let written = 0;
  try {
    for (let size = chunk.length; size >= 512; ) {
      try {
        const { bytesWritten } = await handle.write(chunk, 0, size);
        written += bytesWritten;
        if (bytesWritten < size) size = Math.floor(size / 2);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
        size = Math.floor(size / 2);
      }
    }
  } finally {
    await handle.close();
  }
  return written;
}

const EIO_FS = path.join(path.dirname(fileURLToPath(import.meta.url)), 'eio-fs.py');

export interface EioMount {
  /** Where the mirror is mounted: what the program under test uses. */
  dir: string;
  /** The directory behind it. */
  backing: string;
  /** Makes these paths (relative to the mount; "*" for all) fail with EIO from now on; [] heals them. */
  fail(paths: string[]): Promise<void>;
  unmount(): Promise<void>;
}

/** Mounts eio-fs.py: `dir` mirrors `backing`, with the files named by fail() answering EIO. */
export async function mountEioFs(backing: string, dir: string): Promise<EioMount> {
  await fs.mkdir(backing, { recursive: true });
  await fs.mkdir(dir, { recursive: true });
  const child: ChildProcess = spawn('/usr/bin/python3', [EIO_FS, backing, dir], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const control = path.join(backing, '.eio');
  let mounted = false;
  const deadline = Date.now() + 20_000;
  while (!mounted) {
    mounted = (await fs.readFile('/proc/mounts', 'utf8')).split('\n').some((line) => line.split(' ')[1] === dir);
    if (mounted) break;
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`eio-fs.py did not mount ${dir}: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    dir,
    backing,
    async fail(paths) {
      if (paths.length === 0) await fs.rm(control, { force: true });
      else await fs.writeFile(control, `${paths.join('\n')}\n`);
    },
    async unmount() {
      if (!mounted) return;
      mounted = false;
      await run('umount', ['-l', dir]).catch(() => undefined);
      if (child.exitCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}
