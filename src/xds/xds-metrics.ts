import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** The ADS server's metrics, on the webhook server's registry so /metrics has both. */
export class XdsMetrics {
  readonly connected: Gauge;
  private readonly pushes: Counter<'type'>;
  private readonly latency: Histogram;
  private readonly rejections: Counter<'type'>;
  private readonly refused: Counter<'code'>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.connected = new Gauge({ name: 'meshgate_xds_connected_proxies', help: 'ADS streams open and authenticated.', registers });
    this.pushes = new Counter({ name: 'meshgate_xds_pushes_total', help: 'DiscoveryResponses sent, by type (LDS, RDS, CDS).', labelNames: ['type'], registers });
    this.latency = new Histogram({
      name: 'meshgate_xds_push_latency_seconds',
      help: 'From a state change to the DiscoveryResponse it caused being written to a stream.',
      buckets: [0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    this.rejections = new Counter({ name: 'meshgate_xds_rejections_total', help: 'DiscoveryResponses Envoy rejected (NACK with error_detail), by type.', labelNames: ['type'], registers });
    this.refused = new Counter({ name: 'meshgate_xds_streams_refused_total', help: 'ADS streams ended before any config was sent, by gRPC status.', labelNames: ['code'], registers });
  }

  push(type: string, changedAt?: number, now = Date.now()): void {
    this.pushes.inc({ type });
    if (changedAt !== undefined) this.latency.observe(Math.max(0, now - changedAt) / 1000);
  }

  rejection(type: string): void {
    this.rejections.inc({ type });
  }

  refusedStream(code: string): void {
    this.refused.inc({ code });
  }
}
