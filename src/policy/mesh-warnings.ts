import { meshKeys } from '../profile.js';
import type { MeshState } from '../state/mesh-state.js';

/**
 * Warnings about the mesh around a policy (SPEC §3): cases where an Egress is valid but would not
 * do what its author expects. Short, one line each.
 */

/** Namespace not enrolled in this mesh, or ignored; silent when the state does not know it. */
export function namespaceMembershipWarning(state: MeshState, namespace: string): string | undefined {
  const ns = state.namespace(namespace);
  if (!ns) return undefined;
  const keys = meshKeys(state.profile);
  const mesh = state.profile.meshName;
  if (keys.ignore in ns.labels) {
    return `namespace "${namespace}" is ignored by the mesh (label ${keys.ignore}), so Egress policies have no effect there`;
  }
  if (ns.labels[keys.monitoredBy] !== mesh) {
    return `namespace "${namespace}" is not in mesh "${mesh}" (no label ${keys.monitoredBy}=${mesh}); run: meshgate namespace add ${namespace}`;
  }
  return undefined;
}

/** MeshConfig settings that make every Egress policy moot. */
export function meshConfigEgressWarnings(state: MeshState): string[] {
  const mc = state.meshConfig();
  if (!mc) return [];
  const out: string[] = [];
  if (mc.traffic?.enableEgress === true) {
    out.push('MeshConfig traffic.enableEgress is true: all egress is allowed, so this policy restricts nothing (osm#5335)');
  }
  // Unset is false too: OSM and FSM read it as a Go bool, and their CRDs give it no default.
  const policyFlag = mc.featureFlags?.enableEgressPolicy;
  if (policyFlag !== true) {
    const is = policyFlag === false ? 'is false' : 'is not set (false)';
    out.push(`MeshConfig featureFlags.enableEgressPolicy ${is}: Egress policies are ignored until it is true`);
  }
  return out;
}

const CONTROL_CHARS = /[\u0000-\u001f\u007f]+/g;

/** Warnings travel in HTTP headers: no control characters, at most 256 characters. */
export function cleanWarning(text: string): string {
  const one = text.replace(CONTROL_CHARS, ' ');
  return one.length > 256 ? `${one.slice(0, 253)}...` : one;
}
