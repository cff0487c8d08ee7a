/**
 * Tells, above every page, when the registry's disk cannot take pushes (full, read-only, failing) and
 * how much is free, and which store files Berth set aside because it could not read them, with how to
 * restore them. The state comes with the status and then with the live `storage` event.
 */
import { useEffect, useState } from 'react';
import { HardDrive, FileWarning } from 'lucide-react';
import type { StorageView } from '../../server/registry/api-types.ts';
import { subscribe } from '../api.ts';
import { useStatus } from '../status.tsx';
import { Bytes } from './bytes.tsx';
import { Time } from './time.tsx';

export function StorageAlert() {
  const status = useStatus();
  const [live, setLive] = useState<StorageView | null>(null);
  useEffect(() => subscribe((name, data) => name === 'storage' && setLive(data as StorageView)), []);
  const storage = live ?? status.data?.storage;
  if (!storage) return null;
  return (
    <>
      {storage.state !== 'ok' && (
        <div className="callout bad storage-alert" role="alert">
          <HardDrive size={18} aria-hidden />
          <div>
            <strong>{storage.headline}</strong>
            {storage.freeBytes !== null && storage.totalBytes !== null && (
              <span>
                {' '}
                <Bytes value={storage.freeBytes} /> free of <Bytes value={storage.totalBytes} />
              </span>
            )}
            {storage.since && (
              <span className="muted">
                {' '}
                (since <Time iso={storage.since} />)
              </span>
            )}
            <p className="muted">{storage.problem}</p>
          </div>
        </div>
      )}
      {storage.setAside.map((file) => (
        <div key={file.keptAs} className="callout warn storage-alert" role="alert">
          <FileWarning size={18} aria-hidden />
          <div>
            <strong>Berth could not read {file.holds}</strong> (<span className="mono">{file.file}</span>) and set the file aside.
            <p className="muted">{file.restore}</p>
          </div>
        </div>
      ))}
    </>
  );
}

