/**
 * The main-process side of electron/shared/ipc.ts. Every handler first checks that the message
 * comes from the main frame of one of our windows showing our own origin (electron/fiddle
 * src/main/ipc.ts; Electron security checklist item 17 "Validate the sender of all IPC messages"),
 * then validates its arguments: a renderer is untrusted input even when it is ours.
 */
import { IPC, PRELOAD_IPC, type BerthDesktopApi } from '../shared/ipc.ts';
import { originOf } from './window.ts';

/** What Electron's IpcMainEvent / IpcMainInvokeEvent tell about the sender. */
export interface SenderEvent {
  sender: { id: number };
  senderFrame: { url: string; parent: unknown } | null;
}

export interface TrustedSenders {
  /** webContents ids of our windows. */
  webContentsIds(): Iterable<number>;
  /** Our UI's origin, or null while the registry is down. */
  origin(): string | null;
}

export function isTrustedSender(event: SenderEvent, trusted: TrustedSenders): boolean {
  const frame = event.senderFrame;
  // A null frame was navigated or destroyed since it sent; a frame with a parent is an <iframe>.
  if (!frame || frame.parent) return false;
  if (![...trusted.webContentsIds()].includes(event.sender.id)) return false;
  const origin = trusted.origin();
  return origin !== null && originOf(frame.url) === origin;
}

type Methods = Omit<BerthDesktopApi, 'apiToken'>;
export type Channel = keyof Methods;

/** The main-process implementation of every BerthDesktopApi method, typed by the contract. */
export type DesktopHandlers = { [K in Channel]: (...args: Parameters<Methods[K]>) => ReturnType<Methods[K]> };

export class IpcArgumentError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'IpcArgumentError';
  }
}

/** Longest text the renderer may put on the clipboard (a pull command or a config snippet is far shorter). */
export const MAX_CLIPBOARD_TEXT = 1024 * 1024;

/** Turns the raw arguments of each channel into its typed parameters, or throws IpcArgumentError. */
const ARGUMENTS: { [K in Channel]: (args: unknown[]) => Parameters<Methods[K]> } = {
  openDataFolder: () => [],
  revealCaCertificate: () => [],
  pickDirectory: () => [],
  getSettings: () => [],
  copyToClipboard: ([text]) => {
    if (typeof text !== 'string') throw new IpcArgumentError('copyToClipboard needs a string');
    if (text.length > MAX_CLIPBOARD_TEXT) throw new IpcArgumentError('copyToClipboard: text is too long');
    return [text];
  },
  // Its shape is checked by validateSettings (field by field, with messages for the form).
  saveSettings: ([settings]) => [settings as Parameters<Methods['saveSettings']>[0]],
};

/** The parts of ipcMain used here (Electron's ipcMain satisfies it). */
export interface IpcMainLike {
  handle(channel: string, listener: (event: SenderEvent, ...args: unknown[]) => Promise<unknown>): void;
  on(channel: string, listener: (event: SenderEvent & { returnValue: unknown }) => void): unknown;
}

export class UntrustedSenderError extends Error {
  constructor(channel: string) {
    super(`${channel}: refused, the sender is not a Berth window`);
    this.name = 'UntrustedSenderError';
  }
}

export interface IpcSetup {
  ipcMain: IpcMainLike;
  handlers: DesktopHandlers;
  trusted: TrustedSenders;
  /** The per-launch management token, handed to trusted preloads only. */
  token: string;
  /** Told about refused senders (never with arguments, which may hold anything). */
  onRefused(channel: string): void;
}

export function setupIpc({ ipcMain, handlers, trusted, token, onRefused }: IpcSetup): void {
  const register = <K extends Channel>(name: K) => {
    const channel = IPC[name];
    ipcMain.handle(channel, async (event, ...raw) => {
      if (!isTrustedSender(event, trusted)) {
        onRefused(channel);
        throw new UntrustedSenderError(channel);
      }
      const args = ARGUMENTS[name](raw);
      const handler = handlers[name] as (...a: Parameters<Methods[K]>) => ReturnType<Methods[K]>;
      return handler(...args);
    });
  };
  for (const name of Object.keys(IPC) as Channel[]) register(name);

  ipcMain.on(PRELOAD_IPC.apiToken, (event) => {
    if (isTrustedSender(event, trusted)) {
      event.returnValue = token;
    } else {
      onRefused(PRELOAD_IPC.apiToken);
      event.returnValue = null;
    }
  });
}
