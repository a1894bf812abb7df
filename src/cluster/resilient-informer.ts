import {
  CoreV1Api,
  CustomObjectsApi,
  ListWatch,
  Watch,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
} from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { KubeObject } from '../state/types.js';
import { describeApiFailure, failureOf } from './api-errors.js';
import { cuttingConnectionsOn, withAbortSignal } from './kube-config.js';

/** client-node's per-request connection pool (an undici Agent). */
type Dispatcher = { destroy(): Promise<void> };
import { apiPath, apiVersion, resourceName, type WatchedResource } from './watched-resources.js';

/**
 * Where one informer stands:
 * - `starting`: never listed yet (its objects are unknown);
 * - `synced`: listed and its watch is streaming;
 * - `resyncing`: the watch broke; reconnecting from the last resourceVersion (or relisting);
 * - `not-installed`: the API server answered 404 — the CRD does not exist, so no such objects exist;
 * - `failing`: list or watch failed (unreachable, forbidden, ...); retrying with backoff.
 */
export type InformerPhase = 'starting' | 'synced' | 'resyncing' | 'not-installed' | 'failing';

export interface InformerStatus {
  resource: string;
  phase: InformerPhase;
  /** Why it is not synced (empty when synced or not installed). */
  reason?: string;
  /** The last resourceVersion seen (from the list, an event or a bookmark). */
  resourceVersion: string;
}

export interface InformerTiming {
  /** First retry delay after a failed list/watch; doubles up to `maxRetryMs`. */
  baseRetryMs: number;
  maxRetryMs: number;
  /** How often a not-installed CRD is looked for again. */
  notInstalledRetryMs: number;
  /** A watch with no data (events or bookmarks) for this long is assumed dead and reopened. */
  watchIdleTimeoutMs: number;
  /** An opened watch with no event yet counts as streaming after this long without an ERROR line. */
  watchSettleMs: number;
  /**
   * A watch the API server ends cleanly (kube-apiserver closes every watch after its timeout) is
   * resumed from its resourceVersion at once; the cache stays complete meanwhile, so readiness
   * only falls if the resumed watch is not streaming within this long.
   */
  reconnectGraceMs: number;
}

export const DEFAULT_TIMING: InformerTiming = {
  baseRetryMs: 500,
  maxRetryMs: 30_000,
  notInstalledRetryMs: 30_000,
  watchIdleTimeoutMs: 90_000,
  watchSettleMs: 100,
  reconnectGraceMs: 2_000,
};

export interface InformerSink {
  /** The complete current list (initial list and every relist): replace what was held. */
  replaceAll(objects: KubeObject[]): void;
  upsert(obj: KubeObject): void;
  remove(obj: KubeObject): void;
  /** Called whenever the phase changes (readiness is derived from all phases). */
  phaseChanged(): void;
}

interface WatchHooks {
  stopped(): boolean;
  connected(): void;
  /** `clean`: the server ended the stream normally (no transport error, no ERROR event). */
  disconnected(err: unknown, clean: boolean): void;
}

/**
 * client-node's Watch with what an informer needs added: `allowWatchBookmarks` (so quiet resources
 * keep a fresh resourceVersion and survive history compaction), a hook when the stream is open
 * (readiness), and no new watch once stopped (ListWatch would otherwise reopen one after its
 * reconnect delay).
 */
class TrackedWatch extends Watch {
  /** The connection of the watch request whose response headers have not arrived yet. */
  private pending: Dispatcher | undefined;
  /** The open watch (its response streaming). */
  private open: AbortController | undefined;

  constructor(
    config: KubeConfig,
    private readonly hooks: WatchHooks,
    idleTimeoutMs: number,
    private readonly settleMs: number,
  ) {
    // Each request gets its own undici Agent from client-node; remember it, so that a watch still
    // waiting for its response headers (a slow or held API server) can be cut: client-node only
    // hands out the AbortController once the headers arrived.
    const view = Object.create(config) as KubeConfig;
    view.applySecurityAuthentication = async (context) => {
      await config.applySecurityAuthentication(context);
      this.pending = context.getDispatcher() as Dispatcher | undefined;
      if (this.hooks.stopped()) this.cancel();
    };
    super(view);
    (this as unknown as { requestTimeoutMs: number }).requestTimeoutMs = idleTimeoutMs;
  }

  /** Cuts the watch, whether it is open or still waiting for the API server to answer. */
  cancel(): void {
    const pending = this.pending;
    this.pending = undefined;
    // The pending fetch rejects ("fetch failed"): the watch ends through its done callback.
    if (pending) void pending.destroy().catch(() => undefined);
    this.open?.abort();
    this.open = undefined;
  }

  override async watch(
    path: string,
    queryParams: Record<string, string | number | boolean | undefined>,
    callback: (phase: string, apiObj: any, watchObj?: any) => void,
    done: (err: any) => void,
  ): Promise<AbortController> {
    if (this.hooks.stopped()) {
      const c = new AbortController();
      c.abort();
      return c;
    }
    let finished = false;
    let failed = false;
    let settle: NodeJS.Timeout | undefined;
    const streaming = () => {
      if (settle) clearTimeout(settle);
      settle = undefined;
      if (!finished && !failed) this.hooks.connected();
    };
    const controller = await super.watch(
      path,
      { ...queryParams, allowWatchBookmarks: true },
      (phase, obj, watchObj) => {
        // An ERROR line (410 Gone, as kube-apiserver sends it) arrives on a 200 stream: the watch
        // is not healthy even though it opened.
        if (phase === 'ERROR') failed = true;
        else if (settle) streaming();
        callback(phase, obj, watchObj);
      },
      (err) => {
        finished = true;
        this.pending = undefined;
        this.open = undefined;
        if (settle) clearTimeout(settle);
        this.hooks.disconnected(err, !err && !failed);
        done(err);
      },
    );
    this.pending = undefined;
    if (this.hooks.stopped()) {
      // Stopped while the request was on its way: close what opened.
      controller.abort();
      return controller;
    }
    if (!finished) this.open = controller;
    // The response headers arrived. The stream counts as healthy on its first event or bookmark,
    // or once it has stayed open for a moment without an ERROR line (a quiet resource sends
    // nothing), so a 200 that carries only "410 Gone" never reads as synced.
    if (!finished) {
      settle = setTimeout(streaming, this.settleMs);
      settle.unref();
    }
    return controller;
  }
}

/**
 * One informer (client-node ListWatch) on one resource, made to survive what a long-running
 * webhook meets: ListWatch stops for good on any error other than 410 Gone and a client timeout,
 * so this restarts it with exponential backoff (resuming from the last resourceVersion); a 404 means
 * the CRD is not installed, which is a valid, empty state, and is looked for again periodically.
 */
export class ResilientInformer {
  private listWatch: ListWatch<KubernetesObject> | undefined;
  private trackedWatch: TrackedWatch | undefined;
  /** Aborted by stop(): cuts a list in flight. */
  private lifetime = new AbortController();
  /** `kc` with every list request tied to `lifetime`. */
  private readonly listKc: KubeConfig;
  private currentPhase: InformerPhase = 'starting';
  private reason: string | undefined = 'waiting for the initial list';
  private stopped = true;
  private retryTimer: NodeJS.Timeout | undefined;
  private graceTimer: NodeJS.Timeout | undefined;
  private attempts = 0;
  private lastOp: 'list' | 'watch' = 'list';
  private everSynced = false;
  private readonly wakeups = new Set<() => void>();
  private readonly name: string;
  private readonly log: Logger;
  private readonly server: string;

  constructor(
    private readonly kc: KubeConfig,
    private readonly resource: WatchedResource,
    private readonly sink: InformerSink,
    logger: Logger,
    private readonly timing: InformerTiming = DEFAULT_TIMING,
  ) {
    this.name = resourceName(resource);
    this.log = logger.child({ resource: this.name });
    this.server = kc.getCurrentCluster()?.server ?? '(no server)';
    this.listKc = withAbortSignal(kc, () => this.lifetime.signal);
  }

  get phase(): InformerPhase {
    return this.currentPhase;
  }

  status(): InformerStatus {
    return {
      resource: this.name,
      phase: this.currentPhase,
      ...(this.reason ? { reason: this.reason } : {}),
      resourceVersion: this.listWatch?.latestResourceVersion() ?? '',
    };
  }

  /** Synced, or confirmed not installed: either way the state holds every object that exists. */
  isSynced(): boolean {
    return this.currentPhase === 'synced' || this.currentPhase === 'not-installed';
  }

  start(): void {
    this.stopped = false;
    this.lifetime = new AbortController();
    this.listWatch = this.makeListWatch();
    void this.listWatch.start();
  }

  /**
   * Stops at once, whatever it is doing: a list or a watch in flight (even one the API server has
   * not answered yet) is cut, a retry wait ends, and nothing new is opened; so nothing of this
   * informer keeps the process alive.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    this.lifetime.abort(new Error(`${this.name}: informer stopped`));
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.clearGrace();
    for (const wake of this.wakeups) wake();
    this.trackedWatch?.cancel();
    await this.listWatch?.stop();
  }

  private makeListWatch(): ListWatch<KubernetesObject> {
    const watch = new TrackedWatch(
      // Its connection is destroyed by stop() even while it is still being made (a black-holed API server).
      cuttingConnectionsOn(this.kc, () => this.lifetime.signal),
      {
        stopped: () => this.stopped,
        connected: () => this.onConnected(),
        disconnected: (err, clean) => this.onDisconnected(err, clean),
      },
      this.timing.watchIdleTimeoutMs,
      this.timing.watchSettleMs,
    );
    this.trackedWatch = watch;
    const lw = new ListWatch<KubernetesObject>(apiPath(this.resource), watch, () => this.list(), false, undefined, undefined, {
      delayFn: (ms) => this.sleep(Math.min(ms, this.timing.maxRetryMs)),
    });
    lw.on('add', (o) => this.sink.upsert(this.stamp(o)));
    lw.on('update', (o) => this.sink.upsert(this.stamp(o)));
    lw.on('delete', (o) => this.sink.remove(this.stamp(o)));
    lw.on('error', (err) => this.onError(err));
    return lw;
  }

  /** Lists, stamps kind/apiVersion (built-in list items lack them) and replaces the held objects. */
  private async list(): Promise<KubernetesListObject<KubernetesObject>> {
    this.lastOp = 'list';
    const r = this.resource;
    let list: KubernetesListObject<KubernetesObject>;
    if (!r.group) {
      list = (await this.listKc.makeApiClient(CoreV1Api).listNamespace()) as KubernetesListObject<KubernetesObject>;
    } else {
      const api = this.listKc.makeApiClient(CustomObjectsApi);
      list = (
        r.namespace
          ? await api.listNamespacedCustomObject({ group: r.group, version: r.version, namespace: r.namespace, plural: r.plural })
          : await api.listClusterCustomObject({ group: r.group, version: r.version, plural: r.plural })
      ) as KubernetesListObject<KubernetesObject>;
    }
    list.items = (list.items ?? []).map((o) => this.stamp(o) as KubernetesObject);
    if (this.currentPhase === 'not-installed') this.log.info(`${this.name} is installed now; watching it`);
    this.sink.replaceAll(list.items as KubeObject[]);
    this.lastOp = 'watch';
    return list;
  }

  private stamp(o: KubernetesObject): KubeObject {
    const obj = o as KubeObject;
    if (!obj.apiVersion) obj.apiVersion = apiVersion(this.resource);
    if (!obj.kind) obj.kind = this.resource.kind;
    return obj;
  }

  private onConnected(): void {
    if (this.stopped) return;
    this.clearGrace();
    this.attempts = 0;
    if (!this.everSynced) this.log.info({ resourceVersion: this.listWatch?.latestResourceVersion() }, `${this.name} synced`);
    else if (this.currentPhase !== 'synced') this.log.info(`${this.name} watch re-established`);
    this.everSynced = true;
    this.setPhase('synced', undefined);
  }

  private onDisconnected(err: unknown, clean: boolean): void {
    if (this.stopped) return;
    if (this.currentPhase === 'synced') {
      const f = err ? failureOf(err) : undefined;
      if (f?.code === 410) this.log.info(`${this.name} watch expired (410 Gone); relisting`);
      else this.log.debug({ err: f?.message }, `${this.name} watch closed; reconnecting`);
      if (clean && this.timing.reconnectGraceMs > 0) {
        // A routine close: stay ready while the watch resumes, unless it does not come back.
        if (!this.graceTimer) {
          this.graceTimer = setTimeout(() => {
            this.graceTimer = undefined;
            if (!this.stopped && this.currentPhase === 'synced') this.setPhase('resyncing', 'watch disconnected; reconnecting');
          }, this.timing.reconnectGraceMs);
          this.graceTimer.unref();
        }
        return;
      }
      this.clearGrace();
      this.setPhase('resyncing', 'watch disconnected; reconnecting');
    }
  }

  private clearGrace(): void {
    if (this.graceTimer) clearTimeout(this.graceTimer);
    this.graceTimer = undefined;
  }

  private onError(err: unknown): void {
    if (this.stopped) return;
    this.clearGrace();
    const f = failureOf(err);
    if (f.code === 404) {
      if (this.currentPhase !== 'not-installed') {
        this.log.warn(`${this.name} is not installed; retrying`);
        // No such CRD means no such objects: an empty, complete state.
        this.sink.replaceAll([]);
        this.setPhase('not-installed', undefined);
      }
      // Forget the resourceVersion and cache: when the CRD appears, start from a fresh list.
      this.listWatch = this.makeListWatch();
      this.scheduleRestart(this.timing.notInstalledRetryMs);
      return;
    }
    const delay = Math.min(this.timing.baseRetryMs * 2 ** this.attempts, this.timing.maxRetryMs);
    this.attempts++;
    const message = describeApiFailure(err, { verb: this.lastOp, group: this.resource.group, resource: this.resource.plural, ...(this.resource.namespace ? { namespace: this.resource.namespace } : {}) }, this.server);
    this.log.warn({ attempt: this.attempts, retryInMs: delay }, message);
    this.setPhase('failing', `${message}; retrying in ${Math.ceil(delay / 1000)}s`);
    this.scheduleRestart(delay);
  }

  private scheduleRestart(delayMs: number): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (this.stopped) return;
      // start() keeps the resourceVersion: the watch resumes where it stopped (or relists if none).
      void this.listWatch!.start();
    }, delayMs);
  }

  private setPhase(phase: InformerPhase, reason: string | undefined): void {
    const changed = phase !== this.currentPhase || reason !== this.reason;
    this.currentPhase = phase;
    this.reason = reason;
    if (changed) this.sink.phaseChanged();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(t);
        this.wakeups.delete(wake);
        resolve();
      };
      const t = setTimeout(wake, ms);
      this.wakeups.add(wake);
    });
  }
}
