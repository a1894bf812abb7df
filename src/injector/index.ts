import type { MeshState } from '../state/mesh-state.js';
import type { MeshgateSettings } from '../settings.js';
import type { AdmissionInput, MutationOutcome, ValidationOutcome } from '../vocabulary/admission.js';
import { checkPodBypass } from './bypass-guard.js';
import { decideInjection, isEnrolled } from './decision.js';
import { injectPod, planInjection } from './inject-pod.js';
import { diffPatch } from './patch.js';
import { parsePod, type Pod } from './pod.js';

export { checkPodBypass, guardOutcome, guardPod, type GuardContext, type GuardFindings } from './bypass-guard.js';
export { carriesInjection } from './sidecar-integrity.js';
export { uninject, type UninjectResult } from './uninject.js';
export { injectPod, type InjectContext, type InjectResult } from './inject-pod.js';
export { decideInjection, isEnrolled, type Decision } from './decision.js';
export { renderBootstrap, type EnvoyBootstrap } from './bootstrap.js';
export { parsePod, type Pod } from './pod.js';

/** The namespace a pod is created in: the request's (CREATE bodies often have none), else the object's. */
function podNamespace(input: AdmissionInput, pod: Pod): string {
  return input.namespace || pod.metadata?.namespace || 'default';
}

type MutatedPod =
  | { action: 'skip'; reason: string; warnings: string[] }
  | { action: 'deny'; message: string; warnings: string[] }
  | { action: 'patch'; pod: Pod; warnings: string[] };

/** The mutating webhook's decision and pod' (SPEC §2, §5), before the patch is taken. */
function mutatedPod(input: AdmissionInput, state: MeshState, settings: MeshgateSettings): MutatedPod {
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
  return { action: 'patch', pod: result.pod, warnings: result.warnings };
}

/**
 * Injector entry point for the mutating webhook: decide (SPEC §2), build pod' (SPEC §5) and return
 * the JSON Patch from request.object as sent to pod'. Pure: same inputs, same patch.
 */
export function mutatePod(input: AdmissionInput, state: MeshState, settings: MeshgateSettings): MutationOutcome {
  const m = mutatedPod(input, state, settings);
  // Diff against the object exactly as sent, not the parsed copy.
  return m.action === 'patch' ? { action: 'patch', patch: diffPatch(input.object, m.pod), warnings: m.warnings } : m;
}

/**
 * A Pod CREATE's way through kube-apiserver's admission, offline (`meshgate validate`): in an
 * enrolled namespace (where both webhooks' namespaceSelector sends it) the mutating webhook, then
 * the pod guard on its result. The answer is the guard's, with the injector's warnings first; an
 * injector denial is the answer.
 */
export function admitPod(input: AdmissionInput, state: MeshState, settings: MeshgateSettings): ValidationOutcome {
  const pod = parsePod(input.object);
  if (!pod || !isEnrolled(state.profile, state.namespace(podNamespace(input, pod)))) return { errors: [], warnings: [] };
  const m = mutatedPod(input, state, settings);
  if (m.action === 'deny') return { errors: [], warnings: m.warnings, forbidden: m.message };
  const guard = checkPodBypass(m.action === 'patch' ? { ...input, object: m.pod as AdmissionInput['object'] } : input, state, settings);
  return { ...guard, warnings: [...m.warnings, ...guard.warnings] };
}

/**
 * The verbatim `/bin/sh -c` script meshgate's init container would run for `pod` (for the netns
 * tests and for debugging). Undefined when the pod's annotations are unusable.
 */
export function initScriptOf(pod: Pod, state: MeshState, settings: MeshgateSettings, namespace = 'default'): string | undefined {
  const planned = planInjection(pod, { profile: state.profile, meshConfig: state.meshConfig(), settings, namespace });
  return planned.ok ? planned.plan.initContainer.command?.[2] : undefined;
}
