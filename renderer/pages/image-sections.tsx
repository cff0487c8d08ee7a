/** The parts of the image page: platforms of an index, config, layers, history, referrers. */
import type { ReactNode } from 'react';
import { Link } from 'react-router';
import type { DescriptorView, ImageConfigView, ImageDetail } from '../../server/registry/api-types.ts';
import { Bytes } from '../components/bytes.tsx';
import { Digest } from '../components/copy.tsx';
import { Card } from '../components/page.tsx';
import { Table } from '../components/table.tsx';
import { Time } from '../components/time.tsx';
import { mediaTypeName } from '../format.ts';
import { imageLink } from '../links.ts';

/** A command line as a container runtime would join it: JSON array form, readable. */
function commandLine(parts: string[] | null): ReactNode {
  if (!parts || parts.length === 0) return <span className="faint">none</span>;
  return <code>{JSON.stringify(parts)}</code>;
}

function orNone(value: string | null, none = 'not set'): ReactNode {
  return value ? <code>{value}</code> : <span className="faint">{none}</span>;
}

export function PlatformsCard({ image }: { image: ImageDetail }) {
  return (
    <Card title="Platforms" hint="This index points to one image per platform." flush>
      <Table columns={['Platform', 'Digest', { label: 'Size', num: true }, 'Type']}>
        {image.platforms.map((p) => (
          <tr key={p.digest} data-platform={p.platform ?? ''}>
            <td>
              {p.present ? (
                <Link to={imageLink(image.repository, p.digest)} style={{ fontWeight: 600 }}>
                  {p.attestation ? 'attestation' : (p.platform ?? 'unknown')}
                </Link>
              ) : (
                <span>{p.platform ?? 'unknown'}</span>
              )}
              {!p.present && (
                <span className="chip warn" style={{ marginLeft: 8 }} title="The index names it, but this repository does not hold it (never pushed, or deleted since)">
                  missing
                </span>
              )}
            </td>
            <td>
              <Digest digest={p.digest} />
            </td>
            <td className="num">
              <Bytes value={p.totalSize ?? p.size} />
            </td>
            <td className="muted">{p.attestation ? 'provenance / SBOM' : mediaTypeName(p.mediaType)}</td>
          </tr>
        ))}
      </Table>
    </Card>
  );
}

export function ConfigCard({ config }: { config: ImageConfigView }) {
  const labels = Object.entries(config.labels).sort(([a], [b]) => a.localeCompare(b));
  return (
    <Card title="Configuration" hint="What a container started from this image runs with.">
      <dl className="kv" data-testid="image-config">
        <dt>Entrypoint</dt>
        <dd data-field="entrypoint">{commandLine(config.entrypoint)}</dd>
        <dt>Command</dt>
        <dd data-field="cmd">{commandLine(config.cmd)}</dd>
        <dt>Working directory</dt>
        <dd data-field="workingDir">{orNone(config.workingDir, '/ (default)')}</dd>
        <dt>User</dt>
        <dd data-field="user">{orNone(config.user, 'root (default)')}</dd>
        <dt>Exposed ports</dt>
        <dd data-field="exposedPorts">
          {config.exposedPorts.length ? (
            <div className="chips">
              {config.exposedPorts.map((p) => (
                <span key={p} className="chip">
                  {p}
                </span>
              ))}
            </div>
          ) : (
            <span className="faint">none</span>
          )}
        </dd>
        {config.volumes.length > 0 && (
          <>
            <dt>Volumes</dt>
            <dd>{config.volumes.map((v) => <code key={v} style={{ marginRight: 8 }}>{v}</code>)}</dd>
          </>
        )}
        {config.stopSignal && (
          <>
            <dt>Stop signal</dt>
            <dd>
              <code>{config.stopSignal}</code>
            </dd>
          </>
        )}
        {config.author && (
          <>
            <dt>Author</dt>
            <dd>{config.author}</dd>
          </>
        )}
      </dl>
      <h3 style={{ margin: '20px 0 8px' }}>Environment</h3>
      {config.env.length ? (
        <ul className="mono" data-testid="image-env" style={{ margin: 0, paddingLeft: 18, overflowWrap: 'anywhere' }}>
          {config.env.map((e) => (
            <li key={e}>{e}</li>
          ))}
        </ul>
      ) : (
        <p className="faint">No environment variables.</p>
      )}
      <h3 style={{ margin: '20px 0 8px' }}>Labels</h3>
      {labels.length ? (
        <dl className="kv" data-testid="image-labels">
          {labels.map(([k, v]) => (
            <div key={k} style={{ display: 'contents' }}>
              <dt className="mono" style={{ fontWeight: 400 }}>{k}</dt>
              <dd>{v}</dd>
            </div>
          ))}
        </dl>
      ) : (
        <p className="faint">No labels.</p>
      )}
    </Card>
  );
}

export function LayersCard({ image }: { image: ImageDetail }) {
  // History entries that made a layer, in order, line up with the layers (image-spec config.md).
  const steps = image.image?.history.filter((h) => !h.emptyLayer) ?? [];
  const aligned = steps.length === image.layers.length;
  return (
    <Card title="Layers" hint={`${image.layers.length} layer${image.layers.length === 1 ? '' : 's'}, bottom first`} flush>
      <Table testId="layers" columns={[{ label: '#', num: true }, 'Digest', 'Media type', { label: 'Size', num: true }, ...(aligned ? ['Created by'] : [])]}>
        {image.layers.map((layer, i) => (
          <tr key={`${layer.digest}-${i}`} data-layer={layer.digest}>
            <td className="num muted">{i + 1}</td>
            <td>
              <Digest digest={layer.digest} />
            </td>
            <td className="muted" title={layer.mediaType}>
              {mediaTypeName(layer.mediaType)}
              {layer.urls && <span className="chip warn" style={{ marginLeft: 6 }}>foreign</span>}
            </td>
            <td className="num">
              <Bytes value={layer.size} />
            </td>
            {aligned && (
              <td className="mono" style={{ maxWidth: 420, overflowWrap: 'anywhere' }}>
                {steps[i]?.createdBy ?? ''}
              </td>
            )}
          </tr>
        ))}
      </Table>
    </Card>
  );
}

export function HistoryCard({ config }: { config: ImageConfigView }) {
  if (config.history.length === 0) return null;
  return (
    <Card title="History" hint="How the image was built, oldest step first." flush>
      <ol className="feed">
        {config.history.map((h, i) => (
          <li key={i} style={{ gridTemplateColumns: '34px 1fr auto' }}>
            <span className="muted" style={{ textAlign: 'right' }}>
              {i + 1}
            </span>
            <span className="mono" style={{ overflowWrap: 'anywhere' }}>
              {h.createdBy ?? <span className="faint">(no command recorded)</span>}
              {h.comment && <span className="muted"> — {h.comment}</span>}
              {h.emptyLayer && <span className="chip" style={{ marginLeft: 8 }}>no layer</span>}
            </span>
            <Time iso={h.created} fallback="" />
          </li>
        ))}
      </ol>
    </Card>
  );
}

export function ReferrersCard({ image }: { image: ImageDetail }) {
  if (image.referrers.length === 0) return null;
  return (
    <Card title="Referrers" hint="Signatures, SBOMs and attestations that refer to this manifest." flush>
      <Table columns={['Artifact type', 'Digest', { label: 'Size', num: true }]}>
        {image.referrers.map((r: DescriptorView) => (
          <tr key={r.digest}>
            <td>
              <Link to={imageLink(image.repository, r.digest)}>{r.artifactType ?? mediaTypeName(r.mediaType)}</Link>
            </td>
            <td>
              <Digest digest={r.digest} />
            </td>
            <td className="num">
              <Bytes value={r.size} />
            </td>
          </tr>
        ))}
      </Table>
    </Card>
  );
}
