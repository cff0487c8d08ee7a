/**
 * How each client uses Berth as a mirror of an upstream (shared/REGISTRY-NOTES.md "Mirrors"): the exact
 * daemon.json, hosts.toml and registries.conf lines for this registry's address.
 *   - Docker: "registry-mirrors" is for Docker Hub only, and names no upstream: Berth's default upstream
 *     serves it (and Docker falls back to Docker Hub itself when the mirror fails);
 *   - containerd (and nerdctl, kind, k3s): a hosts.toml per upstream; requests carry ?ns=<upstream>;
 *   - podman, buildah, skopeo: registries.conf, a mirror location with the upstream as path prefix.
 */
import type { UpstreamView } from '../../server/registry/api-types.ts';
import type { SetupStep } from './engines.ts';

export interface MirrorClient {
  id: string;
  name: string;
  summary: string;
  steps: SetupStep[];
}

const DOCKER_HUB = ['docker.io', 'registry-1.docker.io', 'index.docker.io'];

export function isDockerHubUpstream(upstream: Pick<UpstreamView, 'name' | 'aliases'>): boolean {
  return [upstream.name, ...upstream.aliases].some((h) => DOCKER_HUB.includes(h));
}

export function mirrorClients({ address, tls, upstreams }: { address: string; tls: boolean; upstreams: UpstreamView[] }): MirrorClient[] {
  const scheme = tls ? 'https' : 'http';
  const hub = upstreams.find((u) => u.default && isDockerHubUpstream(u));
  const clients: MirrorClient[] = [];
  clients.push({
    id: 'docker',
    name: 'Docker',
    summary: hub
      ? `Docker uses a mirror for Docker Hub images only; Berth serves it from its upstream ${hub.name}. If Berth cannot answer, Docker goes to Docker Hub itself.`
      : 'Docker uses registry mirrors for Docker Hub images only: add an upstream for docker.io (https://registry-1.docker.io) to use Berth this way.',
    steps: hub
      ? [
          {
            text: `Add the mirror, then restart Docker (sudo systemctl restart docker; Docker Desktop: Settings → Docker Engine → Apply & restart):`,
            path: '/etc/docker/daemon.json',
            code: JSON.stringify({ 'registry-mirrors': [`${scheme}://${address}`] }, null, 2),
          },
          { text: 'Pull as usual: the image comes through Berth, and the next pull (from any client) comes from its cache.', code: 'docker pull alpine' },
        ]
      : [],
  });
  clients.push({
    id: 'containerd',
    name: 'containerd',
    summary: 'containerd (and nerdctl, kind, k3s) reads one hosts.toml per registry; it asks Berth with ?ns=<registry>, so one Berth serves every upstream.',
    steps: [
      ...upstreams.map((u) => ({
        text: `For ${u.name}:`,
        path: `/etc/containerd/certs.d/${u.name}/hosts.toml`,
        code: [`server = "${u.url}"`, '', `[host."${scheme}://${address}"]`, '  capabilities = ["pull", "resolve"]', ...(tls ? [`  ca = "/etc/containerd/certs.d/${u.name}/berth-ca.crt"`] : [])].join('\n'),
      })),
      {
        text: 'containerd reads these when its CRI config points at the folder (nerdctl does by itself); restart containerd after changing config.toml:',
        path: '/etc/containerd/config.toml',
        code: '[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = "/etc/containerd/certs.d"',
      },
      { text: 'With ctr, name the folder:', code: `ctr images pull --hosts-dir /etc/containerd/certs.d ${upstreams[0]?.name ?? 'docker.io'}/library/alpine:latest` },
    ],
  });
  clients.push({
    id: 'podman',
    name: 'Podman, Buildah, Skopeo',
    summary: 'registries.conf lists Berth as a mirror of each upstream, with the upstream as a path prefix; the images keep their usual names.',
    steps: [
      {
        text: 'Add (rootless: ~/.config/containers/registries.conf; or a drop-in file in /etc/containers/registries.conf.d/):',
        path: '/etc/containers/registries.conf',
        code: upstreams
          .map((u) => ['[[registry]]', `prefix = "${u.name}"`, `location = "${u.name}"`, '', '[[registry.mirror]]', `location = "${address}/${u.name}"`, ...(tls ? [] : ['insecure = true'])].join('\n'))
          .join('\n\n'),
      },
      { text: 'Pull as usual:', code: `podman pull ${upstreams[0]?.name ?? 'docker.io'}/library/alpine:latest` },
    ],
  });
  return clients;
}
