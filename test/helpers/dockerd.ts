/**
 * A Docker daemon started by hand for the tests (no systemd here): vfs storage, no networking, its
 * own data root and socket, so it needs nothing from the host but the docker.io package and root.
 * Docker treats 127.0.0.0/8 as an insecure registry by default, so pushes to berth on localhost work.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
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
  const log = await fs.open(path.join(root, 'dockerd.log'), 'w');
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
  const child: ChildProcess = spawn(command, args, { stdio: ['ignore', log.fd, log.fd] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const env = { DOCKER_HOST: `unix://${socket}` };
  const docker = (...args: string[]) => run('docker', args, { env });
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      await docker('version');
      break;
    } catch (err) {
      if (child.exitCode !== null || Date.now() > deadline) {
        const text = await fs.readFile(path.join(root, 'dockerd.log'), 'utf8').catch(() => '');
        child.kill('SIGKILL');
        throw new Error(`dockerd did not start: ${(err as Error).message}\n${text.slice(-3000)}`);
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  return {
    env,
    docker,
    async stop() {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
      await log.close();
    },
  };
}

/** docker load of an OCI layout (skopeo turns it into a docker-archive in `scratchDir` first); returns `ref`. */
export async function loadOciLayout(dockerd: Dockerd, layoutDir: string, ref: string, scratchDir: string): Promise<string> {
  const archive = path.join(scratchDir, `${ref.replace(/[/:]/g, '_')}.tar`);
  await run('skopeo', ['copy', `oci:${layoutDir}:latest`, `docker-archive:${archive}:${ref}`]);
  await dockerd.docker('load', '-i', archive);
  return ref;
}
