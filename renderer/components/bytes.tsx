/** A size in readable units; the exact byte count is the element's value and its tooltip. */
import { formatBytes } from '../format.ts';

export function Bytes({ value, fallback = '—' }: { value: number | null | undefined; fallback?: string }) {
  if (value === null || value === undefined) return <span className="faint">{fallback}</span>;
  return (
    <data value={value} title={`${value.toLocaleString()} bytes`} className="nowrap">
      {formatBytes(value)}
    </data>
  );
}
