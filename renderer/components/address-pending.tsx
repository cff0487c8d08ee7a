/**
 * What stands in for a copyable command while the registry's address is unknown: /api/status has not
 * answered yet, or failed. No command is shown then, not even a likely-looking one: a guessed
 * localhost:5000 is copied and run as it is by someone whose Berth listens on another port.
 */
import { RefreshCw } from 'lucide-react';
import type { StatusView } from '../../server/registry/api-types.ts';
import type { Resource } from '../hooks/use-resource.ts';

export function AddressPending({ status }: { status: Resource<StatusView> }) {
  if (status.error) {
    return (
      <p role="alert" data-testid="address-pending">
        Could not read Berth’s address, so its commands are not shown: {status.error.message}{' '}
        <button type="button" className="small" onClick={status.reload}>
          <RefreshCw size={13} aria-hidden /> Try again
        </button>
      </p>
    );
  }
  return (
    <p className="muted" role="status" data-testid="address-pending">
      Loading the address…
    </p>
  );
}
