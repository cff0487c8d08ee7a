/**
 * A horizontal stacked bar per repository: bytes only it uses, and bytes it shares with others.
 * Drawn as SVG (a chart library would outweigh it); the same numbers are in the table beside it for
 * screen readers and exact values.
 */
import type { RepositoryUsage } from '../../server/registry/api-types.ts';
import { formatBytes } from '../format.ts';

const ROW = 30;
const LABEL = 190;
const VALUE = 90;
const WIDTH = 760;

export function UsageChart({ repositories, max = 12 }: { repositories: RepositoryUsage[]; max?: number }) {
  const rows = repositories.slice(0, max);
  const largest = Math.max(1, ...rows.map((r) => r.totalBytes));
  const barSpace = WIDTH - LABEL - VALUE;
  const scale = (bytes: number) => (bytes / largest) * barSpace;
  const summary = rows.map((r) => `${r.name}: ${formatBytes(r.totalBytes)}`).join(', ');
  return (
    <figure style={{ margin: 0 }}>
      <svg className="chart" viewBox={`0 0 ${WIDTH} ${rows.length * ROW + 4}`} width="100%" role="img" aria-label={`Disk use by repository: ${summary}`}>
        {rows.map((r, i) => {
          const y = i * ROW + 4;
          const unique = scale(r.uniqueBytes);
          const shared = scale(r.sharedBytes);
          const name = r.name.length > 26 ? `…${r.name.slice(-25)}` : r.name;
          return (
            <g key={r.name}>
              <title>{`${r.name}: ${formatBytes(r.uniqueBytes)} only here, ${formatBytes(r.sharedBytes)} shared`}</title>
              <text className="label" x={LABEL - 10} y={y + 15} textAnchor="end">
                {name}
              </text>
              <rect className="bar-unique" x={LABEL} y={y + 3} width={Math.max(unique, r.uniqueBytes > 0 ? 2 : 0)} height={ROW - 12} rx={3} />
              <rect className="bar-shared" x={LABEL + unique} y={y + 3} width={Math.max(shared, r.sharedBytes > 0 ? 2 : 0)} height={ROW - 12} rx={3} />
              <text x={LABEL + unique + shared + 8} y={y + 15}>
                {formatBytes(r.totalBytes)}
              </text>
            </g>
          );
        })}
      </svg>
      <figcaption className="legend" style={{ marginTop: 8 }}>
        <span>
          <span className="swatch" style={{ background: 'var(--accent)' }} />
          Only in this repository
        </span>
        <span>
          <span className="swatch" style={{ background: 'var(--shared)' }} />
          Shared with other repositories (stored once)
        </span>
        {repositories.length > rows.length && <span>Largest {rows.length} of {repositories.length}</span>}
      </figcaption>
    </figure>
  );
}
