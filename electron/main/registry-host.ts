/**
 * Hosts the registry inside the Electron main process and reports its state (for the tray, the
 * window and the settings page).
 *
 * Same process, not a utility process: the registry is I/O-bound and streams every blob (no long
 * synchronous work that would stall the main process), and the tray needs its live state
 * (RegistryEvents, UploadService.activeUploads()) which a utility process would have to mirror over
 * a second IPC protocol with its own lifecycle to supervise. One process also means one owner for
 * the data-directory lock (it records this pid), which the single-instance lock already guarantees.
 */
import type { Logger } from 'pino';
import type { BerthConfig } from '../../server/config.ts';
import type { Registry, RegistryDeps } from '../../server/index.ts';
import type { DesktopSettings } from '../shared/ipc.ts';
import { serverConfig } from './settings.ts';
import { builtUiDir } from '../../server/http/ui.ts';

export type HostState = 'stopped' | 'starting' | 'running' | 'stopping' | 'failed';

export interface HostStatus {
  state: HostState;
  /** Where the UI is served (always loopback, also when bound to every interface). */
  uiUrl: string | null;
  /** host:port as image references use it: `docker push <address>/app`. */
  address: string | null;
  /** Repositories receiving blobs right now. */
  pushesInProgress: number;
  /** Blob uploads receiving bytes right now. */
  uploadsInProgress: number;
  /** Why the last start failed (state 'failed'). */
  error: string | null;
}

export interface RegistryHostDeps {
  createRegistry: (config: BerthConfig, deps?: RegistryDeps) => Registry;
  /** The per-launch management API secret (never logged). */
  token: string;
  log: Logger;
}

/** The `admin` login created on the first start with auth, when Berth generated its password. */
export interface InitialAdmin {
  name: string;
  password: string;
}

export interface RegistryHost {
  /** Starts the registry; `initialAdmin` must be shown to the user once and never logged. */
  start(settings: DesktopSettings): Promise<{ status: HostStatus; initialAdmin: InitialAdmin | null }>;
  /** Stops accepting, lets in-flight uploads finish for the grace period, releases the data directory. */
  stop(): Promise<void>;
  status(): HostStatus;
  /** The running registry, or null. */
  registry(): Registry | null;
  /** The settings the registry runs with, or null when stopped. */
  settings(): DesktopSettings | null;
  /** Called whenever status() may have changed (state changes and registry events). */
  onChange(listener: () => void): () => void;
}

export function uiUrl(settings: DesktopSettings): string {
  return `${settings.tls ? 'https' : 'http'}://127.0.0.1:${settings.port}/`;
}

export function registryAddress(settings: DesktopSettings): string {
  return `localhost:${settings.port}`;
}

export function createRegistryHost(deps: RegistryHostDeps): RegistryHost {
  let state: HostState = 'stopped';
  let error: string | null = null;
  let current: { registry: Registry; settings: DesktopSettings; unsubscribe: () => void } | null = null;
  const listeners = new Set<() => void>();
  const changed = () => {
    for (const listener of listeners) listener();
  };
  const setState = (next: HostState) => {
    state = next;
    changed();
  };

  function status(): HostStatus {
    const receiving = current ? current.registry.services.uploads.receivingUploads() : [];
    return {
      state,
      uiUrl: current ? uiUrl(current.settings) : null,
      address: current ? registryAddress(current.settings) : null,
      pushesInProgress: new Set(receiving.map((u) => u.repository)).size,
      uploadsInProgress: receiving.length,
      error,
    };
  }

  return {
    status,
    registry: () => current?.registry ?? null,
    settings: () => current?.settings ?? null,
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },

    async start(settings) {
      if (current) throw new Error('the registry is already running; stop it first');
      setState('starting');
      error = null;
      let initialAdmin: InitialAdmin | null = null;
      let registry: Registry;
      try {
        // The window loads the UI from the registry itself (status.uiUrl): it serves the Vite build.
        registry = deps.createRegistry({ ...serverConfig(settings, deps.token), uiDir: builtUiDir() }, { log: deps.log });
        initialAdmin = (await registry.listen()).initialAdmin ?? null;
      } catch (err) {
        error = (err as Error).message;
        setState('failed');
        throw err;
      }
      const events = ['blob-pushed', 'blob-mounted', 'manifest-pushed', 'blob-deleted', 'manifest-deleted', 'tag-deleted'] as const;
      const offs = events.map((name) => registry.events.on(name, changed));
      current = { registry, settings, unsubscribe: () => offs.forEach((off) => off()) };
      setState('running');
      return { status: status(), initialAdmin };
    },

    async stop() {
      if (!current) return;
      const { registry, unsubscribe } = current;
      setState('stopping');
      try {
        await registry.close();
      } finally {
        unsubscribe();
        current = null;
        setState('stopped');
      }
    },
  };
}
