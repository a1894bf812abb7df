import damerauLevenshtein from 'damerau-levenshtein';
import { z } from 'zod';
import { fieldError, type FieldError } from '../vocabulary/field-errors.js';
import { renderPath, valueAt, type PathSegment } from './field-path.js';

/**
 * Turns zod's structural issues (wrong type, missing field, unknown field) into apimachinery field
 * errors, so a type problem reads like every other error instead of throwing. Only called when a
 * parse failed, so none of this runs on the happy path.
 */
export function zodIssuesToFieldErrors(issues: readonly z.core.$ZodIssue[], root: unknown, schema: z.ZodType): FieldError[] {
  const out: FieldError[] = [];
  for (const issue of issues) {
    const path = issue.path as PathSegment[];
    const field = renderPath(path) || '<root>';
    switch (issue.code) {
      case 'invalid_type': {
        const value = valueAt(root, path);
        if (value === undefined || value === null) out.push(fieldError.required(field));
        else out.push(fieldError.typeInvalid(field, value, typeDetail(issue.expected)));
        break;
      }
      case 'unrecognized_keys': {
        const known = knownKeys(schema, path);
        for (const key of issue.keys) {
          out.push(fieldError.forbidden(renderPath([...path, key]), unknownFieldDetail(key, known)));
        }
        break;
      }
      default:
        out.push(fieldError.invalid(field, valueAt(root, path), issue.message));
    }
  }
  return out;
}

function typeDetail(expected: string): string {
  switch (expected) {
    case 'int':
    case 'number':
      return 'must be an integer';
    case 'string':
      return 'must be a string';
    case 'boolean':
      return 'must be a boolean';
    case 'array':
      return 'must be a list';
    case 'object':
    case 'record':
      return 'must be an object';
    default:
      return `must be of type ${expected}`;
  }
}

function unknownFieldDetail(key: string, known: string[]): string {
  if (known.length === 0) return 'unknown field';
  const lower = key.toLowerCase();
  const close =
    known.find((k) => editDistance(k.toLowerCase(), lower) <= 2) ??
    known.find((k) => lower.length >= 3 && k.toLowerCase().startsWith(lower));
  if (close) return `unknown field; did you mean "${close}"?`;
  return `unknown field; known fields: ${known.map((k) => `"${k}"`).join(', ')}`;
}

/** The field names the schema allows at `path` (for the unknown-field hint). */
function knownKeys(schema: z.ZodType, path: readonly PathSegment[]): string[] {
  let s: unknown = schema;
  for (const seg of [...path, undefined]) {
    // Unwrap optional/nullable layers before descending.
    while (s instanceof z.ZodOptional || s instanceof z.ZodNullable) s = s.unwrap();
    if (seg === undefined) break;
    if (s instanceof z.ZodArray) s = s.element;
    else if (s instanceof z.ZodObject) s = (s.shape as Record<string, unknown>)[String(seg)];
    else if (s instanceof z.ZodRecord) s = s.valueType;
    else return [];
  }
  return s instanceof z.ZodObject ? Object.keys(s.shape as object) : [];
}

/** Edits between two names (Damerau-Levenshtein, optimal string alignment: a swap of adjacent letters is one edit). */
function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2) return 3;
  return damerauLevenshtein(a, b).steps;
}
