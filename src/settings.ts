import { imageRef } from './images.js';
import { MESHGATE_VERSION } from './version.js';

/**
 * Mesh-wide settings meshgate owns that the OSM/FSM MeshConfig has no field for. They come from
 * `meshgate serve` flags or environment (cli/settings-options.ts) and are handed to the pure core.
 */
export const SIDECAR_MODES = ['classic', 'native'] as const;
export type SidecarMode = (typeof SIDECAR_MODES)[number];
export const BYPASS_GUARD_MODES = ['deny', 'warn', 'off'] as const;
export type BypassGuardMode = (typeof BYPASS_GUARD_MODES)[number];
/** What the pod guard does with a pod that opts out of the sidecar in an enrolled namespace. */
export const POD_OPT_OUT_MODES = ['allow', 'warn', 'deny'] as const;
export type PodOptOutMode = (typeof POD_OPT_OUT_MODES)[number];
export const IPTABLES_BACKENDS = ['auto', 'nft', 'legacy'] as const;
export type IptablesBackend = (typeof IPTABLES_BACKENDS)[number];

/**
 * The flag and environment variable of each guard setting. `meshgate serve`, `inject` and `validate`
 * all take them, so the guard's messages can name them whichever command printed the message.
 */
export const GUARD_SETTING_FLAGS = {
  bypassGuard: { flag: '--bypass-guard', env: 'MESHGATE_BYPASS_GUARD' },
  podOptOut: { flag: '--pod-opt-out', env: 'MESHGATE_POD_OPT_OUT' },
} as const;

export interface MeshgateSettings {
  /** In-cluster destinations (pod and service CIDRs): never intercepted, so they flow when egress is closed. */
  clusterCIDRs: string[];
  /** Classic sidecar (a container) or native sidecar (an init container with restartPolicy Always, k8s ≥ 1.29). */
  sidecarMode: SidecarMode;
  /** What the pod bypass guard does with app containers that could step around the proxy. */
  bypassGuard: BypassGuardMode;
  /**
   * Pods that opt out with `D/sidecar-injection: disabled` in an enrolled namespace: `allow` (silently,
   * OSM's behaviour), `warn` (allowed with a warning) or `deny` (strict meshes).
   */
  podOptOut: PodOptOutMode;
  /** Which iptables the init container uses. */
  iptablesBackend: IptablesBackend;
  /** Proxy image when the MeshConfig names none. */
  defaultSidecarImage: string;
  /** Init (iptables) image when the MeshConfig names none. */
  defaultInitImage: string;
  /** meshgate's version, recorded in the status annotation. */
  version: string;
  /** Where the injected sidecar gets its config (ADS, SPEC §10). */
  xds: XdsSettings;
}

/**
 * The sidecar's connection to meshgate's ADS server, as its bootstrap names it. Plain data: the
 * injector reads it per pod. `meshgate serve` fills in the CA from its certificate source and
 * replaces it (`setXdsCa`) when that rotates; `meshgate inject` takes it from `--xds-ca`.
 */
export interface XdsSettings {
  /** The meshgate Service: the sidecar dials `<serviceName>.<namespace>.svc:<port>`. */
  serviceName: string;
  /** The Service's namespace; undefined: the profile's control namespace. */
  namespace?: string;
  /** The Service port (15128, SPEC §8). */
  port: number;
  /**
   * PEM: the CA certificate(s) the sidecar trusts for meshgate's serving certificate (the
   * bootstrap's `root_certs`). Empty when unknown: the bootstrap then names no roots and gRPC
   * falls back to its default (public) roots, which do not verify meshgate's own CA.
   */
  caPem: string;
}

export const DEFAULT_SETTINGS: MeshgateSettings = {
  clusterCIDRs: [],
  sidecarMode: 'classic',
  bypassGuard: 'deny',
  podOptOut: 'warn',
  iptablesBackend: 'auto',
  defaultSidecarImage: 'envoyproxy/envoy-distroless:v1.34.1',
  // meshgate's own init image (images/meshgate-init.Containerfile), not OSM's archived openservicemesh/init
  defaultInitImage: imageRef('init'),
  version: MESHGATE_VERSION,
  // 15128 is profile.ts's XDS_PORT (settings.ts stays below profile.ts; a test keeps them equal).
  xds: { serviceName: 'meshgate', port: 15128, caPem: '' },
};

/**
 * Replaces the CA the injector puts into new sidecars' bootstraps. `meshgate serve` calls it when
 * its certificate source changes; whoever holds this settings object (the webhook server) injects
 * the new CA from the next pod on. A new `xds` object, so nothing already handed out changes.
 */
export function setXdsCa(settings: MeshgateSettings, caPem: string): void {
  if (settings.xds.caPem !== caPem) settings.xds = { ...settings.xds, caPem };
}
