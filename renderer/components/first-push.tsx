/** What a fresh install shows: how to push a first image, for Docker and for Podman. */
import { Link } from 'react-router';
import { Ship } from 'lucide-react';
import type { StatusView } from '../../server/registry/api-types.ts';
import { CodeBlock } from './copy.tsx';

export function FirstPush({ status }: { status: StatusView | undefined }) {
  const host = status?.addresses.localhost ?? 'localhost:5000';
  const tlsFlag = status?.tls.enabled ? '' : ' --tls-verify=false';
  return (
    <div className="state" style={{ justifyItems: 'stretch', textAlign: 'left', maxWidth: 680, margin: '0 auto' }}>
      <div style={{ display: 'grid', justifyItems: 'center', textAlign: 'center', gap: 8 }}>
        <div className="state-icon" aria-hidden>
          <Ship size={26} />
        </div>
        <h2>Push your first image</h2>
        <p>
          Berth is running at <code>{host}</code>. Tag any image with that address and push it: it shows up here the moment the push
          finishes.
        </p>
      </div>
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
      <p className="muted">
        Docker Desktop, rootless Docker, Podman machine or kind? They reach this computer under another name: see{' '}
        <Link to="/setup">Docker setup</Link> for the exact address and configuration.
      </p>
    </div>
  );
}
