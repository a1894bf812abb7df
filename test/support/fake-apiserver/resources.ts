/** A resource type the fake API server serves (a built-in kind or a CRD's). */
export interface ResourceType {
  /** API group; `''` for the core group (`/api/v1`). */
  group: string;
  version: string;
  /** Plural resource name as it appears in URLs, e.g. `egresses`. */
  plural: string;
  singular: string;
  kind: string;
  namespaced: boolean;
  /** Built-in kinds never 404; CRDs can be "not installed". */
  builtIn: boolean;
}

export const apiVersionOf = (t: Pick<ResourceType, 'group' | 'version'>): string => (t.group ? `${t.group}/${t.version}` : t.version);

/** `egresses.policy.openservicemesh.io`, or `namespaces` for the core group (apimachinery's wording). */
export const qualifiedResource = (t: Pick<ResourceType, 'group' | 'plural'>): string => (t.group ? `${t.plural}.${t.group}` : t.plural);

export const typeKey = (group: string, version: string, plural: string): string => `${group}/${version}/${plural}`;

const builtIn = (group: string, version: string, plural: string, kind: string, namespaced: boolean): ResourceType => ({
  group,
  version,
  plural,
  singular: kind.toLowerCase(),
  kind,
  namespaced,
  builtIn: true,
});

const crd = (group: string, version: string, plural: string, kind: string, namespaced = true): ResourceType => ({
  ...builtIn(group, version, plural, kind, namespaced),
  builtIn: false,
});

/** Built-in types served from the start. */
export const BUILT_IN_TYPES: ResourceType[] = [
  builtIn('', 'v1', 'namespaces', 'Namespace', false),
  builtIn('', 'v1', 'secrets', 'Secret', true),
  builtIn('', 'v1', 'configmaps', 'ConfigMap', true),
  builtIn('', 'v1', 'services', 'Service', true),
  builtIn('admissionregistration.k8s.io', 'v1', 'validatingwebhookconfigurations', 'ValidatingWebhookConfiguration', false),
  builtIn('admissionregistration.k8s.io', 'v1', 'mutatingwebhookconfigurations', 'MutatingWebhookConfiguration', false),
];

/** The mesh CRDs (OSM, osm-edge, FSM, SMI) meshgate reads; installed by default, uninstallable. */
export const MESH_CRD_TYPES: ResourceType[] = [
  crd('policy.openservicemesh.io', 'v1alpha1', 'egresses', 'Egress'),
  crd('policy.flomesh.io', 'v1alpha1', 'egresses', 'Egress'),
  crd('policy.openservicemesh.io', 'v1alpha1', 'upstreamtrafficsettings', 'UpstreamTrafficSetting'),
  crd('policy.flomesh.io', 'v1alpha1', 'upstreamtrafficsettings', 'UpstreamTrafficSetting'),
  crd('specs.smi-spec.io', 'v1alpha4', 'httproutegroups', 'HTTPRouteGroup'),
  crd('config.openservicemesh.io', 'v1alpha2', 'meshconfigs', 'MeshConfig'),
  crd('config.flomesh.io', 'v1alpha3', 'meshconfigs', 'MeshConfig'),
];

export function crdType(group: string, version: string, plural: string, kind: string, namespaced = true): ResourceType {
  return crd(group, version, plural, kind, namespaced);
}
