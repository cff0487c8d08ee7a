/**
 * What a fresh install shows: how to push a first image, for Docker and for Podman. The commands wait
 * for the server's address (AddressPending meanwhile): they are meant to be copied and run as shown.
 */
import { Link } from 'react-router';
import { Ship } from 'lucide-react';
import type { StatusView } from '../../server/registry/api-types.ts';
import type { Resource } from '../hooks/use-resource.ts';
import { AddressPending } from './address-pending.tsx';
import { CodeBlock } from './copy.tsx';

export function FirstPush({ status }: { status: Resource<StatusView> }) {
  return (
    <div className="state" style={{ justifyItems: 'stretch', textAlign: 'left', maxWidth: 680, margin: '0 auto' }}>
      <div style={{ display: 'grid', justifyItems: 'center', textAlign: 'center', gap: 8 }}>
        <div className="state-icon" aria-hidden>
          <Ship size={26} />
        </div>
        <h2>Push your first image</h2>
        {status.data ? (
          <p>
            Berth is running at <code>{status.data.addresses.localhost}</code>. Tag any image with that address and push it: it shows up here the
            moment the push finishes.
          </p>
        ) : (
          <AddressPending status={status} />
        )}
      </div>
      {status.data && <PushCommands status={status.data} />}
      <p className="muted">
        Docker Desktop, rootless Docker, Podman machine or kind? They reach this computer under another name: see{' '}
        <Link to="/setup">Docker setup</Link> for the exact address and configuration.
      </p>
    </div>
  );
}

function PushCommands({ status }: { status: StatusView }) {
  const host = status.addresses.localhost;
  const tlsFlag = status.tls.enabled ? '' : ' --tls-verify=false';
  return (
    <>
      <CodeBlock
        caption="With Docker"
        label="Docker commands"
        code={`docker pull alpine:latest\ndocker tag alpine:latest ${host}/alpine:latest\ndocker push ${host}/alpine:latest`}
      />
      <CodeBlock
        caption="With Podman"
        label="Podman commands"
        code={`podman pull docker.io/library/alpine:latest\npodman push${tlsFlag} alpine:latest ${host}/alpine:latest`}
      />
    </>
  );
}
