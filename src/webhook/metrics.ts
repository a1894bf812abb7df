import { X509Certificate } from 'node:crypto';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** What happened to one admission request (the `result` label). */
export type AdmissionResult = 'allowed' | 'denied' | 'error' | 'patched' | 'skipped' | 'unavailable' | 'malformed';
export type WebhookName = 'validate' | 'mutate';

/**
 * The `kind` label values: the kinds the webhook configurations send, and `unknown` (malformed).
 * Any other kind a client names is counted as `other`, so no client can grow the label set (and
 * the server's memory) without bound.
 */
const KIND_LABELS = new Set(['Egress', 'HTTPRouteGroup', 'MeshConfig', 'Pod', 'unknown']);

/**
 * The webhook's Prometheus metrics, on a registry of its own (never prom-client's global one, so
 * two servers in one process, e.g. in tests, don't collide).
 */
export class WebhookMetrics {
  readonly registry = new Registry();
  private readonly requests: Counter<'webhook' | 'kind' | 'operation' | 'result'>;
  private readonly latency: Histogram<'webhook' | 'kind'>;
  private readonly rejected: Counter<'webhook' | 'code'>;
  private readonly certExpiry: Gauge;
  private readonly ready: Gauge;
  private readonly series = new Map<string, { requests: { inc(): void }; latency: { observe(v: number): void } }>();

  constructor(opts: { isReady: () => boolean; defaultMetrics?: boolean }) {
    const registers = [this.registry];
    this.requests = new Counter({
      name: 'meshgate_admission_requests_total',
      help: 'Admission requests answered, by webhook, object kind, operation and result.',
      labelNames: ['webhook', 'kind', 'operation', 'result'],
      registers,
    });
    this.latency = new Histogram({
      name: 'meshgate_admission_duration_seconds',
      help: 'Time to decide one admission request (decoding to response), by webhook and kind.',
      labelNames: ['webhook', 'kind'],
      // Decisions are sub-millisecond to a few milliseconds; anything past 100ms is a problem.
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    });
    this.rejected = new Counter({
      name: 'meshgate_admission_http_rejections_total',
      help: 'Requests refused before admission (HTTP 4xx: bad method, content type, size, body).',
      labelNames: ['webhook', 'code'],
      registers,
    });
    this.certExpiry = new Gauge({
      name: 'meshgate_tls_certificate_expiry_timestamp_seconds',
      help: 'When the serving certificate in use expires (Unix time).',
      registers,
    });
    const isReady = opts.isReady;
    this.ready = new Gauge({
      name: 'meshgate_ready',
      help: '1 when the server answers admission requests from synced state, else 0.',
      registers,
      collect() {
        this.set(isReady() ? 1 : 0);
      },
    });
    if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: 'meshgate_' });
  }

  /**
   * Counts one answered request. The label children are looked up once per label combination
   * (a bounded set: webhook × kind × operation × result) and kept, so the hot path does not hash
   * label objects on every request.
   */
  observe(webhook: WebhookName, requestKind: string, operation: string, result: AdmissionResult, seconds: number): void {
    const kind = KIND_LABELS.has(requestKind) ? requestKind : 'other';
    const key = `${webhook}|${kind}|${operation}|${result}`;
    let series = this.series.get(key);
    if (series === undefined) {
      series = { requests: this.requests.labels({ webhook, kind, operation, result }), latency: this.latency.labels({ webhook, kind }) };
      this.series.set(key, series);
    }
    series.requests.inc();
    series.latency.observe(seconds);
  }

  rejectHttp(webhook: string, code: number): void {
    this.rejected.inc({ webhook, code: String(code) });
  }

  setCertificate(cert: string | Buffer): void {
    try {
      this.certExpiry.set(new Date(new X509Certificate(cert).validTo).getTime() / 1000);
    } catch {
      // A certificate Node accepted for TLS but X509Certificate cannot read: leave the gauge as is.
    }
  }

  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
