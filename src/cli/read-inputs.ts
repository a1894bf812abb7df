import { InputError, readDocuments, type SourcedDocument } from '../io/yaml-documents.js';
import { fieldError, type FieldError } from '../vocabulary/field-errors.js';
import { UserError } from './errors.js';
import { oneEditAway } from './near-miss.js';

/**
 * Reads the YAML documents of `-f FILE|DIR|-` inputs for a CLI command. An unreadable or malformed
 * input is a usage error (exit 2) whose one-line message names the input; anything else is a bug.
 */
export async function readInputs(paths: string[]): Promise<SourcedDocument[]> {
  try {
    return await readDocuments(paths);
  } catch (err) {
    if (err instanceof InputError) throw new UserError(err.message, 2);
    throw err;
  }
}

/**
 * The fields of apimachinery's ObjectMeta (metav1.ObjectMeta, Kubernetes 1.33), every kind's
 * `metadata`. `clusterName` is gone since 1.25; the API server's strict field validation rejects it.
 */
export const OBJECT_META_FIELDS: readonly string[] = [
  'name',
  'generateName',
  'namespace',
  'selfLink',
  'uid',
  'resourceVersion',
  'generation',
  'creationTimestamp',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
  'labels',
  'annotations',
  'ownerReferences',
  'finalizers',
  'managedFields',
];

/**
 * Unknown fields in an input object's `metadata`, as kubectl's strict field validation
 * (`--validate=strict`, the default) rejects them: a misspelt `namespac` would otherwise be dropped
 * and the object land in the default namespace. Offline only: in a cluster the API server rejects
 * or prunes them before any webhook sees the object, so admission does not check this.
 */
export function unknownMetadataFields(obj: unknown): FieldError[] {
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) return [];
  const meta = (obj as { metadata?: unknown }).metadata;
  if (meta === undefined || meta === null) return [];
  if (typeof meta !== 'object' || Array.isArray(meta)) return [fieldError.typeInvalid('metadata', meta, 'must be an object')];
  return Object.keys(meta)
    .filter((key) => !OBJECT_META_FIELDS.includes(key))
    .map((key) => {
      const close = oneEditAway(key, OBJECT_META_FIELDS);
      const detail = close ? `unknown field; did you mean "${close}"?` : 'unknown field (ObjectMeta has no such field)';
      return fieldError.forbidden(`metadata.${key}`, detail);
    });
}
