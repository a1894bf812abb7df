import fastJsonPatch from 'fast-json-patch';
import type { JsonPatchOperation } from '../webhook/types.js';

/**
 * The JSON Patch that turns `original` (request.object exactly as sent) into `mutated`. A diff of
 * the two documents, so every `add` lands under a parent that exists in `original` (a missing
 * map is added whole), which is what RFC 6902 requires of the API server's patch.
 */
export function diffPatch(original: unknown, mutated: unknown): JsonPatchOperation[] {
  return fastJsonPatch.compare(original as object, mutated as object) as JsonPatchOperation[];
}
