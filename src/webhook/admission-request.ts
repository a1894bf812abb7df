import { z } from 'zod';
import type { KubeObject } from '../state/types.js';
import type { AdmissionInput } from '../vocabulary/admission.js';

/**
 * Decoding of an AdmissionReview v1 request at the edge, in two stages:
 *  1. the envelope (apiVersion, kind, request, request.uid): without it there is nobody to answer,
 *     so the caller gets HTTP 400 with a plain reason;
 *  2. the request itself: once a uid is known, a malformed request is answered with an
 *     AdmissionReview that echoes the uid and denies with code 400, which kube-apiserver relays.
 * Unknown fields are tolerated everywhere (newer API servers add fields); the schemas strip them
 * rather than copy them, since only the known fields are read. Nothing here recurses into
 * `object`, so arbitrarily deep objects cannot overflow the stack at this stage.
 */

export const ADMISSION_API_VERSION = 'admission.k8s.io/v1';
export const ADMISSION_KIND = 'AdmissionReview';

const envelopeSchema = z.object({
  apiVersion: z.literal(ADMISSION_API_VERSION),
  kind: z.literal(ADMISSION_KIND),
  request: z.object({
    uid: z.string().min(1),
  }),
});

const gvkSchema = z.object({ group: z.string(), version: z.string(), kind: z.string().min(1) });
const gvrSchema = z.object({ group: z.string(), version: z.string(), resource: z.string() });
// A Kubernetes object is a JSON object; `null` is how the API server spells "absent" (DELETE has no
// object). Checked, not copied: a record schema would copy every key of every pod on every request.
const objectSchema = z
  .custom<Record<string, unknown>>((v) => typeof v === 'object' && v !== null && !Array.isArray(v), { error: 'expected an object' })
  .nullish();

const requestSchema = z.object({
  uid: z.string().min(1),
  kind: gvkSchema,
  resource: gvrSchema.optional(),
  subResource: z.string().optional(),
  requestKind: gvkSchema.optional(),
  requestResource: gvrSchema.optional(),
  requestSubResource: z.string().optional(),
  name: z.string().optional(),
  namespace: z.string().optional(),
  operation: z.enum(['CREATE', 'UPDATE', 'DELETE', 'CONNECT']),
  userInfo: z.object({ username: z.string().optional() }).optional(),
  object: objectSchema,
  oldObject: objectSchema,
  dryRun: z.boolean().nullish(),
  options: z.unknown().optional(),
});

// The whole review in one pass, for the common case of a well-formed request; the two stages
// above run only when it fails, to tell "not a review" (400) from "malformed request" (deny).
const reviewSchema = z.object({
  apiVersion: z.literal(ADMISSION_API_VERSION),
  kind: z.literal(ADMISSION_KIND),
  request: requestSchema,
});

export type DecodedRequest =
  /** Not an AdmissionReview at all: HTTP 400 with `reason`. */
  | { ok: false; uid: undefined; reason: string }
  /** An AdmissionReview with a uid whose request is malformed: answer it, denied with code 400. */
  | { ok: false; uid: string; reason: string }
  | { ok: true; uid: string; input: AdmissionInput };

function describeIssues(issues: readonly z.core.$ZodIssue[], prefix: string): string {
  return issues
    .slice(0, 5)
    .map((i) => {
      const path = [prefix, ...i.path.map((p) => (typeof p === 'number' ? `[${p}]` : String(p)))]
        .filter(Boolean)
        .join('.')
        .replace(/\.\[/g, '[');
      return `${path}: ${plainIssue(i)}`;
    })
    .join('; ');
}

function plainIssue(i: z.core.$ZodIssue): string {
  switch (i.code) {
    case 'invalid_type':
      return `expected ${i.expected === 'record' ? 'an object' : i.expected}`;
    case 'invalid_value':
      return `must be ${i.values.map((v) => JSON.stringify(v)).join(' or ')}`;
    case 'too_small':
      return 'must not be empty';
    default:
      return i.message;
  }
}

function metadataOf(o: KubeObject | undefined): { name?: unknown; namespace?: unknown } {
  const m = o?.metadata;
  return m && typeof m === 'object' && !Array.isArray(m) ? (m as { name?: unknown; namespace?: unknown }) : {};
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/** Decodes an already-parsed JSON body into the core's AdmissionInput. */
export function decodeAdmissionReview(body: unknown): DecodedRequest {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    return { ok: false, uid: undefined, reason: 'request body is not an AdmissionReview: expected a JSON object' };
  }
  const review = reviewSchema.safeParse(body);
  if (!review.success) {
    const envelope = envelopeSchema.safeParse(body);
    if (!envelope.success) {
      return {
        ok: false,
        uid: undefined,
        reason: `request body is not an ${ADMISSION_API_VERSION} AdmissionReview: ${describeIssues(envelope.error.issues, '')}`,
      };
    }
    // The envelope schema strips what it does not name: check the request as sent.
    const issues = requestSchema.safeParse((body as { request: unknown }).request).error?.issues ?? review.error.issues;
    return { ok: false, uid: envelope.data.request.uid, reason: `malformed AdmissionReview: ${describeIssues(issues, 'request')}` };
  }
  const r = review.data.request;
  const uid = r.uid;
  const object = (r.object ?? undefined) as KubeObject | undefined;
  const oldObject = (r.oldObject ?? undefined) as KubeObject | undefined;
  const meta = metadataOf(object);
  const oldMeta = metadataOf(oldObject);
  return {
    ok: true,
    uid,
    input: {
      uid,
      kind: { group: r.kind.group, version: r.kind.version, kind: r.kind.kind },
      operation: r.operation,
      ...(r.subResource ? { subResource: r.subResource } : {}),
      // The API server fills namespace and name; fall back to the object's metadata (name is empty
      // for pods created with generateName).
      namespace: str(r.namespace) ?? str(meta.namespace) ?? str(oldMeta.namespace) ?? '',
      name: str(r.name) ?? str(meta.name) ?? str(oldMeta.name) ?? '',
      object,
      oldObject,
      dryRun: r.dryRun === true,
    },
  };
}
