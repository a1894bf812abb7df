/**
 * Small builders for CRD openAPIV3Schema nodes. Every field gets a description so
 * `kubectl explain` is useful. The schemas are structural (types only, plus OSM's defaults):
 * the semantic rules live in the validating webhook, which reports every error of an object at
 * once in apimachinery's words; a schema-level enum or range would reject first and hide the rest.
 */
export interface SchemaNode {
  type?: 'object' | 'array' | 'string' | 'integer' | 'boolean' | 'number';
  description?: string;
  properties?: Record<string, SchemaNode>;
  items?: SchemaNode;
  additionalProperties?: SchemaNode | boolean;
  required?: string[];
  default?: unknown;
  minItems?: number;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  'x-kubernetes-int-or-string'?: boolean;
  anyOf?: SchemaNode[];
}

export const str = (description: string, extra: Partial<SchemaNode> = {}): SchemaNode => ({ type: 'string', description, ...extra });
export const int = (description: string, extra: Partial<SchemaNode> = {}): SchemaNode => ({ type: 'integer', description, ...extra });
export const bool = (description: string, extra: Partial<SchemaNode> = {}): SchemaNode => ({ type: 'boolean', description, ...extra });
export const arr = (description: string, items: SchemaNode, extra: Partial<SchemaNode> = {}): SchemaNode => ({
  type: 'array',
  description,
  items,
  ...extra,
});
export const obj = (description: string, properties: Record<string, SchemaNode>, extra: Partial<SchemaNode> = {}): SchemaNode => ({
  type: 'object',
  description,
  properties,
  ...extra,
});
/** A map of string to string (labels, headers). */
export const stringMap = (description: string): SchemaNode => ({ type: 'object', description, additionalProperties: { type: 'string' } });
/** A free-form object kept as written (OSM's free-form parts). */
export const freeForm = (description: string): SchemaNode => ({
  type: 'object',
  description,
  'x-kubernetes-preserve-unknown-fields': true,
});
/** Resource quantities (`cpu: 1`, `memory: 128Mi`), as in core's ResourceRequirements. */
export const quantityMap = (description: string): SchemaNode => ({
  type: 'object',
  description,
  additionalProperties: { anyOf: [{ type: 'integer' }, { type: 'string' }], 'x-kubernetes-int-or-string': true },
});
