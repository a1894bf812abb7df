/**
 * Mesh profiles (SPEC §1): one install serves one mesh, and the profile fixes every name the
 * peers' APIs use. `--mesh-name` and `--mesh-namespace` override the mesh name and control namespace.
 */
export const PROFILE_NAMES = ['osm', 'fsm'] as const;
export type ProfileName = (typeof PROFILE_NAMES)[number];

export interface Profile {
  readonly name: ProfileName;
  /** Label/annotation domain, e.g. `openservicemesh.io`. */
  readonly domain: string;
  readonly meshName: string;
  readonly controlNamespace: string;
  readonly meshConfig: { readonly group: string; readonly version: string; readonly name: string };
  /** iptables chain prefix, e.g. `OSM_`. */
  readonly chainPrefix: string;
  /** Name of the injected init container, e.g. `osm-init`. */
  readonly initContainerName: string;
}

const BASE: Record<ProfileName, Profile> = {
  osm: {
    name: 'osm',
    domain: 'openservicemesh.io',
    meshName: 'osm',
    controlNamespace: 'osm-system',
    meshConfig: { group: 'config.openservicemesh.io', version: 'v1alpha2', name: 'osm-mesh-config' },
    chainPrefix: 'OSM_',
    initContainerName: 'osm-init',
  },
  fsm: {
    name: 'fsm',
    domain: 'flomesh.io',
    meshName: 'fsm',
    controlNamespace: 'fsm-system',
    meshConfig: { group: 'config.flomesh.io', version: 'v1alpha3', name: 'fsm-mesh-config' },
    chainPrefix: 'FSM_',
    initContainerName: 'fsm-init',
  },
};

export interface ProfileOverrides {
  meshName?: string | undefined;
  meshNamespace?: string | undefined;
}

export function isProfileName(value: string): value is ProfileName {
  return (PROFILE_NAMES as readonly string[]).includes(value);
}

export function resolveProfile(name: ProfileName = 'osm', overrides: ProfileOverrides = {}): Profile {
  const base = BASE[name];
  return {
    ...base,
    meshName: overrides.meshName ?? base.meshName,
    controlNamespace: overrides.meshNamespace ?? base.controlNamespace,
  };
}

/** Egress policy API groups accepted whatever the profile (SPEC §1). */
export const EGRESS_GROUPS = ['policy.openservicemesh.io', 'policy.flomesh.io'] as const;
export const SMI_SPECS_GROUP = 'specs.smi-spec.io';
export const HTTP_ROUTE_GROUP_API_VERSION = 'specs.smi-spec.io/v1alpha4';
/** meshgate's own annotation domain (status annotation, native-sidecar choice). */
export const MESHGATE_DOMAIN = 'meshgate.io';

/** Constants (SPEC §8). */
export const PROXY_UID = 1500;
export const OUTBOUND_PORT = 15001;
export const ADMIN_PORT = 15000;
export const METRICS_PORT = 15010;
export const WEBHOOK_PORT = 9443;
/** ADS (xDS over gRPC) on `meshgate serve` and the Service, OSM's port (SPEC §8, §10). */
export const XDS_PORT = 15128;
/** Audience of the ServiceAccount token a sidecar presents to the ADS server (SPEC §8, §10). */
export const XDS_TOKEN_AUDIENCE = 'meshgate';

/** Profile-specific label and annotation keys (SPEC §2, §5). */
export function meshKeys(p: Profile) {
  const d = p.domain;
  return {
    monitoredBy: `${d}/monitored-by`,
    ignore: `${d}/ignore`,
    sidecarInjection: `${d}/sidecar-injection`,
    outboundIPRangeExclusionList: `${d}/outbound-ip-range-exclusion-list`,
    outboundIPRangeInclusionList: `${d}/outbound-ip-range-inclusion-list`,
    outboundPortExclusionList: `${d}/outbound-port-exclusion-list`,
  } as const;
}
