/**
 * An "ADS agent": the xDS half of Envoy, for the network-namespace rig, where no Envoy can run. It
 * holds one ADS stream to `meshgate serve` as an injected sidecar would (gRPC over TLS with
 * meshgate's CA, `authorization: Bearer <the pod's projected token>`, node `{id, cluster}`), and
 * subscribes as Envoy does: CDS and LDS wildcard, RDS for exactly the route configuration names
 * the listeners' HTTP connection managers reference (updated when the listeners change). Each
 * response is decoded from its `Any`s to proto3 JSON with proto (snake_case) field names and an
 * `@type` (the JSON form of an Any, as Envoy's config dump shows it), the whole is assembled into
 * `{version, listeners, routeConfigurations, clusters}` and loaded into the stand-in
 * (EnvoyStandin.reload): the stand-in is the data plane, the agent its xDS client.
 *
 * Envoy's rules the agent keeps:
 * - a listener whose route configuration has not arrived yet is warming: the config is handed to
 *   the stand-in only once every referenced route configuration is held (the stand-in refuses a
 *   dangling reference, which also checks meshgate's CDS → LDS → RDS ordering for clusters);
 * - a response the stand-in loads is ACKed (version and nonce); one it refuses is NACKed with the
 *   previous version and the stand-in's error as `error_detail`, and the previous resources stay;
 * - a response that only leaves a listener warming is ACKed (Envoy accepts the listener).
 *
 * `waitFor(predicate)` waits until the stand-in runs a config for which the predicate holds (no
 * fixed sleeps); every load and refusal is kept in `history` for failure messages.
 */
import type { Client, ClientDuplexStream } from '@grpc/grpc-js';
import { create, toJson } from '@bufbuild/protobuf';
import { AnySchema } from '@bufbuild/protobuf/wkt';
import type { DecodedResponse, DiscoveryRequestInit } from '../../../src/xds/envoy-types.js';
import { TYPE_URLS } from '../../../src/xds/stream-protocol.js';
import { clientTypes, openAdsStream } from '../../xds/ads-client.js';
import type { ProxyConfig, ReloadResult } from './envoy-standin.js';

export const LDS = TYPE_URLS.listener;
export const RDS = TYPE_URLS.route;
export const CDS = TYPE_URLS.cluster;
const SHORT: Record<string, string> = { [LDS]: 'LDS', [RDS]: 'RDS', [CDS]: 'CDS' };

type Json = { [k: string]: unknown };

export interface AdsAgentOptions {
  port: number;
  host?: string;
  /** meshgate's CA (PEM): the bootstrap's `root_certs`. */
  ca: string;
  /** The projected ServiceAccount token; undefined: no authorization metadata at all. */
  token?: string;
  node: { id: string; cluster: string };
  /** The name the serving certificate must carry (default localhost). */
  servername?: string;
  /** Where configs go: normally `(c) => standin.reload(c)`. Without one, every config is "loaded" (no data plane). */
  load?: (config: ProxyConfig) => Promise<ReloadResult>;
}

/** A config the stand-in runs, with the per-type versions it was assembled from. */
export interface LoadedConfig extends ProxyConfig {
  versions: { LDS?: string; RDS?: string; CDS?: string };
}

export type HistoryEntry =
  | { at: number; kind: 'response'; type: string; version: string; nonce: string; names: string[] }
  | { at: number; kind: 'loaded'; version: string }
  | { at: number; kind: 'refused'; type: string; version: string; error: string }
  | { at: number; kind: 'rds-subscription'; names: string[] }
  | { at: number; kind: 'ended'; code: number; details: string };

/** A history entry before its timestamp (Omit distributed over the union). */
type NewEntry = HistoryEntry extends infer E ? (E extends HistoryEntry ? Omit<E, 'at'> : never) : never;

interface Held {
  version: string;
  nonce: string;
  resources: Json[];
}

/** An Any as proto3 JSON: `{"@type": URL, ...fields}` with proto field names. */
export function anyToJson(typeUrl: string, value: Uint8Array): Json {
  const types = clientTypes();
  return toJson(AnySchema, create(AnySchema, { typeUrl, value }), { registry: types.registry, useProtoFieldName: true }) as Json;
}

/** The route configuration names the listeners' HTTP connection managers reference (sorted, each once). */
export function referencedRouteNames(listeners: readonly unknown[]): string[] {
  const names = new Set<string>();
  for (const l of listeners as { filter_chains?: { filters?: { typed_config?: { rds?: { route_config_name?: string } } }[] }[] }[]) {
    for (const fc of l.filter_chains ?? []) {
      for (const f of fc.filters ?? []) {
        const n = f.typed_config?.rds?.route_config_name;
        if (n) names.add(n);
      }
    }
  }
  return [...names].sort();
}

export class AdsAgent {
  private readonly client: Client;
  private readonly call: ClientDuplexStream<Uint8Array, Buffer>;
  private readonly held = new Map<string, Held>();
  private rdsNames: string[] = [];
  private lastRdsNonce = '';
  /** Responses are handled one at a time, in order (loads are asynchronous). */
  private chain: Promise<void> = Promise.resolve();
  private current: LoadedConfig | undefined;
  private waiters = new Set<() => void>();
  private endedWith: { code: number; details: string } | undefined;
  readonly history: HistoryEntry[] = [];
  /** Every DiscoveryResponse, in arrival order. */
  readonly responses: DecodedResponse[] = [];
  /** Resolves with the stream's status when the server ends it. */
  readonly ended: Promise<{ code: number; details: string }>;
  private readonly t0 = Date.now();

  constructor(private readonly opts: AdsAgentOptions) {
    ({ client: this.client, call: this.call } = openAdsStream(opts));
    this.ended = new Promise((resolve) => {
      this.call.on('status', (s: { code: number; details: string }) => {
        this.endedWith = { code: s.code, details: s.details };
        this.note({ kind: 'ended', code: s.code, details: s.details });
        resolve(this.endedWith);
        this.notify();
      });
    });
    this.call.on('error', () => {
      // The status event carries it.
    });
    this.call.on('data', (b: Buffer) => {
      const r = clientTypes().decodeResponse(b);
      this.responses.push(r);
      this.chain = this.chain.then(() => this.handle(r)).catch((err: unknown) => {
        this.note({ kind: 'refused', type: SHORT[r.typeUrl] ?? r.typeUrl, version: r.versionInfo, error: `agent: ${String(err)}` });
        this.notify();
      });
    });
    // Envoy at start: CDS first (with the node: set_node_on_first_message_only), then LDS, both wildcard.
    this.send({ typeUrl: CDS, node: opts.node, resourceNames: [] });
    this.send({ typeUrl: LDS, resourceNames: [] });
  }

  /** The config the stand-in runs now (undefined before the first load). */
  get loaded(): LoadedConfig | undefined {
    return this.current;
  }

  /** The route configuration names subscribed to. */
  get routeSubscription(): readonly string[] {
    return this.rdsNames;
  }

  /** The versions last acknowledged per type. */
  get ackedVersions(): { LDS?: string; RDS?: string; CDS?: string } {
    return this.versions();
  }

  /** Responses and loads so far, one line each (for failure messages). */
  describe(): string {
    return this.history
      .map((h) => {
        const t = `+${String(h.at).padStart(5)} ms`;
        switch (h.kind) {
          case 'response':
            return `${t} ${h.type} ${h.version} nonce ${h.nonce} [${h.names.join(', ')}]`;
          case 'loaded':
            return `${t} stand-in loaded ${h.version}`;
          case 'refused':
            return `${t} REFUSED ${h.type} ${h.version}: ${h.error}`;
          case 'rds-subscription':
            return `${t} RDS subscription [${h.names.join(', ')}]`;
          case 'ended':
            return `${t} stream ended ${h.code}: ${h.details}`;
        }
      })
      .join('\n');
  }

  /**
   * Waits until the stand-in runs a config for which `pred` holds (checked now and after every
   * load). Rejects on a refusal after the call, the stream's end, or the timeout, with the history.
   */
  async waitFor(what: string, pred: (c: LoadedConfig) => boolean, timeoutMs = 10_000): Promise<LoadedConfig> {
    const deadline = Date.now() + timeoutMs;
    const mark = this.history.length;
    for (;;) {
      if (this.current && pred(this.current)) return this.current;
      const refused = this.history.slice(mark).find((h) => h.kind === 'refused');
      if (refused) throw new Error(`waiting for ${what}: a config was refused\n${this.describe()}`);
      if (this.endedWith) throw new Error(`waiting for ${what}: stream ended (${this.endedWith.code}: ${this.endedWith.details})\n${this.describe()}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`waiting for ${what}: not within ${timeoutMs} ms; the stand-in runs ${this.current?.version ?? 'nothing yet'}\n${this.describe()}`);
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(t);
          this.waiters.delete(done);
          resolve();
        };
        const t = setTimeout(done, left);
        this.waiters.add(done);
      });
    }
  }

  /** Ends the stream as Envoy does when it shuts down. */
  close(): void {
    this.call.cancel();
    this.client.close();
  }

  private send(req: DiscoveryRequestInit): void {
    this.call.write(clientTypes().encodeRequest(req));
  }

  private note(e: NewEntry): void {
    this.history.push({ at: Date.now() - this.t0, ...e } as HistoryEntry);
  }

  private notify(): void {
    for (const w of [...this.waiters]) w();
  }

  private versions(): LoadedConfig['versions'] {
    const v: LoadedConfig['versions'] = {};
    for (const [type, h] of this.held) v[SHORT[type] as 'LDS' | 'RDS' | 'CDS'] = h.version;
    return v;
  }

  private async handle(r: DecodedResponse): Promise<void> {
    const type = SHORT[r.typeUrl] ?? r.typeUrl;
    const resources = r.resources.map((a) => {
      if (a.typeUrl !== r.typeUrl) throw new Error(`${type} response ${r.versionInfo} carries a resource of type ${a.typeUrl}`);
      return anyToJson(a.typeUrl, a.value);
    });
    this.note({ kind: 'response', type, version: r.versionInfo, nonce: r.nonce, names: resources.map((x) => String(x.name)) });
    if (r.typeUrl === RDS) this.lastRdsNonce = r.nonce;
    const previous = this.held.get(r.typeUrl);
    this.held.set(r.typeUrl, { version: r.versionInfo, nonce: r.nonce, resources });

    if (r.typeUrl === LDS) {
      // Envoy subscribes to the route configurations the new listeners reference before it ACKs them.
      const names = referencedRouteNames(resources);
      if (names.join('\0') !== this.rdsNames.join('\0')) {
        this.rdsNames = names;
        this.note({ kind: 'rds-subscription', names });
        const rds = this.held.get(RDS);
        this.send({ typeUrl: RDS, resourceNames: names, versionInfo: rds?.version ?? '', responseNonce: this.lastRdsNonce });
      }
    }

    const config = this.assemble();
    if (config) {
      const { versions: _versions, ...proxyConfig } = config;
      const result = this.opts.load ? await this.opts.load(proxyConfig) : ({ ok: true, version: config.version } as const);
      if (!result.ok) {
        // Envoy's NACK: the previous version, this nonce, the reason; the previous resources stay.
        if (previous) this.held.set(r.typeUrl, previous);
        else this.held.delete(r.typeUrl);
        this.note({ kind: 'refused', type, version: r.versionInfo, error: result.error });
        this.send({
          typeUrl: r.typeUrl,
          versionInfo: previous?.version ?? '',
          responseNonce: r.nonce,
          resourceNames: r.typeUrl === RDS ? this.rdsNames : [],
          errorDetail: { code: 3, message: result.error },
        });
        this.notify();
        return;
      }
      this.current = config;
      this.note({ kind: 'loaded', version: config.version });
    }
    this.send({ typeUrl: r.typeUrl, versionInfo: r.versionInfo, responseNonce: r.nonce, resourceNames: r.typeUrl === RDS ? this.rdsNames : [] });
    this.notify();
  }

  /**
   * The config to hand to the stand-in, or undefined while a listener is warming (a referenced
   * route configuration not held yet) or nothing changed.
   */
  private assemble(): LoadedConfig | undefined {
    const listeners = this.held.get(LDS)?.resources ?? [];
    const clusters = this.held.get(CDS)?.resources ?? [];
    const routesHeld = this.held.get(RDS)?.resources ?? [];
    // Only the subscribed route configurations count (Envoy drops the others when unsubscribed).
    const routeConfigurations = routesHeld.filter((rc) => this.rdsNames.includes(String(rc.name)));
    const have = new Set(routeConfigurations.map((rc) => String(rc.name)));
    if (referencedRouteNames(listeners).some((n) => !have.has(n))) return undefined;
    const versions = this.versions();
    const version = `LDS=${versions.LDS ?? '-'} RDS=${versions.RDS ?? '-'} CDS=${versions.CDS ?? '-'}`;
    const config: LoadedConfig = { version, listeners, routeConfigurations, clusters, versions };
    if (this.current && JSON.stringify({ ...this.current, version: '' }) === JSON.stringify({ ...config, version: '' })) {
      // Same content (e.g. a version the agent already runs): nothing to reload, but the versions move on.
      this.current = config;
      return undefined;
    }
    return config;
  }
}

/** A ProxyConfig's content (without versions) in a form to compare with deep equality. */
export function contentOf(c: ProxyConfig): { listeners: unknown[]; routeConfigurations: unknown[]; clusters: unknown[] } {
  const byName = (xs: unknown[]) => [...(xs as Json[])].sort((a, b) => String(a.name).localeCompare(String(b.name)));
  return { listeners: byName(c.listeners), routeConfigurations: byName(c.routeConfigurations), clusters: byName(c.clusters) };
}

