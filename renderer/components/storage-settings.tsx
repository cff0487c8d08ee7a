/**
 * The storage section of the desktop Settings: where images are kept (the data directory, an S3
 * bucket, an Azure container) and how to reach it. The main process checks the values with the
 * server's own rules (server/storage/config.ts) and its message shows under the section; `berth serve`
 * takes the same settings from a config file's "storage" key.
 */
import { useId } from 'react';
import type { DesktopStorage } from '../../electron/shared/ipc.ts';

export const DEFAULT_STORAGE: DesktopStorage = {
  driver: 'filesystem', endpoint: '', bucket: '', region: 'us-east-1', forcePathStyle: true, accessKeyId: '', secretAccessKey: '',
  connectionString: '', container: '', prefix: '', redirect: false,
};

/** What the form can tell before asking the main process. */
export function storageProblem(s: DesktopStorage): string | null {
  if (s.driver === 's3' && !s.bucket.trim()) return 'Enter the bucket name.';
  if (s.driver === 's3' && s.endpoint.trim() && !/^https?:\/\//.test(s.endpoint.trim())) return 'The endpoint is a URL: http://host:port or https://host.';
  if (s.driver === 's3' && !!s.accessKeyId.trim() !== !!s.secretAccessKey.trim()) return 'Enter both the access key ID and the secret, or neither (then the AWS default credentials are used).';
  if (s.driver === 'azure' && !s.connectionString.trim()) return 'Paste the storage account’s connection string.';
  if (s.driver === 'azure' && !s.container.trim()) return 'Enter the container name.';
  return null;
}

/**
 * `variant`: "settings" (the desktop Settings: where this registry keeps its images) or "copy" (the
 * destination of a copy: a local choice is another data directory, which the caller asks for).
 */
export function StorageSettings({ value, error, onChange, variant = 'settings' }: { value: DesktopStorage; error?: string | undefined; onChange(next: DesktopStorage): void; variant?: 'settings' | 'copy' }) {
  const id = useId();
  const set = <K extends keyof DesktopStorage>(key: K, v: DesktopStorage[K]) => onChange({ ...value, [key]: v });
  const text = (key: 'endpoint' | 'bucket' | 'region' | 'accessKeyId' | 'secretAccessKey' | 'connectionString' | 'container' | 'prefix', label: string, help?: string, secret = false) => (
    <div className="field">
      <label htmlFor={`${id}-${key}`}>{label}</label>
      <input id={`${id}-${key}`} type={secret ? 'password' : 'text'} value={value[key]} spellCheck={false} autoComplete="off" onChange={(e) => set(key, e.target.value)} />
      {help && <span className="help">{help}</span>}
    </div>
  );
  return (
    <fieldset className="field" style={{ border: 0, padding: 0 }} aria-describedby={error ? `${id}-error` : undefined} data-testid="storage-settings">
      <legend style={{ fontWeight: 550, marginBottom: 6 }}>{variant === 'copy' ? 'Destination' : 'Storage'}</legend>
      {(['filesystem', 's3', 'azure'] as const).map((driver) => (
        <label className="check" key={driver}>
          <input type="radio" name={`${id}-driver`} checked={value.driver === driver} onChange={() => set('driver', driver)} />
          <span>
            {driver === 'filesystem' ? 'Local disk' : driver === 's3' ? 'Amazon S3 or compatible' : 'Azure Blob Storage'}
            <span className="help">
              {driver === 'filesystem' ? (variant === 'copy' ? ' — another data directory on this machine' : ' — in the folder above') : driver === 's3' ? ' — AWS, MinIO, Ceph, Garage, SeaweedFS…' : ' — or Azurite'}
            </span>
          </span>
        </label>
      ))}
      {value.driver === 's3' && (
        <>
          {text('bucket', 'Bucket', 'Created when missing, if the credentials allow it.')}
          {text('endpoint', 'Endpoint URL', 'Leave empty for AWS; for another S3 server, its URL (http://127.0.0.1:9000).')}
          {text('region', 'Region')}
          {text('prefix', 'Prefix', 'Optional: keys go under this folder of the bucket.')}
          <label className="check">
            <input type="checkbox" checked={value.forcePathStyle} onChange={(e) => set('forcePathStyle', e.target.checked)} />
            <span>Path-style addresses (endpoint/bucket/key): most self-hosted servers need them</span>
          </label>
          {text('accessKeyId', 'Access key ID', 'Leave both empty to use the AWS default credentials (environment, profile, instance role).')}
          {text('secretAccessKey', 'Secret access key', undefined, true)}
        </>
      )}
      {value.driver === 'azure' && (
        <>
          {text('connectionString', 'Connection string', 'From the storage account’s “Access keys” page.', true)}
          {text('container', 'Container', 'Created when missing, if the account allows it.')}
          {text('prefix', 'Prefix', 'Optional: blob names go under this folder of the container.')}
        </>
      )}
      {value.driver !== 'filesystem' && variant === 'settings' && (
        <>
          <label className="check">
            <input type="checkbox" checked={value.redirect} onChange={(e) => set('redirect', e.target.checked)} />
            <span>Send clients straight to the bucket for downloads (they must be able to reach it)</span>
          </label>
          <span className="help">The data directory still holds the index, users and certificates. To bring existing images along, copy them first (Disk usage, “Copy to another store”, or “berth storage copy”).</span>
        </>
      )}
      {error && (
        <span className="error-text" id={`${id}-error`} role="alert">
          {error}
        </span>
      )}
    </fieldset>
  );
}
