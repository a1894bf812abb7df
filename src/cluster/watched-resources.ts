import { EGRESS_GROUPS, type Profile } from '../profile.js';
import type { StateKind } from '../state/store.js';

/** One resource meshgate keeps an informer on. */
export interface WatchedResource {
  kind: StateKind;
  group: string;
  version: string;
  plural: string;
  /** Watch only this namespace (the MeshConfig lives in the control namespace). */
  namespace?: string;
  /** Each Egress/UpstreamTrafficSetting group has its own informer, so relists replace only its objects. */
  replaceGroup?: string;
}

/** `egresses.policy.openservicemesh.io`, `namespaces`: how the API server and messages name it. */
export function resourceName(r: Pick<WatchedResource, 'group' | 'plural'>): string {
  return r.group ? `${r.plural}.${r.group}` : r.plural;
}

export function apiPath(r: WatchedResource): string {
  const base = r.group ? `/apis/${r.group}/${r.version}` : `/api/${r.version}`;
  return r.namespace ? `${base}/namespaces/${encodeURIComponent(r.namespace)}/${r.plural}` : `${base}/${r.plural}`;
}

export function apiVersion(r: Pick<WatchedResource, 'group' | 'version'>): string {
  return r.group ? `${r.group}/${r.version}` : r.version;
}

/**
 * Everything the rules and the injector read (SPEC §3, §5): namespaces, the profile's MeshConfig,
 * HTTPRouteGroups, and Egresses and UpstreamTrafficSettings in both policy groups (the webhook
 * validates Egress from either group whatever the profile).
 */
export function watchedResources(profile: Profile): WatchedResource[] {
  return [
    { kind: 'Namespace', group: '', version: 'v1', plural: 'namespaces' },
    {
      kind: 'MeshConfig',
      group: profile.meshConfig.group,
      version: profile.meshConfig.version,
      plural: 'meshconfigs',
      namespace: profile.controlNamespace,
    },
    { kind: 'HTTPRouteGroup', group: 'specs.smi-spec.io', version: 'v1alpha4', plural: 'httproutegroups' },
    ...EGRESS_GROUPS.map((group): WatchedResource => ({ kind: 'Egress', group, version: 'v1alpha1', plural: 'egresses', replaceGroup: group })),
    ...EGRESS_GROUPS.map(
      (group): WatchedResource => ({ kind: 'UpstreamTrafficSetting', group, version: 'v1alpha1', plural: 'upstreamtrafficsettings', replaceGroup: group }),
    ),
  ];
}
