/**
 * The preload: exposes exactly BerthDesktopApi as `window.berth` (contextBridge), never ipcRenderer
 * itself. It runs sandboxed (CommonJS, only the `electron` module), so everything it needs is in
 * this one bundle. The management token comes from main over a synchronous IPC at start; main
 * answers only frames of our windows on our origin (electron/main/ipc.ts).
 */
import { contextBridge, ipcRenderer } from 'electron';
import { IPC, PRELOAD_IPC, type BerthDesktopApi, type DesktopSettings } from '../shared/ipc.ts';

const token: unknown = ipcRenderer.sendSync(PRELOAD_IPC.apiToken);

const api: BerthDesktopApi = {
  // An empty token makes every /api/ call fail with 401, which the UI reports; it only happens
  // when this page is not ours, and then it must not have one.
  apiToken: typeof token === 'string' ? token : '',
  openDataFolder: () => ipcRenderer.invoke(IPC.openDataFolder),
  revealCaCertificate: () => ipcRenderer.invoke(IPC.revealCaCertificate),
  copyToClipboard: (text: string) => ipcRenderer.invoke(IPC.copyToClipboard, text),
  pickDirectory: () => ipcRenderer.invoke(IPC.pickDirectory),
  getSettings: () => ipcRenderer.invoke(IPC.getSettings),
  saveSettings: (settings: DesktopSettings) => ipcRenderer.invoke(IPC.saveSettings, settings),
};

contextBridge.exposeInMainWorld('berth', Object.freeze(api));
