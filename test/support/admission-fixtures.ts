import { randomUUID } from 'node:crypto';

/**
 * Builders of real AdmissionReview v1 requests, shaped as kube-apiserver sends them (uid, kind,
 * resource, requestKind, requestResource, name, namespace, operation, userInfo, object, oldObject,
 * dryRun, options). Every call returns a fresh deep copy, so a test can mutate what it gets.
 */

export interface GVK {
  group: string;
  version: string;
  kind: string;
}

export interface GVR {
  group: string;
  version: string;
  resource: string;
}

export type Operation = 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT';

export interface AdmissionRequestV1 {
  uid: string;
  kind: GVK;
  resource: GVR;
  subResource?: string;
  requestKind: GVK;
  requestResource: GVR;
  name?: string;
  namespace?: string;
  operation: Operation;
  userInfo: { username: string; uid?: string; groups?: string[] };
  object: Record<string, unknown> | null;
  oldObject: Record<string, unknown> | null;
  dryRun: boolean;
  options: Record<string, unknown> | null;
  [key: string]: unknown;
}

export interface AdmissionReviewRequestV1 {
  apiVersion: 'admission.k8s.io/v1';
  kind: 'AdmissionReview';
  request: AdmissionRequestV1;
  [key: string]: unknown;
}

export interface ReviewOptions {
  uid?: string;
  operation?: Operation;
  namespace?: string;
  name?: string;
  object?: Record<string, unknown> | null;
  oldObject?: Record<string, unknown> | null;
  dryRun?: boolean;
  username?: string;
}

const clone = <T>(v: T): T => structuredClone(v);

/** Kinds meshgate's webhooks receive, with the resource kube-apiserver names for each. */
export const KINDS = {
  pod: { gvk: { group: '', version: 'v1', kind: 'Pod' }, gvr: { group: '', version: 'v1', resource: 'pods' } },
  egress: {
    gvk: { group: 'policy.openservicemesh.io', version: 'v1alpha1', kind: 'Egress' },
    gvr: { group: 'policy.openservicemesh.io', version: 'v1alpha1', resource: 'egresses' },
  },
  fsmEgress: {
    gvk: { group: 'policy.flomesh.io', version: 'v1alpha1', kind: 'Egress' },
    gvr: { group: 'policy.flomesh.io', version: 'v1alpha1', resource: 'egresses' },
  },
  httpRouteGroup: {
    gvk: { group: 'specs.smi-spec.io', version: 'v1alpha4', kind: 'HTTPRouteGroup' },
    gvr: { group: 'specs.smi-spec.io', version: 'v1alpha4', resource: 'httproutegroups' },
  },
  meshConfig: {
    gvk: { group: 'config.openservicemesh.io', version: 'v1alpha2', kind: 'MeshConfig' },
    gvr: { group: 'config.openservicemesh.io', version: 'v1alpha2', resource: 'meshconfigs' },
  },
} as const;

export function newUid(): string {
  return randomUUID();
}

function optionsFor(operation: Operation, dryRun: boolean): Record<string, unknown> | null {
  const dry = dryRun ? { dryRun: ['All'] } : {};
  switch (operation) {
    case 'CREATE':
      return { kind: 'CreateOptions', apiVersion: 'meta.k8s.io/v1', fieldManager: 'kubectl-client-side-apply', ...dry };
    case 'UPDATE':
      return { kind: 'UpdateOptions', apiVersion: 'meta.k8s.io/v1', fieldManager: 'kubectl-client-side-apply', ...dry };
    case 'DELETE':
      return { kind: 'DeleteOptions', apiVersion: 'meta.k8s.io/v1', propagationPolicy: 'Background', ...dry };
    default:
      return null;
  }
}

/** An AdmissionReview for any kind; name and namespace default to the object's metadata. */
export function admissionReview(kind: { gvk: GVK; gvr: GVR }, opts: ReviewOptions = {}): AdmissionReviewRequestV1 {
  const operation = opts.operation ?? 'CREATE';
  const object = opts.object === undefined ? null : opts.object;
  const oldObject = opts.oldObject === undefined ? null : opts.oldObject;
  const meta = ((object ?? oldObject)?.metadata ?? {}) as { name?: string; namespace?: string };
  const dryRun = opts.dryRun ?? false;
  const request: AdmissionRequestV1 = {
    uid: opts.uid ?? newUid(),
    kind: clone(kind.gvk),
    resource: clone(kind.gvr),
    requestKind: clone(kind.gvk),
    requestResource: clone(kind.gvr),
    name: opts.name ?? meta.name ?? '',
    namespace: opts.namespace ?? meta.namespace ?? '',
    operation,
    userInfo: { username: opts.username ?? 'kubernetes-admin', groups: ['system:masters', 'system:authenticated'] },
    object: clone(object),
    oldObject: clone(oldObject),
    dryRun,
    options: optionsFor(operation, dryRun),
  };
  return { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request };
}

export function egressObject(overrides: { name?: string; namespace?: string; spec?: Record<string, unknown> } = {}): Record<string, unknown> {
  return clone({
    apiVersion: 'policy.openservicemesh.io/v1alpha1',
    kind: 'Egress',
    metadata: { name: overrides.name ?? 'httpbin-80', namespace: overrides.namespace ?? 'curl' },
    spec: overrides.spec ?? {
      sources: [{ kind: 'ServiceAccount', name: 'curl', namespace: 'curl' }],
      hosts: ['httpbin.org'],
      ports: [{ number: 80, protocol: 'http' }],
    },
  });
}

export function podObject(overrides: { name?: string; namespace?: string; annotations?: Record<string, string>; spec?: Record<string, unknown> } = {}): Record<string, unknown> {
  return clone({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: overrides.name ?? 'curl-7c9d5bd9d7-abcde',
      namespace: overrides.namespace ?? 'curl',
      labels: { app: 'curl' },
      ...(overrides.annotations ? { annotations: overrides.annotations } : {}),
    },
    spec: overrides.spec ?? {
      serviceAccountName: 'curl',
      containers: [{ name: 'curl', image: 'curlimages/curl', command: ['sleep', '365d'] }],
    },
  });
}

export function egressReview(object: Record<string, unknown> = egressObject(), opts: ReviewOptions = {}): AdmissionReviewRequestV1 {
  return admissionReview(KINDS.egress, { ...opts, object });
}

export function podReview(object: Record<string, unknown> = podObject(), opts: ReviewOptions = {}): AdmissionReviewRequestV1 {
  return admissionReview(KINDS.pod, { ...opts, object });
}
