import { Server, ServerCredentials, status, type ServerDuplexStream, type ServiceDefinition } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { MeshgateSettings } from '../settings.js';
import type { TlsMaterial } from '../webhook/server.js';
import type { MeshState } from '../state/mesh-state.js';
import { ConfigCache, type CacheWatch, type ChangeFeed } from './config-cache.js';
import { envoyTypes, type EncodedResource, type EnvoyTypes } from './envoy-types.js';
import type { StreamAuthenticator, StreamIdentity } from './identity.js';
import type { ProxyStatus, ProxyStatusReport, StatusProvider } from './proxy-status.js';
import { XdsMetrics } from './xds-metrics.js';
import { StreamProtocol, typeShortName, type DiscoveryRequestView, type ProtocolEvent, type ResponseOut } from './stream-protocol.js';

/**
 * meshgate's ADS server (SPEC §10): `envoy.service.discovery.v3.AggregatedDiscoveryService`,
 * state of the world, over TLS with the serving certificate. Each stream is authenticated before
 * anything is sent (the first request must arrive first: it carries the node), then served the
 * config of exactly the identity its token proves, by a StreamProtocol per stream fed from one
 * ConfigCache. The service is defined by hand over raw bytes; @bufbuild/protobuf does the
 * (de)serialization with descriptors generated at build time, loaded on the first stream.
 */

export const ADS_METHOD_PATH = '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources';

const identityBytes = (b: Buffer) => b;
const ADS_SERVICE: ServiceDefinition = {
  StreamAggregatedResources: {
    path: ADS_METHOD_PATH,
    requestStream: true,
    responseStream: true,
    requestSerialize: (r: Uint8Array) => Buffer.from(r.buffer, r.byteOffset, r.byteLength),
    requestDeserialize: identityBytes,
    responseSerialize: (r: Uint8Array) => Buffer.from(r.buffer, r.byteOffset, r.byteLength),
    responseDeserialize: identityBytes,
    originalName: 'streamAggregatedResources',
  },
};

/**
 * Server credentials whose certificate can be replaced: grpc-js calls `setSecureContext` on its
 * HTTP/2 server for every update, so new handshakes use the new certificate and open streams go on.
 */
class ReloadableServerCredentials extends ServerCredentials {
  constructor(tls: TlsMaterial) {
    super({ minVersion: 'TLSv1.2' }, contextOf(tls));
  }
  update(tls: TlsMaterial): void {
    this.updateSecureContextOptions(contextOf(tls));
  }
  override _equals(other: ServerCredentials): boolean {
    return other === this;
  }
}

function contextOf(tls: TlsMaterial) {
  const buf = (v: string | Buffer) => (typeof v === 'string' ? Buffer.from(v) : v);
  return { cert: buf(tls.cert), key: buf(tls.key), minVersion: 'TLSv1.2' as const };
}

export interface AdsServerOptions {
  logger: Logger;
  state: MeshState;
  /** State changes (the MeshStore); without, configs never change. */
  changes?: ChangeFeed;
  settings: MeshgateSettings;
  authenticator: StreamAuthenticator;
  tls: TlsMaterial;
  /** Where the metrics go (the webhook server's registry); none: not exported. */
  registry?: Registry;
  /** False while the state is not synced: new streams are refused UNAVAILABLE (an empty config would delete the proxy's). */
  ready?: () => boolean;
  debounceMs?: number;
  /** DiscoveryResponse.control_plane.identifier, e.g. the pod name. */
  controlPlaneId?: string;
  /** Descriptors (default: the build's, loaded on the first stream). */
  types?: () => EnvoyTypes;
  now?: () => number;
}

interface StreamRecord {
  id: number;
  call: ServerDuplexStream<Buffer, Uint8Array>;
  protocol: StreamProtocol<EncodedResource>;
  identity?: StreamIdentity;
  since: number;
  peer: string;
  log: Logger;
  end(code: number, details: string): void;
}

export class AdsServer implements StatusProvider {
  private readonly server: Server;
  private readonly credentials: ReloadableServerCredentials;
  private readonly log: Logger;
  private readonly metrics: XdsMetrics | undefined;
  private readonly streams = new Set<StreamRecord>();
  private cacheInstance: ConfigCache<EncodedResource> | undefined;
  private typesInstance: EnvoyTypes | undefined;
  private nextId = 0;
  private closing: Promise<void> | undefined;
  private readonly now: () => number;

  constructor(private readonly opts: AdsServerOptions) {
    this.log = opts.logger.child({ component: 'xds' });
    this.metrics = opts.registry ? new XdsMetrics(opts.registry) : undefined;
    this.credentials = new ReloadableServerCredentials(opts.tls);
    this.now = opts.now ?? Date.now;
    this.server = new Server({
      // Envoy keeps one ADS stream for the life of the pod: find dead peers, let Envoy's pings through.
      'grpc.keepalive_time_ms': 60_000,
      'grpc.keepalive_timeout_ms': 20_000,
      'grpc.keepalive_permit_without_calls': 1,
      'grpc.http2.min_ping_interval_without_data_ms': 10_000,
    });
    this.server.addService(ADS_SERVICE, { StreamAggregatedResources: (call: ServerDuplexStream<Buffer, Uint8Array>) => this.onStream(call) });
  }

  /** Binds and starts; resolves with the port (useful with 0). */
  listen(port: number, host = '0.0.0.0'): Promise<number> {
    const address = host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`;
    return new Promise((resolve, reject) => {
      this.server.bindAsync(address, this.credentials, (err, bound) => (err ? reject(err) : resolve(bound)));
    });
  }

  /** New handshakes use `tls`; open streams keep going. */
  updateTls(tls: TlsMaterial): void {
    this.credentials.update(tls);
    this.log.info('ADS serving certificate reloaded');
  }

  /** The shared config cache (created with the first stream). */
  get cache(): ConfigCache<EncodedResource> {
    return (this.cacheInstance ??= new ConfigCache<EncodedResource>({
      state: this.opts.state,
      ...(this.opts.changes ? { changes: this.opts.changes } : {}),
      settings: this.opts.settings,
      encode: (r) => this.types.encodeResource(r),
      ...(this.opts.debounceMs !== undefined ? { debounceMs: this.opts.debounceMs } : {}),
      now: this.now,
      onError: (account, err) => this.log.error({ account: `${account.namespace}/${account.name}`, err }, 'cannot compile the config of a ServiceAccount; its streams keep the last one'),
      onWarnings: (account, warnings) => this.log.warn({ account: `${account.namespace}/${account.name}`, warnings }, 'compiled with warnings'),
    }));
  }

  private get types(): EnvoyTypes {
    return (this.typesInstance ??= (this.opts.types ?? envoyTypes)());
  }

  proxyStatus(): ProxyStatusReport {
    const proxies: ProxyStatus[] = [];
    for (const s of this.streams) {
      if (!s.identity) continue;
      const node = s.protocol.nodeInfo;
      const nack = s.protocol.lastNack();
      proxies.push({
        node: node?.id ?? '',
        cluster: node?.cluster ?? '',
        identity: `${s.identity.namespace}/${s.identity.name}`,
        since: new Date(s.since).toISOString(),
        peer: s.peer,
        types: s.protocol.status(),
        ...(nack ? { lastRejection: { type: typeShortName(nack.typeUrl), version: nack.version, message: nack.message, at: new Date(nack.at).toISOString() } } : {}),
      });
    }
    proxies.sort((a, b) => (a.identity < b.identity ? -1 : a.identity > b.identity ? 1 : a.node < b.node ? -1 : a.node > b.node ? 1 : 0));
    return { proxies };
  }

  /** Open, authenticated streams. */
  get streamCount(): number {
    let n = 0;
    for (const s of this.streams) if (s.identity) n++;
    return n;
  }

  /**
   * Ends every stream with UNAVAILABLE (Envoy reconnects, to another replica if there is one),
   * then stops; whatever is still open after `graceMs` is cut.
   */
  close(graceMs = 5000): Promise<void> {
    this.closing ??= (async () => {
      for (const s of [...this.streams]) s.end(status.UNAVAILABLE, 'meshgate is shutting down');
      this.cacheInstance?.close();
      await new Promise<void>((resolve) => {
        const force = setTimeout(() => {
          this.server.forceShutdown();
          resolve();
        }, graceMs);
        force.unref();
        this.server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      });
      this.log.info('ADS server closed');
    })();
    return this.closing;
  }

  // ---- one stream ----

  private onStream(call: ServerDuplexStream<Buffer, Uint8Array>): void {
    const id = ++this.nextId;
    const peer = call.getPeer();
    const protocol = new StreamProtocol<EncodedResource>({ now: this.now });
    let watch: CacheWatch<EncodedResource> | undefined;
    let expiry: NodeJS.Timeout | undefined;
    let phase: 'first' | 'authenticating' | 'serving' | 'ended' = 'first';
    const queue: Buffer[] = [];
    const record: StreamRecord = {
      id,
      call,
      protocol,
      since: this.now(),
      peer,
      log: this.log.child({ stream: id, peer }),
      end: (code, details) => {
        if (phase === 'ended') return;
        const wasServing = phase === 'serving';
        cleanup();
        if (!wasServing) this.metrics?.refusedStream(status[code] ?? String(code));
        record.log.info({ code: status[code], details }, 'ADS stream ended by meshgate');
        call.emit('error', { code, details });
      },
    };
    this.streams.add(record);
    const cleanup = () => {
      if (phase === 'serving') this.metrics?.connected.dec();
      phase = 'ended';
      watch?.cancel();
      watch = undefined;
      if (expiry) clearTimeout(expiry);
      this.streams.delete(record);
    };

    if (this.closing) {
      record.end(status.UNAVAILABLE, 'meshgate is shutting down');
      return;
    }

    const write = (responses: ResponseOut<EncodedResource>[], changedAt?: number) => {
      for (const r of responses) {
        if (phase === 'ended') return;
        const bytes = this.types.encodeResponse({ ...r, ...(this.opts.controlPlaneId ? { controlPlane: this.opts.controlPlaneId } : {}) });
        call.write(bytes);
        this.metrics?.push(typeShortName(r.typeUrl), changedAt, this.now());
        record.log.debug({ type: typeShortName(r.typeUrl), version: r.versionInfo, nonce: r.nonce, resources: r.names.length }, 'sent');
      }
    };

    const noteEvents = (events: ProtocolEvent[]) => {
      for (const e of events) {
        const type = typeShortName(e.typeUrl);
        if (e.kind === 'nack') {
          this.metrics?.rejection(type);
          // Logged once: a rejected version is never sent to this stream again.
          record.log.warn({ identity: identityText(record.identity), node: protocol.nodeInfo?.id, type, version: e.version, errorDetail: e.message, code: e.code }, 'Envoy rejected a config (NACK)');
        } else if (e.kind === 'ack') record.log.debug({ type, version: e.version }, 'ACK');
        else if (e.kind === 'resumed') record.log.debug({ type, version: e.version }, 'resumed: the proxy already holds this version');
        else record.log.debug({ type, nonce: e.nonce }, 'stale nonce: request ignored');
      }
    };

    const handle = (buf: Buffer) => {
      let req: DiscoveryRequestView;
      try {
        req = this.types.decodeRequest(buf);
      } catch (err) {
        record.end(status.INVALID_ARGUMENT, `not a DiscoveryRequest: ${err instanceof Error ? err.message : String(err)}`);
        return;
      }
      const step = protocol.handleRequest(req);
      noteEvents(step.events);
      if (step.error) {
        record.end(status.INVALID_ARGUMENT, step.error);
        return;
      }
      write(step.responses);
    };

    const start = async (buf: Buffer) => {
      phase = 'authenticating';
      let first: DiscoveryRequestView;
      try {
        first = this.types.decodeRequest(buf);
      } catch (err) {
        record.end(status.INVALID_ARGUMENT, `not a DiscoveryRequest: ${err instanceof Error ? err.message : String(err)}`);
        return;
      }
      const missing = StreamProtocol.firstRequestError(first);
      if (missing) {
        record.end(status.INVALID_ARGUMENT, missing);
        return;
      }
      const node = first.node!;
      record.log = record.log.child({ node: node.id });
      const authorization = call.metadata.get('authorization')[0];
      let auth;
      try {
        auth = await this.opts.authenticator.authenticate(authorization === undefined ? {} : { authorization: String(authorization) }, node);
      } catch (err) {
        record.log.error({ err }, 'authenticator failed');
        auth = { ok: false as const, code: 'UNAVAILABLE' as const, message: 'authentication failed unexpectedly' };
      }
      if ((phase as string) === 'ended') return;
      if (!auth.ok) {
        record.log.info({ code: auth.code, reason: auth.message }, 'ADS stream refused');
        record.end(auth.code === 'UNAVAILABLE' ? status.UNAVAILABLE : status.UNAUTHENTICATED, auth.message);
        return;
      }
      if (this.opts.ready && !this.opts.ready()) {
        record.end(status.UNAVAILABLE, 'meshgate has not synced the cluster state yet: retry shortly');
        return;
      }
      record.identity = auth.identity;
      record.log = record.log.child({ identity: identityText(auth.identity) });
      try {
        watch = this.cache.watch(auth.identity, (update) => {
          if (phase !== 'serving') return;
          write(protocol.setSnapshot(update.snapshot), update.changedAt);
        });
      } catch (err) {
        record.log.error({ err }, 'cannot compile the config for this ServiceAccount');
        record.end(status.INTERNAL, 'meshgate cannot compile the config for this ServiceAccount');
        return;
      }
      phase = 'serving';
      this.metrics?.connected.inc();
      if (auth.expiresAt !== undefined) {
        // Envoy re-reads the token file on every new stream: closing makes it present the refreshed one.
        const ms = Math.max(0, auth.expiresAt - this.now());
        expiry = setTimeout(() => record.end(status.UNAUTHENTICATED, 'token expired'), Math.min(ms, 2 ** 31 - 1));
        expiry.unref();
      }
      record.log.info({ cluster: node.cluster }, 'ADS stream accepted');
      protocol.setSnapshot(watch.snapshot); // nothing to send before the first request is read
      handle(buf);
      while (queue.length > 0 && phase === 'serving') handle(queue.shift()!);
    };

    call.on('data', (buf: Buffer) => {
      if (phase === 'ended') return;
      if (phase === 'first') void start(buf);
      else if (phase === 'authenticating') queue.push(buf);
      else handle(buf);
    });
    call.on('end', () => {
      if (phase === 'ended') return;
      cleanup();
      record.log.info('ADS stream closed by the proxy');
      call.end();
    });
    call.on('cancelled', () => {
      if (phase === 'ended') return;
      cleanup();
      record.log.info('ADS stream cancelled');
    });
    call.on('error', (err: unknown) => {
      if (phase === 'ended') return;
      cleanup();
      record.log.debug({ err }, 'ADS stream error');
    });
  }
}

function identityText(identity: StreamIdentity | undefined): string | undefined {
  return identity ? `${identity.namespace}/${identity.name}` : undefined;
}
