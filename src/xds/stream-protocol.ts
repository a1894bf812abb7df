import { createHash } from 'node:crypto';

/**
 * One ADS stream's state of the world protocol (SPEC §10), as a pure state machine: requests and
 * snapshots in, responses and events out; no gRPC, no clock but the one given. The server feeds it
 * DiscoveryRequests and the ServiceAccount's current snapshot and writes what it returns.
 *
 * Rules:
 * - the first request carries `node`; later ones may omit it (`set_node_on_first_message_only`);
 * - LDS and CDS are wildcard (`[]` or `["*"]`); RDS is by `resource_names` (none: unsubscribed);
 *   `"*"` is wildcard anywhere;
 * - a request whose `response_nonce` is not the last one sent for its type is stale: ignored whole;
 * - the request answering the last nonce is an ACK, or a NACK when it carries `error_detail`; a
 *   NACKed version is never sent again on this stream;
 * - every subscribed type is answered, an empty list included (an empty LDS or CDS is "delete all");
 * - a new stream whose request already names the current version (a reconnect, to this or another
 *   replica: versions are content hashes) is not sent it again;
 * - one response in flight per type: the next waits for its ACK or NACK;
 * - make before break: when the listener or routes change and need clusters Envoy does not hold,
 *   CDS goes first with the old and the new clusters, then (after its ACK) LDS, then RDS, and only
 *   once those are acknowledged CDS without the stale clusters;
 * - a resource name appears at most once in a response (resources are keyed by name).
 */

export const TYPE_URLS = {
  listener: 'type.googleapis.com/envoy.config.listener.v3.Listener',
  route: 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration',
  cluster: 'type.googleapis.com/envoy.config.cluster.v3.Cluster',
} as const;
export type XdsTypeUrl = (typeof TYPE_URLS)[keyof typeof TYPE_URLS];

/** Short names for logs and status: `LDS`, `RDS`, `CDS`, or the type URL. */
export function typeShortName(typeUrl: string): string {
  return typeUrl === TYPE_URLS.listener ? 'LDS' : typeUrl === TYPE_URLS.route ? 'RDS' : typeUrl === TYPE_URLS.cluster ? 'CDS' : typeUrl;
}

const WILDCARD_TYPES: ReadonlySet<string> = new Set([TYPE_URLS.listener, TYPE_URLS.cluster]);

/** The fields of a DiscoveryRequest the protocol reads. */
export interface DiscoveryRequestView {
  versionInfo: string;
  node?: { id: string; cluster: string } | undefined;
  resourceNames: readonly string[];
  typeUrl: string;
  responseNonce: string;
  errorDetail?: { code: number; message: string } | undefined;
}

/** One type's resources for one ServiceAccount; `version` is a hash of their content. */
export interface TypeSnapshot<R> {
  version: string;
  resources: ReadonlyMap<string, R>;
}

export interface Snapshot<R> {
  listeners: TypeSnapshot<R>;
  routes: TypeSnapshot<R>;
  clusters: TypeSnapshot<R>;
}

export interface ResponseOut<R> {
  typeUrl: string;
  versionInfo: string;
  nonce: string;
  /** Sorted by name, each name once. */
  names: string[];
  resources: R[];
}

export type ProtocolEvent =
  | { kind: 'ack'; typeUrl: string; version: string }
  | { kind: 'nack'; typeUrl: string; version: string; message: string; code: number }
  | { kind: 'stale'; typeUrl: string; nonce: string }
  | { kind: 'resumed'; typeUrl: string; version: string };

export interface ProtocolStep<R> {
  responses: ResponseOut<R>[];
  events: ProtocolEvent[];
  /** The stream must be ended with INVALID_ARGUMENT (a protocol error by the client). */
  error?: string;
}

export interface TypeStatus {
  /** The version Envoy acknowledged last (or resumed with), if any. */
  ackedVersion?: string;
  /** The version sent last, if any (equal to ackedVersion once acknowledged). */
  sentVersion?: string;
  /** Resource names of the last response. */
  resourceNames?: string[];
  lastNack?: { version: string; message: string; at: number };
}

interface Held<R> {
  version: string;
  resources: ReadonlyMap<string, R>;
}

interface TypeState<R> {
  subscribed: boolean;
  wildcard: boolean;
  names: ReadonlySet<string>;
  /** The last response sent, and the names it answered. */
  sent?: Held<R> & { nonce: string; names: ReadonlySet<string>; wildcard: boolean };
  /** A response awaits its ACK or NACK. */
  inFlight: boolean;
  /** What Envoy holds: the last content it acknowledged. */
  accepted?: Held<R>;
  ackedVersion?: string;
  rejected: Set<string>;
  lastNack?: { version: string; message: string; at: number };
}

const EMPTY: ReadonlyMap<string, never> = new Map<string, never>();

export class StreamProtocol<R> {
  private node: { id: string; cluster: string } | undefined;
  private snapshot: Snapshot<R> | undefined;
  private readonly types = new Map<string, TypeState<R>>();
  private nonceCounter = 0;
  private readonly now: () => number;

  constructor(opts: { now?: () => number } = {}) {
    this.now = opts.now ?? Date.now;
  }

  get nodeInfo(): { id: string; cluster: string } | undefined {
    return this.node;
  }

  /** Validates the first request (it must carry the node) without changing state. */
  static firstRequestError(req: DiscoveryRequestView): string | undefined {
    return req.node ? undefined : 'the first DiscoveryRequest on a stream must carry node (id and cluster)';
  }

  handleRequest(req: DiscoveryRequestView): ProtocolStep<R> {
    const events: ProtocolEvent[] = [];
    if (!this.node) {
      const error = StreamProtocol.firstRequestError(req);
      if (error) return { responses: [], events, error };
      this.node = { id: req.node!.id, cluster: req.node!.cluster };
    }
    if (!req.typeUrl) return { responses: [], events, error: 'DiscoveryRequest without type_url (ADS needs it on every request)' };
    const t = this.typeState(req.typeUrl);
    if (req.responseNonce !== '') {
      if (!t.sent || req.responseNonce !== t.sent.nonce) {
        events.push({ kind: 'stale', typeUrl: req.typeUrl, nonce: req.responseNonce });
        return { responses: [], events };
      }
      if (t.inFlight) {
        t.inFlight = false;
        if (req.errorDetail) {
          const message = req.errorDetail.message;
          t.rejected.add(t.sent.version);
          t.lastNack = { version: t.sent.version, message, at: this.now() };
          events.push({ kind: 'nack', typeUrl: req.typeUrl, version: t.sent.version, message, code: req.errorDetail.code });
        } else {
          t.accepted = { version: t.sent.version, resources: t.sent.resources };
          t.ackedVersion = t.sent.version;
          events.push({ kind: 'ack', typeUrl: req.typeUrl, version: t.sent.version });
        }
      }
    }
    const first = !t.subscribed && !t.sent;
    this.subscribe(t, req);
    if (first && req.responseNonce === '' && req.versionInfo !== '' && this.snapshot) {
      // A reconnect: Envoy already holds this version's content (versions are content hashes).
      const current = this.typeSnapshot(req.typeUrl);
      if (req.versionInfo === current.version) {
        const held = { version: current.version, resources: this.select(t, current.resources) };
        t.sent = { ...held, nonce: '', names: new Set(held.resources.keys()), wildcard: t.wildcard };
        t.accepted = held;
        t.ackedVersion = current.version;
        events.push({ kind: 'resumed', typeUrl: req.typeUrl, version: current.version });
      }
    }
    return { responses: this.reconcile(), events };
  }

  /** A new snapshot for this stream's ServiceAccount: what to send now (possibly nothing). */
  setSnapshot(snapshot: Snapshot<R>): ResponseOut<R>[] {
    this.snapshot = snapshot;
    return this.reconcile();
  }

  status(): Record<string, TypeStatus> {
    const out: Record<string, TypeStatus> = {};
    for (const [typeUrl, t] of this.types) {
      out[typeShortName(typeUrl)] = {
        ...(t.ackedVersion !== undefined ? { ackedVersion: t.ackedVersion } : {}),
        ...(t.sent ? { sentVersion: t.sent.version, resourceNames: [...t.sent.names].sort() } : {}),
        ...(t.lastNack ? { lastNack: t.lastNack } : {}),
      };
    }
    return out;
  }

  /** The last rejection on any type, for status. */
  lastNack(): { typeUrl: string; version: string; message: string; at: number } | undefined {
    let last: { typeUrl: string; version: string; message: string; at: number } | undefined;
    for (const [typeUrl, t] of this.types) if (t.lastNack && (!last || t.lastNack.at >= last.at)) last = { typeUrl, ...t.lastNack };
    return last;
  }

  // ---- internals ----

  private typeState(typeUrl: string): TypeState<R> {
    let t = this.types.get(typeUrl);
    if (!t) this.types.set(typeUrl, (t = { subscribed: false, wildcard: false, names: new Set(), inFlight: false, rejected: new Set() }));
    return t;
  }

  private subscribe(t: TypeState<R>, req: DiscoveryRequestView): void {
    t.wildcard = req.resourceNames.includes('*') || (req.resourceNames.length === 0 && WILDCARD_TYPES.has(req.typeUrl));
    t.names = new Set(req.resourceNames.filter((n) => n !== '*'));
    // RDS with no names is Envoy dropping the subscription (its listener names no routes): not answered.
    t.subscribed = t.wildcard || t.names.size > 0;
  }

  private typeSnapshot(typeUrl: string): TypeSnapshot<R> {
    const s = this.snapshot!;
    if (typeUrl === TYPE_URLS.listener) return s.listeners;
    if (typeUrl === TYPE_URLS.route) return s.routes;
    if (typeUrl === TYPE_URLS.cluster) return s.clusters;
    // A type meshgate does not serve (EDS, SDS…): answered empty, so Envoy does not stall on it.
    return { version: EMPTY_VERSION, resources: EMPTY };
  }

  /** The resources a subscription asks for, out of `all`. */
  private select(t: TypeState<R>, all: ReadonlyMap<string, R>): ReadonlyMap<string, R> {
    if (t.wildcard) return all;
    const out = new Map<string, R>();
    for (const name of t.names) {
      const r = all.get(name);
      if (r !== undefined) out.set(name, r);
    }
    return out;
  }

  /** Does `t` need `target` sent (a version it has not been sent, or names it has not been answered)? */
  private wants(t: TypeState<R>, target: TypeSnapshot<R>): boolean {
    if (!t.subscribed || t.rejected.has(target.version)) return false;
    if (!t.sent) return true;
    if (t.sent.version !== target.version) return true;
    if (t.wildcard !== t.sent.wildcard) return true;
    if (t.wildcard) return false;
    if (t.names.size !== t.sent.names.size) return true;
    for (const n of t.names) if (!t.sent.names.has(n)) return true;
    return false;
  }

  /** Has Envoy acknowledged `target` (or is it not subscribed to the type)? */
  private settled(t: TypeState<R> | undefined, target: TypeSnapshot<R>): boolean {
    if (!t || !t.subscribed) return true;
    return !t.inFlight && !this.wants(t, target) && t.ackedVersion === target.version;
  }

  private reconcile(): ResponseOut<R>[] {
    const out: ResponseOut<R>[] = [];
    if (!this.node || !this.snapshot) return out;
    const s = this.snapshot;
    const lds = this.types.get(TYPE_URLS.listener);
    const rds = this.types.get(TYPE_URLS.route);
    const cds = this.types.get(TYPE_URLS.cluster);
    const ldsWants = !!lds && this.wants(lds, s.listeners);
    const rdsWants = !!rds && this.wants(rds, s.routes);

    // Step 1: clusters the new listener and routes need, added to those Envoy holds.
    let clustersReady = true;
    if (cds?.subscribed && (ldsWants || rdsWants)) {
      const held = cds.accepted?.resources ?? EMPTY;
      const missing = [...s.clusters.resources].some(([name, r]) => held.get(name) !== r);
      if (missing) {
        clustersReady = false;
        const union = new Map(held);
        for (const [name, r] of s.clusters.resources) union.set(name, r);
        const version = unionVersion(s.clusters.version, cds.accepted?.version ?? '');
        const target = { version, resources: union };
        if (!cds.inFlight && this.wants(cds, target)) out.push(this.send(TYPE_URLS.cluster, cds, target));
      }
    }
    // Step 2: listeners, then routes, once the clusters they reference are held.
    if (clustersReady) {
      if (ldsWants && !lds!.inFlight) out.push(this.send(TYPE_URLS.listener, lds!, s.listeners));
      if (rdsWants && !rds!.inFlight) out.push(this.send(TYPE_URLS.route, rds!, s.routes));
    }
    // Step 3: the final clusters (stale ones dropped) once listeners and routes are acknowledged.
    if (cds && !cds.inFlight && this.settled(lds, s.listeners) && this.settled(rds, s.routes) && this.wants(cds, s.clusters)) {
      out.push(this.send(TYPE_URLS.cluster, cds, s.clusters));
    }
    // Any other subscribed type (not served by meshgate): answered once, empty.
    for (const [typeUrl, t] of this.types) {
      if (typeUrl === TYPE_URLS.listener || typeUrl === TYPE_URLS.route || typeUrl === TYPE_URLS.cluster) continue;
      const target = this.typeSnapshot(typeUrl);
      if (!t.inFlight && this.wants(t, target)) out.push(this.send(typeUrl, t, target));
    }
    return out;
  }

  private send(typeUrl: string, t: TypeState<R>, target: TypeSnapshot<R>): ResponseOut<R> {
    const selected = this.select(t, target.resources);
    const names = [...selected.keys()].sort();
    const nonce = String(++this.nonceCounter);
    t.sent = { version: target.version, resources: selected, nonce, names: new Set(t.wildcard ? names : t.names), wildcard: t.wildcard };
    t.inFlight = true;
    return { typeUrl, versionInfo: target.version, nonce, names, resources: names.map((n) => selected.get(n)!) };
  }
}

/** The version of an empty resource list (what an unserved type is answered with). */
export const EMPTY_VERSION = 'empty';

/** The version of a make-before-break cluster set: derived from both, stable for the pair. */
function unionVersion(next: string, held: string): string {
  return `${next}+${createHash('sha256').update(`${next}|${held}`).digest('hex').slice(0, 8)}`;
}
