/** Every repository: search, sort by name, size or last push; new pushes appear as they happen. */
import { useDeferredValue, useId, useState } from 'react';
import { Link } from 'react-router';
import { ArrowDown, ArrowUp, Search, SearchX } from 'lucide-react';
import type { RepositorySort } from '../../server/registry/api-types.ts';
import { api } from '../api.ts';
import { Bytes } from '../components/bytes.tsx';
import { FirstPush } from '../components/first-push.tsx';
import { Card, PageHeader } from '../components/page.tsx';
import { Table, type Column } from '../components/table.tsx';
import { EmptyState, ErrorState, Skeleton } from '../components/states.tsx';
import { Time } from '../components/time.tsx';
import { formatCount } from '../format.ts';
import { useResource } from '../hooks/use-resource.ts';
import { repositoryLink } from '../links.ts';
import { useStatus } from '../status.tsx';

const PAGE = 100;
const SORT_LABELS: Record<RepositorySort, string> = { name: 'Name', size: 'Size', pushed: 'Last push' };
/** Names read A to Z; sizes and push times read largest and newest first. */
const NATURAL_ORDER: Record<RepositorySort, 'asc' | 'desc'> = { name: 'asc', size: 'desc', pushed: 'desc' };

export function RepositoriesPage() {
  const status = useStatus();
  const [query, setQuery] = useState('');
  const q = useDeferredValue(query.trim());
  const [sort, setSort] = useState<RepositorySort>('name');
  const [order, setOrder] = useState<'asc' | 'desc'>('asc');
  const [limit, setLimit] = useState(PAGE);
  const searchId = useId();
  const sortId = useId();
  const list = useResource(
    (signal) => api.repositories({ q, sort, order, limit }, signal),
    [q, sort, order, limit],
    { refreshOn: ['manifest-pushed', 'manifest-deleted', 'tag-deleted', 'repository-deleted', 'blob-pushed', 'blob-mounted'], keepPrevious: true },
  );

  function sortBy(next: RepositorySort) {
    if (next === sort) setOrder(order === 'asc' ? 'desc' : 'asc');
    else {
      setSort(next);
      setOrder(NATURAL_ORDER[next]);
    }
  }

  const data = list.data;
  const empty = data && data.total === 0;
  const subtitle = data && data.total > 0 ? `${formatCount(data.total, 'repository', 'repositories')} in this registry` : 'Images pushed to this registry';

  function header(column: RepositorySort, num = false): Column {
    const active = sort === column;
    return {
      num,
      sort: active ? (order === 'asc' ? 'ascending' : 'descending') : 'none',
      label: (
        <button type="button" className="sort" onClick={() => sortBy(column)}>
          {SORT_LABELS[column]}
          {active && (order === 'asc' ? <ArrowUp size={13} aria-hidden /> : <ArrowDown size={13} aria-hidden />)}
        </button>
      ),
    };
  }

  return (
    <>
      <title>Repositories · Berth</title>
      <PageHeader title="Repositories" subtitle={subtitle} />
      {!empty && (
        <div className="toolbar">
          <div className="search">
            <Search size={16} aria-hidden />
            <label htmlFor={searchId} className="visually-hidden">
              Search repositories
            </label>
            <input
              id={searchId}
              type="search"
              placeholder="Search repositories"
              value={query}
              onChange={(e) => {
                setQuery(e.target.value);
                setLimit(PAGE);
              }}
            />
          </div>
          <label htmlFor={sortId} className="muted" style={{ fontWeight: 500 }}>
            Sort by
          </label>
          <select id={sortId} value={`${sort}:${order}`} onChange={(e) => {
            const [s, o] = e.target.value.split(':') as [RepositorySort, 'asc' | 'desc'];
            setSort(s);
            setOrder(o);
          }}>
            <option value="name:asc">Name (A–Z)</option>
            <option value="name:desc">Name (Z–A)</option>
            <option value="size:desc">Size (largest first)</option>
            <option value="size:asc">Size (smallest first)</option>
            <option value="pushed:desc">Last push (newest first)</option>
            <option value="pushed:asc">Last push (oldest first)</option>
          </select>
          {list.loading && data && <span className="spinner muted" role="status" aria-label="Searching" />}
        </div>
      )}
      <Card flush>
        {list.error && !data ? (
          <ErrorState error={list.error} onRetry={list.reload} title="Could not load repositories" />
        ) : !data ? (
          <Skeleton rows={6} label="Loading repositories" />
        ) : empty ? (
          <FirstPush status={status} />
        ) : data.matched === 0 ? (
          <EmptyState icon={<SearchX size={26} />} title="No repository matches">
            <p>
              Nothing named like “{q}”. <button type="button" className="small" onClick={() => setQuery('')}>Clear the search</button>
            </p>
          </EmptyState>
        ) : (
          <Table caption={`Repositories, sorted by ${SORT_LABELS[sort].toLowerCase()}`} columns={[header('name'), { label: 'Tags', num: true }, header('size', true), { label: 'Shared', num: true }, header('pushed')]}>
            {data.repositories.map((r) => (
              <tr key={r.name} data-repository={r.name}>
                <td>
                  <Link to={repositoryLink(r.name)} style={{ fontWeight: 600 }}>
                    {r.name}
                  </Link>
                </td>
                <td className="num">{r.tagCount.toLocaleString()}</td>
                <td className="num">
                  <Bytes value={r.totalSize} />
                </td>
                <td className="num muted">{r.sharedSize > 0 ? <Bytes value={r.sharedSize} /> : '—'}</td>
                <td>
                  <Time iso={r.lastPushAt} />
                </td>
              </tr>
            ))}
          </Table>
        )}
      </Card>
      {data && data.matched > data.repositories.length && (
        <div className="actions" style={{ justifyContent: 'center' }}>
          <span className="muted">
            Showing {data.repositories.length.toLocaleString()} of {data.matched.toLocaleString()}
          </span>
          <button type="button" onClick={() => setLimit(limit + PAGE * 5)}>
            Show more
          </button>
        </div>
      )}
    </>
  );
}
