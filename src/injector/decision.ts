import { meshKeys, type Profile } from '../profile.js';
import type { NamespaceInfo } from '../state/types.js';
import { parseSidecarInjection } from './annotations.js';
import type { Pod } from './pod.js';
import { hasStatus } from './status.js';
import { SIDECAR_NAME } from './sidecar.js';

export type Decision = { kind: 'inject' } | { kind: 'skip'; reason: string } | { kind: 'deny'; message: string };

/** Namespaces never injected, whatever their labels say (SPEC §2). */
export const SYSTEM_NAMESPACES = ['kube-system', 'kube-public'] as const;

/** Enrolled: labelled `D/monitored-by=<mesh>` and not `D/ignore`d. */
export function isEnrolled(profile: Profile, ns: NamespaceInfo | undefined): boolean {
  if (!ns) return false;
  const keys = meshKeys(profile);
  return ns.labels[keys.monitoredBy] === profile.meshName && !(keys.ignore in ns.labels);
}

/** True when the pod already carries a proxy: meshgate's status annotation, or an `envoy` container (OSM's own test). */
export function isInjected(pod: Pod): boolean {
  return hasStatus(pod) || [...pod.spec.containers, ...(pod.spec.initContainers ?? [])].some((c) => c.name === SIDECAR_NAME);
}

export interface DecisionInput {
  profile: Profile;
  pod: Pod;
  /** The pod's namespace (from the admission request; pods on CREATE often lack metadata.namespace). */
  namespace: string;
  /** The namespace as the state knows it; undefined when unknown. */
  namespaceInfo: NamespaceInfo | undefined;
  /**
   * Offline (`meshgate inject`): like `istioctl kube-inject`, inject whatever the namespace says;
   * the pod still opts out with the annotation, and hostNetwork pods are never injected.
   */
  offline?: boolean;
}

/**
 * Whether to inject (SPEC §2). Bad `sidecar-injection` values deny first (on the pod, or on the
 * namespace when it would matter), then the never-inject rules, then the annotations decide.
 */
export function decideInjection(d: DecisionInput): Decision {
  const { profile, pod, namespace, namespaceInfo } = d;
  const keys = meshKeys(profile);
  const podSays = parseSidecarInjection(profile, pod.metadata?.annotations, 'pod');
  if (!podSays.ok) return { kind: 'deny', message: podSays.message };
  const nsSays = d.offline ? ({ ok: true, value: true } as const) : parseSidecarInjection(profile, namespaceInfo?.annotations, { namespace });
  if (!nsSays.ok) return { kind: 'deny', message: nsSays.message };

  if (pod.spec.hostNetwork === true) return { kind: 'skip', reason: 'pod uses hostNetwork' };
  if (isInjected(pod)) return { kind: 'skip', reason: 'pod is already injected' };
  if (podSays.value === false) return { kind: 'skip', reason: `pod annotation ${keys.sidecarInjection} disables injection` };
  if (d.offline) return { kind: 'inject' };

  if ((SYSTEM_NAMESPACES as readonly string[]).includes(namespace)) return { kind: 'skip', reason: `namespace ${namespace} is never injected` };
  if (namespace === profile.controlNamespace) return { kind: 'skip', reason: `namespace ${namespace} is the mesh control namespace` };
  if (namespaceInfo && keys.ignore in namespaceInfo.labels) return { kind: 'skip', reason: `namespace ${namespace} is labelled ${keys.ignore}` };
  const owner = namespaceInfo?.labels[keys.monitoredBy];
  if (owner !== undefined && owner !== profile.meshName) {
    return { kind: 'skip', reason: `namespace ${namespace} belongs to mesh "${owner}", not "${profile.meshName}"` };
  }

  if (podSays.value === true) return { kind: 'inject' };
  if (isEnrolled(profile, namespaceInfo) && nsSays.value === true) return { kind: 'inject' };
  if (!isEnrolled(profile, namespaceInfo)) return { kind: 'skip', reason: `namespace ${namespace} is not enrolled in mesh "${profile.meshName}"` };
  return { kind: 'skip', reason: `namespace ${namespace} does not enable ${keys.sidecarInjection}` };
}
