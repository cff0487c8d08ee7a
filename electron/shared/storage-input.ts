/**
 * The storage form's values (DesktopStorage: the desktop Settings, the Disk usage page's copy) as a
 * config file's `storage` key says them, which the server validates (server/storage/config.ts).
 */
import type { DesktopStorage } from './ipc.ts';

/** What a config file's `storage` key would say for these settings. */
export function asConfigInput(s: DesktopStorage): Record<string, unknown> {
  if (s.driver === 's3') {
    return {
      driver: 's3', redirect: s.redirect,
      s3: {
        bucket: s.bucket, region: s.region || 'us-east-1', prefix: s.prefix, forcePathStyle: s.forcePathStyle,
        ...(s.endpoint ? { endpoint: s.endpoint } : {}),
        ...(s.accessKeyId || s.secretAccessKey ? { accessKeyId: s.accessKeyId, secretAccessKey: s.secretAccessKey } : {}),
      },
    };
  }
  if (s.driver === 'azure') return { driver: 'azure', redirect: s.redirect, azure: { connectionString: s.connectionString, container: s.container, prefix: s.prefix } };
  return { driver: 'filesystem' };
}
