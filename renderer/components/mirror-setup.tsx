/**
 * The Docker setup page's part on the pull-through cache: for each client, the exact lines that make it
 * pull through Berth (renderer/setup/mirror.ts), and a test that pulls an image through the mirror.
 */
import { useId, useState } from 'react';
import { Link } from 'react-router';
import { Info } from 'lucide-react';
import type { StatusView } from '../../server/registry/api-types.ts';
import { api } from '../api.ts';
import { useResource } from '../hooks/use-resource.ts';
import { mirrorClients } from '../setup/mirror.ts';
import { CodeBlock } from './copy.tsx';
import { Card } from './page.tsx';
import { SelfTest } from './self-test.tsx';

export function MirrorSetupCard({ status }: { status: StatusView }) {
  const mirrors = useResource((signal) => api.mirrors(signal), [], { refreshOn: ['mirror-changed'] });
  const [chosen, setChosen] = useState<string | null>(null);
  const [image, setImage] = useState('');
  const base = useId();
  const upstreams = mirrors.data?.upstreams ?? [];
  const hint = 'Docker, containerd and podman pull images of other registries through Berth: fetched once, then served from here, also offline.';
  if (mirrors.data && upstreams.length === 0) {
    return (
      <Card title="Pull-through cache" hint={hint} id="mirror">
        <p className="callout">
          <Info size={17} aria-hidden />
          <span>
            No upstream is mirrored yet. <Link to="/mirrors">Add one on the Mirrors page</Link> (Docker Hub takes one click), then come back for the lines each client needs.
          </span>
        </p>
      </Card>
    );
  }
  if (!mirrors.data) return null;
  const upstream = upstreams.find((u) => u.name === chosen) ?? upstreams[0]!;
  const clients = mirrorClients({ address: status.addresses.localhost, tls: status.tls.enabled, upstreams });
  return (
    <Card title="Pull-through cache" hint={hint} id="mirror">
      <div data-testid="mirror-setup">
        {clients.map((client) => (
          <section key={client.id} data-client={client.id} style={{ marginBottom: 18 }}>
            <h3 style={{ margin: '4px 0' }}>{client.name}</h3>
            <p className="muted" style={{ margin: '4px 0' }}>
              {client.summary}
            </p>
            <ol className="ordered">
              {client.steps.map((step, i) => (
                <li key={i}>
                  <p style={{ margin: '4px 0' }}>{step.text}</p>
                  {step.path && (
                    <p style={{ margin: '4px 0' }}>
                      File: <span className="path">{step.path}</span>
                    </p>
                  )}
                  {step.code && <CodeBlock code={step.code} label={`${client.name} mirror snippet ${i + 1}`} />}
                </li>
              ))}
            </ol>
          </section>
        ))}
        <h3 style={{ margin: '4px 0' }}>Test the mirror</h3>
        <div className="actions" style={{ alignItems: 'end', marginBottom: 8 }}>
          {upstreams.length > 1 && (
            <div className="field" style={{ marginBottom: 0 }}>
              <label htmlFor={`${base}-upstream`}>Upstream</label>
              <select id={`${base}-upstream`} value={upstream.name} onChange={(e) => setChosen(e.target.value)}>
                {upstreams.map((u) => (
                  <option key={u.name}>{u.name}</option>
                ))}
              </select>
            </div>
          )}
          <div className="field" style={{ marginBottom: 0, minWidth: 280 }}>
            <label htmlFor={`${base}-image`}>Image</label>
            <input id={`${base}-image`} type="text" spellCheck={false} placeholder={upstream.name === 'docker.io' ? 'library/hello-world:latest' : 'team/app:latest'} value={image} onChange={(e) => setImage(e.target.value)} />
          </div>
        </div>
        <SelfTest label={`Pull through the mirror of ${upstream.name}`} run={(onStep) => api.mirrorSelfTest(upstream.name, image.trim(), onStep)} />
      </div>
    </Card>
  );
}
