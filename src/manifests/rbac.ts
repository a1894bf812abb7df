import { EGRESS_GROUPS, SMI_SPECS_GROUP, type Profile } from '../profile.js';
import { commonLabels, type InstallNames } from './names.js';
import type { InstallOptions, KubeObject } from './types.js';

/**
 * Least-privilege RBAC for the server (docs/install.md explains each rule):
 * - cluster-wide read (list/watch, what informers need) of Namespaces and the mesh APIs;
 * - create of TokenReviews: the ADS server learns a sidecar's ServiceAccount from its token;
 * - get/patch of its own two webhook configurations only, by resourceNames, to publish caBundle
 *   (they are created by `meshgate install`, not by the server: create cannot be limited by name);
 * - in its own namespace: get/update of its own certificate Secret by name (the manager
 *   replaces it with a resourceVersion precondition; it never patches it), and create of
 *   Secrets (create cannot be limited by resourceNames, because the name is not known at
 *   authorization time; a Role keeps it inside the control namespace).
 * Nothing cluster-wide on Secrets. With cert-manager the server needs neither Secret nor
 * webhook-configuration access: cert-manager writes the Secret and its cainjector the caBundle.
 * `meshgate namespace`/`egress` run with the user's own credentials, not the server's.
 */
export function serviceAccount(names: InstallNames, meshName: string): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'ServiceAccount',
    metadata: { name: names.serviceAccount, namespace: names.namespace, labels: commonLabels(meshName) },
  };
}

export function clusterRole(profile: Profile, names: InstallNames, opts: Pick<InstallOptions, 'meshName' | 'certManager'>): KubeObject {
  const read = ['list', 'watch'];
  const rules: Record<string, unknown>[] = [
    { apiGroups: [''], resources: ['namespaces'], verbs: read },
    { apiGroups: [profile.meshConfig.group], resources: ['meshconfigs'], verbs: read },
    { apiGroups: [SMI_SPECS_GROUP], resources: ['httproutegroups'], verbs: read },
    { apiGroups: [...EGRESS_GROUPS], resources: ['egresses', 'upstreamtrafficsettings'], verbs: read },
    // The ADS server proves each sidecar's ServiceAccount with a TokenReview (audience meshgate).
    { apiGroups: ['authentication.k8s.io'], resources: ['tokenreviews'], verbs: ['create'] },
  ];
  if (!opts.certManager) {
    rules.push(
      {
        apiGroups: ['admissionregistration.k8s.io'],
        resources: ['validatingwebhookconfigurations'],
        resourceNames: [names.validatingWebhookConfiguration],
        verbs: ['get', 'patch'],
      },
      {
        apiGroups: ['admissionregistration.k8s.io'],
        resources: ['mutatingwebhookconfigurations'],
        resourceNames: [names.mutatingWebhookConfiguration],
        verbs: ['get', 'patch'],
      },
    );
  }
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRole',
    metadata: { name: names.clusterRole, labels: commonLabels(opts.meshName) },
    rules,
  };
}

export function clusterRoleBinding(names: InstallNames, meshName: string): KubeObject {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: { name: names.clusterRoleBinding, labels: commonLabels(meshName) },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: names.clusterRole },
    subjects: [{ kind: 'ServiceAccount', name: names.serviceAccount, namespace: names.namespace }],
  };
}

export function certificateRole(names: InstallNames, meshName: string): KubeObject {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'Role',
    metadata: { name: names.certRole, namespace: names.namespace, labels: commonLabels(meshName) },
    rules: [
      { apiGroups: [''], resources: ['secrets'], resourceNames: [names.tlsSecret], verbs: ['get', 'update'] },
      { apiGroups: [''], resources: ['secrets'], verbs: ['create'] },
    ],
  };
}

export function certificateRoleBinding(names: InstallNames, meshName: string): KubeObject {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: { name: names.certRoleBinding, namespace: names.namespace, labels: commonLabels(meshName) },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: names.certRole },
    subjects: [{ kind: 'ServiceAccount', name: names.serviceAccount, namespace: names.namespace }],
  };
}
