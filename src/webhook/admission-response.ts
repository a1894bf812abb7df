import type { FieldError } from '../vocabulary/field-errors.js';
import { renderFieldError } from '../vocabulary/field-errors.js';
import { ADMISSION_API_VERSION, ADMISSION_KIND } from './admission-request.js';
import { encodePatch } from '../injector/patch.js';
import type { AdmissionInput, MutationOutcome, ValidationOutcome } from '../vocabulary/admission.js';

/**
 * Builders of the AdmissionReview v1 response envelope (like pepr's karForValidate/karForMutate).
 * Every path goes through `review()`, so `response.uid` is always the request's uid and the shape is
 * always the one kube-apiserver checks.
 */

/** metav1.StatusCause on the wire: the cause type serializes as `reason`. */
export interface StatusCause {
  reason: string;
  field: string;
  message: string;
}

/** metav1.Status, as far as admission responses use it. */
export interface Status {
  status: 'Failure';
  code: number;
  reason?: string;
  message: string;
  details?: { group: string; kind: string; name: string; causes: StatusCause[] };
}

export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  status?: Status;
  patchType?: 'JSONPatch';
  /** base64 of the JSON Patch array. */
  patch?: string;
  warnings?: string[];
}

export interface AdmissionReviewResponse {
  apiVersion: typeof ADMISSION_API_VERSION;
  kind: typeof ADMISSION_KIND;
  response: AdmissionResponse;
}

/** The longest warning kube-apiserver-friendly clients show on one line; longer ones are cut. */
export const MAX_WARNING_LENGTH = 256;
const ELLIPSIS = '...';

/**
 * Warnings become `Warning:` HTTP headers: one line each, no control characters, ≤ 256 characters
 * (cut on code points with "..."), no duplicates, no empties.
 */
export function sanitizeWarnings(warnings: readonly string[]): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  for (const w of warnings) {
    let line = oneLine(String(w));
    if (!line) continue;
    // No more UTF-16 units than the limit means no more code points either: only longer lines are counted.
    if (line.length > MAX_WARNING_LENGTH) {
      const chars = Array.from(line);
      if (chars.length > MAX_WARNING_LENGTH) line = chars.slice(0, MAX_WARNING_LENGTH - ELLIPSIS.length).join('').trimEnd() + ELLIPSIS;
    }
    if (seen.has(line)) continue;
    seen.add(line);
    out.push(line);
  }
  return out;
}

function review(response: AdmissionResponse): AdmissionReviewResponse {
  return { apiVersion: ADMISSION_API_VERSION, kind: ADMISSION_KIND, response };
}

function withWarnings(response: AdmissionResponse, warnings: readonly string[]): AdmissionResponse {
  const clean = sanitizeWarnings(warnings);
  if (clean.length > 0) response.warnings = clean;
  return response;
}

// A control character (\p{Cc} is U+0000–U+001F and U+007F–U+009F) or whitespace other than a plain
// space (JavaScript's \s: U+00A0, U+1680, U+2000–U+200A, U+2028, U+2029, U+202F, U+205F, U+3000,
// U+FEFF, and the ASCII ones among the controls): one character class, so the check is one pass.
// eslint-disable-next-line no-control-regex
const CONTROL_OR_WIDE_SPACE = /[\x00-\x1f\x7f-\x9f\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]/;

/** One line, no control characters: status messages end up in kubectl's single-line error. */
export function oneLine(message: string): string {
  // Most messages are already one clean line: one scan instead of two replacing passes.
  const clean = !CONTROL_OR_WIDE_SPACE.test(message) && !message.includes('  ') && !message.startsWith(' ') && !message.endsWith(' ');
  if (clean) return message;
  // eslint-disable-next-line no-control-regex
  return message.replace(/[\x00-\x1f\x7f-\x9f\u2028\u2029]+/g, ' ').replace(/\s+/g, ' ').trim();
}

export function allowed(uid: string, warnings: readonly string[] = []): AdmissionReviewResponse {
  return review(withWarnings({ uid, allowed: true }, warnings));
}

/** A denial with a status code and a one-line message (400 malformed, 403 forbidden, 500, 503). */
export function denied(uid: string, code: number, reason: string, message: string, warnings: readonly string[] = []): AdmissionReviewResponse {
  return review(withWarnings({ uid, allowed: false, status: { status: 'Failure', code, reason, message: oneLine(message) } }, warnings));
}

export function forbidden(uid: string, message: string, warnings: readonly string[] = []): AdmissionReviewResponse {
  return denied(uid, 403, 'Forbidden', message, warnings);
}

export function badRequest(uid: string, message: string): AdmissionReviewResponse {
  return denied(uid, 400, 'BadRequest', message);
}

export function internalError(uid: string, message: string): AdmissionReviewResponse {
  return denied(uid, 500, 'InternalError', message);
}

export function unavailable(uid: string, message: string): AdmissionReviewResponse {
  return denied(uid, 503, 'ServiceUnavailable', message);
}

/** `Kind.group`, or `Kind` for the core group, as apimachinery's GroupKind.String() prints it. */
function qualifiedKind(group: string, kind: string): string {
  return group ? `${kind}.${group}` : kind;
}

/**
 * A field-level denial worded as apimachinery's `errors.NewInvalid`: code 422, reason Invalid,
 * message `Kind.group "name" is invalid: [a: x, b: y]` (one error without brackets, duplicates
 * merged as utilerrors.Aggregate does), and one cause per error, which kubectl prints as
 * `The Kind "name" is invalid: * field: message`.
 */
export function invalid(
  uid: string,
  target: { group: string; kind: string; name: string },
  errors: readonly FieldError[],
  warnings: readonly string[] = [],
): AdmissionReviewResponse {
  const messages = [...new Set(errors.map(renderFieldError))];
  const aggregate = messages.length === 1 ? messages[0] : `[${messages.join(', ')}]`;
  const status: Status = {
    status: 'Failure',
    code: 422,
    reason: 'Invalid',
    message: oneLine(`${qualifiedKind(target.group, target.kind)} ${JSON.stringify(target.name)} is invalid: ${aggregate}`),
    details: {
      group: target.group,
      kind: target.kind,
      name: target.name,
      causes: errors.map((e) => ({ reason: e.type, field: e.field, message: oneLine(e.message) })),
    },
  };
  return review(withWarnings({ uid, allowed: false, status }, warnings));
}

/** The validating webhook's answer (karForValidate): never a patch. */
export function forValidation(input: AdmissionInput, outcome: ValidationOutcome): AdmissionReviewResponse {
  if (outcome.errors.length > 0) {
    return invalid(input.uid, { group: input.kind.group, kind: input.kind.kind, name: input.name }, outcome.errors, outcome.warnings);
  }
  if (outcome.forbidden) return forbidden(input.uid, outcome.forbidden, outcome.warnings);
  return allowed(input.uid, outcome.warnings);
}

/**
 * The response body. The same text as JSON.stringify(review), but a patch (base64, so nothing in
 * it needs escaping) is appended as it is rather than scanned character by character: it is
 * kilobytes long and most of every mutating answer.
 */
export function serializeReview(review: AdmissionReviewResponse): string {
  if (review.response.patch === undefined) return JSON.stringify(review);
  const { patch, ...rest } = review.response;
  const head = JSON.stringify({ ...review, response: rest });
  return `${head.slice(0, -2)},"patch":"${patch}"}}`;
}


/** The mutating webhook's answer (karForMutate): patch and patchType together or not at all. */
export function forMutation(uid: string, outcome: MutationOutcome): AdmissionReviewResponse {
  switch (outcome.action) {
    case 'deny':
      return forbidden(uid, outcome.message, outcome.warnings);
    case 'patch': {
      const response = withWarnings({ uid, allowed: true }, outcome.warnings);
      if (outcome.patch.length > 0) {
        response.patchType = 'JSONPatch';
        response.patch = encodePatch(outcome.patch);
      }
      return review(response);
    }
    case 'skip':
      return allowed(uid, outcome.warnings);
  }
}
