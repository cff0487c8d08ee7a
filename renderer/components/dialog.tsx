/**
 * A confirmation for destructive actions, on the native <dialog> (focus trap, Escape, backdrop).
 * With `confirmText` the user must type it first (deleting a whole repository). Failures stay in the
 * dialog, so nothing is lost and the user can retry or cancel.
 */
import { useEffect, useId, useRef, useState, type FormEvent, type ReactNode } from 'react';

export interface ConfirmProps {
  open: boolean;
  title: string;
  children: ReactNode;
  confirmLabel: string;
  /** Text the user must type to enable the button. */
  confirmText?: string;
  onConfirm(): Promise<void>;
  onClose(): void;
}

export function ConfirmDialog({ open, title, children, confirmLabel, confirmText, onConfirm, onClose }: ConfirmProps) {
  const ref = useRef<HTMLDialogElement>(null);
  const [typed, setTyped] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const titleId = useId();
  const inputId = useId();

  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (open && !dialog.open) {
      setTyped('');
      setError(null);
      dialog.showModal();
    } else if (!open && dialog.open) {
      dialog.close();
    }
  }, [open]);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await onConfirm();
      onClose();
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  }

  const ready = !confirmText || typed === confirmText;
  return (
    <dialog ref={ref} aria-labelledby={titleId} onClose={onClose}>
      <form onSubmit={submit}>
        <h2 id={titleId}>{title}</h2>
        <div>{children}</div>
        {confirmText && (
          <div className="field" style={{ marginBottom: 0 }}>
            <label htmlFor={inputId}>
              Type <code>{confirmText}</code> to confirm
            </label>
            <input id={inputId} type="text" autoComplete="off" spellCheck={false} value={typed} onChange={(e) => setTyped(e.target.value)} />
          </div>
        )}
        {error && (
          <p className="callout bad" role="alert">
            {error}
          </p>
        )}
        <div className="dialog-actions">
          <button type="button" onClick={onClose} disabled={busy}>
            Cancel
          </button>
          <button type="submit" className="danger solid" disabled={!ready || busy}>
            {busy && <span className="spinner" aria-hidden />}
            {confirmLabel}
          </button>
        </div>
      </form>
    </dialog>
  );
}
