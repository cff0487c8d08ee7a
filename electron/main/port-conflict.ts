/**
 * When the configured port is taken: who probably holds it, which free port to offer instead
 * (5001 first, then the next free one), and the dialog that says so. Plain functions; the desktop
 * lifecycle shows the dialog with Electron's dialog module.
 */
import net from 'node:net';
import findProcessModule from 'find-process';
import type { Prompt } from './prompt.ts';

/** The first port offered instead of a busy one. */
export const FIRST_ALTERNATIVE_PORT = 5001;

/**
 * macOS 12 (Monterey) and later run the AirPlay Receiver (process ControlCenter) on ports 5000 and
 * 7000 (Apple: "Use AirPlay to stream content to your Mac"), which is why `docker push
 * localhost:5000/...` fails on a Mac out of the box.
 */
const AIRPLAY_PORTS = new Set([5000, 7000]);
const AIRPLAY_PROCESS = 'ControlCenter';

export interface PortHolder {
  /** Says who holds the port, for a sentence: "the AirPlay Receiver", "node (process 1234)", "another program". */
  description: string;
  airplay: boolean;
}

export interface ProcessInfo {
  pid: number;
  name: string;
}

/** The processes listening on a port, as far as the OS lets this user see (lsof, netstat, ss). */
export type ProcessLookup = (port: number) => Promise<ProcessInfo[]>;

/**
 * find-process runs ESM with the function as its default export, but its types describe only its
 * CommonJS build, which TypeScript (NodeNext) sees as `{ default: find }`: take whichever is callable.
 */
const findProcess = ((findProcessModule as unknown as { default?: unknown }).default ?? findProcessModule) as (
  by: 'port',
  value: number,
) => Promise<{ pid: number; name: string }[]>;

export const lookupListeners: ProcessLookup = async (port) => {
  const found = await findProcess('port', port);
  return found.map((p) => ({ pid: p.pid, name: p.name }));
};

/** Names whoever holds `port`; never throws (a failed lookup means "another program"). */
export async function describePortHolder(port: number, platform: NodeJS.Platform, lookup: ProcessLookup = lookupListeners): Promise<PortHolder> {
  const found = await lookup(port).catch(() => []);
  const other = found.find((p) => p.name && p.name !== AIRPLAY_PROCESS);
  if (platform === 'darwin' && AIRPLAY_PORTS.has(port) && (!other || found.some((p) => p.name === AIRPLAY_PROCESS))) {
    return { description: 'the AirPlay Receiver', airplay: true };
  }
  if (other) return { description: `${other.name} (process ${other.pid})`, airplay: false };
  return { description: 'another program', airplay: false };
}

/** Whether the registry could listen on a port now. */
export type PortCheck = (port: number) => Promise<boolean>;

/**
 * Tries to listen on `port` at `host` (the address the registry binds, so the answer matches what
 * its own listen would meet) and closes at once. get-port is not used: it remembers every port it
 * returned for 15 s and then calls it taken, but the same port is checked again when the user
 * picks the offered one.
 */
export function isPortFree(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** The first free port from 5001 upwards, skipping `busy`; null if none is left. */
export async function findFreePort(busy: number, isFree: PortCheck): Promise<number | null> {
  for (let port = FIRST_ALTERNATIVE_PORT; port <= 65535; port++) {
    if (port !== busy && (await isFree(port))) return port;
  }
  return null;
}

export type PortConflictAction = 'switch' | 'retry' | 'quit';

/** The dialog for a busy port: what holds it and a one-click switch to `freePort`. */
export function portConflictPrompt(options: { port: number; holder: PortHolder; freePort: number | null }): Prompt<PortConflictAction> {
  const { port, holder, freePort } = options;
  const detail = holder.airplay
    ? `Since macOS 12 the AirPlay Receiver listens on port ${port}. Berth can use port ${freePort ?? 'another port'} instead, ` +
      'or you can turn the AirPlay Receiver off in System Settings > General > AirDrop & Handoff and try again.'
    : `Port ${port} is held by ${holder.description}. Berth can use port ${freePort ?? 'another port'} instead, ` +
      'or you can stop that program and try again.';
  const buttons: Prompt<PortConflictAction>['buttons'] = [];
  if (freePort !== null) buttons.push({ label: `Use Port ${freePort}`, action: 'switch' });
  buttons.push({ label: 'Try Again', action: 'retry' }, { label: 'Quit Berth', action: 'quit' });
  return {
    type: 'warning',
    title: 'Port in use',
    message: `Port ${port} is already in use by ${holder.description}`,
    detail: freePort === null ? `${detail}\n\nNo free port was found above ${FIRST_ALTERNATIVE_PORT - 1}.` : detail,
    buttons,
    cancelAction: 'quit',
  };
}
