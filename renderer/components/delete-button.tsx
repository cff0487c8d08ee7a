/** The trash-can button at the end of a table row. */
import { Trash2 } from 'lucide-react';

export function DeleteButton({ label, onClick }: { label: string; onClick(): void }) {
  return (
    <button type="button" className="icon" onClick={onClick} aria-label={label} title={label}>
      <Trash2 size={16} aria-hidden />
    </button>
  );
}
