/**
 * A containerd started by hand for the tests (Debian's `containerd` package): its own root, state,
 * socket and opt folder under a temp dir, the CRI plugin off (no Kubernetes here), so it touches nothing
 * of the machine's own containerd. `ctr` talks to it with --address.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { run } from './tools.ts';

export interface Containerd {
  ctr(...args: string[]): Promise<string>;
  stop(): Promise<void>;
}

export async function startContainerd(root: string): Promise<Containerd> {
  await fs.mkdir(root, { recursive: true });
  const socket = path.join(root, 'containerd.sock');
  const config = path.join(root, 'config.toml');
  await fs.writeFile(config, [
    'version = 2',
    `root = "${path.join(root, 'root')}"`,
    `state = "${path.join(root, 'state')}"`,
    'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
    '[grpc]',
    `  address = "${socket}"`,
    '[ttrpc]',
    `  address = "${socket}.ttrpc"`,
    '[plugins."io.containerd.internal.v1.opt"]',
    `  path = "${path.join(root, 'opt')}"`,
    '',
  ].join('\n'));
  const log = await fs.open(path.join(root, 'containerd.log'), 'w');
  const child: ChildProcess = spawn('containerd', ['--config', config], { stdio: ['ignore', log.fd, log.fd] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const ctr = (...args: string[]) => run('ctr', ['--address', socket, ...args]);
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      await ctr('version');
      break;
    } catch (err) {
      if (child.exitCode !== null || Date.now() > deadline) {
        const text = await fs.readFile(path.join(root, 'containerd.log'), 'utf8').catch(() => '');
        child.kill('SIGKILL');
        throw new Error(`containerd did not start: ${(err as Error).message}\n${text.slice(-3000)}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return {
    ctr,
    async stop() {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
      await log.close();
    },
  };
}
