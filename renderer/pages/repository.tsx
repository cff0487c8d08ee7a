/** One repository: its tags (newest first), how to pull them, and deleting tags or the repository. */
import { useState } from 'react';
import { Link, useNavigate } from 'react-router';
import { ArrowDown, ArrowUp, PackageX, Tag, Trash2 } from 'lucide-react';
import type { ManifestRow, RepositoryDetail, TagRow } from '../../server/registry/api-types.ts';
import { ApiError, api } from '../api.ts';
import { Bytes } from '../components/bytes.tsx';
import { Digest } from '../components/copy.tsx';
import { ConfirmDialog } from '../components/dialog.tsx';
import { Card, PageHeader, Stat } from '../components/page.tsx';
import { PullCommands } from '../components/pull-commands.tsx';
import { EmptyState, ErrorState, Skeleton } from '../components/states.tsx';
import { Time } from '../components/time.tsx';
import { useToast } from '../components/toast.tsx';
import { formatBytes, formatCount } from '../format.ts';
import { useResource } from '../hooks/use-resource.ts';
import { imageLink } from '../links.ts';
import { useStatus } from '../status.tsx';

type Pending = { kind: 'tag'; tag: string } | { kind: 'manifest'; digest: string } | { kind: 'repository' };

function KindChip({ row }: { row: ManifestRow }) {
  if (row.kind === 'index') return <span className="chip accent">multi-platform</span>;
  if (row.kind === 'artifact') return <span className="chip warn" title={row.artifactType ?? undefined}>artifact</span>;
  return null;
}

function Platforms({ row }: { row: ManifestRow }) {
  return (
    <div className="chips">
      <KindChip row={row} />
      {row.platforms.map((p) => (
        <span key={p} className="chip">
          {p}
        </span>
      ))}
      {row.platforms.length === 0 && row.kind !== 'artifact' && <span className="faint">—</span>}
    </div>
  );
}

export function RepositoryPage({ name }: { name: string }) {
  const status = useStatus();
  const toast = useToast();
  const navigate = useNavigate();
  const [pending, setPending] = useState<Pending | null>(null);
  const [newestFirst, setNewestFirst] = useState(true);
  const [selected, setSelected] = useState<string | null>(null);
  const repo = useResource((signal) => api.repository(name, signal), [name], {
    refreshOn: (_, data) => (data as { repository?: string }).repository === name,
  });

  const gone = repo.error instanceof ApiError && repo.error.code === 'NAME_UNKNOWN';
  if (repo.error && (gone || !repo.data)) {
    return (
      <>
        <title>{`${name} · Berth`}</title>
        <PageHeader title={name} crumbs={[{ label: 'Repositories', to: '/' }, { label: name }]} />
        <Card>
          {gone ? (
            <EmptyState icon={<PackageX size={26} />} title="This repository does not exist">
              <p>
                It may have been deleted. <Link to="/">Back to repositories</Link>
              </p>
            </EmptyState>
          ) : (
            <ErrorState error={repo.error} onRetry={repo.reload} title="Could not load this repository" />
          )}
        </Card>
      </>
    );
  }

  const data: RepositoryDetail | undefined = repo.data;
  const tags: TagRow[] = data ? [...data.tags].sort((a, b) => (newestFirst ? -1 : 1) * a.taggedAt.localeCompare(b.taggedAt)) : [];
  const pullTag = selected ?? data?.tags[0]?.tag ?? 'latest';

  async function confirm() {
    if (!pending) return;
    if (pending.kind === 'tag') {
      await api.deleteTag(name, pending.tag);
      toast('good', `Deleted tag ${name}:${pending.tag}`);
    } else if (pending.kind === 'manifest') {
      await api.deleteManifest(name, pending.digest);
      toast('good', `Deleted manifest ${pending.digest.slice(0, 19)}…`);
    } else {
      await api.deleteRepository(name);
      toast('good', `Deleted repository ${name}`);
      navigate('/');
      return;
    }
    repo.reload();
  }

  return (
    <>
      <title>{`${name} · Berth`}</title>
      <PageHeader
        title={name}
        crumbs={[{ label: 'Repositories', to: '/' }, { label: name }]}
        subtitle={data ? <>Last push <Time iso={data.lastPushAt} /></> : undefined}
        actions={
          data && (
            <button type="button" className="danger" onClick={() => setPending({ kind: 'repository' })}>
              <Trash2 size={15} aria-hidden /> Delete repository
            </button>
          )
        }
      />
      {!data ? (
        <Card>
          <Skeleton rows={6} label="Loading repository" />
        </Card>
      ) : (
        <>
          <div className="stats">
            <Stat label="Tags" value={data.tagCount.toLocaleString()} hint={formatCount(data.manifestCount, 'manifest')} />
            <Stat label="Size" value={<Bytes value={data.totalSize} />} hint="every layer once" />
            <Stat label="Only here" value={<Bytes value={data.uniqueSize} />} hint="freed if deleted" />
            <Stat label="Shared" value={<Bytes value={data.sharedSize} />} hint="also used by other repositories" />
          </div>
          <Card
            title="Tags"
            hint={data.tags.length ? 'Deleting a tag keeps its manifest; delete untagged manifests below.' : undefined}
            flush
            actions={
              data.tags.length > 1 && (
                <button type="button" className="small" onClick={() => setNewestFirst(!newestFirst)} aria-label={`Sort by push date, ${newestFirst ? 'oldest' : 'newest'} first`}>
                  {newestFirst ? <ArrowDown size={14} aria-hidden /> : <ArrowUp size={14} aria-hidden />}
                  {newestFirst ? 'Newest first' : 'Oldest first'}
                </button>
              )
            }
          >
            {tags.length === 0 ? (
              <EmptyState icon={<Tag size={26} />} title="No tags">
                <p>
                  Nothing in this repository is tagged. Push with a tag: <code>docker push {status.data?.addresses.localhost ?? 'localhost:5000'}/{name}:latest</code>
                </p>
              </EmptyState>
            ) : (
              <div className="table-wrap">
                <table>
                  <caption className="visually-hidden">Tags of {name}</caption>
                  <thead>
                    <tr>
                      <th>Tag</th>
                      <th>Digest</th>
                      <th>Platforms</th>
                      <th className="num">Size</th>
                      <th>Created</th>
                      <th aria-sort={newestFirst ? 'descending' : 'ascending'}>Pushed</th>
                      <th><span className="visually-hidden">Actions</span></th>
                    </tr>
                  </thead>
                  <tbody>
                    {tags.map((t) => (
                      <tr key={t.tag} data-tag={t.tag}>
                        <td>
                          <Link to={imageLink(name, t.tag)} style={{ fontWeight: 600 }}>
                            {t.tag}
                          </Link>
                        </td>
                        <td>
                          <Digest digest={t.digest} />
                        </td>
                        <td>
                          <Platforms row={t} />
                        </td>
                        <td className="num">
                          <Bytes value={t.size} />
                        </td>
                        <td>
                          <Time iso={t.created} fallback="unknown" />
                        </td>
                        <td>
                          <Time iso={t.taggedAt} />
                        </td>
                        <td className="num">
                          <button type="button" className="icon" onClick={() => setPending({ kind: 'tag', tag: t.tag })} aria-label={`Delete tag ${t.tag}`} title={`Delete tag ${t.tag}`}>
                            <Trash2 size={16} aria-hidden />
                          </button>
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            )}
          </Card>
          {status.data && data.tags.length > 0 && (
            <Card
              title="Pull"
              hint="Pick where the client runs; each command is ready to paste."
              actions={
                data.tags.length > 1 && (
                  <label className="actions" style={{ fontWeight: 500 }}>
                    Tag
                    <select value={pullTag} onChange={(e) => setSelected(e.target.value)}>
                      {data.tags.map((t) => (
                        <option key={t.tag}>{t.tag}</option>
                      ))}
                    </select>
                  </label>
                )
              }
            >
              <PullCommands status={status.data} image={`${name}:${pullTag}`} />
            </Card>
          )}
          {data.untagged.length > 0 && (
            <Card title="Untagged manifests" hint="No tag points to these; they stay until deleted." flush>
              <div className="table-wrap">
                <table>
                  <thead>
                    <tr>
                      <th>Digest</th>
                      <th>Platforms</th>
                      <th className="num">Size</th>
                      <th>Pushed</th>
                      <th><span className="visually-hidden">Actions</span></th>
                    </tr>
                  </thead>
                  <tbody>
                    {data.untagged.map((m) => (
                      <tr key={m.digest}>
                        <td>
                          <Link to={imageLink(name, m.digest)}>
                            <code>{m.digest.slice(0, 19)}</code>
                          </Link>
                        </td>
                        <td>
                          <Platforms row={m} />
                        </td>
                        <td className="num">
                          <Bytes value={m.size} />
                        </td>
                        <td>
                          <Time iso={m.pushedAt} />
                        </td>
                        <td className="num">
                          <button type="button" className="icon" onClick={() => setPending({ kind: 'manifest', digest: m.digest })} aria-label={`Delete manifest ${m.digest.slice(0, 19)}`}>
                            <Trash2 size={16} aria-hidden />
                          </button>
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            </Card>
          )}
        </>
      )}
      <ConfirmDialog
        open={pending !== null}
        onClose={() => setPending(null)}
        onConfirm={confirm}
        title={pending?.kind === 'repository' ? `Delete ${name}?` : pending?.kind === 'tag' ? `Delete tag ${pending.tag}?` : 'Delete this manifest?'}
        confirmLabel={pending?.kind === 'repository' ? 'Delete repository' : pending?.kind === 'tag' ? 'Delete tag' : 'Delete manifest'}
        {...(pending?.kind === 'repository' ? { confirmText: name } : {})}
      >
        {pending?.kind === 'repository' ? (
          <p>
            Every tag ({data?.tagCount ?? 0}) and manifest ({data?.manifestCount ?? 0}) of <strong>{name}</strong> goes. Clients can no longer pull it.
            The {data ? formatBytes(data.uniqueSize) : ''} only this repository uses are freed by the next garbage collection.
          </p>
        ) : pending?.kind === 'tag' ? (
          <p>
            <code>{name}:{pending.tag}</code> will no longer resolve. The manifest it points to stays (listed as untagged if no other tag points to it).
          </p>
        ) : (
          <p>The manifest and every tag pointing to it are removed from {name}. Its layers are freed by the next garbage collection if nothing else uses them.</p>
        )}
      </ConfirmDialog>
    </>
  );
}
