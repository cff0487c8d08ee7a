/**
 * The two steps of a destructive maintenance action: a dry run first (Preview), then the real thing,
 * which opens a confirmation and stays disabled until there is a current preview to confirm.
 */
import type { ReactNode } from 'react';
import { Eye } from 'lucide-react';

export function PreviewButtons({ previewing, previewDisabled, onPreview, actLabel, actIcon, actDisabled, actTitle, onAct }: {
  previewing: boolean;
  previewDisabled: boolean;
  /** Absent: the Preview button submits the form it is in. */
  onPreview?: () => void;
  actLabel: string;
  actIcon: ReactNode;
  actDisabled: boolean;
  /** Why the action is disabled, as its tooltip. */
  actTitle?: string | undefined;
  onAct(): void;
}) {
  return (
    <>
      <button type={onPreview ? 'button' : 'submit'} onClick={onPreview} disabled={previewDisabled}>
        {previewing ? <span className="spinner" aria-hidden /> : <Eye size={15} aria-hidden />}
        Preview
      </button>
      <button type="button" className="danger" disabled={actDisabled} onClick={onAct} title={actDisabled ? actTitle : undefined}>
        {actIcon} {actLabel}
      </button>
    </>
  );
}
