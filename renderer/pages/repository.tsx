/** One repository: its tags (newest first), how to pull them, and deleting tags or the repository. */
import { useState } from 'react';
import { Link, useNavigate } from 'react-router';
import { ArrowDown, ArrowUp, PackageX, Tag, Trash2 } from 'lucide-react';
import type { ManifestRow, RepositoryDetail, TagRow } from '../../server/registry/api-types.ts';
import { ApiError, api } from '../api.ts';
import { AddressPending } from '../components/address-pending.tsx';
import { Bytes } from '../components/bytes.tsx';
import { Digest } from '../components/copy.tsx';
import { ConfirmDialog } from '../components/dialog.tsx';
import { AttachedNote } from './image-inside.tsx';
import { Card, PageHeader, Stat } from '../components/page.tsx';
import { PullCard } from '../components/pull-commands.tsx';
import { DeleteButton } from '../components/delete-button.tsx';
import { Table } from '../components/table.tsx';
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
                {status.data ? (
                  <p>
                    Nothing in this repository is tagged. Push with a tag: <code>docker push {status.data.addresses.localhost}/{name}:latest</code>
                  </p>
                ) : (
                  <>
                    <p>Nothing in this repository is tagged. Push with a tag.</p>
                    <AddressPending status={status} />
                  </>
                )}
              </EmptyState>
            ) : (
              <Table
                caption={`Tags of ${name}`}
                columns={['Tag', 'Digest', 'Platforms', { label: 'Size', num: true }, 'Created', { label: 'Pushed', sort: newestFirst ? 'descending' : 'ascending' }, { label: 'Actions', hidden: true }]}
              >
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
                    <td data-field="created">
                      <Time iso={t.created} fallback="unknown" />
                    </td>
                    <td>
                      <Time iso={t.taggedAt} />
                    </td>
                    <td className="num">
                      <DeleteButton label={`Delete tag ${t.tag}`} onClick={() => setPending({ kind: 'tag', tag: t.tag })} />
                    </td>
                  </tr>
                ))}
              </Table>
            )}
          </Card>
          {status.data && data.tags.length > 0 && (
            <PullCard
              status={status.data}
              image={`${name}:${pullTag}`}
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
            />
          )}
          {data.untagged.length > 0 && (
            <Card title="Untagged manifests" hint="No tag points to these; they stay until deleted." flush>
              <Table columns={['Digest', 'Platforms', { label: 'Size', num: true }, 'Pushed', { label: 'Actions', hidden: true }]}>
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
                      <DeleteButton label={`Delete manifest ${m.digest.slice(0, 19)}`} onClick={() => setPending({ kind: 'manifest', digest: m.digest })} />
                    </td>
                  </tr>
                ))}
              </Table>
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
          <>
            <p>
              <code>{name}:{pending.tag}</code> will no longer resolve. The manifest it points to stays (listed as untagged if no other tag points to it).
            </p>
            <AttachedNote name={name} reference={pending.tag} />
          </>
        ) : pending?.kind === 'manifest' ? (
          <>
            <p>The manifest and every tag pointing to it are removed from {name}. Its layers are freed by the next garbage collection if nothing else uses them.</p>
            <AttachedNote name={name} reference={pending.digest} />
          </>
        ) : null}
      </ConfirmDialog>
    </>
  );
}
