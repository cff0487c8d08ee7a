/**
 * Commands to pull an image with docker, podman, skopeo and nerdctl, for the address the client
 * reaches Berth under: localhost from this computer, host.docker.internal / host.containers.internal
 * from a daemon in a VM, a LAN address from other machines (only when Berth listens beyond loopback).
 */
import { Fragment, useId, useState, type ReactNode } from 'react';
import { Link } from 'react-router';
import type { StatusView } from '../../server/registry/api-types.ts';
import { CodeBlock } from './copy.tsx';
import { Card } from './page.tsx';

type Where = 'local' | 'desktop' | 'podman' | 'lan';

const WHERE: Record<Where, { label: string; explain: string }> = {
  local: {
    label: 'This computer',
    explain: 'Docker Engine on Linux (rootful), Podman, skopeo and nerdctl running directly on this computer reach Berth at localhost.',
  },
  desktop: {
    label: 'Docker Desktop',
    explain: 'Docker Desktop, Colima and OrbStack run the daemon in a VM, where localhost is the VM itself: use host.docker.internal, listed under "insecure-registries" (see Docker setup).',
  },
  podman: {
    label: 'Podman machine',
    explain: 'On macOS and Windows Podman runs in a VM that reaches this computer as host.containers.internal.',
  },
  lan: {
    label: 'Another computer',
    explain: 'Other machines on your network use this computer’s address. Their engines need it listed as an insecure registry unless TLS is on.',
  },
};

export function pullCommands(host: string, image: string, tls: boolean): { client: string; command: string }[] {
  const ref = `${host}/${image}`;
  const local = image.split('/').pop()!.replace(/[:@]/g, '-');
  return [
    { client: 'docker', command: `docker pull ${ref}` },
    { client: 'podman', command: `podman pull${tls ? '' : ' --tls-verify=false'} ${ref}` },
    { client: 'skopeo', command: `skopeo copy${tls ? '' : ' --src-tls-verify=false'} docker://${ref} oci:${local}` },
    { client: 'nerdctl', command: `nerdctl pull${tls ? '' : ' --insecure-registry'} ${ref}` },
  ];
}

export function PullCommands({ status, image }: { status: StatusView; image: string }) {
  const [where, setWhere] = useState<Where>('local');
  const name = useId();
  const { addresses } = status;
  const host = where === 'local' ? addresses.localhost : where === 'desktop' ? addresses.dockerDesktop : where === 'podman' ? addresses.podmanMachine : addresses.lan[0];
  return (
    <div>
      <fieldset style={{ border: 0, padding: 0, margin: '0 0 8px' }}>
        <legend className="visually-hidden">Where the client runs</legend>
        <div className="segmented">
          {(Object.keys(WHERE) as Where[]).map((w) => (
            <label key={w}>
              <input type="radio" name={name} value={w} checked={where === w} onChange={() => setWhere(w)} disabled={w === 'lan' && addresses.lan.length === 0} />
              {WHERE[w].label}
            </label>
          ))}
        </div>
      </fieldset>
      <p className="muted" style={{ fontSize: '0.9rem' }}>
        {WHERE[where].explain}
        {addresses.loopbackOnly && where !== 'lan' && ' Berth listens on this computer only (loopback); other computers cannot reach it.'}
        {where === 'lan' && addresses.lan.length > 1 && ` Also reachable at ${addresses.lan.slice(1).join(', ')}.`}
      </p>
      {addresses.loopbackOnly && where === 'local' && (
        <p className="faint" style={{ fontSize: '0.85rem' }}>
          To pull from other computers, let Berth listen on all interfaces: <Link to="/settings">Settings</Link> in the desktop app, or{' '}
          <code>berth serve --host 0.0.0.0</code> (which also turns registry authentication on).
        </p>
      )}
      {host && (
        <div className="commands">
          {pullCommands(host, image, status.tls.enabled).map(({ client, command }) => (
            <Fragment key={client}>
              <span className="client">{client}</span>
              <CodeBlock label={`${client} pull command`} code={command} />
            </Fragment>
          ))}
        </div>
      )}
    </div>
  );
}

export function PullCard({ status, image, actions }: { status: StatusView; image: string; actions?: ReactNode }) {
  return (
    <Card title="Pull" hint="Pick where the client runs; each command is ready to paste." actions={actions}>
      <PullCommands status={status} image={image} />
    </Card>
  );
}
