import { EGRESS_GROUPS, SMI_SPECS_GROUP } from '../profile.js';
import type { MeshState } from '../state/mesh-state.js';
import type { MeshgateSettings } from '../settings.js';
import type { AdmissionInput, GroupVersionKind, ValidationOutcome } from '../vocabulary/admission.js';
import { validateEgress } from './egress-rules.js';
import { validateHttpRouteGroup } from './http-route-group-rules.js';
import { validateMeshConfig } from './mesh-config-rules.js';

/** MeshConfig groups of both profiles: a MeshConfig is checked whichever profile serves. */
const MESH_CONFIG_GROUPS: readonly string[] = ['config.openservicemesh.io', 'config.flomesh.io'];
const POLICY_GROUPS: readonly string[] = EGRESS_GROUPS;

type Rules = (input: AdmissionInput, state: MeshState, settings: MeshgateSettings) => ValidationOutcome;

/** Every group and kind the object rules check (rulesFor answers for exactly these). */
export const VALIDATED_KINDS: readonly { group: string; kind: string }[] = [
  ...POLICY_GROUPS.map((group) => ({ group, kind: 'Egress' })),
  { group: SMI_SPECS_GROUP, kind: 'HTTPRouteGroup' },
  ...MESH_CONFIG_GROUPS.map((group) => ({ group, kind: 'MeshConfig' })),
];

/** The object rules for a kind (Pods are the injector's pod guard: see validate-admission.ts), or undefined. */
export function rulesFor(gvk: GroupVersionKind): Rules | undefined {
  switch (gvk.kind) {
    case 'Egress':
      return POLICY_GROUPS.includes(gvk.group) ? validateEgress : undefined;
    case 'HTTPRouteGroup':
      return gvk.group === SMI_SPECS_GROUP ? validateHttpRouteGroup : undefined;
    case 'MeshConfig':
      return MESH_CONFIG_GROUPS.includes(gvk.group) ? validateMeshConfig : undefined;
    default:
      return undefined;
  }
}
