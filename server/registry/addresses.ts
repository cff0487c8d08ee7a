/**
 * How clients reach this registry. `localhost` is the network of whoever resolves it: the desktop,
 * rootful Docker Engine on Linux; but Docker Desktop, Colima and Podman machine run their daemon in a
 * VM, where the host is `host.docker.internal` / `host.containers.internal` (their VMs forward it to the
 * host's loopback). Other machines need an address of this one, and Berth listening beyond loopback.
 */
import os from 'node:os';
import type { ClientAddresses } from './api-types.ts';

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/i;
const ANY = new Set(['0.0.0.0', '::', '']);

export function clientAddresses(
  host: string,
  port: number,
  interfaces: NodeJS.Dict<os.NetworkInterfaceInfo[]> = os.networkInterfaces(),
): ClientAddresses {
  const loopbackOnly = LOOPBACK.test(host);
  let lan: string[] = [];
  if (ANY.has(host)) {
    lan = Object.values(interfaces)
      .flatMap((list) => list ?? [])
      .filter((i) => i.family === 'IPv4' && !i.internal)
      .map((i) => `${i.address}:${port}`);
  } else if (!loopbackOnly) {
    lan = [`${host.includes(':') ? `[${host}]` : host}:${port}`];
  }
  return {
    localhost: `localhost:${port}`,
    dockerDesktop: `host.docker.internal:${port}`,
    podmanMachine: `host.containers.internal:${port}`,
    lan: [...new Set(lan)],
    loopbackOnly,
  };
}

/**
 * The URL this process uses to reach its own registry: the one it listens on, with a wildcard address
 * (0.0.0.0, ::) replaced by loopback, which a client cannot connect to everywhere.
 */
export function selfUrl(listenUrl: string): string {
  const url = new URL(listenUrl);
  if (url.hostname === '0.0.0.0') url.hostname = '127.0.0.1';
  if (url.hostname === '[::]') url.hostname = '[::1]';
  return url.origin;
}
