/** The current time, updated every 30 s, so relative times ("2 minutes ago") stay true. */
import { useSyncExternalStore } from 'react';

const TICK_MS = 30_000;
let now = Date.now();
const listeners = new Set<() => void>();

// One ticker for the whole page, for as long as it is open.
setInterval(() => {
  now = Date.now();
  for (const listener of listeners) listener();
}, TICK_MS);

function subscribeTicks(listener: () => void): () => void {
  listeners.add(listener);
  return () => {
    listeners.delete(listener);
  };
}

export function useNow(): number {
  return useSyncExternalStore(subscribeTicks, () => now);
}
