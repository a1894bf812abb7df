import type { MeshState } from '../state/mesh-state.js';
import type { MeshgateSettings } from '../settings.js';
import type { AdmissionInput, MutationOutcome } from '../vocabulary/admission.js';
import { decideInjection } from './decision.js';
import { injectPod, planInjection } from './inject-pod.js';
import { diffPatch } from './patch.js';
import { parsePod, type Pod } from './pod.js';

export { checkPodBypass } from './bypass-guard.js';
export { uninject, type UninjectResult } from './uninject.js';
export { injectPod, type InjectContext, type InjectResult } from './inject-pod.js';
export { decideInjection, isEnrolled, type Decision } from './decision.js';
export { renderBootstrap, type EnvoyBootstrap } from './bootstrap.js';
export { parsePod, type Pod } from './pod.js';

/** The namespace a pod is created in: the request's (CREATE bodies often have none), else the object's. */
function podNamespace(input: AdmissionInput, pod: Pod): string {
  return input.namespace || pod.metadata?.namespace || 'default';
}

/**
 * Injector entry point for the mutating webhook: decide (SPEC §2), build pod' (SPEC §5) and return
 * the JSON Patch from request.object as sent to pod'. Pure: same inputs, same patch.
 */
export function mutatePod(input: AdmissionInput, state: MeshState, settings: MeshgateSettings): MutationOutcome {
  if (input.operation !== 'CREATE') return { action: 'skip', reason: `operation ${input.operation} is not injected`, warnings: [] };
  if (input.kind.kind !== 'Pod' || input.kind.group !== '') return { action: 'skip', reason: `kind ${input.kind.kind} is not a Pod`, warnings: [] };
  const pod = parsePod(input.object);
  // Not pod-shaped: the API server's own validation rejects it; nothing for us to add.
  if (!pod) return { action: 'skip', reason: 'object is not a valid Pod', warnings: [] };
  const namespace = podNamespace(input, pod);
  const decision = decideInjection({ profile: state.profile, pod, namespace, namespaceInfo: state.namespace(namespace) });
  if (decision.kind === 'deny') return { action: 'deny', message: decision.message, warnings: [] };
  if (decision.kind === 'skip') return { action: 'skip', reason: decision.reason, warnings: [] };
  const result = injectPod(pod, { profile: state.profile, meshConfig: state.meshConfig(), settings, namespace });
  if (result.kind === 'deny') return { action: 'deny', message: result.message, warnings: [] };
  // Diff against the object exactly as sent, not the parsed copy.
  return { action: 'patch', patch: diffPatch(input.object, result.pod), warnings: result.warnings };
}

/**
 * The verbatim `/bin/sh -c` script meshgate's init container would run for `pod` (for the netns
 * tests and for debugging). Undefined when the pod's annotations are unusable.
 */
export function initScriptOf(pod: Pod, state: MeshState, settings: MeshgateSettings, namespace = 'default'): string | undefined {
  const planned = planInjection(pod, { profile: state.profile, meshConfig: state.meshConfig(), settings, namespace });
  return planned.ok ? planned.plan.initContainer.command?.[2] : undefined;
}
