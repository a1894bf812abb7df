import type { Logger } from 'pino';
import type { Profile } from '../profile.js';
import type { StateSource } from '../state/mesh-state.js';

export interface ClusterStateOptions {
  profile: Profile;
  logger: Logger;
  /** Path of a kubeconfig; default KUBECONFIG, ~/.kube/config, then in-cluster credentials. */
  kubeconfig?: string;
}

/** Informer-backed cluster state (being built). */
export function createClusterStateSource(_opts: ClusterStateOptions): StateSource {
  throw new Error('live cluster state is not built yet; use --state DIR');
}
