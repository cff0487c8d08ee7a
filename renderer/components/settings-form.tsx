/**
 * The desktop app's settings (window.berth.getSettings/saveSettings): validated here as the user types
 * and again by the main process, whose messages are shown per field. Changes to the port, bind
 * address, data directory or TLS restart the registry, and the form says so before saving.
 */
import { useEffect, useId, useState, type FormEvent } from 'react';
import { FolderOpen, RotateCw, TriangleAlert } from 'lucide-react';
import type { DesktopSettings, SettingsErrors } from '../../electron/shared/ipc.ts';
import { validateSettings } from '../../electron/shared/settings-rules.ts';
import { native } from '../api.ts';
import { ErrorState, Skeleton } from './states.tsx';
import { DEFAULT_STORAGE, StorageSettings, storageProblem } from './storage-settings.tsx';
import { useToast } from './toast.tsx';

const RESTART_FIELDS: (keyof DesktopSettings)[] = ['port', 'bindAddress', 'dataDir', 'tls', 'storage'];

/** A message under its field as a sentence: the shared rules and main answer in fragments ("must be ..."). */
function sentence(text: string): string {
  const capital = text.charAt(0).toUpperCase() + text.slice(1);
  return /[.!?]$/.test(capital) ? capital : `${capital}.`;
}

/** The draft's problems by the same rules the main process applies (electron/shared/settings-rules.ts). */
function draftErrors(draft: DesktopSettings): SettingsErrors {
  const result = validateSettings(draft);
  const errors = result.ok ? {} : { ...result.errors };
  // The storage section's own checks (main then applies the server's rules: storage-settings.tsx).
  const storage = draft.storage && storageProblem(draft.storage);
  if (storage) errors.storage = storage;
  return errors;
}

export function SettingsForm({ shutdownGraceSeconds }: { shutdownGraceSeconds: number }) {
  const toast = useToast();
  const [saved, setSaved] = useState<DesktopSettings | null>(null);
  const [draft, setDraft] = useState<DesktopSettings | null>(null);
  const [loadError, setLoadError] = useState<Error | null>(null);
  const [serverErrors, setServerErrors] = useState<SettingsErrors>({});
  const [saving, setSaving] = useState(false);
  const ids = { port: useId(), dataDir: useId(), tls: useId(), login: useId(), bind: useId() };

  useEffect(() => {
    native.getSettings().then(
      (s) => {
        setSaved(s);
        setDraft(s);
      },
      (err: Error) => setLoadError(err),
    );
  }, []);

  if (loadError) return <ErrorState error={loadError} title="Could not read the settings" />;
  if (!draft || !saved) return <Skeleton rows={5} label="Loading settings" />;

  const errors = { ...draftErrors(draft), ...serverErrors };
  const restart = RESTART_FIELDS.some((k) => draft[k] !== saved[k]);
  const changed = (Object.keys(draft) as (keyof DesktopSettings)[]).some((k) => draft[k] !== saved[k]);
  const update = <K extends keyof DesktopSettings>(key: K, value: DesktopSettings[K]) => {
    setDraft({ ...draft, [key]: value });
    setServerErrors(({ [key]: _, ...rest }) => rest);
  };

  async function save(event: FormEvent) {
    event.preventDefault();
    if (!draft || Object.keys(draftErrors(draft)).length > 0) return;
    setSaving(true);
    try {
      const result = await native.saveSettings(draft);
      if (!result.ok) {
        setServerErrors(result.errors);
        return;
      }
      setSaved(draft);
      toast('good', result.restarted ? `Saved. The registry restarted at ${result.url}` : 'Saved.');
      // A new port or address moves the page's origin: follow it (the old one no longer answers).
      const next = new URL(result.url);
      if (result.restarted && location.protocol.startsWith('http') && next.origin !== location.origin) location.assign(next.href);
    } catch (err) {
      toast('bad', `Could not save: ${(err as Error).message}`);
    } finally {
      setSaving(false);
    }
  }

  const fieldError = (key: keyof DesktopSettings, id: string) =>
    errors[key] && (
      <span className="error-text" id={`${id}-error`} role="alert">
        {sentence(errors[key])}
      </span>
    );

  return (
    <form onSubmit={save} noValidate style={{ maxWidth: 620 }}>
      <div className="field">
        <label htmlFor={ids.port}>Port</label>
        <input id={ids.port} type="number" min={1} max={65535} value={Number.isNaN(draft.port) ? '' : draft.port} style={{ maxWidth: 140 }}
          aria-invalid={!!errors.port} aria-describedby={errors.port ? `${ids.port}-error` : undefined}
          onChange={(e) => update('port', e.target.value === '' ? Number.NaN : Number(e.target.value))} />
        {fieldError('port', ids.port)}
        <span className="help">Clients push to localhost:{Number.isNaN(draft.port) ? '…' : draft.port}. On macOS, 5000 is taken by the AirPlay Receiver; 5001 is a good choice.</span>
      </div>
      <fieldset className="field" style={{ border: 0, padding: 0 }}>
        <legend style={{ fontWeight: 550, marginBottom: 6 }}>Listen on</legend>
        <label className="check">
          <input type="radio" name={ids.bind} checked={draft.bindAddress === 'loopback'} onChange={() => update('bindAddress', 'loopback')} />
          <span>This computer only (127.0.0.1) <span className="help">— recommended</span></span>
        </label>
        <label className="check">
          <input type="radio" name={ids.bind} checked={draft.bindAddress === 'all'} onChange={() => update('bindAddress', 'all')} />
          <span>All network interfaces (0.0.0.0) <span className="help">— for other computers, kind and Linux containers</span></span>
        </label>
        {draft.bindAddress === 'all' && (
          <p className="callout warn">
            <TriangleAlert size={17} aria-hidden />
            <span>Other computers on your network can then reach Berth, so registry authentication is switched on: clients log in with a Berth user or token.</span>
          </p>
        )}
        {fieldError('bindAddress', ids.bind)}
      </fieldset>
      <div className="field">
        <label htmlFor={ids.dataDir}>Data directory</label>
        <div className="actions">
          <input id={ids.dataDir} type="text" value={draft.dataDir} style={{ flex: 1 }} spellCheck={false}
            aria-invalid={!!errors.dataDir} aria-describedby={errors.dataDir ? `${ids.dataDir}-error` : undefined}
            onChange={(e) => update('dataDir', e.target.value)} />
          <button type="button" onClick={async () => { const dir = await native.pickDirectory(); if (dir) update('dataDir', dir); }}>
            Choose…
          </button>
          <button type="button" className="icon" aria-label="Open the data folder" title="Open the data folder" onClick={() => native.openDataFolder()}>
            <FolderOpen size={17} aria-hidden />
          </button>
        </div>
        {fieldError('dataDir', ids.dataDir)}
        <span className="help">Images already stored stay in the old folder; Berth starts with what the new one holds.</span>
      </div>
      <StorageSettings value={draft.storage ?? DEFAULT_STORAGE} error={errors.storage} onChange={(next) => update('storage', next)} />
      <div className="field">
        <label className="check" htmlFor={ids.tls}>
          <input id={ids.tls} type="checkbox" checked={draft.tls} onChange={(e) => update('tls', e.target.checked)} />
          <span>Serve HTTPS with Berth’s own certificate authority</span>
        </label>
        {fieldError('tls', ids.tls)}
      </div>
      <div className="field">
        <label className="check" htmlFor={ids.login}>
          <input id={ids.login} type="checkbox" checked={draft.startAtLogin} onChange={(e) => update('startAtLogin', e.target.checked)} />
          <span>Start Berth when I log in</span>
        </label>
        {fieldError('startAtLogin', ids.login)}
      </div>
      {restart && (
        <p className="callout warn" role="status">
          <RotateCw size={17} aria-hidden />
          <span>Saving restarts the registry. Pushes in progress get {shutdownGraceSeconds} seconds to finish.</span>
        </p>
      )}
      <div className="actions">
        <button type="submit" className="primary" disabled={!changed || saving || Object.keys(draftErrors(draft)).length > 0}>
          {saving && <span className="spinner" aria-hidden />}
          {restart ? 'Save and restart' : 'Save'}
        </button>
        <button type="button" disabled={!changed || saving} onClick={() => { setDraft(saved); setServerErrors({}); }}>
          Discard changes
        </button>
      </div>
    </form>
  );
}
