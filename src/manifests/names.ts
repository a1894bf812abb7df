import { MESHGATE_DOMAIN } from '../profile.js';
import { serviceDnsNames } from '../certs/generate.js';
import type { InstallOptions } from './types.js';

/**
 * Every name an install uses, in one place, so the manifests, the server's flags and the
 * certificate manager agree. Webhook configuration and webhook names are fully qualified
 * (≥ 3 DNS labels, as kube-apiserver requires of webhook names) and carry the mesh name, so two
 * meshes in one cluster do not collide.
 */
export function installNames(opts: Pick<InstallOptions, 'namespace' | 'meshName'>) {
  const mesh = opts.meshName;
  const app = 'meshgate';
  return {
    app,
    namespace: opts.namespace,
    serviceAccount: app,
    deployment: app,
    service: app,
    podDisruptionBudget: app,
    /** The Secret holding the CA and serving certificate (self-managed or cert-manager's). */
    tlsSecret: `${app}-webhook-tls`,
    clusterRole: `${app}-${mesh}`,
    clusterRoleBinding: `${app}-${mesh}`,
    certRole: `${app}-certificates`,
    certRoleBinding: `${app}-certificates`,
    validatingWebhookConfiguration: `meshgate-validator.${mesh}.${MESHGATE_DOMAIN}`,
    mutatingWebhookConfiguration: `meshgate-injector.${mesh}.${MESHGATE_DOMAIN}`,
    policyWebhook: `policy.${mesh}.${MESHGATE_DOMAIN}`,
    podGuardWebhook: `pod-guard.${mesh}.${MESHGATE_DOMAIN}`,
    injectWebhook: `inject.${mesh}.${MESHGATE_DOMAIN}`,
    /** cert-manager mode. */
    selfSignedIssuer: `${app}-selfsigned`,
    caCertificate: `${app}-ca`,
    caSecret: `${app}-ca`,
    caIssuer: `${app}-ca`,
    servingCertificate: `${app}-webhook`,
    /** Where the Deployment mounts the cert-manager Secret. */
    tlsMountPath: '/etc/meshgate/tls',
    serviceDnsNames: serviceDnsNames(app, opts.namespace),
  } as const;
}

export type InstallNames = ReturnType<typeof installNames>;

/** Labels on every object meshgate installs; the first two also select the server's pods. */
export function selectorLabels(meshName: string): Record<string, string> {
  return { 'app.kubernetes.io/name': 'meshgate', 'app.kubernetes.io/instance': meshName };
}

export function commonLabels(meshName: string): Record<string, string> {
  return { ...selectorLabels(meshName), 'app.kubernetes.io/part-of': 'meshgate' };
}

/** Label on the CRDs so they can be applied (and waited for) before the rest. */
export const COMPONENT_LABEL = `${MESHGATE_DOMAIN}/component`;
