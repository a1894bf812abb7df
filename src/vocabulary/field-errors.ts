/**
 * Kubernetes field errors, worded as apimachinery's `field.Error.ErrorBody()` words them, so
 * kubectl prints `* spec.ports[0].protocol: Unsupported value: "udp": supported values: ...`.
 */
export type FieldErrorType =
  | 'FieldValueRequired'
  | 'FieldValueInvalid'
  | 'FieldValueNotSupported'
  | 'FieldValueNotFound'
  | 'FieldValueDuplicate'
  | 'FieldValueForbidden'
  | 'FieldValueTooLong'
  | 'FieldValueTooMany'
  | 'FieldValueTypeInvalid';

export interface FieldError {
  type: FieldErrorType;
  /** JSON-path-like field, e.g. `spec.ports[0].protocol`. */
  field: string;
  /** The message without the field, e.g. `Unsupported value: "udp": supported values: "http"`. */
  message: string;
}

/**
 * A string quoted like Go's %q, on one line: JSON escapes plus the C1 controls and line separators
 * JSON.stringify leaves as they are (messages and warnings must stay one line).
 */
export function quote(s: string): string {
  return JSON.stringify(s).replace(/[\u007f-\u009f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Formats a value the way apimachinery does: strings quoted (%q), numbers and booleans bare. */
export function formatValue(value: unknown): string {
  if (typeof value === 'string') return quote(value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (value === null || value === undefined) return 'null';
  try {
    const s = JSON.stringify(value);
    return s.length > 200 ? `${s.slice(0, 197)}...` : s;
  } catch {
    return String(value);
  }
}

export const fieldError = {
  required: (field: string, detail = ''): FieldError => ({
    type: 'FieldValueRequired',
    field,
    message: detail ? `Required value: ${detail}` : 'Required value',
  }),
  invalid: (field: string, value: unknown, detail: string): FieldError => ({
    type: 'FieldValueInvalid',
    field,
    message: `Invalid value: ${formatValue(value)}: ${detail}`,
  }),
  notSupported: (field: string, value: unknown, supported: readonly string[]): FieldError => ({
    type: 'FieldValueNotSupported',
    field,
    message: `Unsupported value: ${formatValue(value)}: supported values: ${supported.map((s) => JSON.stringify(s)).join(', ')}`,
  }),
  notFound: (field: string, value: unknown, detail = ''): FieldError => ({
    type: 'FieldValueNotFound',
    field,
    message: `Not found: ${formatValue(value)}${detail ? `: ${detail}` : ''}`,
  }),
  duplicate: (field: string, value: unknown): FieldError => ({
    type: 'FieldValueDuplicate',
    field,
    message: `Duplicate value: ${formatValue(value)}`,
  }),
  forbidden: (field: string, detail: string): FieldError => ({
    type: 'FieldValueForbidden',
    field,
    message: `Forbidden: ${detail}`,
  }),
  tooMany: (field: string, actual: number, max: number): FieldError => ({
    type: 'FieldValueTooMany',
    field,
    message: `Too many: ${actual}: must have at most ${max} items`,
  }),
  tooLong: (field: string, max: number): FieldError => ({
    type: 'FieldValueTooLong',
    field,
    message: `Too long: may not be more than ${max} bytes`,
  }),
  typeInvalid: (field: string, value: unknown, detail: string): FieldError => ({
    type: 'FieldValueTypeInvalid',
    field,
    message: `Invalid value: ${formatValue(value)}: ${detail}`,
  }),
};

/** `* field: message`, as kubectl prints a cause. */
export function renderFieldError(e: FieldError): string {
  return `${e.field}: ${e.message}`;
}
