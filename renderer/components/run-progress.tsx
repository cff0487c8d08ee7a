/** A maintenance run as the UI shows it: live progress, its state and who started it. */
import { CircleAlert, TriangleAlert } from 'lucide-react';
import type { MaintenanceRun, MaintenanceState, MaintenanceTrigger } from '../../server/registry/api-types.ts';
import { formatElapsed } from '../format.ts';

const STATE: Record<MaintenanceState, { label: string; tone: string }> = {
  queued: { label: 'Queued', tone: '' },
  running: { label: 'Running', tone: 'accent' },
  succeeded: { label: 'Done', tone: 'good' },
  failed: { label: 'Failed', tone: 'bad' },
  interrupted: { label: 'Interrupted', tone: 'warn' },
};

export function RunState({ state }: { state: MaintenanceState }) {
  const { label, tone } = STATE[state];
  return (
    <span className={`chip ${tone}`} data-state={state}>
      {label}
    </span>
  );
}

const TRIGGER: Record<MaintenanceTrigger, string> = {
  ui: 'Berth UI',
  api: 'API client',
  schedule: 'Schedule',
  cli: 'Command line',
};

export function RunTrigger({ trigger }: { trigger: MaintenanceTrigger }) {
  return <span data-trigger={trigger}>{TRIGGER[trigger]}</span>;
}

/** "4.2 s", or a dash for a run that has not finished. */
export function RunDuration({ run }: { run: MaintenanceRun }) {
  return run.durationMs === null ? <span className="faint">—</span> : <span className="nowrap">{formatElapsed(run.durationMs)}</span>;
}

/**
 * Where a queued or running run is: its phase and done/total (a determinate bar once the total is
 * known). `format` shows the counts (a scrub counts bytes hashed).
 */
export function RunProgress({ run, label, format = (n) => n.toLocaleString() }: { run: MaintenanceRun; label: string; format?: (n: number) => string }) {
  const progress = run.progress;
  const known = progress !== null && progress.total > 0;
  const percent = known ? Math.min(100, (progress.done / progress.total) * 100) : 0;
  const text =
    run.state === 'queued'
      ? 'Queued: waits for the maintenance run in progress to finish'
      : progress
        ? `${progress.phase.charAt(0).toUpperCase()}${progress.phase.slice(1)}${known ? ` · ${format(progress.done)} of ${format(progress.total)}` : ''}`
        : 'Starting';
  return (
    <div className="run-progress" data-testid="run-progress" aria-live="polite">
      <span className="muted">
        <span className="spinner" aria-hidden /> {text}
      </span>
      <div
        className={known ? 'meter' : 'progress-bar'}
        role="progressbar"
        aria-label={label}
        aria-valuetext={text}
        {...(known ? { 'aria-valuemin': 0, 'aria-valuemax': 100, 'aria-valuenow': Math.round(percent) } : {})}
      >
        {known && <span style={{ width: `${percent}%` }} />}
      </div>
    </div>
  );
}

/** The error line of a run that failed or was interrupted. */
export function RunFailure({ run, what }: { run: MaintenanceRun; what: string }) {
  if (run.state !== 'failed' && run.state !== 'interrupted') return null;
  return (
    <p className={`callout ${run.state === 'failed' ? 'bad' : 'warn'}`} role="alert">
      {run.state === 'failed' ? <CircleAlert size={17} aria-hidden /> : <TriangleAlert size={17} aria-hidden />}
      <span>
        {what} {run.state === 'failed' ? 'failed' : 'was interrupted'}
        {run.error ? `: ${run.error}` : '.'}
      </span>
    </p>
  );
}
