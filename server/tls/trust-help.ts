/**
 * `berth tls trust-help`: the exact steps to make Docker, Podman or the OS trust Berth's CA for the
 * addresses clients use (REGISTRY-NOTES "Where engines look"): Docker reads
 * /etc/docker/certs.d/<host>:<port>/ca.crt without a restart (rootless: ~/.config/docker/certs.d),
 * Docker Desktop the OS trust store or ~/.docker/certs.d after a restart, Podman
 * /etc/containers/certs.d/<host>:<port>/ (inside the machine VM on macOS and Windows).
 */
export const ENGINES = ['docker', 'podman', 'desktop'] as const;
export type Engine = (typeof ENGINES)[number];

export interface TrustHelpInput {
  caFile: string;
  fingerprint: string;
  /** host:port forms clients use, most likely first. */
  addresses: string[];
  engine: Engine | null;
}

function copySteps(base: string, addresses: string[], caFile: string, sudo: boolean): string[] {
  const s = sudo ? 'sudo ' : '';
  return addresses.flatMap((a) => [`  ${s}mkdir -p ${base}/${a}`, `  ${s}cp ${caFile} ${base}/${a}/ca.crt`]);
}

export function trustHelp({ caFile, fingerprint, addresses, engine }: TrustHelpInput): string {
  const out: string[] = [
    `Berth's CA certificate: ${caFile}`,
    `SHA-256 fingerprint: ${fingerprint}`,
    `Clients must trust it for the address they use: ${addresses.join(', ')}.`,
    'It may sign only for this machine\'s names and loopback or private addresses (name constraints), and',
    'lasts two years; Berth makes a new one a month before, or when this machine\'s names leave what it may',
    'sign for, and says so in its log: then trust the new one the same way. Its key (<data>/tls/ca.key)',
    'never leaves this machine; keep the data directory\'s backups as private as the key itself.',
    '',
  ];
  if (engine === null || engine === 'docker') {
    out.push(
      'Docker Engine (Linux) reads certs.d on every connection; no restart needed:',
      ...copySteps('/etc/docker/certs.d', addresses, caFile, true),
      '  Rootless Docker: the same under ~/.config/docker/certs.d/ (no sudo).',
      '',
    );
  }
  if (engine === null || engine === 'podman') {
    out.push(
      'Podman, Buildah and Skopeo:',
      ...copySteps('/etc/containers/certs.d', addresses, caFile, true),
      '  Rootless: the same under ~/.config/containers/certs.d/ (no sudo).',
      '  Podman machine (macOS, Windows): run these inside the VM ("podman machine ssh"), after copying ca.crt there.',
      '',
    );
  }
  if (engine === null || engine === 'desktop') {
    const hostAddress = addresses.find((a) => a.startsWith('host.docker.internal:')) ?? addresses[0];
    out.push(
      'Docker Desktop (its daemon runs in a VM and reaches this machine as host.docker.internal):',
      '  macOS:   sudo security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain ' + caFile,
      '  Windows: certutil -addstore -f Root ' + caFile + '   (in an administrator PowerShell)',
      '  Linux:   mkdir -p ~/.docker/certs.d/' + hostAddress + ' && cp ' + caFile + ' ~/.docker/certs.d/' + hostAddress + '/ca.crt',
      '  Then restart Docker Desktop, and push to ' + hostAddress + '/<image>.',
      '',
    );
  }
  if (engine === null) {
    out.push(
      'The operating system (curl, browsers, other tools):',
      '  Debian/Ubuntu: sudo cp ' + caFile + ' /usr/local/share/ca-certificates/berth.crt && sudo update-ca-certificates',
      '  Fedora/RHEL:   sudo cp ' + caFile + ' /etc/pki/ca-trust/source/anchors/berth.crt && sudo update-ca-trust',
      '  macOS/Windows: as for Docker Desktop above.',
      '',
    );
  }
  return out.join('\n');
}
