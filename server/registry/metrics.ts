/**
 * What Berth exposes to Prometheus at GET /metrics (prom-client, text format 0.0.4): the process
 * (CPU, memory, event-loop delay, from prom-client's defaults), every HTTP request by method, operation
 * (the handler that answered: getManifest, patchBlobData, ...) and status, and what happened in the
 * registry, counted from its events. Labels never carry repository or user names: their number would
 * grow without bound, and a scraper should not learn them.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { CounterTotals } from '../metadata/mirror-db.ts';
import type { RegistryEvents } from './events.ts';

export interface MetricsDeps {
  events: RegistryEvents;
  /** Blob uploads receiving bytes right now. */
  uploadsInProgress: () => number;
  /** Whether the metadata index is loaded (listings answer from it). */
  indexReady: () => boolean;
  /** Metrics of other parts (webhooks/metrics.ts), exposed with these. */
  registries?: Registry[];
  /** The pull-through cache's counters per upstream (mirror/counters.ts); upstream names are settings, not user data. */
  mirrors?: () => { upstream: string; totals: MirrorTotals }[];
  /** Whether the metadata store answers (a cluster's PostgreSQL may be away; nedb always does). */
  metadataUp?: () => boolean;
}

/** What mirror/counters.ts counts per upstream. */
type MirrorTotals = Omit<CounterTotals, 'rateLimitAt'>;

const FINISHED = new Set(['succeeded', 'failed', 'interrupted']);

/**
 * The process's own metrics, set up once: their collectors (an event-loop delay monitor, a GC
 * observer) live as long as the process, while a registry may be created again (the desktop app
 * restarts it when its settings change).
 */
let processMetrics: Registry | null = null;
function processRegistry(): Registry {
  if (!processMetrics) {
    processMetrics = new Registry();
    collectDefaultMetrics({ register: processMetrics });
  }
  return processMetrics;
}

export class RegistryMetrics {
  private readonly own = new Registry();
  private readonly registry: Registry;
  private readonly requests: Counter<'method' | 'operation' | 'status'>;
  private readonly durations: Histogram<'method' | 'operation'>;
  private readonly fromMemory: Counter;
  private readonly unsubscribe: (() => void)[] = [];

  constructor({ events, uploadsInProgress, indexReady, registries = [], mirrors, metadataUp }: MetricsDeps) {
    const registers = [this.own];
    this.requests = new Counter({
      name: 'berth_http_requests_total',
      help: 'HTTP requests answered, by method, operation and status code',
      labelNames: ['method', 'operation', 'status'],
      registers,
    });
    this.durations = new Histogram({
      name: 'berth_http_request_duration_seconds',
      help: 'Time from a request to the end of its response, by method and operation',
      labelNames: ['method', 'operation'],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120, 600],
      registers,
    });
    this.fromMemory = new Counter({
      name: 'berth_manifest_answers_from_memory_total',
      help: 'Manifest GETs and HEADs answered again as the registry answered the same request before (also counted in berth_http_requests_total)',
      registers,
    });
    new Gauge({ name: 'berth_uploads_in_progress', help: 'Blob uploads receiving bytes right now', registers, collect() { this.set(uploadsInProgress()); } });
    if (metadataUp) {
      new Gauge({ name: 'berth_metadata_up', help: '1 while the metadata store answers, 0 while a cluster\'s database is unreachable (writes get 503)', registers, collect() { this.set(metadataUp() ? 1 : 0); } });
    }
    new Gauge({ name: 'berth_index_ready', help: '1 once the metadata index is loaded, 0 while it loads or rebuilds', registers, collect() { this.set(indexReady() ? 1 : 0); } });

    const counter = (name: string, help: string) => new Counter({ name, help, registers });
    const blobsPushed = counter('berth_blobs_pushed_total', 'Blobs uploaded and committed');
    const blobBytes = counter('berth_blob_pushed_bytes_total', 'Bytes of the blobs uploaded and committed');
    const blobsMounted = counter('berth_blobs_mounted_total', 'Blobs mounted from another repository');
    const manifestsPushed = counter('berth_manifests_pushed_total', 'Manifests pushed');
    const manifestsPulled = counter('berth_manifests_pulled_total', 'Manifests fetched (GET) by clients');
    const deletes = new Counter({ name: 'berth_deletes_total', help: 'Deletions, by what was deleted', labelNames: ['kind'], registers });
    const runs = new Counter({
      name: 'berth_maintenance_runs_total',
      help: 'Maintenance runs finished, by kind (gc, scrub, purge-uploads, reindex, retention) and outcome',
      labelNames: ['kind', 'outcome'],
      registers,
    });
    this.unsubscribe.push(
      events.on('blob-pushed', (e) => { blobsPushed.inc(); blobBytes.inc(e.size); }),
      events.on('blob-mounted', () => blobsMounted.inc()),
      events.on('manifest-pushed', () => manifestsPushed.inc()),
      events.on('manifest-pulled', () => manifestsPulled.inc()),
      events.on('blob-deleted', () => deletes.inc({ kind: 'blob' })),
      events.on('manifest-deleted', () => deletes.inc({ kind: 'manifest' })),
      events.on('tag-deleted', () => deletes.inc({ kind: 'tag' })),
      events.on('repository-deleted', () => deletes.inc({ kind: 'repository' })),
      events.on('maintenance', (e) => { if (FINISHED.has(e.state)) runs.inc({ kind: e.kind, outcome: e.state }); }),
    );
    if (mirrors) mirrorMetrics(mirrors, registers);
    // Last: a merged registry holds the metrics registered so far.
    this.registry = Registry.merge([processRegistry(), this.own, ...registries]);
  }

  /** Records one answered request. */
  observeRequest(method: string, operation: string, status: number, seconds: number): void {
    this.requests.inc({ method, operation, status });
    this.durations.observe({ method, operation }, seconds);
  }

  /** One manifest request answered from memory (http/manifest-answers.ts). */
  answeredFromMemory(): void {
    this.fromMemory.inc();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The exposition text. */
  render(): Promise<string> {
    return this.registry.metrics();
  }

  /** Stops counting events (the registry is closing). */
  close(): void {
    for (const off of this.unsubscribe.splice(0)) off();
  }
}

/**
 * The pull-through cache's counters, read from mirror/counters.ts at each scrape (they are kept there,
 * and across restarts): counters by upstream, and the last RateLimit-Remaining as a gauge.
 */
function mirrorMetrics(read: NonNullable<MetricsDeps['mirrors']>, registers: Registry[]): void {
  const counter = (name: string, help: string, labels: string[], values: (t: MirrorTotals) => [Record<string, string>, number][]) =>
    new Counter({
      name, help, labelNames: ['upstream', ...labels], registers,
      collect() {
        this.reset();
        for (const { upstream, totals } of read()) for (const [extra, value] of values(totals)) this.inc({ upstream, ...extra }, value);
      },
    });
  counter('berth_mirror_requests_total', 'Pulls through the cache, by upstream and result: hit (answered from the cache), miss (fetched), stale (served while the upstream failed)', ['result'],
    (t) => [[{ result: 'hit' }, t.hits], [{ result: 'miss' }, t.misses], [{ result: 'stale' }, t.staleServes]]);
  counter('berth_mirror_bytes_total', 'Bytes served from the cache, and fetched from the upstream', ['source'],
    (t) => [[{ source: 'cache' }, t.bytesFromCache], [{ source: 'upstream' }, t.bytesFetched]]);
  counter('berth_mirror_upstream_errors_total', 'Upstream requests that failed (unreachable, timeout, 429, 5xx, bad answers)', [], (t) => [[{}, t.upstreamErrors]]);
  new Gauge({
    name: 'berth_mirror_ratelimit_remaining', help: 'The last RateLimit-Remaining the upstream sent (Docker Hub: pulls left in its window)', labelNames: ['upstream'], registers,
    collect() {
      this.reset();
      for (const { upstream, totals } of read()) if (totals.rateLimitRemaining !== null) this.set({ upstream }, totals.rateLimitRemaining);
    },
  });
}
