/** What happened: uploads in progress (live), and recent pushes, pulls and deletes. */
import { useEffect, useState } from 'react';
import { Link } from 'react-router';
import { ArrowDownToLine, ArrowUpFromLine, CloudAlert, CloudDownload, History, Trash2, UploadCloud } from 'lucide-react';
import type { ActivityEntry, ActivityKind, UploadProgress } from '../../server/registry/api-types.ts';
import { api, subscribe, type UploadsEvent } from '../api.ts';
import { Bytes } from '../components/bytes.tsx';
import { Card, PageHeader } from '../components/page.tsx';
import { EmptyState, ErrorState, Skeleton } from '../components/states.tsx';
import { Time } from '../components/time.tsx';
import { formatBytes, formatRate, shortDigest } from '../format.ts';
import { useResource } from '../hooks/use-resource.ts';
import { imageLink, repositoryLink } from '../links.ts';

type Filter = 'all' | ActivityKind;
const FILTERS: { value: Filter; label: string }[] = [
  { value: 'all', label: 'All' },
  { value: 'push', label: 'Pushes' },
  { value: 'pull', label: 'Pulls' },
  { value: 'delete', label: 'Deletes' },
  { value: 'cache', label: 'Cached' },
];
const ICONS: Record<ActivityKind, typeof Trash2> = {
  push: ArrowUpFromLine, pull: ArrowDownToLine, delete: Trash2, cache: CloudDownload, stale: CloudAlert, 'upstream-error': CloudAlert,
};
const VERB: Record<ActivityKind, string> = {
  push: 'Pushed', pull: 'Pulled', delete: 'Deleted', cache: 'Cached', stale: 'Served from the cache (stale)', 'upstream-error': 'Could not fetch',
};

function What({ entry }: { entry: ActivityEntry }) {
  const repo = <Link to={repositoryLink(entry.repository)}>{entry.repository}</Link>;
  if (entry.repositoryDeleted) return <>Deleted repository <strong>{entry.repository}</strong></>;
  const refs = entry.tags.length
    ? entry.tags.map((t, i) => (
        <span key={t}>
          {i > 0 && ', '}
          {entry.kind === 'delete' ? <code>{t}</code> : <Link to={imageLink(entry.repository, t)}><code>{t}</code></Link>}
        </span>
      ))
    : entry.digests.slice(0, 1).map((d) => <code key={d}>{shortDigest(d)}</code>);
  const more = entry.count > 1 ? ` (${entry.count} manifests)` : '';
  return (
    <>
      {VERB[entry.kind]} {repo} {refs.length > 0 && <>· {refs}</>}
      <span className="muted">{more}</span>
      {entry.upstream && <span className="muted"> · from {entry.upstream}</span>}
      {entry.note && <span className="muted" data-testid="activity-note">: {entry.note}</span>}
    </>
  );
}

function Uploads({ uploads }: { uploads: UploadProgress[] }) {
  return (
    <Card title="In progress" hint="Uploads streaming into the registry right now." flush>
      <ul className="feed" aria-live="polite">
        {uploads.map((u) => (
          <li key={u.id} data-upload={u.id}>
            <span className="kind push" aria-hidden>
              <UploadCloud size={16} />
            </span>
            <div style={{ display: 'grid', gap: 6 }}>
              <span>
                <strong>{u.repository}</strong>{' '}
                <span className="muted">
                  {formatBytes(u.bytes)} received{u.receiving ? ` · ${formatRate(u.rate)}` : ' · waiting for the client'}
                </span>
              </span>
              <div className={`progress-bar${u.receiving ? '' : ' idle'}`} role="progressbar" aria-label={`Upload to ${u.repository}`} aria-valuetext={`${formatBytes(u.bytes)} received`} />
            </div>
            <span className="muted">
              started <Time iso={u.startedAt} />
            </span>
          </li>
        ))}
      </ul>
    </Card>
  );
}

export function ActivityPage() {
  const [filter, setFilter] = useState<Filter>('all');
  const [older, setOlder] = useState<ActivityEntry[]>([]);
  const [next, setNext] = useState<string | null>(null);
  const [loadingMore, setLoadingMore] = useState(false);
  const [uploads, setUploads] = useState<UploadProgress[]>([]);
  const feed = useResource((signal) => api.activity({ limit: 50 }, signal), [], {
    refreshOn: ['manifest-pushed', 'manifest-pulled', 'manifest-deleted', 'tag-deleted', 'repository-deleted', 'mirror-fetched', 'mirror-stale', 'mirror-error'],
  });

  useEffect(() => {
    if (!feed.data) return;
    setUploads(feed.data.uploads);
    setNext((current) => (older.length ? current : feed.data!.next));
    // Older pages stay as loaded when the newest page refreshes.
  }, [feed.data]);

  useEffect(() => subscribe((name, data) => name === 'uploads' && setUploads((data as UploadsEvent).uploads)), []);

  async function loadMore() {
    if (!next) return;
    setLoadingMore(true);
    try {
      const page = await api.activity({ limit: 100, before: next });
      setOlder((list) => [...list, ...page.entries]);
      setNext(page.next);
    } finally {
      setLoadingMore(false);
    }
  }

  const newest = feed.data?.entries ?? [];
  const seen = new Set(newest.map((e) => e.id));
  const entries = [...newest, ...older.filter((e) => !seen.has(e.id))].filter((e) => filter === 'all' || e.kind === filter);
  const filterName = 'activity-filter';
  return (
    <>
      <title>Activity · Berth</title>
      <PageHeader title="Activity" subtitle="Pushes, pulls, deletes and what the pull-through cache fetched, newest first. Kept across restarts." />
      {uploads.length > 0 && <Uploads uploads={uploads} />}
      <Card
        title="Recent"
        flush
        actions={
          <fieldset style={{ border: 0, padding: 0, margin: 0 }}>
            <legend className="visually-hidden">Show</legend>
            <div className="segmented">
              {FILTERS.map((f) => (
                <label key={f.value}>
                  <input type="radio" name={filterName} value={f.value} checked={filter === f.value} onChange={() => setFilter(f.value)} />
                  {f.label}
                </label>
              ))}
            </div>
          </fieldset>
        }
      >
        {feed.error && !feed.data ? (
          <ErrorState error={feed.error} onRetry={feed.reload} title="Could not load activity" />
        ) : !feed.data ? (
          <Skeleton rows={6} label="Loading activity" />
        ) : entries.length === 0 ? (
          <EmptyState icon={<History size={26} />} title={filter === 'all' ? 'Nothing has happened yet' : `No ${FILTERS.find((f) => f.value === filter)!.label.toLowerCase()} yet`}>
            <p>Pushes, pulls and deletes appear here as they happen, and stay after a restart.</p>
          </EmptyState>
        ) : (
          <ul className="feed" data-testid="activity-feed">
            {entries.map((e) => {
              const Icon = ICONS[e.kind];
              return (
                <li key={e.id} data-kind={e.kind} data-repository={e.repository}>
                  <span className={`kind ${e.kind}`} aria-hidden>
                    <Icon size={16} />
                  </span>
                  <span style={{ minWidth: 0, overflowWrap: 'anywhere' }}>
                    <What entry={e} />
                    {e.bytes !== null && (e.kind === 'push' || e.kind === 'cache') && (
                      <span className="muted">
                        {' '}
                        · <Bytes value={e.bytes} />
                        {e.kind === 'cache' && ' fetched'}
                      </span>
                    )}
                  </span>
                  <span className="muted nowrap">
                    <Time iso={e.at} />
                  </span>
                </li>
              );
            })}
          </ul>
        )}
      </Card>
      {next && (
        <div className="actions" style={{ justifyContent: 'center' }}>
          <button type="button" onClick={loadMore} disabled={loadingMore}>
            {loadingMore && <span className="spinner" aria-hidden />}
            Show older
          </button>
        </div>
      )}
    </>
  );
}
