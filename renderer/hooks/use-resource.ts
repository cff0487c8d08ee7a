/**
 * Loads something from the API and keeps it current: reloads (quietly, keeping what is shown) when a
 * live event that may change it arrives, and after the live connection comes back (events may have
 * been missed meanwhile).
 */
import { useCallback, useEffect, useRef, useState } from 'react';
import type { LiveEventName } from '../../server/registry/api-types.ts';
import { subscribe, watchConnection } from '../api.ts';

export interface Resource<T> {
  data: T | undefined;
  error: Error | undefined;
  /** True until the first answer (or error) for the current inputs. */
  loading: boolean;
  reload(): void;
}

/** Live events are bursty (a push is many events): reload once they settle. */
const SETTLE_MS = 250;

export interface ResourceOptions {
  /** Live events after which to reload: names, or a test of each event. */
  refreshOn?: readonly LiveEventName[] | ((name: LiveEventName, data: unknown) => boolean);
  /** Keep showing the previous answer while new inputs load (a search as the user types). */
  keepPrevious?: boolean;
}

export function useResource<T>(load: (signal: AbortSignal) => Promise<T>, deps: readonly unknown[], options: ResourceOptions = {}): Resource<T> {
  const { refreshOn = [], keepPrevious = false } = options;
  const [data, setData] = useState<T>();
  const [error, setError] = useState<Error>();
  const [loading, setLoading] = useState(true);
  const [generation, setGeneration] = useState(0);
  const loadRef = useRef(load);
  loadRef.current = load;
  const refreshRef = useRef(refreshOn);
  refreshRef.current = refreshOn;

  // New inputs: show loading until their first answer.
  useEffect(() => {
    setLoading(true);
    setError(undefined);
    if (!keepPrevious) setData(undefined);
  }, deps);

  useEffect(() => {
    const controller = new AbortController();
    loadRef.current(controller.signal).then(
      (value) => {
        setData(value);
        setError(undefined);
        setLoading(false);
      },
      (err: Error) => {
        if (err.name === 'AbortError') return;
        setError(err);
        setLoading(false);
      },
    );
    return () => controller.abort();
  }, [...deps, generation]);

  const reload = useCallback(() => setGeneration((g) => g + 1), []);

  useEffect(() => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const later = () => {
      clearTimeout(timer);
      timer = setTimeout(reload, SETTLE_MS);
    };
    const offEvents = subscribe((name, payload) => {
      const rule = refreshRef.current;
      if (typeof rule === 'function' ? rule(name, payload) : rule.includes(name)) later();
    });
    let wasLost = false;
    const offConnection = watchConnection((state) => {
      if (state === 'lost') wasLost = true;
      if (state === 'open' && wasLost) {
        wasLost = false;
        later();
      }
    });
    return () => {
      clearTimeout(timer);
      offEvents();
      offConnection();
    };
  }, [reload]);

  return { data, error, loading, reload };
}
