/** How to point each container engine at Berth, with the exact files and snippets, and a self-test. */
import { useEffect, useRef, type KeyboardEvent } from 'react';
import { useSearchParams } from 'react-router';
import { CircleCheck, Download, Info, ShieldCheck, TriangleAlert } from 'lucide-react';
import { api, isDesktop, native } from '../api.ts';
import { useToast } from '../components/toast.tsx';
import { CodeBlock, CopyButton } from '../components/copy.tsx';
import { Card, PageHeader } from '../components/page.tsx';
import { SelfTest } from '../components/self-test.tsx';
import { MirrorSetupCard } from '../components/mirror-setup.tsx';
import { Loaded } from '../components/loaded.tsx';
import { engines, type Engine, type SetupStep } from '../setup/engines.ts';
import { useStatus } from '../status.tsx';

function Step({ step, label }: { step: SetupStep; label: string }) {
  return (
    <li>
      <p style={{ margin: '4px 0' }}>{step.text}</p>
      {step.path && (
        <p style={{ margin: '4px 0' }}>
          File: <span className="path" data-testid="setup-path">{step.path}</span>
        </p>
      )}
      {step.code && <CodeBlock code={step.code} label={label} />}
    </li>
  );
}

function EngineCard({ engine }: { engine: Engine }) {
  return (
    <Card title={engine.name} hint={engine.runsOn}>
      <div data-engine={engine.id}>
        <p className={engine.nothingNeeded ? 'callout good' : 'callout'}>
          {engine.nothingNeeded ? <CircleCheck size={17} aria-hidden /> : <Info size={17} aria-hidden />}
          <span>
            {engine.nothingNeeded && <strong>Nothing needed. </strong>}
            {engine.summary}
          </span>
        </p>
        <p className="actions" style={{ gap: 4 }}>
          Registry address for {engine.name}: <code data-testid="engine-address">{engine.address}</code>
          <CopyButton text={engine.address} label={`Copy the address for ${engine.name}`} />
        </p>
        {engine.warning && (
          <p className="callout warn">
            <TriangleAlert size={17} aria-hidden />
            <span>{engine.warning}</span>
          </p>
        )}
        <ol className="ordered">
          {engine.steps.map((step, i) => (
            <Step key={i} step={step} label={`${engine.name} snippet ${i + 1}`} />
          ))}
        </ol>
      </div>
    </Card>
  );
}

function TlsCard({ host, caUrl }: { host: string; caUrl: string | null }) {
  const toast = useToast();
  // Fetched with the page's credentials (a plain link would carry none), then saved as a file.
  async function download(url: string) {
    try {
      const link = document.createElement('a');
      link.href = URL.createObjectURL(await api.caCertificate(url));
      link.download = 'berth-ca.crt';
      link.click();
      setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
    } catch (err) {
      toast('bad', `Could not download the certificate: ${(err as Error).message}`);
    }
  }
  return (
    <Card title="Trust Berth’s certificate" hint={`TLS is on: Berth serves HTTPS at ${host}. Engines that trust its CA need no insecure-registry entry; each engine below says where the file goes.`}>
      <div className="actions" style={{ marginBottom: 12 }}>
        {caUrl && (
          <button type="button" className="primary" onClick={() => void download(caUrl)}>
            <Download size={15} aria-hidden /> Download CA certificate
          </button>
        )}
        {isDesktop() && (
          <button type="button" onClick={() => native.revealCaCertificate()}>
            <ShieldCheck size={15} aria-hidden /> Show the CA file
          </button>
        )}
      </div>
    </Card>
  );
}

/** Engines as tabs (WAI-ARIA tabs pattern: arrow keys move between them); the choice is in the URL. */
function EngineTabs({ list }: { list: Engine[] }) {
  const [params, setParams] = useSearchParams();
  const selected = list.find((e) => e.id === params.get('engine')) ?? list[0]!;
  const tabs = useRef<(HTMLButtonElement | null)[]>([]);
  // In a narrow window the tab row scrolls: keep the chosen tab in view (chosen by link or key).
  useEffect(() => {
    tabs.current[list.indexOf(selected)]?.scrollIntoView({ block: 'nearest', inline: 'nearest' });
  }, [selected.id]);
  const select = (i: number, focus = false) => {
    const engine = list[(i + list.length) % list.length]!;
    setParams({ engine: engine.id }, { replace: true, preventScrollReset: true });
    if (focus) tabs.current[(i + list.length) % list.length]?.focus();
  };
  const onKey = (event: KeyboardEvent, i: number) => {
    const moves: Record<string, number> = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: list.length - 1 };
    if (event.key in moves) {
      event.preventDefault();
      select(moves[event.key]!, true);
    }
  };
  return (
    <>
      <div role="tablist" aria-label="Container engines">
        {list.map((e, i) => (
          <button
            key={e.id}
            ref={(el) => {
              tabs.current[i] = el;
            }}
            type="button"
            role="tab"
            id={`tab-${e.id}`}
            aria-selected={e.id === selected.id}
            aria-controls={`panel-${e.id}`}
            tabIndex={e.id === selected.id ? 0 : -1}
            onClick={() => select(i)}
            onKeyDown={(event) => onKey(event, i)}
            title={e.tab ? e.name : undefined}
          >
            {e.tab ?? e.name}
          </button>
        ))}
      </div>
      <div role="tabpanel" id={`panel-${selected.id}`} aria-labelledby={`tab-${selected.id}`}>
        <EngineCard engine={selected} />
      </div>
    </>
  );
}

export function SetupPage() {
  const status = useStatus();
  const data = status.data;
  return (
    <>
      <title>Docker setup · Berth</title>
      <PageHeader
        title="Docker setup"
        subtitle={data ? <>Berth listens at <code>{data.addresses.localhost}</code>{data.tls.enabled ? ' over HTTPS' : ' over plain HTTP'}. Pick your engine.</> : 'Point your container engine at this registry.'}
      />
      <Card title="Self-test" hint="Pushes a tiny image to this registry over its own HTTP API, pulls it back, checks every digest, then deletes it.">
        <SelfTest />
      </Card>
      <Loaded resource={status} errorTitle="Could not read the registry’s address" loadingLabel="Loading the registry’s address">
        {(s) => (
          <>
            {s.tls.enabled && <TlsCard host={s.addresses.localhost} caUrl={s.tls.caCertificateUrl} />}
            <EngineTabs list={engines({ addresses: s.addresses, tls: s.tls.enabled })} />
            <MirrorSetupCard status={s} />
          </>
        )}
      </Loaded>
    </>
  );
}
