import type { Profile } from '../profile.js';
import type { EgressPolicy, EgressRef, KubeObject, MeshConfigSpec, NamespaceInfo } from './types.js';

/** One use of a port by an Egress policy, as recorded by the server-first index. */
export interface PortUse {
  policy: EgressRef;
  protocol: string;
}

/**
 * The cluster as the rules and the injector see it: one consistent, read-only snapshot interface.
 * Filled from a `--state` directory or from informers on the API server (cluster/); the core
 * (policy/, injector/) depends on this interface only.
 */
export interface MeshState {
  readonly profile: Profile;
  namespace(name: string): NamespaceInfo | undefined;
  /** The profile's MeshConfig in the control namespace, if it exists. */
  meshConfig(): MeshConfigSpec | undefined;
  httpRouteGroup(namespace: string, name: string): KubeObject | undefined;
  /** The UpstreamTrafficSetting of one policy group (each group's is a distinct object, read by that group's Egresses). */
  upstreamTrafficSetting(namespace: string, name: string, group: string): KubeObject | undefined;
  /** The policy if the state holds it (as its identity: the rules need only the indexes below). */
  egress(ref: EgressRef): EgressRef | undefined;
  /** Egress policies in `namespace` whose `spec.matches` reference the object `kind`/`name`. */
  egressesReferencing(namespace: string, kind: string, name: string): EgressRef[];
  /**
   * Every use of `port` by an Egress policy that lists the ServiceAccount `source` among its
   * sources (server-first index; SPEC §3). Answered from an index, never a scan.
   */
  portUses(source: { namespace: string; name: string }, port: number): PortUse[];
  /**
   * The Egress policies that list the ServiceAccount `source` among their sources, in a stable
   * order (group, namespace, name): what its sidecar enforces. Answered from an index.
   */
  egressesFor(source: { namespace: string; name: string }): EgressPolicy[];
  /** Counts by kind, for logs, metrics and benchmarks. */
  counts(): Record<string, number>;
}

/** A source of MeshState: a directory of YAML files, or informers on a live API server. */
export interface StateSource {
  readonly state: MeshState;
  /** True once every cache has synced, and while no watch is broken. */
  ready(): boolean;
  /** Human-readable reasons readiness is false (empty when ready). */
  notReadyReasons(): string[];
  start(): Promise<void>;
  stop(): Promise<void>;
}
