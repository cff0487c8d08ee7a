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

/** The names a server certificate covers (tls/names.ts SubjectNames), when clients must verify one. */
export interface CoveredNames {
  dns: string[];
  ips: string[];
}

/**
 * The host:port to print in "docker push <address>/<image>": one a client can connect to, and with TLS
 * one the certificate names. A wildcard bind (0.0.0.0, ::) is not an address anyone can connect to;
 * it is replaced by this machine's LAN address, else its name, that the certificate covers. Without
 * TLS that is `localhost` instead: Docker pushes to it over plain HTTP with no configuration, while a
 * LAN address must first be listed in "insecure-registries" (`others` lists those).
 */
export function pushAddresses(
  host: string,
  port: number,
  tls: CoveredNames | null,
  interfaces: NodeJS.Dict<os.NetworkInterfaceInfo[]> = os.networkInterfaces(),
  hostname: string = os.hostname(),
): { push: string; others: string[] } {
  const withPort = (h: string) => `${h.includes(':') ? `[${h}]` : h}:${port}`;
  if (!ANY.has(host)) return { push: withPort(host), others: [] };
  const lan = clientAddresses(host, port, interfaces).lan.map((a) => a.slice(0, a.lastIndexOf(':')));
  if (!tls) return { push: withPort('localhost'), others: lan.map(withPort) };
  const name = hostname.toLowerCase();
  const covered = [...lan.filter((ip) => tls.ips.includes(ip)), ...[name, `${name}.local`].filter((n) => tls.dns.includes(n))];
  const push = covered[0] ?? (tls.dns.includes('localhost') ? 'localhost' : tls.dns[0] ?? tls.ips[0] ?? 'localhost');
  return { push: withPort(push), others: covered.slice(1).map(withPort) };
}
