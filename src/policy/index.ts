import type { MeshState } from '../state/mesh-state.js';
import type { MeshgateSettings } from '../settings.js';
import type { AdmissionInput, ValidationOutcome } from '../webhook/types.js';

/** Entry point of the validating rules: dispatches on the object's kind. (Being built.) */
export function validateAdmission(_input: AdmissionInput, _state: MeshState, _settings: MeshgateSettings): ValidationOutcome {
  return { errors: [], warnings: [] };
}
