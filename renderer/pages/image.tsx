/** One image, index or artifact: what it is, what it runs, its layers, and its manifest as stored. */
import { Link } from 'react-router';
import { FileQuestion } from 'lucide-react';
import { ApiError, api } from '../api.ts';
import { Bytes } from '../components/bytes.tsx';
import { CodeBlock, Digest } from '../components/copy.tsx';
import { Card, PageHeader, Stat } from '../components/page.tsx';
import { PullCard } from '../components/pull-commands.tsx';
import { EmptyState, ErrorState, Skeleton } from '../components/states.tsx';
import { Time } from '../components/time.tsx';
import { mediaTypeName, shortDigest } from '../format.ts';
import { useResource } from '../hooks/use-resource.ts';
import { imageLink, repositoryLink } from '../links.ts';
import { useStatus } from '../status.tsx';
import { ConfigCard, HistoryCard, LayersCard, PlatformsCard, ReferrersCard } from './image-sections.tsx';
import { InsideLinks } from './image-inside.tsx';

const KIND_LABEL = { image: 'Image', index: 'Multi-platform index', artifact: 'Artifact' } as const;

/** The stored bytes, indented for reading when they are JSON (they always are for a stored manifest). */
function pretty(raw: string): string {
  try {
    return JSON.stringify(JSON.parse(raw), null, 2);
  } catch {
    return raw;
  }
}

export function ImagePage({ name, reference }: { name: string; reference: string }) {
  const status = useStatus();
  const isDigest = reference.includes(':');
  const title = isDigest ? `${name}@${shortDigest(reference)}` : `${name}:${reference}`;
  const image = useResource((signal) => api.image(name, reference, signal), [name, reference], {
    refreshOn: (_, data) => (data as { repository?: string }).repository === name,
  });
  const crumbs = [{ label: 'Repositories', to: '/' }, { label: name, to: repositoryLink(name) }, { label: isDigest ? shortDigest(reference) : reference }];

  const gone = image.error instanceof ApiError && (image.error.code === 'MANIFEST_UNKNOWN' || image.error.code === 'NAME_UNKNOWN');
  if (image.error && (gone || !image.data)) {
    return (
      <>
        <title>{`${title} · Berth`}</title>
        <PageHeader title={title} crumbs={crumbs} />
        <Card>
          {gone ? (
            <EmptyState icon={<FileQuestion size={26} />} title={isDigest ? 'No such manifest' : `No tag ${reference}`}>
              <p>
                {image.error.message} <Link to={repositoryLink(name)}>Back to {name}</Link>
              </p>
            </EmptyState>
          ) : (
            <ErrorState error={image.error} onRetry={image.reload} title="Could not load this image" />
          )}
        </Card>
      </>
    );
  }

  const data = image.data;
  const config = data?.image ?? null;
  const platform = config ? [config.os, config.architecture, config.variant].filter(Boolean).join('/') : null;
  return (
    <>
      <title>{`${title} · Berth`}</title>
      <PageHeader
        title={title}
        crumbs={crumbs}
        subtitle={
          data && (
            <span className="actions" style={{ gap: 10 }}>
              <span className="chip accent">{KIND_LABEL[data.kind]}</span>
              <Digest digest={data.digest} short={false} />
            </span>
          )
        }
      />
      {!data ? (
        <Card>
          <Skeleton rows={8} label="Loading image" />
        </Card>
      ) : (
        <>
          <div className="stats">
            <Stat label="Size" value={<Bytes value={data.totalSize} />} hint={data.kind === 'index' ? 'all platforms' : 'config and layers'} />
            {data.kind === 'index' ? (
              <Stat label="Platforms" value={data.platforms.filter((p) => !p.attestation).length} />
            ) : (
              <Stat label="Layers" value={data.layers.length} />
            )}
            {platform && <Stat label="Platform" value={platform} />}
            <Stat testId="image-created" label="Created" value={<Time iso={data.created} fallback="unknown" />} />
            <Stat label="Pushed" value={<Time iso={data.pushedAt} fallback="unknown" />} />
          </div>
          {(data.tags.length > 0 || data.parents.length > 0) && (
            <p className="actions muted" style={{ marginBottom: 16 }}>
              {data.tags.length > 0 && (
                <>
                  Tagged
                  {data.tags.map((t) => (
                    <Link key={t} className="chip accent" to={imageLink(name, t)}>
                      {t}
                    </Link>
                  ))}
                </>
              )}
              {data.parents.map((p) => (
                <span key={p}>
                  Part of index <Link to={imageLink(name, p)}>{shortDigest(p)}</Link>
                </span>
              ))}
            </p>
          )}
          {data.kind === 'image' && <InsideLinks name={name} reference={reference} />}
          {data.kind === 'index' && <PlatformsCard image={data} />}
          {config && <ConfigCard config={config} />}
          {data.layers.length > 0 && <LayersCard image={data} />}
          {config && <HistoryCard config={config} />}
          <ReferrersCard image={data} />
          {data.subject && (
            <Card title="Refers to">
              <p>
                This artifact is about <Link to={imageLink(name, data.subject.digest)}>{shortDigest(data.subject.digest)}</Link> ({mediaTypeName(data.subject.mediaType)}).
              </p>
            </Card>
          )}
          {status.data && data.kind !== 'artifact' && <PullCard status={status.data} image={isDigest ? `${name}@${reference}` : `${name}:${reference}`} />}
          {Object.keys(data.annotations).length > 0 && (
            <Card title="Annotations">
              <dl className="kv">
                {Object.entries(data.annotations).map(([k, v]) => (
                  <div key={k} style={{ display: 'contents' }}>
                    <dt className="mono" style={{ fontWeight: 400 }}>{k}</dt>
                    <dd>{v}</dd>
                  </div>
                ))}
              </dl>
            </Card>
          )}
          <Card title="Manifest" hint={`${mediaTypeName(data.mediaType)} · ${data.manifestSize.toLocaleString()} bytes as stored (shown indented)`}>
            <div className="raw">
              <CodeBlock code={pretty(data.raw)} copy={data.raw} label="raw manifest JSON" />
            </div>
          </Card>
        </>
      )}
    </>
  );
}
