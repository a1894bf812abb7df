import { EGRESS_GROUPS, SMI_SPECS_GROUP, meshKeys, type Profile } from '../profile.js';
import { commonLabels, type InstallNames } from './names.js';
import type { InstallOptions, KubeObject } from './types.js';

/** Namespaces no webhook may gate pods in: a Fail-policy webhook there could block the cluster or meshgate's own recovery. */
export function protectedNamespaces(controlNamespace: string): string[] {
  return [controlNamespace, 'kube-system', 'kube-public'];
}

/**
 * Enrolled (`D/monitored-by=<mesh>`), not ignored, and not a protected namespace (by the
 * `kubernetes.io/metadata.name` label the API server sets on every namespace; OSM selected on a
 * `name` label that never existed).
 */
function enrolledNamespaceSelector(profile: Profile, opts: Pick<InstallOptions, 'meshName' | 'namespace'>) {
  const keys = meshKeys(profile);
  return {
    matchExpressions: [
      { key: keys.monitoredBy, operator: 'In', values: [opts.meshName] },
      { key: keys.ignore, operator: 'DoesNotExist' },
      { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: protectedNamespaces(opts.namespace) },
    ],
  };
}

function clientConfig(names: InstallNames, path: '/validate' | '/mutate') {
  return { service: { name: names.service, namespace: names.namespace, path, port: 443 } };
}

/** Settings SPEC §6 fixes for every webhook. */
const COMMON = {
  failurePolicy: 'Fail',
  sideEffects: 'None',
  timeoutSeconds: 10,
  admissionReviewVersions: ['v1'],
  matchPolicy: 'Equivalent',
} as const;

/** Metadata of either configuration; with cert-manager, its CA injector fills the caBundle. */
function configurationMetadata(name: string, names: InstallNames, opts: InstallOptions) {
  return {
    name,
    labels: commonLabels(opts.meshName),
    ...(opts.certManager ? { annotations: { 'cert-manager.io/inject-ca-from': `${names.namespace}/${names.servingCertificate}` } } : {}),
  };
}

/**
 * Validating: policies (Egress of both groups, HTTPRouteGroup, the profile's MeshConfig) in every
 * namespace, so a policy in a namespace not yet enrolled is still checked; and the pod guard on
 * Pod CREATE (the pod after every mutating webhook: bypass, sidecar integrity, opt-out), Pod UPDATE
 * (meshgate's containers unchanged) and `pods/ephemeralcontainers` (kubectl debug) in enrolled
 * namespaces (Pod UPDATEs only when they change an image: POD_GUARD_MATCH_EXPRESSION). The pod webhook excludes the control namespace, kube-system
 * and kube-public like the mutating one: the guard has nothing to guard there (nothing is injected)
 * and a Fail-policy webhook on those would deadlock meshgate's own restart or the cluster's
 * add-ons if one were ever labelled into the mesh.
 */
export function validatingWebhookConfiguration(profile: Profile, names: InstallNames, opts: InstallOptions): KubeObject {
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingWebhookConfiguration',
    metadata: configurationMetadata(names.validatingWebhookConfiguration, names, opts),
    webhooks: [
      {
        name: names.policyWebhook,
        clientConfig: clientConfig(names, '/validate'),
        rules: [
          {
            apiGroups: [...EGRESS_GROUPS],
            apiVersions: ['v1alpha1'],
            resources: ['egresses'],
            operations: ['CREATE', 'UPDATE'],
            scope: 'Namespaced',
          },
          {
            apiGroups: [SMI_SPECS_GROUP],
            apiVersions: ['v1alpha4'],
            resources: ['httproutegroups'],
            operations: ['CREATE', 'UPDATE', 'DELETE'],
            scope: 'Namespaced',
          },
          {
            apiGroups: [profile.meshConfig.group],
            apiVersions: [profile.meshConfig.version],
            resources: ['meshconfigs'],
            operations: ['CREATE', 'UPDATE'],
            scope: 'Namespaced',
          },
        ],
        ...COMMON,
      },
      {
        name: names.podGuardWebhook,
        clientConfig: clientConfig(names, '/validate'),
        rules: [
          { apiGroups: [''], apiVersions: ['v1'], resources: ['pods'], operations: ['CREATE', 'UPDATE'], scope: 'Namespaced' },
          { apiGroups: [''], apiVersions: ['v1'], resources: ['pods/ephemeralcontainers'], operations: ['UPDATE'], scope: 'Namespaced' },
        ],
        namespaceSelector: enrolledNamespaceSelector(profile, opts),
        matchConditions: [{ name: POD_GUARD_MATCH_CONDITION, expression: POD_GUARD_MATCH_EXPRESSION }],
        ...COMMON,
      },
    ],
  };
}

/** The name of the pod guard's one match condition. */
export const POD_GUARD_MATCH_CONDITION = 'create-debug-or-image-change';

/**
 * Which pod requests reach the fail-closed pod guard: every CREATE and every `pods/ephemeralcontainers`
 * update, but of the other Pod UPDATEs only those that change a container's or init container's
 * image, the one part of a running pod's containers the API server lets an UPDATE change (and all
 * the guard checks on UPDATE). Label, annotation, owner and finalizer updates (the Job controller's
 * tracking finalizer, say) then never wait on meshgate, so an outage of meshgate does not hold them
 * up. API servers without match conditions (before Kubernetes 1.28) send every Pod UPDATE.
 */
export const POD_GUARD_MATCH_EXPRESSION = [
  "request.operation != 'UPDATE'",
  "request.subResource == 'ephemeralcontainers'",
  'object.spec.containers.map(c, c.image) != oldObject.spec.containers.map(c, c.image)',
  '(has(object.spec.initContainers) ? object.spec.initContainers.map(c, c.image) : []) != ' +
    '(has(oldObject.spec.initContainers) ? oldObject.spec.initContainers.map(c, c.image) : [])',
].join(' || ');

/** Mutating: sidecar injection on Pod CREATE in enrolled, non-ignored, non-protected namespaces. */
export function mutatingWebhookConfiguration(profile: Profile, names: InstallNames, opts: InstallOptions): KubeObject {
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: configurationMetadata(names.mutatingWebhookConfiguration, names, opts),
    webhooks: [
      {
        name: names.injectWebhook,
        clientConfig: clientConfig(names, '/mutate'),
        rules: [{ apiGroups: [''], apiVersions: ['v1'], resources: ['pods'], operations: ['CREATE'], scope: 'Namespaced' }],
        namespaceSelector: enrolledNamespaceSelector(profile, opts),
        reinvocationPolicy: 'Never',
        ...COMMON,
      },
    ],
  };
}
