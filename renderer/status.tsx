/** The server's status (address, ports, TLS), loaded once and shared by every page. */
import { createContext, useContext, type ReactNode } from 'react';
import type { StatusView } from '../server/registry/api-types.ts';
import { api } from './api.ts';
import { useResource, type Resource } from './hooks/use-resource.ts';

const StatusContext = createContext<Resource<StatusView> | null>(null);

export function StatusProvider({ children }: { children: ReactNode }) {
  const status = useResource((signal) => api.status(signal), []);
  return <StatusContext.Provider value={status}>{children}</StatusContext.Provider>;
}

export function useStatus(): Resource<StatusView> {
  const status = useContext(StatusContext);
  if (!status) throw new Error('useStatus needs a StatusProvider');
  return status;
}
