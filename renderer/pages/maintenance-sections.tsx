/**
 * The other maintenance tasks on the Disk usage page: integrity scrub, index rebuild and upload
 * purging, each with its latest result; and the schedule, read-only, with the settings that change it.
 */
import { useState, type ReactNode } from 'react';
import { Clock, DatabaseZap, ScanSearch, ShieldCheck, Trash2, TriangleAlert } from 'lucide-react';
import type { MaintenanceKind, MaintenanceOverview, MaintenanceRun, ScrubReport } from '../../server/registry/api-types.ts';
import { api, isDesktop, runResult } from '../api.ts';
import { Bytes } from '../components/bytes.tsx';
import { CodeBlock, Digest } from '../components/copy.tsx';
import { ConfirmDialog } from '../components/dialog.tsx';
import { Card } from '../components/page.tsx';
import { RunFailure, RunProgress, RunTrigger } from '../components/run-progress.tsx';
import { Table } from '../components/table.tsx';
import { Time } from '../components/time.tsx';
import { useToast } from '../components/toast.tsx';
import { formatBytes, formatCount, formatElapsed, formatInterval } from '../format.ts';
import { isFinished, useLatestRun, type FollowedRun } from '../hooks/use-run.ts';

function Task({ kind, icon, title, description, action, run, progressFormat, children }: {
  kind: MaintenanceKind;
  icon: ReactNode;
  title: string;
  description: ReactNode;
  action: ReactNode;
  run: MaintenanceRun | null;
  progressFormat?: (n: number) => string;
  /** The result of the latest run that succeeded. */
  children?: ReactNode;
}) {
  return (
    <li className="task" data-task={kind}>
      <span className="task-icon" aria-hidden>
        {icon}
      </span>
      <div className="task-body">
        <h3>{title}</h3>
        <p className="muted">{description}</p>
        {run && !isFinished(run) && <RunProgress run={run} label={`${title} progress`} {...(progressFormat ? { format: progressFormat } : {})} />}
        {run && isFinished(run) && (
          <div className="task-result" data-testid={`${kind}-result`} data-run={run.id}>
            <p className="help">
              Last run <Time iso={run.finishedAt} />, started by <RunTrigger trigger={run.trigger} />
              {run.durationMs !== null && <>, took {formatElapsed(run.durationMs)}</>}
            </p>
            <RunFailure run={run} what={title} />
            {run.state === 'succeeded' && children}
          </div>
        )}
      </div>
      <div className="task-action">{action}</div>
    </li>
  );
}

function ScrubFindings({ report }: { report: ScrubReport }) {
  const checked = `${formatCount(report.checked.blobs, 'blob')} (${formatBytes(report.checked.bytes)}), ${formatCount(report.checked.manifests, 'manifest')} and ${formatCount(report.checked.tags, 'tag')} in ${formatCount(report.checked.repositories, 'repository', 'repositories')}`;
  if (report.clean) {
    return (
      <p className="callout good" data-testid="scrub-clean">
        <ShieldCheck size={17} aria-hidden />
        <span>All intact: checked {checked}.</span>
      </p>
    );
  }
  return (
    <>
      <p className="callout bad" role="alert">
        <TriangleAlert size={17} aria-hidden />
        <span>
          Checked {checked}: {formatCount(report.corrupt.length, 'corrupt file')} moved to quarantine, {formatCount(report.missing.length, 'missing piece')} of
          content. Pulls of the images listed fail until they are pushed again; everything else keeps serving.
        </span>
      </p>
      {report.corrupt.length > 0 && (
        <div className="scroll-box">
          <Table testId="scrub-corrupt" caption="Corrupt files, quarantined" columns={['Corrupt blob', { label: 'Size', num: true }, 'Moved to', 'Used by']}>
            {report.corrupt.map((c) => (
              <tr key={c.digest} data-corrupt={c.digest}>
                <td>
                  <Digest digest={c.digest} />
                  <div className="help">
                    bytes hash to <code title={c.actual}>{c.actual.slice(0, 19)}</code>
                  </div>
                </td>
                <td className="num">
                  <Bytes value={c.size} />
                </td>
                <td data-field="quarantined-to">{c.quarantinedTo ? <span className="path">{c.quarantinedTo}</span> : <span className="faint">gone before it could be moved</span>}</td>
                <td>
                  {c.usedBy.length === 0 ? (
                    <span className="faint">nothing</span>
                  ) : (
                    c.usedBy.map((u) => (
                      <div key={`${u.repository}:${u.as}`}>
                        {u.repository} <span className="muted">({u.as})</span>
                      </div>
                    ))
                  )}
                </td>
              </tr>
            ))}
          </Table>
        </div>
      )}
      {report.missing.length > 0 && (
        <div className="scroll-box">
          <Table testId="scrub-missing" caption="Missing content" columns={['Repository', 'Reference', 'Missing', 'Problem']}>
            {report.missing.map((m) => (
              <tr key={`${m.repository}:${m.reference}:${m.digest}`} data-missing={m.digest}>
                <td>{m.repository}</td>
                <td>
                  <code>{m.reference.length > 30 ? `${m.reference.slice(0, 19)}…` : m.reference}</code>
                </td>
                <td>
                  <Digest digest={m.digest} />
                </td>
                <td>{m.problem}</td>
              </tr>
            ))}
          </Table>
        </div>
      )}
    </>
  );
}

export function MaintenanceCard({ overview, onChanged }: { overview: MaintenanceOverview; onChanged(): void }) {
  const toast = useToast();
  const [confirmPurge, setConfirmPurge] = useState(false);
  const announce = (what: string) => (run: MaintenanceRun) => {
    if (run.state === 'succeeded') toast('good', `${what} finished`);
    else toast('bad', `${what} ${run.state === 'failed' ? 'failed' : 'was interrupted'}`);
    onChanged();
  };
  const scrub = useLatestRun('scrub', overview, announce('Integrity scrub'));
  const reindex = useLatestRun('reindex', overview, announce('Index rebuild'));
  const purge = useLatestRun('purge-uploads', overview, announce('Upload purge'));

  const start = (task: FollowedRun, request: () => Promise<MaintenanceRun>) => async () => {
    try {
      await task.start(request);
    } catch (err) {
      toast('bad', `Could not start: ${(err as Error).message}`);
    }
  };
  const button = (task: FollowedRun, label: string, onClick: () => void, danger = false) => (
    <button type="button" className={danger ? 'danger' : undefined} disabled={task.active} onClick={onClick}>
      {task.active && <span className="spinner" aria-hidden />}
      {label}
    </button>
  );

  const scrubReport = runResult(scrub.run, 'scrub');
  const reindexStats = runResult(reindex.run, 'reindex');
  const purgeReport = runResult(purge.run, 'purge-uploads');
  return (
    <Card title="Maintenance" hint="One task runs at a time; a task started while another runs waits for it. The registry keeps serving throughout.">
      <ul className="tasks">
        <Task
          kind="scrub"
          icon={<ScanSearch size={18} />}
          title="Integrity scrub"
          description="Re-hashes every blob and manifest and checks every tag points to content that is there. A file whose bytes do not match its digest is moved to quarantine, so clients get a clean “not found” instead of wrong bytes."
          run={scrub.run}
          progressFormat={formatBytes}
          action={button(scrub, 'Run scrub', start(scrub, api.startScrub))}
        >
          {scrubReport && <ScrubFindings report={scrubReport} />}
        </Task>
        <Task
          kind="reindex"
          icon={<DatabaseZap size={18} />}
          title="Rebuild index"
          description="Re-reads every repository, manifest and tag from the files on disk, which are the truth, into the index these pages read. Use it when the pages and the registry disagree."
          run={reindex.run}
          action={button(reindex, 'Rebuild index', start(reindex, api.startReindex))}
        >
          {reindexStats && (
            <p data-testid="reindex-summary">
              Indexed {formatCount(reindexStats.repositories, 'repository', 'repositories')}, {formatCount(reindexStats.manifests, 'manifest')} and{' '}
              {formatCount(reindexStats.tags, 'tag')}
              {reindexStats.skipped > 0 && <> ({formatCount(reindexStats.skipped, 'unreadable entry', 'unreadable entries')} skipped)</>}.
            </p>
          )}
        </Task>
        <Task
          kind="purge-uploads"
          icon={<Trash2 size={18} />}
          title="Purge idle uploads"
          description={`Removes push sessions no byte arrived for in over ${formatInterval(overview.settings.uploadPurgeAgeSeconds)}: pushes that were abandoned or cut off. A session receiving bytes is never removed.`}
          run={purge.run}
          action={button(purge, 'Purge…', () => setConfirmPurge(true), true)}
        >
          {purgeReport && (
            <p data-testid="purge-summary">
              {purgeReport.removed.length === 0 ? (
                'No idle sessions to remove'
              ) : (
                <>
                  Removed {formatCount(purgeReport.removed.length, 'session')} and freed <Bytes value={purgeReport.bytesFreed} />
                </>
              )}
              {purgeReport.kept > 0 && <>; kept {formatCount(purgeReport.kept, 'session')} still in use</>}.
            </p>
          )}
        </Task>
      </ul>
      <ConfirmDialog
        open={confirmPurge}
        onClose={() => setConfirmPurge(false)}
        onConfirm={() => start(purge, api.startUploadPurge)()}
        title="Purge idle uploads?"
        confirmLabel="Purge"
      >
        <p>
          Push sessions idle for more than {formatInterval(overview.settings.uploadPurgeAgeSeconds)} are deleted with the bytes they received. A client
          resuming one would have to push that layer again.
        </p>
      </ConfirmDialog>
    </Card>
  );
}

function every(seconds: number | null, off: string): ReactNode {
  return seconds === null ? <span className="muted">{off}</span> : `Every ${formatInterval(seconds)}`;
}

/** When tasks run by themselves, and the config keys and environment variables that change it. */
export function ScheduleCard({ overview }: { overview: MaintenanceOverview }) {
  const { settings, nextRuns } = overview;
  const next = (kind: MaintenanceKind) => (nextRuns[kind] ? <Time iso={nextRuns[kind]} /> : <span className="faint">—</span>);
  const rows: { task: string; value: ReactNode; next?: ReactNode; key: string; env: string }[] = [
    { task: 'Garbage collection', value: every(settings.gcIntervalSeconds, 'Off: only when started here or with berth gc'), next: next('gc'), key: 'gcSchedule', env: 'BERTH_GC_SCHEDULE' },
    { task: 'Grace window', value: formatInterval(settings.gcGraceSeconds), key: 'gcGrace', env: 'BERTH_GC_GRACE' },
    { task: 'Scheduled collections remove untagged manifests', value: settings.gcUntagged ? 'Yes' : 'No', key: 'gcUntagged', env: 'BERTH_GC_UNTAGGED' },
    { task: 'Upload purge', value: every(settings.uploadPurgeIntervalSeconds, 'Off'), next: next('purge-uploads'), key: 'uploadPurgeSchedule', env: 'BERTH_UPLOAD_PURGE_SCHEDULE' },
    { task: 'Uploads count as idle after', value: formatInterval(settings.uploadPurgeAgeSeconds), key: 'uploadPurgeAge', env: 'BERTH_UPLOAD_PURGE_AGE' },
    { task: 'Retention rules', value: every(settings.retentionIntervalSeconds, 'Off: only when applied on the Retention page'), next: next('retention'), key: 'retentionSchedule', env: 'BERTH_RETENTION_SCHEDULE' },
  ];
  const example = JSON.stringify({ gcSchedule: '24h', gcGrace: '1h', gcUntagged: false, uploadPurgeSchedule: '1h', uploadPurgeAge: '24h', retentionSchedule: '24h' }, null, 2);
  return (
    <Card
      title={
        <span className="actions" style={{ gap: 8 }}>
          <Clock size={18} aria-hidden /> Schedule
        </span>
      }
      hint="A scheduled task runs one interval after its last run, so restarts do not postpone it."
    >
      <div className="table-frame">
        <Table testId="schedule" caption="Maintenance schedule" columns={['Setting', 'Now', 'Next run', 'Config file key', 'Environment']}>
          {rows.map((r) => (
            <tr key={r.key} data-setting={r.key}>
              <td>{r.task}</td>
              <td data-field="value">{r.value}</td>
              <td>{r.next ?? <span className="faint">—</span>}</td>
              <td>
                <code>{r.key}</code>
              </td>
              <td>
                <code>{r.env}</code>
              </td>
            </tr>
          ))}
        </Table>
      </div>
      {isDesktop() ? (
        <p className="help" style={{ marginTop: 12 }}>
          The desktop app runs these with the defaults shown. To change them, run Berth headless: <code>npx berth serve --config berth.json</code> with the
          keys above.
        </p>
      ) : (
        <>
          <p className="help" style={{ marginTop: 12 }}>
            <code>berth serve</code> has no flags for these: it reads them from its config file (<code>--config FILE</code>, the keys above) or from the
            environment when it starts, so a change applies after a restart. Durations take a unit (<code>30m</code>, <code>24h</code>, <code>7d</code>);
            a schedule can be <code>"off"</code>.
          </p>
          <CodeBlock caption={<>For example, in <code>berth.json</code></>} label="maintenance settings" code={example} />
        </>
      )}
    </Card>
  );
}
