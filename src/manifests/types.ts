import type { Profile } from '../profile.js';

/** Any Kubernetes object as plain data: what the builders return and the YAML renderer prints. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  [field: string]: unknown;
}

export interface InstallOptions {
  profile: Profile;
  /** Control-plane namespace (where the server, its Secret and the MeshConfig live). */
  namespace: string;
  meshName: string;
  image: string;
  /**
   * Init (iptables) image the injector uses when the MeshConfig names none, passed to the server
   * as MESHGATE_INIT_IMAGE. Unset: the server's own default (src/images.ts, same version).
   */
  initImage?: string;
  /** Default MeshConfig's `traffic.enableEgress` (false: egress is closed unless an Egress policy allows it). */
  enableEgress: boolean;
  /** Certificates from cert-manager (Issuer + Certificate + CA injection) instead of the self-managed Secret. */
  certManager: boolean;
  replicas?: number;
  /**
   * Also install the Egress/UpstreamTrafficSetting CRDs of the other profile's policy group. Off by
   * default: two CRDs of kind Egress make `kubectl get egress` ambiguous (see crds.ts). The webhook
   * validates Egress of both groups either way.
   */
  bothEgressGroups?: boolean;
}
