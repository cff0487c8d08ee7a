/** A daemon the tests start by hand (dockerd, containerd): its output in a log file, ready when it answers. */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';

export interface Daemon {
  child: ChildProcess;
  /** SIGTERM, then SIGKILL after 15 s; resolves once it exited. */
  stop(): Promise<void>;
}

/**
 * Spawns `command` with its output in `logFile` and polls `ready` until it resolves; fails with the tail
 * of the log when the daemon exits first or does not get ready within `timeoutMs`.
 */
export async function startDaemon(command: string, args: string[], logFile: string, ready: () => Promise<unknown>, options: { timeoutMs?: number; everyMs?: number } = {}): Promise<Daemon> {
  const log = await fs.open(logFile, 'w');
  const child: ChildProcess = spawn(command, args, { stdio: ['ignore', log.fd, log.fd] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  for (;;) {
    try {
      await ready();
      break;
    } catch (err) {
      if (child.exitCode !== null || Date.now() > deadline) {
        const text = await fs.readFile(logFile, 'utf8').catch(() => '');
        child.kill('SIGKILL');
        await log.close();
        throw new Error(`${command} did not start: ${(err as Error).message}\n${text.slice(-3000)}`);
      }
      await new Promise((r) => setTimeout(r, options.everyMs ?? 250));
    }
  }
  return {
    child,
    async stop() {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
      await log.close();
    },
  };
}
