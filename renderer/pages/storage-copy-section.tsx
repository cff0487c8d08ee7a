/**
 * The Disk usage page's "Copy to another store": every blob, manifest and tag of this registry copied,
 * verified, to an S3 bucket, an Azure container or another data directory (POST /api/storage/copy),
 * with its progress and result. Pushes may go on meanwhile; running it again copies what changed. Then
 * the registry can be switched to the new store (desktop Settings, or the config file's "storage").
 */
import { useEffect, useState, type FormEvent } from 'react';
import type { DesktopStorage } from '../../electron/shared/ipc.ts';
import { asConfigInput } from '../../electron/shared/storage-input.ts';
import type { StorageCopyStatus } from '../../server/registry/api-types.ts';
import { api, ApiError, isDesktop } from '../api.ts';
import { Card } from '../components/page.tsx';
import { DEFAULT_STORAGE, StorageSettings, storageProblem } from '../components/storage-settings.tsx';
import { formatBytes, formatCount } from '../format.ts';
import { useResource } from '../hooks/use-resource.ts';

/** While a copy runs its status is asked for this often. */
const POLL_MS = 500;

function Progress({ status }: { status: StorageCopyStatus }) {
  const p = status.progress;
  if (!p) return null;
  const label =
    p.phase === 'blobs'
      ? `Blobs ${p.done.toLocaleString()} of ${p.total.toLocaleString()} (${formatBytes(p.bytesDone)} of ${formatBytes(p.bytesTotal)})`
      : p.phase === 'links'
        ? `Manifest and layer links ${p.done.toLocaleString()} of ${p.total.toLocaleString()}`
        : p.phase === 'tags'
          ? `Tags ${p.done.toLocaleString()} of ${p.total.toLocaleString()}`
          : 'Finishing';
  const [value, max] = p.phase === 'blobs' && p.bytesTotal > 0 ? [p.bytesDone, p.bytesTotal] : [p.done, Math.max(1, p.total)];
  return (
    <div data-testid="copy-progress" style={{ display: 'grid', gap: 6 }}>
      <progress value={value} max={max} aria-label={`Copying to ${status.to}`} style={{ width: '100%' }} />
      <span className="muted">{label}</span>
    </div>
  );
}

function Outcome({ status }: { status: StorageCopyStatus }) {
  if (status.state === 'failed') {
    return (
      <p className="error-text" role="alert" data-testid="copy-outcome">
        The copy to <code>{status.to}</code> stopped: {status.error}
      </p>
    );
  }
  const r = status.result;
  if (status.state !== 'succeeded' || !r) return null;
  const already = r.blobs.skipped + r.links.skipped + r.tags.skipped;
  return (
    <div data-testid="copy-outcome" role="status">
      <p>
        Copied {formatCount(r.blobs.copied, 'blob')} ({formatBytes(r.blobs.bytesCopied)}), {formatCount(r.links.copied, 'link')} and{' '}
        {formatCount(r.tags.copied, 'tag')} to <code>{status.to}</code> in {(r.ms / 1000).toFixed(1)} s
        {already > 0 ? `; ${already.toLocaleString()} already there` : ''}.
      </p>
      {r.blobs.gone > 0 && <p className="muted">{formatCount(r.blobs.gone, 'blob')} deleted here during the copy (a garbage collection) were left out.</p>}
      {r.corrupt.length > 0 && (
        <p className="error-text">
          {formatCount(r.corrupt.length, 'blob')} here do not match their digest and were not copied: run an integrity scrub.
        </p>
      )}
      <p className="muted">
        To serve from it, {isDesktop() ? 'choose it in Settings, Storage' : 'set it as "storage" in the config file'} and restart; pushes made
        after this copy need another run first.
      </p>
    </div>
  );
}

export function StorageCopyCard() {
  const status = useResource((signal) => api.storageCopy(signal), [], { keepPrevious: true });
  const [draft, setDraft] = useState<DesktopStorage>({ ...DEFAULT_STORAGE, driver: 's3' });
  const [dataDir, setDataDir] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [sending, setSending] = useState(false);
  const running = status.data?.state === 'running';

  // A copy in progress: follow it until it ends.
  useEffect(() => {
    if (!running) return;
    const timer = setTimeout(() => status.reload(), POLL_MS);
    return () => clearTimeout(timer);
  }, [running, status.data]);

  async function start(e: FormEvent) {
    e.preventDefault();
    const local = draft.driver === 'filesystem';
    const problem = local ? (dataDir.trim() ? null : 'Enter the folder to copy to: a new or empty data directory.') : storageProblem(draft);
    setError(problem);
    if (problem) return;
    setSending(true);
    try {
      await api.startStorageCopy(asConfigInput(draft), local ? dataDir.trim() : undefined);
      status.reload();
    } catch (err) {
      setError(err instanceof ApiError ? err.message : (err as Error).message);
    } finally {
      setSending(false);
    }
  }

  return (
    <Card
      title="Copy to another store"
      id="copy-store"
      hint="Every blob, manifest and tag, each verified against its digest while it streams. Pushes may go on; run it again to copy what changed since."
    >
      <form onSubmit={start} data-testid="copy-form" style={{ display: 'grid', gap: 12 }}>
        <StorageSettings variant="copy" value={draft} error={error ?? undefined} onChange={setDraft} />
        {draft.driver === 'filesystem' && (
          <div className="field">
            <label htmlFor="copy-data-dir">Data directory</label>
            <input id="copy-data-dir" type="text" value={dataDir} spellCheck={false} placeholder="/srv/berth-copy" onChange={(e) => setDataDir(e.target.value)} />
            <span className="help">An absolute path on the machine Berth runs on; no server may be using it.</span>
          </div>
        )}
        <div>
          <button type="submit" className="primary" disabled={sending || running}>
            {running ? 'Copying…' : 'Copy'}
          </button>
        </div>
      </form>
      {status.data && running && <Progress status={status.data} />}
      {status.data && <Outcome status={status.data} />}
    </Card>
  );
}
