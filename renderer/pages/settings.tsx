/**
 * Settings: editable in the desktop app; in a browser against `berth serve` they are shown read-only,
 * with the command line and config file that would set them.
 */
import type { StatusView } from '../../server/registry/api-types.ts';
import { isDesktop } from '../api.ts';
import { CodeBlock } from '../components/copy.tsx';
import { Card, PageHeader } from '../components/page.tsx';
import { SettingsForm } from '../components/settings-form.tsx';
import { Loaded } from '../components/loaded.tsx';
import { useStatus } from '../status.tsx';

/** Quotes a shell argument when it needs it. */
function shellArg(value: string): string {
  return /^[\w@%+=:,./-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}

function HeadlessSettings({ status }: { status: StatusView }) {
  const flags = `npx berth serve --host ${shellArg(status.host)} --port ${status.port} --data ${shellArg(status.dataDir)} --log-level ${status.logLevel}`;
  const file = JSON.stringify({ host: status.host, port: status.port, data: status.dataDir, logLevel: status.logLevel, shutdownGraceSeconds: status.shutdownGraceSeconds }, null, 2);
  return (
    <>
      <Card title="Current settings" hint="This Berth runs headless (berth serve): settings come from flags, the environment or a config file, and apply on restart.">
        <dl className="kv" data-testid="settings">
          <dt>Listens on</dt>
          <dd>
            <code>{status.host}</code>
            {status.addresses.loopbackOnly ? ' (this computer only)' : ' (reachable from other computers)'}
          </dd>
          <dt>Port</dt>
          <dd>
            <code>{status.port}</code>
          </dd>
          <dt>Data directory</dt>
          <dd>
            <span className="path">{status.dataDir}</span>
          </dd>
          <dt>Log level</dt>
          <dd>
            <code>{status.logLevel}</code>
          </dd>
          <dt>Shutdown grace</dt>
          <dd>{status.shutdownGraceSeconds} seconds for uploads in flight</dd>
          <dt>TLS</dt>
          <dd>{status.tls.enabled ? 'on' : 'off (plain HTTP)'}</dd>
          <dt>Version</dt>
          <dd>{status.version}</dd>
        </dl>
      </Card>
      <Card title="Run with these settings" hint="Flags win over the environment (BERTH_HOST, BERTH_PORT, BERTH_DATA, BERTH_LOG_LEVEL), which wins over the file.">
        <CodeBlock caption="Command line" label="berth serve command" code={flags} />
        <CodeBlock caption={<>Config file, used with <code>--config berth.json</code></>} label="config file" code={file} />
      </Card>
    </>
  );
}

export function SettingsPage() {
  const status = useStatus();
  return (
    <>
      <title>Settings · Berth</title>
      <PageHeader title="Settings" subtitle={isDesktop() ? 'How Berth runs on this computer.' : 'Shown read-only: change them where berth serve is started.'} />
      {isDesktop() ? (
        <Card>
          <SettingsForm shutdownGraceSeconds={status.data?.shutdownGraceSeconds ?? 10} />
        </Card>
      ) : (
        <Loaded resource={status} errorTitle="Could not read the settings" loadingLabel="Loading settings">
          {(s) => <HeadlessSettings status={s} />}
        </Loaded>
      )}
    </>
  );
}
