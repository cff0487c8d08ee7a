/** A time shown relative ("5 minutes ago"), with the exact date and time on hover. */
import { useNow } from '../hooks/use-now.ts';
import { formatAbsolute, formatRelative } from '../format.ts';

export function Time({ iso, fallback = 'never' }: { iso: string | null | undefined; fallback?: string }) {
  const now = useNow();
  if (!iso) return <span className="faint">{fallback}</span>;
  return (
    <time dateTime={iso} title={formatAbsolute(iso)}>
      {formatRelative(iso, now)}
    </time>
  );
}
