import { meshKeys } from '../profile.js';
import type { MeshState } from '../state/mesh-state.js';

/**
 * Warnings about the mesh around a policy (SPEC §3): cases where an Egress is valid but would not
 * do what its author expects. Short, one line each.
 */

/**
 * A policy, or a source, in the control namespace: `meshgate namespace add` refuses that namespace
 * and nothing there is ever injected, so the membership warning's usual fix does not apply.
 * meshgate applies an Egress to its sources' sidecars wherever the policy lives (the source index),
 * and looks up its route groups in the policy's own namespace.
 */
export function controlNamespaceWarnings(state: MeshState, namespace: string, sourceNamespaces: readonly string[]): string[] {
  const control = state.profile.controlNamespace;
  const mesh = state.profile.meshName;
  const out: string[] = [];
  if (namespace === control) {
    const app = sourceNamespaces.find((ns) => ns !== control);
    out.push(
      `Egress in namespace "${control}", the control namespace of mesh "${mesh}", which never joins the mesh; it still applies to its sources, ` +
        `but move it beside the workloads it allows, to an application namespace${app ? ` (e.g. "${app}")` : ''}`,
    );
  }
  if (sourceNamespaces.includes(control)) {
    out.push(
      `a source is in namespace "${control}", the control namespace of mesh "${mesh}": pods there never get a sidecar, so the policy allows them nothing; ` +
        'name ServiceAccounts of an application namespace in the mesh (meshgate namespace add NAMESPACE)',
    );
  }
  return out;
}

/** Namespace not enrolled in this mesh, or ignored; silent when the state does not know it or it is the control namespace. */
export function namespaceMembershipWarning(state: MeshState, namespace: string): string | undefined {
  if (namespace === state.profile.controlNamespace) return undefined;
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
