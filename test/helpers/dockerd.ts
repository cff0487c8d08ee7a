/**
 * A Docker daemon started by hand for the tests (no systemd here): vfs storage, no networking, its
 * own data root and socket, so it needs nothing from the host but the docker.io package and root.
 * Docker treats 127.0.0.0/8 as an insecure registry by default, so pushes to berth on localhost work.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { startDaemon } from './daemon.ts';
import { run } from './tools.ts';

export interface Dockerd {
  env: NodeJS.ProcessEnv;
  docker(...args: string[]): Promise<string>;
  stop(): Promise<void>;
}

/**
 * `args`: more dockerd flags (--registry-mirror ...).
 * `hosts`: an /etc/hosts for this dockerd alone (it then runs in a private mount namespace with the file
 * bound over /etc/hosts). Docker skips TLS verification for any registry name that resolves into
 * 127.0.0.0/8; a name resolving to ::1 only is "secure", so certs.d and verification are really used.
 */
export async function startDockerd(root: string, options: { hosts?: string; args?: string[] } = {}): Promise<Dockerd> {
  const data = path.join(root, 'data');
  const exec = path.join(root, 'exec');
  await fs.mkdir(data, { recursive: true });
  await fs.mkdir(exec, { recursive: true });
  const socket = path.join(root, 'docker.sock');
  const dockerdArgs = ['--iptables=false', '--ip6tables=false', '--bridge=none', '--storage-driver=vfs',
    '--data-root', data, '--exec-root', exec, '-H', `unix://${socket}`, '--pidfile', path.join(root, 'docker.pid'), ...(options.args ?? [])];
  let command = 'dockerd';
  let args = dockerdArgs;
  if (options.hosts !== undefined) {
    const hostsFile = path.join(root, 'hosts');
    await fs.writeFile(hostsFile, options.hosts);
    command = 'unshare';
    // exec keeps the pid: stop() signals dockerd itself.
    args = ['--mount', '--propagation', 'private', 'sh', '-c', 'mount --bind "$0" /etc/hosts && exec dockerd "$@"', hostsFile, ...dockerdArgs];
  }
  const env = { DOCKER_HOST: `unix://${socket}` };
  const docker = (...args: string[]) => run('docker', args, { env });
  const daemon = await startDaemon(command, args, path.join(root, 'dockerd.log'), () => docker('version'));
  return { env, docker, stop: () => daemon.stop() };
}

/** docker load of an OCI layout (skopeo turns it into a docker-archive in `scratchDir` first); returns `ref`. */
export async function loadOciLayout(dockerd: Dockerd, layoutDir: string, ref: string, scratchDir: string): Promise<string> {
  const archive = path.join(scratchDir, `${ref.replace(/[/:]/g, '_')}.tar`);
  await run('skopeo', ['copy', `oci:${layoutDir}:latest`, `docker-archive:${archive}:${ref}`]);
  await dockerd.docker('load', '-i', archive);
  return ref;
}
