import fastJsonPatch from 'fast-json-patch';
import type { Operation } from 'fast-json-patch';

type Json = unknown;

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** RFC 7386 JSON merge patch: maps merge recursively, `null` deletes, anything else replaces. */
export function mergePatch(target: Json, patch: Json): Json {
  if (!isObject(patch)) return structuredClone(patch);
  const out: Record<string, unknown> = isObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

/**
 * Strategic merge patch, approximated: merge-patch semantics for maps (what label/annotation and
 * spec patches use), `$patch`/`$retainKeys` directives dropped. Lists are replaced, as for CRDs.
 */
export function strategicMergePatch(target: Json, patch: Json): Json {
  return mergePatch(target, stripDirectives(patch));
}

function stripDirectives(v: Json): Json {
  if (Array.isArray(v)) return v.map(stripDirectives);
  if (!isObject(v)) return v;
  const out: Record<string, unknown> = {};
  for (const [k, val] of Object.entries(v)) if (!k.startsWith('$')) out[k] = stripDirectives(val);
  return out;
}

/** RFC 6902 JSON patch; throws with a message on a failed `test` or an invalid path. */
export function jsonPatch(target: Json, ops: Json): Json {
  if (!Array.isArray(ops)) throw new Error('json patch must be an array of operations');
  const doc = structuredClone(target);
  return fastJsonPatch.applyPatch(doc, ops as Operation[], true, true).newDocument;
}
