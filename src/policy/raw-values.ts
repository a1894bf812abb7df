/**
 * Guards for reading an object that zod has already checked at the edge. The rules run on the raw
 * value even when some fields had type errors (so every error is reported at once); these guards
 * make each rule skip a value whose type problem zod has already reported.
 */
export type RawRecord = Record<string, unknown>;

export function asRecord(v: unknown): RawRecord | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as RawRecord) : undefined;
}

export function asArray(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

export function isString(v: unknown): v is string {
  return typeof v === 'string';
}

export function isInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v);
}
