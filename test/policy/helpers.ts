import { readFileSync } from 'node:fs';
import { parseDocuments } from '../../src/io/yaml-documents.js';
import { renderFieldError } from '../../src/vocabulary/field-errors.js';
import { resolveProfile, type ProfileName } from '../../src/profile.js';
import { DEFAULT_SETTINGS } from '../../src/settings.js';
import { groupOf, MeshStore } from '../../src/state/store.js';
import type { MeshState } from '../../src/state/mesh-state.js';
import type { KubeObject } from '../../src/state/types.js';
import { validateAdmission } from '../../src/validate-admission.js';
import type { AdmissionInput, Operation, ValidationOutcome } from '../../src/vocabulary/admission.js';

/** Objects from a YAML file of the repository (examples/...). */
export function objectsIn(path: string): KubeObject[] {
  return parseDocuments(path, readFileSync(path, 'utf8')).map((d) => d.value as KubeObject);
}

/** A store holding the given objects (the cluster state the rules read). */
export function storeWith(objects: KubeObject[], profile: ProfileName = 'osm'): MeshStore {
  const s = new MeshStore(resolveProfile(profile));
  for (const o of objects) s.upsert(o);
  return s;
}

/** The AdmissionInput the webhook would build for `obj`. */
export function admissionFor(obj: KubeObject, operation: Operation = 'CREATE', oldObject?: KubeObject): AdmissionInput {
  const subject = operation === 'DELETE' ? (oldObject ?? obj) : obj;
  const apiVersion = subject.apiVersion ?? '';
  const slash = apiVersion.indexOf('/');
  return {
    uid: 'test-uid',
    kind: { group: groupOf(apiVersion), version: slash < 0 ? apiVersion : apiVersion.slice(slash + 1), kind: String(subject.kind) },
    operation,
    namespace: subject.metadata?.namespace ?? '',
    name: subject.metadata?.name ?? '',
    object: operation === 'DELETE' ? undefined : obj,
    oldObject: operation === 'CREATE' ? undefined : (oldObject ?? (operation === 'DELETE' ? obj : undefined)),
    dryRun: false,
  };
}

export function validate(obj: KubeObject, state: MeshState = storeWith([]), operation: Operation = 'CREATE', oldObject?: KubeObject): ValidationOutcome {
  return validateAdmission(admissionFor(obj, operation, oldObject), state, DEFAULT_SETTINGS);
}

/** `field: message` lines, as kubectl prints the causes. */
export function rendered(outcome: ValidationOutcome): string[] {
  return outcome.errors.map(renderFieldError);
}

/** The seeds' curl Egress with `spec` overrides (a key set to undefined is removed). */
export function egress(spec: Record<string, unknown> = {}, meta: Record<string, unknown> = {}, group = 'policy.openservicemesh.io'): KubeObject {
  const base: Record<string, unknown> = {
    sources: [{ kind: 'ServiceAccount', name: 'curl', namespace: 'curl' }],
    hosts: ['httpbin.org'],
    ports: [{ number: 80, protocol: 'http' }],
  };
  const merged: Record<string, unknown> = { ...base, ...spec };
  for (const k of Object.keys(merged)) if (merged[k] === undefined) delete merged[k];
  return {
    apiVersion: `${group}/v1alpha1`,
    kind: 'Egress',
    metadata: { name: 'httpbin-80', namespace: 'curl', ...meta },
    spec: merged,
  };
}

export function routeGroup(matches: unknown, name = 'egress-http-route', namespace = 'curl'): KubeObject {
  return { apiVersion: 'specs.smi-spec.io/v1alpha4', kind: 'HTTPRouteGroup', metadata: { name, namespace }, spec: { matches } };
}

export function meshConfig(spec: unknown, name = 'osm-mesh-config', namespace = 'osm-system', apiVersion = 'config.openservicemesh.io/v1alpha2'): KubeObject {
  return { apiVersion, kind: 'MeshConfig', metadata: { name, namespace }, spec };
}

export function namespace(name: string, labels: Record<string, string> = {}): KubeObject {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } };
}

export const ENROLLED_CURL = namespace('curl', { 'openservicemesh.io/monitored-by': 'osm' });
