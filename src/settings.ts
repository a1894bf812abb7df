import { MESHGATE_VERSION } from './version.js';

/**
 * Mesh-wide settings meshgate owns that the OSM/FSM MeshConfig has no field for. They come from
 * `meshgate serve` flags or environment (cli/settings-options.ts) and are handed to the pure core.
 */
export const SIDECAR_MODES = ['classic', 'native'] as const;
export type SidecarMode = (typeof SIDECAR_MODES)[number];
export const BYPASS_GUARD_MODES = ['deny', 'warn', 'off'] as const;
export type BypassGuardMode = (typeof BYPASS_GUARD_MODES)[number];
export const IPTABLES_BACKENDS = ['auto', 'nft', 'legacy'] as const;
export type IptablesBackend = (typeof IPTABLES_BACKENDS)[number];

export interface MeshgateSettings {
  /** In-cluster destinations (pod and service CIDRs): never intercepted, so they flow when egress is closed. */
  clusterCIDRs: string[];
  /** Classic sidecar (a container) or native sidecar (an init container with restartPolicy Always, k8s ≥ 1.29). */
  sidecarMode: SidecarMode;
  /** What the pod bypass guard does with app containers that could step around the proxy. */
  bypassGuard: BypassGuardMode;
  /** Which iptables the init container uses. */
  iptablesBackend: IptablesBackend;
  /** Proxy image when the MeshConfig names none. */
  defaultSidecarImage: string;
  /** Init (iptables) image when the MeshConfig names none. */
  defaultInitImage: string;
  /** meshgate's version, recorded in the status annotation. */
  version: string;
}

export const DEFAULT_SETTINGS: MeshgateSettings = {
  clusterCIDRs: [],
  sidecarMode: 'classic',
  bypassGuard: 'deny',
  iptablesBackend: 'auto',
  defaultSidecarImage: 'envoyproxy/envoy-distroless:v1.34.1',
  defaultInitImage: 'openservicemesh/init:v1.2.4',
  version: MESHGATE_VERSION,
};
