/**
 * Webhooks: the endpoints registry events go to, how their deliveries are going (queue, last success,
 * failures in a row, open circuit), adding one (its secret shown once), sending a test event, and the
 * delivery log of the selected endpoint with redelivery. Lists refresh every few seconds: deliveries
 * happen in the background.
 */
import { useEffect, useId, useState, type FormEvent } from 'react';
import { CircleCheck, Info, KeyRound, Plus, RotateCcw, Send, TriangleAlert, Webhook } from 'lucide-react';
import { WEBHOOK_EVENT_KINDS, WEBHOOK_FORMATS, DEFAULT_EVENT_KINDS, type WebhookDelivery, type WebhookEndpoint, type WebhookEventKind, type WebhookFormat } from '../../server/webhooks/api-types.ts';
import { api, ApiError } from '../api.ts';
import { CodeBlock } from '../components/copy.tsx';
import { DeleteButton } from '../components/delete-button.tsx';
import { ConfirmDialog } from '../components/dialog.tsx';
import { Loaded } from '../components/loaded.tsx';
import { Card, PageHeader } from '../components/page.tsx';
import { EmptyState } from '../components/states.tsx';
import { Table } from '../components/table.tsx';
import { Time } from '../components/time.tsx';
import { useToast } from '../components/toast.tsx';
import { useResource } from '../hooks/use-resource.ts';

const REFRESH_MS = 3000;

const EVENT_LABELS: Record<WebhookEventKind, string> = {
  push: 'Push',
  pull: 'Pull',
  mount: 'Mount',
  delete: 'Delete (manifest, blob)',
  tag: 'Tag deleted',
  'repository-deleted': 'Repository deleted',
  'gc-finished': 'Garbage collection finished',
  'scrub-problem': 'Scrub found a problem',
};

const FORMAT_LABELS: Record<WebhookFormat, string> = {
  distribution: 'Distribution (registry:2 envelope)',
  cloudevents: 'CloudEvents 1.0 (JSON)',
  slack: 'Slack message',
};

/** Reloads a resource every REFRESH_MS while the page is open. */
function useRefresh(reload: () => void): void {
  useEffect(() => {
    const timer = setInterval(reload, REFRESH_MS);
    return () => clearInterval(timer);
  }, [reload]);
}

function NewEndpointForm({ onAdded, onCancel }: { onAdded(endpoint: WebhookEndpoint, secret: string | null): void; onCancel(): void }) {
  const id = useId();
  const [url, setUrl] = useState('');
  const [name, setName] = useState('');
  const [events, setEvents] = useState<WebhookEventKind[]>([...DEFAULT_EVENT_KINDS]);
  const [format, setFormat] = useState<WebhookFormat>('distribution');
  const [repositories, setRepositories] = useState('');
  const [signed, setSigned] = useState(true);
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const answer = await api.createWebhook({
        url: url.trim(),
        ...(name.trim() ? { name: name.trim() } : {}),
        events,
        format,
        repositories: repositories.trim() || null,
        ...(signed ? {} : { secret: null }),
      });
      onAdded(answer.endpoint, answer.secret);
    } catch (err) {
      setError(err instanceof ApiError ? err : new ApiError(0, 'UNKNOWN', (err as Error).message));
    } finally {
      setBusy(false);
    }
  }

  const fieldError = (field: string) =>
    error?.fields[0] === field && (
      <span className="error-text" role="alert">
        {error.message}
      </span>
    );
  return (
    <form className="rule-form" onSubmit={submit} noValidate aria-label="New webhook endpoint">
      <div className="field wide">
        <label htmlFor={`${id}-url`}>URL</label>
        <input id={`${id}-url`} type="url" required spellCheck={false} autoComplete="off" placeholder="https://ci.example.com/hooks/berth" value={url} aria-invalid={error?.fields.includes('url') ?? false} onChange={(e) => setUrl(e.target.value)} />
        {fieldError('url')}
        <span className="help">Berth POSTs each event here. Redirects are not followed; HTTPS certificates are verified.</span>
      </div>
      <div className="field">
        <label htmlFor={`${id}-name`}>Name</label>
        <input id={`${id}-name`} type="text" autoComplete="off" placeholder="(the URL's host)" value={name} onChange={(e) => setName(e.target.value)} />
        {fieldError('name')}
      </div>
      <div className="field">
        <label htmlFor={`${id}-format`}>Format</label>
        <select id={`${id}-format`} value={format} onChange={(e) => setFormat(e.target.value as WebhookFormat)}>
          {WEBHOOK_FORMATS.map((f) => (
            <option key={f} value={f}>
              {FORMAT_LABELS[f]}
            </option>
          ))}
        </select>
      </div>
      <fieldset className="field wide" aria-invalid={error?.fields.includes('events') ?? false}>
        <legend>Events</legend>
        <div className="chips">
          {WEBHOOK_EVENT_KINDS.map((kind) => (
            <label key={kind} className="check">
              <input type="checkbox" checked={events.includes(kind)} onChange={(e) => setEvents(e.target.checked ? WEBHOOK_EVENT_KINDS.filter((k) => k === kind || events.includes(k)) : events.filter((k) => k !== kind))} />
              <span>{EVENT_LABELS[kind]}</span>
            </label>
          ))}
        </div>
        {fieldError('events')}
      </fieldset>
      <div className="field wide">
        <label htmlFor={`${id}-repositories`}>Repositories</label>
        <input id={`${id}-repositories`} type="text" spellCheck={false} autoComplete="off" placeholder="every repository" value={repositories} onChange={(e) => setRepositories(e.target.value)} />
        {fieldError('repositories')}
        <span className="help">
          A pattern of repository names, as in permissions and retention rules: <code>team/*</code> is everything under team/, <code>{'{web,api}/*'}</code> either. Empty: all.
        </span>
      </div>
      <div className="field wide">
        <label className="check" htmlFor={`${id}-signed`}>
          <input id={`${id}-signed`} type="checkbox" checked={signed} onChange={(e) => setSigned(e.target.checked)} />
          <span>
            Sign deliveries <span className="help">— Standard Webhooks and X-Hub-Signature-256; the secret is shown once</span>
          </span>
        </label>
      </div>
      {error && error.fields.length === 0 && (
        <p className="callout bad wide" role="alert">
          {error.message}
        </p>
      )}
      <div className="actions wide">
        <button type="submit" className="primary" disabled={busy}>
          {busy ? <span className="spinner" aria-hidden /> : <Plus size={15} aria-hidden />}
          Add endpoint
        </button>
        <button type="button" disabled={busy} onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}

function StateChip({ delivery }: { delivery: WebhookDelivery }) {
  const kind = { delivered: 'good', pending: 'warn', dead: 'bad', dropped: 'bad' }[delivery.state];
  const label = { delivered: 'Delivered', pending: 'Retrying', dead: 'Failed', dropped: 'Dropped' }[delivery.state];
  return <span className={`chip ${kind}`}>{label}</span>;
}

function what(d: WebhookDelivery): string {
  if (d.kind === 'test') return 'Test event';
  const target = d.repository ? (d.tag ? `${d.repository}:${d.tag}` : d.digest ? `${d.repository}@${d.digest.slice(7, 19)}` : d.repository) : '';
  return `${d.action} ${target}`.trim();
}

function Deliveries({ endpoint }: { endpoint: WebhookEndpoint }) {
  const toast = useToast();
  const deliveries = useResource((signal) => api.webhookDeliveries(endpoint.id, {}, signal), [endpoint.id], { keepPrevious: true });
  useRefresh(deliveries.reload);
  const [busy, setBusy] = useState<string | null>(null);

  async function redeliver(d: WebhookDelivery) {
    setBusy(d.id);
    try {
      const answer = await api.redeliverWebhook(endpoint.id, d.id);
      const last = answer.history.at(-1);
      if (answer.state === 'delivered') toast('good', `Redelivered: the receiver answered ${last?.status}`);
      else if (answer.state === 'pending') toast('good', 'Retrying now');
      else toast('bad', `Redelivery failed: ${last?.error ?? 'no answer'}`);
      deliveries.reload();
    } catch (err) {
      toast('bad', `Could not redeliver: ${(err as Error).message}`);
    } finally {
      setBusy(null);
    }
  }

  return (
    <Card title={`Deliveries to ${endpoint.name}`} hint="Newest first; each delivery keeps its webhook-id on every attempt and redelivery." flush>
      <Loaded resource={deliveries} card={false} errorTitle="Could not load the deliveries" loadingLabel="Loading deliveries" rows={4}>
        {(page) =>
          page.deliveries.length === 0 ? (
            <p className="muted" style={{ padding: 16, margin: 0 }}>
              Nothing delivered yet. Push an image, or send a test event.
            </p>
          ) : (
            <Table testId="webhook-deliveries" caption="Deliveries" columns={['Event', 'State', { label: 'Attempts', num: true }, 'Last answer', { label: 'Time', num: true }, 'When', { label: 'Actions', hidden: true }]}>
              {page.deliveries.map((d) => {
                const last = d.history.at(-1);
                return (
                  <tr key={d.id} data-delivery={d.id} data-state={d.state}>
                    <td>
                      <code>{what(d)}</code>
                    </td>
                    <td>
                      <StateChip delivery={d} />
                    </td>
                    <td className="num">{d.attempts}</td>
                    <td>
                      {last ? (
                        <span title={last.response ?? undefined}>
                          {last.status ?? '—'} {last.error && <span className="faint">{last.error}</span>}
                        </span>
                      ) : (
                        <span className="faint">not tried yet</span>
                      )}
                      {d.state === 'pending' && d.nextAttemptAt && (
                        <span className="faint">
                          {' '}
                          · next <Time iso={d.nextAttemptAt} />
                        </span>
                      )}
                    </td>
                    <td className="num">{last ? `${last.durationMs} ms` : '—'}</td>
                    <td>
                      <Time iso={last?.at ?? d.createdAt} />
                    </td>
                    <td className="num nowrap">
                      <button type="button" className="small" disabled={busy !== null} onClick={() => void redeliver(d)} aria-label={`Redeliver ${what(d)}`}>
                        {busy === d.id ? <span className="spinner" aria-hidden /> : <RotateCcw size={14} aria-hidden />}
                        {d.state === 'pending' ? 'Retry now' : 'Redeliver'}
                      </button>
                    </td>
                  </tr>
                );
              })}
            </Table>
          )
        }
      </Loaded>
    </Card>
  );
}

export function WebhooksPage() {
  const toast = useToast();
  const endpoints = useResource((signal) => api.webhooks(signal), [], { keepPrevious: true });
  useRefresh(endpoints.reload);
  const [adding, setAdding] = useState(false);
  const [selected, setSelected] = useState<string | null>(null);
  const [secret, setSecret] = useState<{ name: string; value: string } | null>(null);
  const [deleting, setDeleting] = useState<WebhookEndpoint | null>(null);
  const [testing, setTesting] = useState<string | null>(null);

  const list = endpoints.data ?? [];
  const current = list.find((e) => e.id === selected) ?? list[0] ?? null;

  async function test(endpoint: WebhookEndpoint) {
    setTesting(endpoint.id);
    setSelected(endpoint.id);
    try {
      const delivery = await api.testWebhook(endpoint.id);
      const last = delivery.history.at(-1);
      if (delivery.state === 'delivered') toast('good', `Test event delivered: ${last?.status} in ${last?.durationMs} ms`);
      else toast('bad', `Test event not delivered: ${last?.error ?? 'no answer'}`);
      endpoints.reload();
    } catch (err) {
      toast('bad', `Could not send the test event: ${(err as Error).message}`);
    } finally {
      setTesting(null);
    }
  }

  async function toggle(endpoint: WebhookEndpoint) {
    try {
      await api.updateWebhook(endpoint.id, { enabled: !endpoint.enabled });
      endpoints.reload();
    } catch (err) {
      toast('bad', `Could not change the endpoint: ${(err as Error).message}`);
    }
  }

  async function rotate(endpoint: WebhookEndpoint) {
    try {
      const answer = await api.rotateWebhookSecret(endpoint.id);
      if (answer.secret) setSecret({ name: endpoint.name, value: answer.secret });
      toast('good', 'New secret made; the old one also signs for 24 hours');
      endpoints.reload();
    } catch (err) {
      toast('bad', `Could not rotate the secret: ${(err as Error).message}`);
    }
  }

  return (
    <>
      <title>Webhooks · Berth</title>
      <PageHeader
        title="Webhooks"
        subtitle="Tell CI systems and chat channels what happens in the registry: signed, retried, in order, and still delivered after a restart."
        actions={
          !adding && (
            <button type="button" className="primary" onClick={() => setAdding(true)}>
              <Plus size={15} aria-hidden /> Add endpoint
            </button>
          )
        }
      />
      {secret && (
        <div className="callout good" role="status" data-testid="webhook-secret">
          <KeyRound size={17} aria-hidden />
          <div style={{ minWidth: 0, flex: 1 }}>
            <p style={{ margin: '0 0 8px' }}>
              The signing secret of <strong>{secret.name}</strong>, shown only now: store it in the receiver to verify <code>webhook-signature</code> or{' '}
              <code>X-Hub-Signature-256</code>.
            </p>
            <CodeBlock code={secret.value} label="Webhook secret" />
            <button type="button" className="small" onClick={() => setSecret(null)}>
              I stored it
            </button>
          </div>
        </div>
      )}
      {adding && (
        <Card title="New endpoint">
          <NewEndpointForm
            onCancel={() => setAdding(false)}
            onAdded={(endpoint, value) => {
              setAdding(false);
              setSelected(endpoint.id);
              if (value) setSecret({ name: endpoint.name, value });
              toast('good', `Webhook ${endpoint.name} added`);
              endpoints.reload();
            }}
          />
        </Card>
      )}
      <Card title="Endpoints" flush>
        <Loaded resource={endpoints} card={false} errorTitle="Could not load the webhooks" loadingLabel="Loading webhooks" rows={3}>
          {(items) =>
            items.length === 0 ? (
              <EmptyState icon={<Webhook size={26} />} title="No webhooks">
                <p>Point a CI system at Berth: each push is POSTed to it, signed, as registry:2 does (its receivers work unchanged).</p>
                {!adding && (
                  <button type="button" onClick={() => setAdding(true)}>
                    <Plus size={15} aria-hidden /> Add an endpoint
                  </button>
                )}
              </EmptyState>
            ) : (
              <Table testId="webhook-endpoints" caption="Webhook endpoints" columns={['Endpoint', 'Events', 'Status', { label: 'Queued', num: true }, 'Last success', { label: 'Actions', hidden: true }]}>
                {items.map((e) => (
                  <tr key={e.id} data-endpoint={e.id} aria-selected={current?.id === e.id} className={e.enabled ? undefined : 'muted-row'}>
                    <td>
                      <button type="button" className="link" onClick={() => setSelected(e.id)} title="Show its deliveries">
                        {e.name}
                      </button>
                      <div className="faint mono" style={{ overflowWrap: 'anywhere' }}>
                        {e.url}
                      </div>
                      <div className="faint">
                        {FORMAT_LABELS[e.format]}
                        {e.repositories && (
                          <>
                            {' '}
                            · <code>{e.repositories}</code>
                          </>
                        )}
                        {e.secret.set ? ` · signed (secret ${e.secret.hint})` : ' · unsigned'}
                        {e.source === 'config' && ' · from the config file'}
                      </div>
                    </td>
                    <td>
                      <div className="chips">
                        {e.events.map((k) => (
                          <span key={k} className="chip">
                            {k}
                          </span>
                        ))}
                      </div>
                    </td>
                    <td data-testid="webhook-status">
                      {!e.enabled ? (
                        <span className="chip">Disabled</span>
                      ) : e.stats.circuitOpenUntil ? (
                        <span className="chip bad" title={`No attempts until ${e.stats.circuitOpenUntil}`}>
                          <TriangleAlert size={12} aria-hidden /> Paused after {e.stats.failureStreak} failures
                        </span>
                      ) : e.stats.failureStreak > 0 ? (
                        <span className="chip warn">{e.stats.failureStreak} failures in a row</span>
                      ) : (
                        <span className="chip good">
                          <CircleCheck size={12} aria-hidden /> OK
                        </span>
                      )}
                      {e.stats.dropped > 0 && <div className="faint">{e.stats.dropped} dropped (queue full)</div>}
                    </td>
                    <td className="num">{e.stats.queued}</td>
                    <td>{e.stats.lastSuccessAt ? <Time iso={e.stats.lastSuccessAt} /> : <span className="faint">never</span>}</td>
                    <td className="num nowrap">
                      <button type="button" className="small" disabled={testing !== null} onClick={() => void test(e)} aria-label={`Send a test event to ${e.name}`}>
                        {testing === e.id ? <span className="spinner" aria-hidden /> : <Send size={14} aria-hidden />} Send test event
                      </button>
                      {e.source === 'api' && (
                        <>
                          <label className="check" title="Deliver to this endpoint (off: nothing is recorded for it; its queue waits)">
                            <input type="checkbox" checked={e.enabled} onChange={() => void toggle(e)} aria-label={`${e.name} enabled`} />
                            <span>On</span>
                          </label>
                          <button type="button" className="icon" onClick={() => void rotate(e)} aria-label={`New secret for ${e.name}`} title="New secret">
                            <KeyRound size={16} aria-hidden />
                          </button>
                          <DeleteButton label={`Delete webhook ${e.name}`} onClick={() => setDeleting(e)} />
                        </>
                      )}
                    </td>
                  </tr>
                ))}
              </Table>
            )
          }
        </Loaded>
      </Card>
      {current && <Deliveries endpoint={current} />}
      <p className="callout">
        <Info size={17} aria-hidden />
        <span>
          Failed deliveries are retried with growing waits (5 s up to 2 h) for about a day, then kept here as failed. Up to 10,000 wait per endpoint; beyond
          that the oldest are dropped and counted. The same endpoints can be managed with <code>berth webhook</code> and in the config file.
        </span>
      </p>
      <ConfirmDialog
        open={deleting !== null}
        onClose={() => setDeleting(null)}
        onConfirm={async () => {
          await api.deleteWebhook(deleting!.id);
          toast('good', 'Webhook deleted');
          endpoints.reload();
        }}
        title="Delete this webhook?"
        confirmLabel="Delete webhook"
      >
        <p>
          <code>{deleting?.url}</code> gets no more events; its waiting deliveries and its log go too.
        </p>
      </ConfirmDialog>
    </>
  );
}
