import { checkPodBypass } from './injector/index.js';
import { rulesFor, VALIDATED_KINDS } from './policy/index.js';
import type { MeshState } from './state/mesh-state.js';
import type { MeshgateSettings } from './settings.js';
import type { AdmissionInput, GroupVersionKind, ValidationOutcome } from './vocabulary/admission.js';

type Check = (input: AdmissionInput, state: MeshState, settings: MeshgateSettings) => ValidationOutcome;

/** Every group and kind checkFor has a check for: the object rules' and the core group's Pod. */
export const CHECKED_KINDS: readonly { group: string; kind: string }[] = [...VALIDATED_KINDS, { group: '', kind: 'Pod' }];

/**
 * What the validating webhook and `meshgate validate` run for a kind: the object rules of policy/
 * (Egress, HTTPRouteGroup, MeshConfig), or the injector's pod guard for Pods. Composed here, above
 * both core parts, so neither imports the other. Undefined when meshgate has no check (allowed).
 */
export function checkFor(gvk: GroupVersionKind): Check | undefined {
  if (gvk.kind === 'Pod') return gvk.group === '' ? checkPodBypass : undefined;
  return rulesFor(gvk);
}

/** Entry point of validation: dispatches on the kind. */
export function validateAdmission(input: AdmissionInput, state: MeshState, settings: MeshgateSettings): ValidationOutcome {
  const check = checkFor(input.kind);
  return check ? check(input, state, settings) : { errors: [], warnings: [] };
}
