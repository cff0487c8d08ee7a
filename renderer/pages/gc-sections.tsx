/**
 * Garbage collection on the Disk usage page: preview exactly what a collection would remove (the
 * server's dry run, which equals the real run on the same state), collect it after a confirmation
 * while following its progress, and the history of collections.
 */
import { useEffect, useId, useState, type FormEvent, type ReactNode } from 'react';
import { Link } from 'react-router';
import { CircleCheck, History, Info, Recycle, TriangleAlert } from 'lucide-react';
import type { GcReport, MaintenanceOverview, MaintenanceRun } from '../../server/registry/api-types.ts';
import { ApiError, api, runResult, type GcRequest } from '../api.ts';
import { Bytes } from '../components/bytes.tsx';
import { Digest } from '../components/copy.tsx';
import { ConfirmDialog } from '../components/dialog.tsx';
import { Loaded } from '../components/loaded.tsx';
import { PreviewButtons } from '../components/preview-buttons.tsx';
import { Card } from '../components/page.tsx';
import { RunDuration, RunFailure, RunProgress, RunState, RunTrigger } from '../components/run-progress.tsx';
import { EmptyState } from '../components/states.tsx';
import { Table } from '../components/table.tsx';
import { Time } from '../components/time.tsx';
import { useToast } from '../components/toast.tsx';
import { durationInput, formatBytes, formatCount, formatElapsed, formatInterval } from '../format.ts';
import { useResource } from '../hooks/use-resource.ts';
import { isFinished, runQueuedOrFinished, useRun } from '../hooks/use-run.ts';

/** Rows shown per list of a preview; the counts above them are always exact. */
const SHOWN = 200;

/** Label and value pairs in a row: the headline numbers inside a card. */
export function Figures({ items, testId }: { items: { label: string; value: ReactNode; testId?: string }[]; testId?: string }) {
  return (
    <dl className="figures" data-testid={testId}>
      {items.map((item) => (
        <div key={item.label} data-testid={item.testId}>
          <dt>{item.label}</dt>
          <dd>{item.value}</dd>
        </div>
      ))}
    </dl>
  );
}

/** The first SHOWN rows of a list, in a scrolling box, with how many more there are. */
function Listing<T>({ title, items, total, columns, testId, row }: {
  title: string;
  items: T[];
  total: number;
  columns: Parameters<typeof Table>[0]['columns'];
  testId: string;
  row(item: T): ReactNode;
}) {
  if (total === 0) return null;
  return (
    <section className="listing">
      <h3>
        {title} <span className="muted">({total.toLocaleString()})</span>
      </h3>
      <div className="scroll-box">
        <Table testId={testId} caption={title} columns={columns}>
          {items.slice(0, SHOWN).map(row)}
        </Table>
      </div>
      {total > Math.min(items.length, SHOWN) && <p className="help">Showing the first {Math.min(items.length, SHOWN).toLocaleString()}.</p>}
    </section>
  );
}

function removedSummary(report: GcReport): string {
  const parts = [formatCount(report.counts.blobs, 'blob')];
  if (report.counts.manifests > 0) parts.push(formatCount(report.counts.manifests, 'manifest'));
  if (report.counts.repositories > 0) parts.push(formatCount(report.counts.repositories, 'empty repository', 'empty repositories'));
  if (report.counts.layerLinks > 0) parts.push(formatCount(report.counts.layerLinks, 'layer link'));
  return parts.join(', ');
}

/** Exactly what a collection with the previewed options would remove now. */
function GcPreview({ report, stale }: { report: GcReport; stale: boolean }) {
  const nothing = report.counts.blobs + report.counts.manifests + report.counts.repositories + report.counts.layerLinks === 0;
  return (
    <div className="gc-preview" data-testid="gc-preview">
      <h3 className="section-title">Preview</h3>
      {stale && (
        <p className="callout warn" role="status">
          <TriangleAlert size={17} aria-hidden />
          <span>The options changed since this preview. Preview again to collect with them.</span>
        </p>
      )}
      <Figures
        items={[
          { label: 'Would free', value: <Bytes value={report.bytesFreed} />, testId: 'gc-preview-bytes' },
          { label: 'Blobs', value: report.counts.blobs.toLocaleString(), testId: 'gc-preview-blobs' },
          { label: 'Manifests', value: report.counts.manifests.toLocaleString(), testId: 'gc-preview-manifests' },
          { label: 'Repositories', value: report.counts.repositories.toLocaleString(), testId: 'gc-preview-repositories' },
          { label: 'Kept in use', value: <Bytes value={report.kept.bytes} /> },
        ]}
      />
      {nothing ? (
        <p className="callout good">
          <CircleCheck size={17} aria-hidden />
          <span>Nothing to collect: every blob on disk belongs to an image{report.protected.blobs > 0 ? ' or is inside the grace window' : ''}.</span>
        </p>
      ) : (
        <p className="muted">
          Collecting removes {removedSummary(report)}, freeing {formatBytes(report.bytesFreed)}, scanned {formatCount(report.scanned.blobs, 'blob')} in{' '}
          {formatCount(report.scanned.repositories, 'repository', 'repositories')}.
        </p>
      )}
      {report.protected.blobs > 0 && (
        <p className="callout" data-testid="gc-protected">
          <Info size={17} aria-hidden />
          <span>
            {formatCount(report.protected.blobs, 'unused blob')} (<Bytes value={report.protected.bytes} />) {report.protected.blobs === 1 ? 'is' : 'are'} younger than the grace window of{' '}
            {formatInterval(report.graceSeconds)} (or in use by a push) and {report.protected.blobs === 1 ? 'stays' : 'stay'} for now; a later collection frees{' '}
            {report.protected.blobs === 1 ? 'it' : 'them'}.
          </span>
        </p>
      )}
      <Listing
        title="Blobs to delete"
        testId="gc-preview-blob-list"
        items={report.removed.blobs}
        total={report.counts.blobs}
        columns={['Digest', { label: 'Size', num: true }]}
        row={(b) => (
          <tr key={b.digest} data-blob={b.digest}>
            <td>
              <Digest digest={b.digest} />
            </td>
            <td className="num">
              <Bytes value={b.size} />
            </td>
          </tr>
        )}
      />
      <Listing
        title="Untagged manifests to remove"
        testId="gc-preview-manifest-list"
        items={report.removed.manifests}
        total={report.counts.manifests}
        columns={['Repository', 'Digest']}
        row={(m) => (
          <tr key={`${m.repository}@${m.digest}`} data-manifest={m.digest} data-repository={m.repository}>
            <td>{m.repository}</td>
            <td>
              <Digest digest={m.digest} />
            </td>
          </tr>
        )}
      />
      <Listing
        title="Empty repositories to remove"
        testId="gc-preview-repository-list"
        items={report.removed.repositories}
        total={report.counts.repositories}
        columns={['Repository']}
        row={(name) => (
          <tr key={name} data-repository={name}>
            <td>{name}</td>
          </tr>
        )}
      />
      {report.truncated && <p className="help">Each list stops at 10,000 entries; the counts are exact.</p>}
    </div>
  );
}

/** What a finished collection did. */
function GcOutcome({ run }: { run: MaintenanceRun }) {
  const report = runResult(run, 'gc');
  if (!report) return <RunFailure run={run} what="The collection" />;
  return (
    <div className="callout good" data-testid="gc-result" role="status">
      <CircleCheck size={17} aria-hidden />
      <div>
        <strong>
          Freed <Bytes value={report.bytesFreed} />
        </strong>{' '}
        in {formatElapsed(run.durationMs ?? 0)}: removed {removedSummary(report)}.
        {report.skipped.length > 0 && (
          <p className="muted" style={{ margin: '4px 0 0' }}>
            {formatCount(report.skipped.length, 'planned removal was', 'planned removals were')} skipped: a push started using them meanwhile.
          </p>
        )}
        {report.warnings.map((w) => (
          <p key={w} className="muted" style={{ margin: '4px 0 0' }}>
            {w}
          </p>
        ))}
      </div>
    </div>
  );
}

export function GarbageCollectionCard({ overview, onCollected }: { overview: MaintenanceOverview; onCollected(): void }) {
  const toast = useToast();
  const graceId = useId();
  const untaggedId = useId();
  const [form, setForm] = useState<GcRequest>(() => ({ grace: durationInput(overview.settings.gcGraceSeconds), untagged: overview.settings.gcUntagged }));
  const [preview, setPreview] = useState<{ options: GcRequest; report: GcReport } | null>(null);
  const [previewing, setPreviewing] = useState(false);
  const [error, setError] = useState<Error | null>(null);
  const [confirming, setConfirming] = useState(false);
  const collection = useRun((run) => {
    const report = runResult(run, 'gc');
    if (report) {
      toast('good', `Garbage collection freed ${formatBytes(report.bytesFreed)}`);
      setPreview(null);
    }
    onCollected();
  });

  // A collection already running (the schedule, the CLI, another window) is shown as it goes.
  const current = overview.current;
  useEffect(() => {
    if (current?.kind === 'gc' && !(current.options as { dryRun?: boolean }).dryRun) collection.follow(current);
  }, [current?.id]);

  const stale = preview !== null && (preview.options.grace !== form.grace || preview.options.untagged !== form.untagged);
  const graceError = error instanceof ApiError && error.fields.includes('grace') ? error.message : null;

  function change(next: Partial<GcRequest>) {
    setForm({ ...form, ...next });
    setError(null);
  }

  async function runPreview(event: FormEvent) {
    event.preventDefault();
    setPreviewing(true);
    setError(null);
    const options = { ...form, grace: form.grace.trim() };
    try {
      const run = await api.previewGc(options);
      const report = runResult(run, 'gc');
      if (!report) throw new Error(run.error ?? `The preview ${run.state === 'interrupted' ? 'was interrupted' : 'failed'}.`);
      setPreview({ options, report });
    } catch (err) {
      setError(err as Error);
      setPreview(null);
    } finally {
      setPreviewing(false);
    }
  }

  async function collect() {
    if (!preview) return;
    await collection.start(() => api.startGc(preview.options));
  }

  const running = collection.active;
  const outcome = collection.run && isFinished(collection.run) ? collection.run : null;
  return (
    <Card
      id="garbage-collection"
      title="Garbage collection"
      hint="Deleting tags and repositories only unlinks them. Collecting deletes the files no image uses any more, online: pushes go on meanwhile."
    >
      <form className="gc-options" onSubmit={runPreview} noValidate>
        <div className="field">
          <label htmlFor={graceId}>Grace window</label>
          <input
            id={graceId}
            type="text"
            value={form.grace}
            spellCheck={false}
            autoComplete="off"
            style={{ width: 120 }}
            aria-invalid={graceError !== null}
            aria-describedby={`${graceId}-help${graceError ? ` ${graceId}-error` : ''}`}
            onChange={(e) => change({ grace: e.target.value })}
          />
          {graceError && (
            <span className="error-text" id={`${graceId}-error`} role="alert">
              {graceError}
            </span>
          )}
          <span className="help" id={`${graceId}-help`}>
            Anything written more recently than this is kept, so a push in progress never loses a layer it just uploaded. A number with a unit: 30s, 15m,
            1h, 2d (configured: {formatInterval(overview.settings.gcGraceSeconds)}).
          </span>
        </div>
        <div className="field">
          <label className="check" htmlFor={untaggedId}>
            <input id={untaggedId} type="checkbox" checked={form.untagged} onChange={(e) => change({ untagged: e.target.checked })} />
            <span>
              Also remove untagged manifests
              <span className="help" style={{ display: 'block' }}>
                Manifests no tag points to any more: older pushes of a moved tag, deleted tags, tags removed by <Link to="/retention">retention rules</Link>.
                The platforms of a tagged multi-platform image and the signatures and SBOMs of kept images always stay.
              </span>
            </span>
          </label>
        </div>
        <div className="actions">
          <PreviewButtons
            previewing={previewing}
            previewDisabled={previewing || running}
            actLabel="Collect…"
            actIcon={<Recycle size={15} aria-hidden />}
            actDisabled={!preview || stale || previewing || running}
            actTitle={running ? undefined : 'Preview first: it lists exactly what a collection removes'}
            onAct={() => setConfirming(true)}
          />
          {!preview && !running && <span className="help">Preview first: it lists exactly what collecting would delete, and nothing changes until you collect.</span>}
        </div>
      </form>
      {error && !graceError && (
        <p className="callout bad" role="alert">
          <TriangleAlert size={17} aria-hidden />
          <span>Could not preview: {error.message}</span>
        </p>
      )}
      {running && collection.run && <RunProgress run={collection.run} label="Garbage collection progress" />}
      {outcome && !running && <GcOutcome run={outcome} />}
      {preview && !running && <GcPreview report={preview.report} stale={stale} />}
      <ConfirmDialog
        open={confirming}
        onClose={() => setConfirming(false)}
        onConfirm={collect}
        title="Collect garbage now?"
        confirmLabel={preview ? `Delete and free ${formatBytes(preview.report.bytesFreed)}` : 'Collect'}
      >
        {preview && (
          <>
            <p>
              This permanently deletes what the preview listed: {removedSummary(preview.report)}, {formatBytes(preview.report.bytesFreed)} in all. Images that
              use them are already deleted; nothing still tagged is touched.
            </p>
            <p className="muted">
              If images were pushed or deleted since the preview, the collection goes by the registry as it is then. Anything written in the last{' '}
              {formatInterval(preview.report.graceSeconds)} is kept.
            </p>
          </>
        )}
      </ConfirmDialog>
    </Card>
  );
}

/** Recent collections (and previews), newest first: how they went and what they freed. */
export function GcHistoryCard() {
  const history = useResource((signal) => api.runs('gc', 20, signal), [], { refreshOn: runQueuedOrFinished(['gc']) });
  return (
    <Card title="Recent collections" hint="Started here, on a schedule, or with berth gc; previews are listed too." flush>
      <Loaded resource={history} card={false} errorTitle="Could not load the collection history" loadingLabel="Loading the collection history" rows={4}>
        {(runs) =>
          runs.length === 0 ? (
            <EmptyState icon={<History size={26} />} title="No collections yet">
              <p>Each garbage collection is recorded here with what it freed and how long it took.</p>
            </EmptyState>
          ) : (
            <Table
              testId="gc-history"
              caption="Recent garbage collections"
              columns={['When', 'What', 'State', 'Started by', { label: 'Freed', num: true }, { label: 'Removed', num: true }, { label: 'Took', num: true }]}
            >
              {runs.map((run) => {
                const report = runResult(run, 'gc');
                const dryRun = Boolean((run.options as { dryRun?: boolean }).dryRun);
                return (
                  <tr key={run.id} data-run={run.id} data-dry-run={dryRun}>
                    <td>
                      <Time iso={run.finishedAt ?? run.startedAt ?? run.queuedAt} />
                    </td>
                    <td>{dryRun ? <span className="chip">Preview</span> : <span className="chip accent">Collection</span>}</td>
                    <td>
                      <RunState state={run.state} />
                    </td>
                    <td>
                      <RunTrigger trigger={run.trigger} />
                    </td>
                    <td className="num" data-field="bytes-freed">
                      {report ? (
                        <span className={dryRun ? 'muted' : undefined} title={dryRun ? 'would free' : undefined}>
                          <Bytes value={report.bytesFreed} />
                        </span>
                      ) : (
                        <span className="faint">—</span>
                      )}
                    </td>
                    <td className="num muted">{report ? formatCount(report.counts.blobs, 'blob') : '—'}</td>
                    <td className="num">
                      <RunDuration run={run} />
                    </td>
                  </tr>
                );
              })}
            </Table>
          )
        }
      </Loaded>
    </Card>
  );
}
