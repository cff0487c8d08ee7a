/**
 * How the object-store drivers name themselves and their objects for people (log lines, reports, the disk
 * usage page): from the settings alone, without loading an SDK (create.ts loads the drivers on first use).
 */
import type { AzureSettings, S3Settings } from '../config.ts';
import type { StorageLocation } from './driver.ts';

export function s3Location(settings: S3Settings): StorageLocation {
  return {
    driver: 's3',
    description: `s3://${settings.bucket}${settings.prefix ? `/${settings.prefix}` : ''}${settings.endpoint ? ` at ${settings.endpoint}` : ` (${settings.region})`}`,
  };
}

export function s3Describe(settings: S3Settings, path: string): string {
  return `s3://${settings.bucket}/${settings.prefix ? `${settings.prefix}/` : ''}${path}`;
}

/**
 * The blob endpoint as the driver reports it; from a connection string, what its BlobEndpoint or account
 * fields say (the SDK, once loaded, has the last word: the driver's own location).
 */
export function azureLocation(settings: AzureSettings): StorageLocation {
  return { driver: 'azure', description: `azure://${settings.container}${settings.prefix ? `/${settings.prefix}` : ''} at ${azureEndpoint(settings)}` };
}

export function azureDescribe(settings: AzureSettings, path: string): string {
  return `azure://${settings.container}/${settings.prefix ? `${settings.prefix}/` : ''}${path}`;
}

function azureEndpoint(settings: AzureSettings): string {
  if (settings.endpoint) return settings.endpoint.replace(/\/$/, '');
  if (!settings.connectionString) return `https://${settings.account}.blob.core.windows.net`;
  const fields = new Map(
    settings.connectionString
      .split(';')
      .map((part) => part.split('='))
      .filter((kv) => kv.length >= 2)
      .map(([k, ...v]) => [k!.trim().toLowerCase(), v.join('=').trim()]),
  );
  if (fields.get('blobendpoint')) return fields.get('blobendpoint')!.replace(/\/$/, '');
  if (fields.get('usedevelopmentstorage') === 'true') return 'http://127.0.0.1:10000/devstoreaccount1';
  return `${fields.get('defaultendpointsprotocol') ?? 'https'}://${fields.get('accountname')}.blob.${fields.get('endpointsuffix') ?? 'core.windows.net'}`;
}
