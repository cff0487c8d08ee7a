/**
 * How each container engine reaches this registry: the file to edit, the exact snippet for the current
 * address, and when nothing is needed (shared/REGISTRY-NOTES.md "Where engines look"). Plain HTTP
 * needs an "insecure" entry everywhere except rootful Docker Engine with localhost; with TLS on, the
 * engines trust Berth's CA instead (the certs.d steps).
 */
import type { ClientAddresses } from '../../server/registry/api-types.ts';

export interface SetupStep {
  text: string;
  /** The file the snippet goes in. */
  path?: string;
  code?: string;
}

export interface Engine {
  id: string;
  name: string;
  /** The name on its tab, when shorter than `name` (the tabs stay on one line). */
  tab?: string;
  /** Where it runs. */
  runsOn: string;
  /** The address this engine uses for Berth. */
  address: string;
  /** One-line summary; for "nothing to configure" cases it says so. */
  summary: string;
  nothingNeeded: boolean;
  steps: SetupStep[];
  /** A problem with the current settings that stops this engine reaching Berth. */
  warning?: string;
}

export interface SetupContext {
  addresses: ClientAddresses;
  tls: boolean;
}

const json = (value: unknown) => JSON.stringify(value, null, 2);

function lanAddress(a: ClientAddresses): string {
  return a.lan[0] ?? `<this computer's address>:${a.localhost.split(':')[1]}`;
}

const LOOPBACK_WARNING =
  'Berth listens on this computer only (loopback). Let it listen on all interfaces (Settings in the desktop app, or berth serve --host 0.0.0.0) so this engine can reach it.';

/** Instead of steps for other computers, while none can reach Berth. */
const REACH_FROM_ELSEWHERE =
  'Other computers cannot reach Berth yet: it listens on this computer only (loopback). To push from one, let Berth listen on all interfaces ' +
  '(Settings in the desktop app, or berth serve --host 0.0.0.0, which also turns registry authentication on); this page then shows the steps for them.';

export function engines({ addresses, tls }: SetupContext): Engine[] {
  const local = addresses.localhost;
  const port = local.split(':')[1]!;
  const lan = lanAddress(addresses);
  const scheme = tls ? 'https' : 'http';
  return [
    {
      id: 'docker-engine',
      name: 'Docker Engine',
      runsOn: 'Linux, rootful (the usual install); Windows Server',
      address: local,
      nothingNeeded: true,
      summary: `Docker Engine trusts localhost and 127.0.0.0/8 by default, so ${local} works as it is.`,
      steps: [
        { text: 'Tag and push with the localhost address:', code: `docker tag alpine:latest ${local}/alpine:latest\ndocker push ${local}/alpine:latest` },
        ...(tls ? [] : [{ text: 'Use the literal name localhost (or 127.0.0.1): the containerd image store exempts only those from HTTPS, not this computer’s host name.' }]),
        ...(addresses.loopbackOnly
          ? [{ text: REACH_FROM_ELSEWHERE }]
          : tls
            ? [
                { text: `From another computer, trust Berth’s CA there (no restart needed):`, code: `sudo mkdir -p /etc/docker/certs.d/${lan}\nsudo cp berth-ca.crt /etc/docker/certs.d/${lan}/ca.crt` },
                { text: 'Docker Engine on Windows Server (Windows containers) looks for it here:', path: `C:\\ProgramData\\docker\\certs.d\\${lan.replace(':', '')}\\ca.crt` },
              ]
            : [
                {
                  text: `From another computer, list ${lan} as insecure there, then restart Docker (sudo systemctl restart docker):`,
                  path: '/etc/docker/daemon.json',
                  code: json({ 'insecure-registries': [lan] }),
                },
                { text: 'Docker Engine on Windows Server (Windows containers) reads the same setting from this file; restart the docker service after editing:', path: 'C:\\ProgramData\\docker\\config\\daemon.json', code: json({ 'insecure-registries': [lan] }) },
              ]),
      ],
    },
    {
      id: 'docker-rootless',
      name: 'Docker Engine, rootless',
      tab: 'Rootless Docker',
      runsOn: 'Linux, dockerd-rootless',
      address: `10.0.2.2:${port}`,
      nothingNeeded: false,
      summary: 'The rootless daemon lives in its own network namespace: its localhost is not this computer, and the host loopback is blocked by default.',
      steps: [
        {
          text: 'Let the daemon reach this computer’s loopback (it then appears as 10.0.2.2):',
          path: '~/.config/systemd/user/docker.service.d/override.conf',
          code: '[Service]\nEnvironment="DOCKERD_ROOTLESS_ROOTLESSKIT_DISABLE_HOST_LOOPBACK=false"',
        },
        tls
          ? { text: 'Trust Berth’s CA for that address (the certificate names 10.0.2.2 only if Berth’s certificate lists it; otherwise keep TLS off for rootless Docker):', code: `mkdir -p ~/.config/docker/certs.d/10.0.2.2:${port}\ncp berth-ca.crt ~/.config/docker/certs.d/10.0.2.2:${port}/ca.crt` }
          : { text: 'List that address as an insecure registry:', path: '~/.config/docker/daemon.json', code: json({ 'insecure-registries': [`10.0.2.2:${port}`] }) },
        { text: 'Restart the daemon and push:', code: `systemctl --user daemon-reload\nsystemctl --user restart docker\ndocker push 10.0.2.2:${port}/alpine:latest` },
      ],
    },
    {
      id: 'docker-desktop',
      name: 'Docker Desktop',
      runsOn: 'macOS, Windows, Linux (also Colima, OrbStack)',
      address: addresses.dockerDesktop,
      nothingNeeded: false,
      summary: `The daemon runs in a VM, where localhost is the VM. It reaches this computer as ${addresses.dockerDesktop}.`,
      steps: [
        tls
          ? {
              text: 'Trust Berth’s CA: add berth-ca.crt to the system keychain (macOS) or certificate store (Windows), or copy it here; then restart Docker Desktop:',
              code: `mkdir -p ~/.docker/certs.d/${addresses.dockerDesktop}\ncp berth-ca.crt ~/.docker/certs.d/${addresses.dockerDesktop}/ca.crt`,
            }
          : {
              text: 'Open Docker Desktop → Settings → Docker Engine, add this entry to the JSON (it is saved to the file below), then Apply & Restart:',
              path: '~/.docker/daemon.json',
              code: json({ 'insecure-registries': [addresses.dockerDesktop] }),
            },
        { text: 'Tag and push with that address:', code: `docker tag alpine:latest ${addresses.dockerDesktop}/alpine:latest\ndocker push ${addresses.dockerDesktop}/alpine:latest` },
      ],
    },
    {
      id: 'podman',
      name: 'Podman',
      runsOn: 'Linux',
      address: local,
      nothingNeeded: false,
      summary: tls ? 'Podman verifies Berth’s certificate: trust Berth’s CA once.' : 'Podman never assumes localhost is safe for plain HTTP: mark Berth as insecure once, or pass --tls-verify=false.',
      steps: [
        ...(tls
          ? [
              { text: 'Trust Berth’s CA (for your user only: ~/.config/containers/certs.d/…). No restart needed.', code: `sudo mkdir -p /etc/containers/certs.d/${local}\nsudo cp berth-ca.crt /etc/containers/certs.d/${local}/ca.crt` },
              { text: 'Push:', code: `podman push alpine:latest ${local}/alpine:latest` },
            ]
          : [
              {
                text: 'For your user (rootless podman, buildah, skopeo). For everyone and rootful podman, the same entry goes in /etc/containers/registries.conf. No restart needed.',
                path: '~/.config/containers/registries.conf',
                code: `[[registry]]\nlocation = "${local}"\ninsecure = true`,
              },
              { text: 'Or per command:', code: `podman push --tls-verify=false alpine:latest ${local}/alpine:latest` },
            ]),
      ],
    },
    {
      id: 'podman-machine',
      name: 'Podman machine',
      runsOn: 'macOS, Windows',
      address: addresses.podmanMachine,
      nothingNeeded: false,
      summary: `Podman runs in a VM that reaches this computer as ${addresses.podmanMachine}; its registries.conf is inside the VM.`,
      steps: [
        { text: 'Open a shell in the machine:', code: 'podman machine ssh' },
        tls
          ? { text: `There, put Berth’s CA in /etc/containers/certs.d/${addresses.podmanMachine}/ca.crt (copy it in with podman machine cp, or paste it with sudo vi).`, path: `/etc/containers/certs.d/${addresses.podmanMachine}/ca.crt (inside the machine)` }
          : { text: 'There, add this entry (sudo vi /etc/containers/registries.conf):', path: '/etc/containers/registries.conf (inside the machine)', code: `[[registry]]\nlocation = "${addresses.podmanMachine}"\ninsecure = true` },
        { text: 'Back on this computer, push:', code: `podman push alpine:latest ${addresses.podmanMachine}/alpine:latest` },
      ],
    },
    {
      id: 'containerd',
      name: 'containerd and nerdctl',
      tab: 'containerd',
      runsOn: 'Linux',
      address: local,
      nothingNeeded: false,
      summary: 'nerdctl takes a flag; containerd (and Kubernetes through CRI) reads a hosts.toml per registry.',
      steps: [
        { text: tls ? 'With nerdctl (it reads the hosts.toml below):' : 'With nerdctl, per command:', code: `nerdctl push${tls ? '' : ' --insecure-registry'} ${local}/alpine:latest` },
        {
          text: 'Or once for containerd, nerdctl and crictl (rootless nerdctl: ~/.config/containerd/certs.d/…):',
          path: `/etc/containerd/certs.d/${local}/hosts.toml`,
          code: `server = "${scheme}://${local}"\n\n[host."${scheme}://${local}"]\n  capabilities = ["pull", "resolve", "push"]\n  ${tls ? `ca = "/etc/containerd/certs.d/${local}/ca.crt"` : 'skip_verify = true'}`,
        },
        {
          text: 'Kubernetes (CRI) reads that folder only when told to; add this (containerd 2.x: [plugins."io.containerd.cri.v1.images".registry]) and restart containerd:',
          path: '/etc/containerd/config.toml',
          code: '[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = "/etc/containerd/certs.d"',
        },
      ],
    },
    {
      id: 'kind',
      name: 'kind',
      runsOn: 'Kubernetes in Docker',
      address: local,
      nothingNeeded: false,
      summary: `Cluster nodes are containers whose localhost is the node: map ${local} on each node to this computer.`,
      ...(addresses.loopbackOnly ? { warning: `${LOOPBACK_WARNING} (Docker Desktop users can skip this: host.docker.internal reaches the loopback.)` } : {}),
      steps: [
        {
          text: 'Create the cluster with containerd reading per-registry hosts files:',
          path: 'kind-config.yaml',
          code: 'kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\ncontainerdConfigPatches:\n  - |-\n    [plugins."io.containerd.grpc.v1.cri".registry]\n      config_path = "/etc/containerd/certs.d"',
        },
        {
          text: `Point ${local} at this computer on every node (on Docker Desktop use ${addresses.dockerDesktop} instead of ${lan}):`,
          code: `kind create cluster --config kind-config.yaml\nfor node in $(kind get nodes); do\n  docker exec "$node" mkdir -p "/etc/containerd/certs.d/${local}"\n  printf '[host."${scheme}://${lan}"]\\n' | docker exec -i "$node" cp /dev/stdin "/etc/containerd/certs.d/${local}/hosts.toml"\ndone`,
        },
        { text: 'Pods can now use the image:', code: `kubectl run hello --image=${local}/alpine:latest -- sleep 3600` },
      ],
    },
    {
      id: 'buildx',
      name: 'Docker Buildx',
      tab: 'Buildx',
      runsOn: 'docker-container driver',
      address: local,
      nothingNeeded: false,
      summary: 'BuildKit in its own container ignores daemon.json and certs.d, and has its own localhost: give it a buildkitd.toml and the host network.',
      steps: [
        tls
          ? { text: 'Trust Berth’s CA (Docker Desktop: use host.docker.internal here and in the tags):', path: '~/.docker/buildx/buildkitd.default.toml', code: `[registry."${local}"]\n  ca = ["/path/to/berth-ca.crt"]` }
          : { text: 'Allow plain HTTP to Berth (Docker Desktop: use host.docker.internal here and in the tags):', path: '~/.docker/buildx/buildkitd.default.toml', code: `[registry."${local}"]\n  http = true\n  insecure = true` },
        {
          text: 'Create a builder on the host network with that file (Linux; on Docker Desktop leave out --driver-opt):',
          code: 'docker buildx create --name berth --driver docker-container \\\n  --driver-opt network=host \\\n  --buildkitd-config ~/.docker/buildx/buildkitd.default.toml --use',
        },
        { text: 'Build and push:', code: `docker buildx build --push -t ${local}/app:latest .` },
      ],
    },
  ];
}
