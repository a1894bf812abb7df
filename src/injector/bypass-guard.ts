import type { MeshState } from '../state/mesh-state.js';
import type { MeshgateSettings } from '../settings.js';
import type { AdmissionInput, ValidationOutcome } from '../webhook/types.js';

/** Pod bypass guard (SPEC §3): being built. */
export function checkPodBypass(_input: AdmissionInput, _state: MeshState, _settings: MeshgateSettings): ValidationOutcome {
  return { errors: [], warnings: [] };
}
