import { certManagerObjects } from './cert-manager.js';
import { allCrds } from './crds.js';
import { defaultMeshConfig } from './mesh-config.js';
import { installNames } from './names.js';
import { controlNamespace } from './namespace.js';
import { certificateRole, certificateRoleBinding, clusterRole, clusterRoleBinding, serviceAccount } from './rbac.js';
import type { InstallOptions, KubeObject } from './types.js';
import { mutatingWebhookConfiguration, validatingWebhookConfiguration } from './webhook-configurations.js';
import { deployment, podDisruptionBudget, service } from './workload.js';

/**
 * The CRDs meshgate's APIs need (`meshgate install --crds`, `manifests/crds/`): a step of their own,
 * applied and established before the rest (whose MeshConfig is one of their objects), and not
 * part of the main install, so that uninstalling meshgate does not delete the CRDs and with them
 * every Egress, HTTPRouteGroup, UpstreamTrafficSetting and MeshConfig in the cluster. OSM and FSM
 * define the same CRDs: whoever installed them first, the objects stay.
 */
export function renderCrds(opts: Pick<InstallOptions, 'profile' | 'bothEgressGroups'>): KubeObject[] {
  return allCrds(opts.profile, opts.bothEgressGroups ?? false);
}

/**
 * Every object of an install but the CRDs (renderCrds), in the order `kubectl apply` needs them:
 * the namespace before what lives in it, and the MeshConfig before the webhook configurations
 * (which validate MeshConfigs and would refuse it while the server is not yet up). The webhook
 * configurations come last so no admission call is made to a server that cannot exist yet.
 */
export function renderInstall(opts: InstallOptions): KubeObject[] {
  const { profile, meshName } = opts;
  const names = installNames(opts);
  return [
    controlNamespace(opts.namespace, meshName),
    defaultMeshConfig(profile, opts),
    serviceAccount(names, meshName),
    clusterRole(profile, names, opts),
    clusterRoleBinding(names, meshName),
    ...(opts.certManager ? certManagerObjects(names, meshName) : [certificateRole(names, meshName), certificateRoleBinding(names, meshName)]),
    service(names, meshName),
    deployment(profile, names, opts),
    podDisruptionBudget(names, meshName),
    validatingWebhookConfiguration(profile, names, opts),
    mutatingWebhookConfiguration(profile, names, opts),
  ];
}
