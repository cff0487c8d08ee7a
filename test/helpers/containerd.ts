/**
 * A containerd started by hand for the tests (Debian's `containerd` package): its own root, state,
 * socket and opt folder under a temp dir, the CRI plugin off (no Kubernetes here), so it touches nothing
 * of the machine's own containerd. `ctr` talks to it with --address.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { startDaemon } from './daemon.ts';
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
  const ctr = (...args: string[]) => run('ctr', ['--address', socket, ...args]);
  const daemon = await startDaemon('containerd', ['--config', config], path.join(root, 'containerd.log'), () => ctr('version'), { timeoutMs: 30_000, everyMs: 100 });
  return { ctr, stop: () => daemon.stop() };
}
