/**
 * Mirrors: Berth as a pull-through cache of Docker Hub and other registries (server/mirror/). Each
 * upstream with its settings, credentials (never shown back), counters (hits, misses, bytes, stale
 * serves, errors, Docker Hub's remaining pulls), a test that pulls through it, and clearing its cache;
 * below, every cached tag with when it was fetched, checked and last used, and whether it is served
 * stale. How clients use the mirror is on the Docker setup page.
 */
import { useEffect, useId, useState, type FormEvent } from 'react';
import { Link } from 'react-router';
import { CloudDownload, KeyRound, Pencil, Plus, Trash2, TriangleAlert } from 'lucide-react';
import type { CachedReferenceView, MirrorsOverview, UpstreamInput, UpstreamView } from '../../server/registry/api-types.ts';
import { api, ApiError } from '../api.ts';
import { Bytes } from '../components/bytes.tsx';
import { Digest } from '../components/copy.tsx';
import { ConfirmDialog } from '../components/dialog.tsx';
import { Loaded } from '../components/loaded.tsx';
import { Card, PageHeader, Stat } from '../components/page.tsx';
import { SelfTest } from '../components/self-test.tsx';
import { EmptyState } from '../components/states.tsx';
import { Table } from '../components/table.tsx';
import { Time } from '../components/time.tsx';
import { useToast } from '../components/toast.tsx';
import { formatBytes, formatCount, formatInterval } from '../format.ts';
import { useResource } from '../hooks/use-resource.ts';
import { imageLink, repositoryLink } from '../links.ts';

/** Hits and bytes change with every pull, which sends no event of its own: the page reloads this often too. */
const POLL_MS = 5000;

interface Draft {
  name: string;
  url: string;
  aliases: string;
  checkInterval: string;
  keep: string;
  timeout: string;
  enabled: boolean;
  default: boolean;
}

type Field = keyof Draft;

const DOCKER_HUB: Draft = { name: 'docker.io', url: 'https://registry-1.docker.io', aliases: '', checkInterval: '5m', keep: '7d', timeout: '20s', enabled: true, default: true };
const EMPTY: Draft = { name: '', url: 'https://', aliases: '', checkInterval: '5m', keep: '7d', timeout: '20s', enabled: true, default: false };

/** "300" seconds -> "5m": the form edits durations as the config file writes them. */
function duration(seconds: number): string {
  if (seconds % 86400 === 0) return `${seconds / 86400}d`;
  if (seconds % 3600 === 0) return `${seconds / 3600}h`;
  if (seconds % 60 === 0) return `${seconds / 60}m`;
  return `${seconds}s`;
}

function draftOf(u: UpstreamView): Draft {
  return {
    name: u.name, url: u.url, aliases: u.aliases.join(', '), checkInterval: duration(u.checkIntervalSeconds), keep: duration(u.keepSeconds),
    timeout: duration(u.timeoutSeconds), enabled: u.enabled, default: u.default,
  };
}

function inputOf(draft: Draft, isNew: boolean): UpstreamInput {
  return {
    ...(isNew ? { name: draft.name.trim() } : {}),
    url: draft.url.trim(),
    aliases: draft.aliases.split(/[\s,]+/).filter(Boolean),
    checkInterval: draft.checkInterval.trim(),
    keep: draft.keep.trim(),
    timeout: draft.timeout.trim(),
    enabled: draft.enabled,
    default: draft.default,
  };
}

function UpstreamForm({ initial, isNew, onSaved, onCancel }: { initial: Draft; isNew: boolean; onSaved(view: UpstreamView): void; onCancel(): void }) {
  const [draft, setDraft] = useState(initial);
  const [error, setError] = useState<{ fields: string[]; message: string } | null>(null);
  const [busy, setBusy] = useState(false);
  const base = useId();
  const id = (f: Field) => `${base}-${f}`;
  const set = <K extends Field>(field: K, value: Draft[K]) => {
    setDraft({ ...draft, [field]: value });
    setError(null);
  };
  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      onSaved(isNew ? await api.addMirror(inputOf(draft, true)) : await api.updateMirror(draft.name, inputOf(draft, false)));
    } catch (err) {
      setError({ fields: err instanceof ApiError ? err.fields : [], message: (err as Error).message });
    } finally {
      setBusy(false);
    }
  }
  const invalid = (f: Field) => error?.fields.includes(f) ?? false;
  const text = (field: 'name' | 'url' | 'aliases' | 'checkInterval' | 'keep' | 'timeout', label: string, help: string, wide = false) => (
    <div className={`field${wide ? ' wide' : ''}`}>
      <label htmlFor={id(field)}>{label}</label>
      <input
        id={id(field)}
        type="text"
        spellCheck={false}
        autoComplete="off"
        value={draft[field]}
        disabled={field === 'name' && !isNew}
        aria-invalid={invalid(field)}
        aria-describedby={`${id(field)}-help`}
        onChange={(e) => set(field, e.target.value)}
      />
      {error && error.fields[0] === field && (
        <span className="error-text" role="alert">
          {error.message}
        </span>
      )}
      <span className="help" id={`${id(field)}-help`}>
        {help}
      </span>
    </div>
  );
  return (
    <form className="rule-form" onSubmit={submit} noValidate aria-label={isNew ? 'New upstream' : `Edit ${draft.name}`}>
      {isNew && (
        <div className="actions wide" style={{ marginBottom: 8 }}>
          <button type="button" className="small" onClick={() => setDraft(DOCKER_HUB)}>
            Fill in Docker Hub
          </button>
        </div>
      )}
      {text('name', 'Name', 'The registry’s host as clients write it in image names: docker.io, ghcr.io, quay.io. Cached images are stored under it.')}
      {text('url', 'Registry URL', 'Where its API answers: https://registry-1.docker.io for Docker Hub.')}
      {text('aliases', 'Other names', 'Host names clients may use for it too, comma-separated (Docker Hub’s are added by themselves).', true)}
      {text('checkInterval', 'Check a cached tag every', 'Within this time a cached tag is served without asking the upstream (5m, 1h).')}
      {text('keep', 'Keep unused content for', 'Cached tags nobody pulls for this long are dropped (7d); garbage collection then frees the space.')}
      {text('timeout', 'Upstream timeout', 'How long to wait for the upstream before serving what is cached (20s).')}
      <div className="field wide">
        <label className="check" htmlFor={id('enabled')}>
          <input id={id('enabled')} type="checkbox" checked={draft.enabled} onChange={(e) => set('enabled', e.target.checked)} />
          <span>
            On <span className="help">— when off, the upstream is never contacted; what is cached is still served</span>
          </span>
        </label>
        <label className="check" htmlFor={id('default')}>
          <input id={id('default')} type="checkbox" checked={draft.default} onChange={(e) => set('default', e.target.checked)} />
          <span>
            Default <span className="help">— serves Docker’s registry-mirrors requests, which name no upstream</span>
          </span>
        </label>
      </div>
      {error && error.fields.length === 0 && (
        <p className="callout bad wide" role="alert">
          {error.message}
        </p>
      )}
      <div className="actions wide">
        <button type="submit" className="primary" disabled={busy}>
          {busy && <span className="spinner" aria-hidden />}
          {isNew ? 'Add upstream' : 'Save'}
        </button>
        <button type="button" onClick={onCancel} disabled={busy}>
          Cancel
        </button>
      </div>
    </form>
  );
}

function CredentialsForm({ upstream, onDone }: { upstream: UpstreamView; onDone(): void }) {
  const [username, setUsername] = useState(upstream.credentials?.username ?? '');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const toast = useToast();
  const base = useId();
  async function act(action: () => Promise<unknown>, done: string) {
    setBusy(true);
    setError(null);
    try {
      await action();
      toast('good', done);
      onDone();
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  }
  return (
    <form
      className="rule-form"
      aria-label={`Credentials for ${upstream.name}`}
      onSubmit={(e) => {
        e.preventDefault();
        void act(() => api.setMirrorCredentials(upstream.name, username, password), `Saved the credentials for ${upstream.name}`);
      }}
    >
      <div className="field">
        <label htmlFor={`${base}-user`}>User name</label>
        <input id={`${base}-user`} type="text" autoComplete="off" spellCheck={false} value={username} onChange={(e) => setUsername(e.target.value)} />
      </div>
      <div className="field">
        <label htmlFor={`${base}-password`}>Password or access token</label>
        <input id={`${base}-password`} type="password" autoComplete="new-password" value={password} onChange={(e) => setPassword(e.target.value)} />
        <span className="help">Stored in Berth’s data folder, readable by you only; never shown again.</span>
      </div>
      {error && (
        <p className="callout bad wide" role="alert">
          {error}
        </p>
      )}
      <div className="actions wide">
        <button type="submit" className="primary" disabled={busy || !username || !password}>
          Save credentials
        </button>
        {upstream.credentials && (
          <button type="button" disabled={busy} onClick={() => void act(() => api.deleteMirrorCredentials(upstream.name), `Removed the credentials for ${upstream.name}`)}>
            Remove credentials
          </button>
        )}
        <button type="button" disabled={busy} onClick={onDone}>
          Cancel
        </button>
      </div>
    </form>
  );
}

function ratio(hits: number, misses: number): string {
  return hits + misses === 0 ? '—' : `${Math.round((hits / (hits + misses)) * 100)}%`;
}

function UpstreamCard({ upstream, onChanged }: { upstream: UpstreamView; onChanged(): void }) {
  const [mode, setMode] = useState<'view' | 'edit' | 'credentials' | 'test'>('view');
  const [confirm, setConfirm] = useState<'clear' | 'remove' | null>(null);
  const [image, setImage] = useState('');
  const toast = useToast();
  const c = upstream.counters;
  const fromConfig = upstream.source === 'config';
  const imageId = useId();
  return (
    <Card
      title={
        <span className="actions" style={{ gap: 8 }}>
          {upstream.name}
          {upstream.default && <span className="chip accent">default</span>}
          {!upstream.enabled && <span className="chip warn">off</span>}
          {upstream.cached.stale > 0 && <span className="chip warn">{formatCount(upstream.cached.stale, 'tag')} stale</span>}
          {fromConfig && <span className="chip">from configuration</span>}
        </span>
      }
      hint={
        <>
          <span className="mono">{upstream.url}</span>
          {upstream.aliases.length > 0 && <> · also {upstream.aliases.join(', ')}</>} · checks tags every {formatInterval(upstream.checkIntervalSeconds)}, keeps unused content{' '}
          {formatInterval(upstream.keepSeconds)} · {upstream.credentials ? <>logs in as <strong>{upstream.credentials.username}</strong></> : 'anonymous'}
        </>
      }
      actions={
        <>
          <button type="button" className="small" onClick={() => setMode(mode === 'test' ? 'view' : 'test')}>
            <CloudDownload size={15} aria-hidden /> Test
          </button>
          <button type="button" className="small" onClick={() => setMode(mode === 'credentials' ? 'view' : 'credentials')}>
            <KeyRound size={15} aria-hidden /> Credentials
          </button>
          {!fromConfig && (
            <button type="button" className="small" onClick={() => setMode(mode === 'edit' ? 'view' : 'edit')}>
              <Pencil size={15} aria-hidden /> Edit
            </button>
          )}
          <button type="button" className="small" onClick={() => setConfirm('clear')}>
            Clear cache
          </button>
          {!fromConfig && (
            <button type="button" className="small" onClick={() => setConfirm('remove')} aria-label={`Remove ${upstream.name}`}>
              <Trash2 size={15} aria-hidden />
            </button>
          )}
        </>
      }
    >
      <div data-upstream={upstream.name}>
        <div className="stats">
          <Stat testId="mirror-hits" label="Hits" value={c.hits.toLocaleString()} hint={`${ratio(c.hits, c.misses)} answered from the cache`} />
          <Stat testId="mirror-misses" label="Misses" value={c.misses.toLocaleString()} hint="fetched from the upstream" />
          <Stat testId="mirror-bytes-cache" label="Served from cache" value={<Bytes value={c.bytesFromCache} />} hint={<>fetched <Bytes value={c.bytesFetched} /></>} />
          <Stat testId="mirror-cached" label="Cached" value={<Bytes value={upstream.cached.bytes} />} hint={formatCount(upstream.cached.references, 'tag')} />
          <Stat testId="mirror-stale" label="Stale serves" value={c.staleServes.toLocaleString()} hint={`${formatCount(c.upstreamErrors, 'upstream error')}`} />
          <Stat
            testId="mirror-ratelimit"
            label="Rate limit left"
            value={c.rateLimitRemaining === null ? '—' : c.rateLimitRemaining.toLocaleString()}
            hint={c.rateLimitAt ? <>as of <Time iso={c.rateLimitAt} /></> : 'the upstream sends none'}
          />
        </div>
        {fromConfig && mode === 'view' && (
          <p className="help muted" style={{ margin: 0 }}>
            Set in Berth’s configuration (config file, BERTH_MIRRORS or --mirror): change it there. Credentials are kept here.
          </p>
        )}
        {mode === 'edit' && <UpstreamForm initial={draftOf(upstream)} isNew={false} onCancel={() => setMode('view')} onSaved={() => { setMode('view'); onChanged(); }} />}
        {mode === 'credentials' && <CredentialsForm upstream={upstream} onDone={() => { setMode('view'); onChanged(); }} />}
        {mode === 'test' && (
          <div>
            <div className="field" style={{ maxWidth: 480 }}>
              <label htmlFor={imageId}>Image to pull through {upstream.name}</label>
              <input id={imageId} type="text" spellCheck={false} placeholder={upstream.name === 'docker.io' ? 'library/hello-world:latest' : 'team/app:latest'} value={image} onChange={(e) => setImage(e.target.value)} />
              <span className="help">Pulled through Berth’s own API as a client would, every digest checked; it stays cached.</span>
            </div>
            <SelfTest label="Pull through the mirror" run={(onStep) => api.mirrorSelfTest(upstream.name, image.trim(), onStep).finally(onChanged)} />
          </div>
        )}
      </div>
      <ConfirmDialog
        open={confirm === 'clear'}
        title={`Clear the cache of ${upstream.name}?`}
        confirmLabel="Clear cache"
        onClose={() => setConfirm(null)}
        onConfirm={async () => {
          const { repositories } = await api.clearMirror(upstream.name);
          toast('good', `Deleted ${formatCount(repositories.length, 'cached repository', 'cached repositories')}; the next garbage collection frees the space`);
          onChanged();
        }}
      >
        <p>
          Deletes every cached image of {upstream.name} ({formatBytes(upstream.cached.bytes)}). The next pulls fetch them again. The bytes are freed by the next
          garbage collection (<Link to="/disk-usage">Disk usage</Link>).
        </p>
      </ConfirmDialog>
      <ConfirmDialog
        open={confirm === 'remove'}
        title={`Remove ${upstream.name}?`}
        confirmLabel="Remove upstream"
        onClose={() => setConfirm(null)}
        onConfirm={async () => {
          await api.deleteMirror(upstream.name);
          toast('good', `Removed ${upstream.name} and its cache`);
          onChanged();
        }}
      >
        <p>Berth stops mirroring {upstream.name}; its cached images and credentials are deleted.</p>
      </ConfirmDialog>
    </Card>
  );
}

function CachedTable({ cached }: { cached: CachedReferenceView[] }) {
  return (
    <Card title="Cached images" hint="Tags (and images pulled by digest) in the cache, by upstream. A stale one is served while its upstream fails." flush>
      {cached.length === 0 ? (
        <EmptyState icon={<CloudDownload size={26} />} title="Nothing cached yet">
          <p>Pull an image through Berth and it shows up here.</p>
        </EmptyState>
      ) : (
        <Table testId="mirror-cached" caption="Cached images" columns={['Image', 'Digest', { label: 'Size', num: true }, 'Fetched', 'Checked', 'Pulled', 'Expires']}>
          {cached.map((r) => (
            <tr key={`${r.repository}@${r.reference}`} data-repository={r.repository} data-reference={r.reference} data-stale={r.staleSince !== null}>
              <td>
                <Link to={repositoryLink(r.repository)}>{r.repository}</Link>
                {r.reference.includes(':') ? <span className="muted"> (by digest)</span> : (
                  <Link to={imageLink(r.repository, r.reference)}>
                    <code>:{r.reference}</code>
                  </Link>
                )}
                {r.staleSince && (
                  <span className="chip warn" title={r.lastError ?? undefined} style={{ marginLeft: 6 }}>
                    <TriangleAlert size={12} aria-hidden /> stale since <Time iso={r.staleSince} />
                  </span>
                )}
              </td>
              <td>
                <Digest digest={r.digest} />
              </td>
              <td className="num">
                <Bytes value={r.size} />
              </td>
              <td>
                <Time iso={r.fetchedAt} />
              </td>
              <td>
                <Time iso={r.checkedAt} fallback="by digest: never needed" />
              </td>
              <td>
                <Time iso={r.usedAt} />
              </td>
              <td title="Dropped if nobody pulls it until then">
                <Time iso={r.expiresAt} />
              </td>
            </tr>
          ))}
        </Table>
      )}
    </Card>
  );
}

function MirrorsView({ data, reload }: { data: MirrorsOverview; reload(): void }) {
  const [adding, setAdding] = useState(false);
  const toast = useToast();
  return (
    <>
      {data.upstreams.length === 0 && !adding && (
        <Card>
          <EmptyState icon={<CloudDownload size={26} />} title="No upstream yet">
            <p>
              Berth can be a pull-through cache of Docker Hub and other registries: images pulled once are served from this machine afterwards, faster, within
              Docker Hub’s pull limits, and when the network is gone.
            </p>
            <button type="button" className="primary" onClick={() => setAdding(true)}>
              <Plus size={15} aria-hidden /> Add an upstream
            </button>
          </EmptyState>
        </Card>
      )}
      {adding && (
        <Card title="New upstream">
          <UpstreamForm
            initial={data.upstreams.length === 0 ? DOCKER_HUB : EMPTY}
            isNew
            onCancel={() => setAdding(false)}
            onSaved={(view) => {
              setAdding(false);
              toast('good', `Berth now mirrors ${view.name}`);
              reload();
            }}
          />
        </Card>
      )}
      {data.upstreams.map((u) => (
        <UpstreamCard key={u.name} upstream={u} onChanged={reload} />
      ))}
      {data.fills.length > 0 && (
        <Card title="Fetching now" hint="Blobs coming from upstreams: each once, however many clients wait for it.">
          <ul className="feed">
            {data.fills.map((f) => (
              <li key={f.digest}>
                <span className="kind cache" aria-hidden>
                  <CloudDownload size={16} />
                </span>
                <span>
                  <code>{f.digest.slice(0, 19)}…</code> from {f.upstream}
                </span>
                <span className="muted">
                  {formatBytes(f.received)}
                  {f.size !== null && ` of ${formatBytes(f.size)}`}
                </span>
              </li>
            ))}
          </ul>
        </Card>
      )}
      {data.upstreams.length > 0 && <CachedTable cached={data.cached} />}
      {data.upstreams.length > 0 && !adding && (
        <div className="actions">
          <button type="button" onClick={() => setAdding(true)}>
            <Plus size={15} aria-hidden /> Add an upstream
          </button>
          <button
            type="button"
            onClick={async () => {
              try {
                const report = await api.expireMirrors();
                toast('good', report.dropped.length === 0 ? 'Nothing unused to drop' : `Dropped ${formatCount(report.dropped.length, 'unused tag')}`);
                reload();
              } catch (err) {
                toast('bad', (err as Error).message);
              }
            }}
          >
            Drop unused now
          </button>
          <Link to="/setup#mirror">How clients use the mirror</Link>
        </div>
      )}
    </>
  );
}

export function MirrorsPage() {
  const mirrors = useResource((signal) => api.mirrors(signal), [], {
    refreshOn: ['mirror-fetched', 'mirror-stale', 'mirror-error', 'mirror-changed', 'repository-deleted'],
  });
  const { reload } = mirrors;
  useEffect(() => {
    const timer = setInterval(() => {
      if (document.visibilityState === 'visible') reload();
    }, POLL_MS);
    return () => clearInterval(timer);
  }, [reload]);
  return (
    <>
      <title>Mirrors · Berth</title>
      <PageHeader title="Mirrors" subtitle="Berth as a pull-through cache: images from Docker Hub and other registries, fetched once and served from here." />
      <Loaded resource={mirrors} errorTitle="Could not load the mirrors" loadingLabel="Loading the mirrors">
        {(data) => <MirrorsView data={data} reload={reload} />}
      </Loaded>
    </>
  );
}
