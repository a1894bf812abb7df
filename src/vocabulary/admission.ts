import type { KubeObject } from '../state/types.js';
import type { FieldError } from './field-errors.js';

export interface GroupVersionKind {
  group: string;
  version: string;
  kind: string;
}

export type Operation = 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT';

/**
 * The decoded admission request both the webhook and the offline CLI hand to the core. The webhook
 * builds it from an AdmissionReview (after schema checks at the edge); `meshgate validate` and
 * `meshgate inject` build it from YAML documents.
 */
export interface AdmissionInput {
  uid: string;
  kind: GroupVersionKind;
  operation: Operation;
  /** The subresource, e.g. `ephemeralcontainers` for `pods/ephemeralcontainers`; undefined for the resource itself. */
  subResource?: string;
  namespace: string;
  name: string;
  object: KubeObject | undefined;
  oldObject: KubeObject | undefined;
  dryRun: boolean;
}

/** What the validating rules return for one object. */
export interface ValidationOutcome {
  /** Field errors: a 422 Invalid denial listing every one. */
  errors: FieldError[];
  /** A policy denial (403 Forbidden), e.g. the bypass guard. */
  forbidden?: string;
  warnings: string[];
}

/** A JSON Patch (RFC 6902) operation. */
export interface JsonPatchOperation {
  op: 'add' | 'remove' | 'replace' | 'move' | 'copy' | 'test';
  path: string;
  value?: unknown;
  from?: string;
}

/** What the injector returns for one pod. */
export type MutationOutcome =
  | { action: 'skip'; reason: string; warnings: string[] }
  | { action: 'deny'; message: string; warnings: string[] }
  | { action: 'patch'; patch: JsonPatchOperation[]; warnings: string[] };
