/** Designed loading, empty and error states: never a blank page. */
import type { ReactNode } from 'react';
import { CircleAlert, RefreshCw } from 'lucide-react';
import { ApiError } from '../api.ts';

export function Skeleton({ rows = 5, label = 'Loading' }: { rows?: number; label?: string }) {
  return (
    <div className="skeleton" role="status" aria-live="polite">
      <span className="visually-hidden">{label}…</span>
      {Array.from({ length: rows }, (_, i) => (
        <span key={i} style={{ width: `${92 - ((i * 17) % 35)}%` }} />
      ))}
    </div>
  );
}

export function EmptyState({ icon, title, children }: { icon: ReactNode; title: string; children?: ReactNode }) {
  return (
    <div className="state">
      <div className="state-icon" aria-hidden>
        {icon}
      </div>
      <h2>{title}</h2>
      {children && <div className="body">{children}</div>}
    </div>
  );
}

function advice(error: Error): string | null {
  if (!(error instanceof ApiError)) return null;
  if (error.status === 401 || error.status === 403) return 'Berth refused this request. Open the UI from the desktop app, or from this machine at localhost.';
  if (error.code === 'UNREACHABLE') return 'The page could not reach the registry.';
  return null;
}

export function ErrorState({ error, onRetry, title = 'Something went wrong' }: { error: Error; onRetry?: () => void; title?: string }) {
  const hint = advice(error);
  return (
    <div className="state error" role="alert">
      <div className="state-icon" aria-hidden>
        <CircleAlert size={26} />
      </div>
      <h2>{title}</h2>
      <div className="body">
        <p>{error.message}</p>
        {hint && <p className="muted">{hint}</p>}
      </div>
      {onRetry && (
        <button type="button" onClick={onRetry}>
          <RefreshCw size={15} aria-hidden /> Try again
        </button>
      )}
    </div>
  );
}
