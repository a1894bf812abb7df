import type { MeshState } from '../state/mesh-state.js';
import type { MeshgateSettings } from '../settings.js';
import type { AdmissionInput, MutationOutcome } from '../webhook/types.js';

/** Entry point of the injector: decides, builds the injected pod and returns the patch. (Being built.) */
export function mutatePod(_input: AdmissionInput, _state: MeshState, _settings: MeshgateSettings): MutationOutcome {
  return { action: 'skip', reason: 'injector not built yet', warnings: [] };
}
