/** What a page shows for a resource: its error (with retry), a skeleton while loading, then the content. */
import type { ReactNode } from 'react';
import type { Resource } from '../hooks/use-resource.ts';
import { Card } from './page.tsx';
import { ErrorState, Skeleton } from './states.tsx';

export function Loaded<T>({ resource, errorTitle, loadingLabel, rows = 6, card = true, children }: {
  resource: Resource<T>;
  errorTitle: string;
  loadingLabel: string;
  rows?: number;
  /** Wrap the error and loading states in a card (false when already inside one). */
  card?: boolean;
  children: (data: T) => ReactNode;
}) {
  const wrap = (node: ReactNode) => (card ? <Card>{node}</Card> : node);
  if (resource.error && resource.data === undefined) return wrap(<ErrorState error={resource.error} onRetry={resource.reload} title={errorTitle} />);
  if (resource.data === undefined) return wrap(<Skeleton rows={rows} label={loadingLabel} />);
  return <>{children(resource.data)}</>;
}
