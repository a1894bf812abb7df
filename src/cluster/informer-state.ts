import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { Profile } from '../profile.js';
import type { MeshState, StateSource } from '../state/mesh-state.js';
import { MeshStore } from '../state/store.js';
import { loadKubeConfig } from './kube-config.js';
import { DEFAULT_TIMING, ResilientInformer, type InformerStatus, type InformerTiming } from './resilient-informer.js';
import { watchedResources } from './watched-resources.js';

export interface ClusterStateOptions {
  profile: Profile;
  logger: Logger;
  /** Path of a kubeconfig; default KUBECONFIG, ~/.kube/config, then in-cluster credentials. */
  kubeconfig?: string;
  /** A ready KubeConfig (tests, or a caller that already loaded one); wins over `kubeconfig`. */
  kubeConfig?: KubeConfig;
  /** Retry and timeout tuning (tests shorten them). */
  timing?: Partial<InformerTiming>;
}

/** A StateSource on a live API server, with per-informer status for logs and /readyz details. */
export interface ClusterStateSource extends StateSource {
  informers(): InformerStatus[];
  /**
   * Resolves the first time every informer has listed (and its watch streams, or its CRD is
   * confirmed not installed): from then on the state is the cluster's. Never resolves if stopped first.
   */
  synced(): Promise<void>;
}

/**
 * Live cluster state: one informer per resource (Namespaces, the profile's MeshConfig in the
 * control namespace, HTTPRouteGroups, Egresses and UpstreamTrafficSettings in both policy groups)
 * feeding one MeshStore.
 *
 * Readiness: ready only when every informer is synced — listed, and its watch streaming — or has
 * confirmed with a 404 that its CRD is not installed (no CRD, no objects: a complete, empty state).
 * It falls while any watch is broken and rises when it is streaming again, so the webhook never
 * answers "route group not found" from a cache that has not seen the cluster.
 */
export function createClusterStateSource(opts: ClusterStateOptions): ClusterStateSource {
  const kc = opts.kubeConfig ?? loadKubeConfig(opts.kubeconfig);
  const store = new MeshStore(opts.profile);
  const timing: InformerTiming = { ...DEFAULT_TIMING, ...opts.timing };
  const log = opts.logger.child({ component: 'cluster-state' });
  let wasReady = false;
  let started = false;
  let markSynced!: () => void;
  const firstSync = new Promise<void>((resolve) => (markSynced = resolve));

  const informers: ResilientInformer[] = watchedResources(opts.profile).map(
    (r) =>
      new ResilientInformer(
        kc,
        r,
        {
          replaceAll: (objects) => guarded('replaceAll', r.kind, () => store.replaceAll(r.kind, objects, r.replaceGroup)),
          upsert: (o) => guarded('upsert', o, () => store.upsert(o)),
          remove: (o) => guarded('remove', o, () => store.remove(o)),
          phaseChanged: () => readinessChanged(),
        },
        log,
        timing,
      ),
  );

  // A stored object the store cannot take must not kill the watch that delivered it: log it once.
  function guarded(op: string, what: unknown, run: () => void): void {
    try {
      run();
    } catch (err) {
      const meta = (what as { metadata?: { namespace?: unknown; name?: unknown } })?.metadata;
      log.error({ op, namespace: meta?.namespace, name: meta?.name, err: err instanceof Error ? err.message : String(err) }, 'cluster state could not take an object');
    }
  }

  const ready = () => started && informers.every((i) => i.isSynced());

  function readinessChanged(): void {
    const now = ready();
    if (now === wasReady) return;
    wasReady = now;
    if (now) {
      log.info({ counts: store.counts() }, 'cluster state ready');
      markSynced();
    }
    else log.warn({ reasons: notReadyReasons() }, 'cluster state not ready');
  }

  function notReadyReasons(): string[] {
    if (!started) return ['cluster state not started'];
    return informers
      .filter((i) => !i.isSynced())
      .map((i) => {
        const s = i.status();
        return `${s.resource}: ${s.reason ?? s.phase}`;
      });
  }

  return {
    get state(): MeshState {
      return store;
    },
    ready,
    notReadyReasons,
    informers: () => informers.map((i) => i.status()),
    synced: () => firstSync,
    async start() {
      started = true;
      for (const i of informers) i.start();
    },
    async stop() {
      started = false;
      await Promise.all(informers.map((i) => i.stop()));
    },
  };
}
