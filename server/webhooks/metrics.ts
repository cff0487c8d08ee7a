/**
 * The webhooks' Prometheus metrics (merged into GET /metrics by registry/metrics.ts), labelled by
 * endpoint id: endpoints are few and named by an admin, unlike repositories or users.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

export class WebhookMetrics {
  readonly registry = new Registry();
  readonly delivered: Counter<'endpoint'>;
  readonly failed: Counter<'endpoint'>;
  readonly retried: Counter<'endpoint'>;
  readonly dropped: Counter<'endpoint'>;
  readonly deadLettered: Counter<'endpoint'>;
  readonly attemptSeconds: Histogram<'endpoint'>;

  constructor(queued: () => Map<string, number>) {
    const registers = [this.registry];
    const counter = (name: string, help: string) => new Counter({ name, help, labelNames: ['endpoint'], registers });
    this.delivered = counter('berth_webhook_delivered_total', 'Webhook deliveries the receiver accepted (2xx)');
    this.failed = counter('berth_webhook_failed_attempts_total', 'Webhook attempts that failed (no answer, not 2xx, redirect)');
    this.retried = counter('berth_webhook_retries_total', 'Webhook retries scheduled after a failed attempt');
    this.dropped = counter('berth_webhook_dropped_total', 'Webhook deliveries dropped because the endpoint queue was full');
    this.deadLettered = counter('berth_webhook_dead_lettered_total', 'Webhook deliveries given up after the last retry');
    this.attemptSeconds = new Histogram({
      name: 'berth_webhook_attempt_duration_seconds',
      help: 'Time of one webhook attempt, from request to the end of the answer',
      labelNames: ['endpoint'],
      buckets: [0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60],
      registers,
    });
    new Gauge({
      name: 'berth_webhook_queued',
      help: 'Webhook deliveries waiting, per endpoint',
      labelNames: ['endpoint'],
      registers,
      collect() {
        this.reset();
        for (const [endpoint, n] of queued()) this.set({ endpoint }, n);
      },
    });
  }
}
