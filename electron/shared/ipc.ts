/**
 * The one typed contract between the renderer and the Electron main process. The preload exposes
 * exactly this object as `window.berth` (contextBridge); in a plain browser against `berth serve`
 * `window.berth` is undefined and the UI falls back to web equivalents or hides the feature.
 * Every channel is handled in electron/main with a check that the sender is one of our windows.
 */

/** Settings the desktop app persists and validates (server/config.ts rules apply to each field). */
export interface DesktopSettings {
  /** TCP port of the registry (1-65535). */
  port: number;
  /** 'loopback' binds 127.0.0.1; 'all' binds 0.0.0.0 (requires registry auth once it exists). */
  bindAddress: 'loopback' | 'all';
  /** Absolute path of the data directory. */
  dataDir: string;
  /** Serve HTTPS with Berth's own CA and certificate. */
  tls: boolean;
  /** Start Berth when the user logs in. */
  startAtLogin: boolean;
  /** Where images are stored: the data directory (default), an S3 bucket or an Azure container. */
  storage?: DesktopStorage;
}

/**
 * The storage settings as the form edits them (server/storage/config.ts validates them): the fields
 * of the chosen driver matter, the others are kept so switching back and forth loses nothing.
 */
export interface DesktopStorage {
  driver: 'filesystem' | 's3' | 'azure';
  /** S3: endpoint URL ('' for AWS), bucket, region, path-style addressing, credentials ('' for the AWS default chain). */
  endpoint: string;
  bucket: string;
  region: string;
  forcePathStyle: boolean;
  accessKeyId: string;
  secretAccessKey: string;
  /** Azure: a storage account connection string and the container. */
  connectionString: string;
  container: string;
  /** Keys go under this prefix in the bucket or container ('' for its root). */
  prefix: string;
  /** Send clients straight to the bucket for blob downloads (presigned URLs). */
  redirect: boolean;
}

export type SettingsErrors = Partial<Record<keyof DesktopSettings, string>>;

export type SaveSettingsResult =
  | { ok: true; /** The registry was restarted to apply the change. */ restarted: boolean; /** Where the UI now lives. */ url: string }
  | { ok: false; errors: SettingsErrors };

export interface BerthDesktopApi {
  /** Per-launch secret for the management API: send it as `Authorization: Bearer <apiToken>`. */
  readonly apiToken: string;
  openDataFolder(): Promise<void>;
  /** Shows the CA certificate file in the system file manager (TLS on). */
  revealCaCertificate(): Promise<void>;
  copyToClipboard(text: string): Promise<void>;
  /** A directory chosen in the system dialog, or null when cancelled. */
  pickDirectory(): Promise<string | null>;
  getSettings(): Promise<DesktopSettings>;
  saveSettings(settings: DesktopSettings): Promise<SaveSettingsResult>;
}

/** IPC channel names, one per method. */
export const IPC = {
  openDataFolder: 'berth:open-data-folder',
  revealCaCertificate: 'berth:reveal-ca-certificate',
  copyToClipboard: 'berth:copy-to-clipboard',
  pickDirectory: 'berth:pick-directory',
  getSettings: 'berth:get-settings',
  saveSettings: 'berth:save-settings',
} as const;

/**
 * Channels between the preload and main only (not part of BerthDesktopApi). The preload asks for
 * the management token synchronously at start (`ipcRenderer.sendSync`), so the secret never sits
 * on a command line (webPreferences.additionalArguments would put it in `ps` output) and only a
 * frame of one of our windows on our origin receives it.
 */
export const PRELOAD_IPC = {
  apiToken: 'berth:api-token',
} as const;
