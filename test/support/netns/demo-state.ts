import { meshKeys, resolveProfile, type ProfileName } from '../../../src/profile.js';
import type { KubeObject } from '../../../src/manifests/types.js';

/**
 * The cluster before OSM's and FSM's egress demos: the enrolled curl namespace, the control
 * namespace, and the MeshConfig as the demos' first step patches it (Egress policies on, egress
 * passthrough off).
 */
export function demoBaseState(p: ProfileName): KubeObject[] {
  const profile = resolveProfile(p);
  const keys = meshKeys(profile);
  return [
    {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: 'curl', labels: { 'kubernetes.io/metadata.name': 'curl', [keys.monitoredBy]: profile.meshName }, annotations: { [keys.sidecarInjection]: 'enabled' } },
    },
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: profile.controlNamespace, labels: { 'kubernetes.io/metadata.name': profile.controlNamespace } } },
    {
      apiVersion: `${profile.meshConfig.group}/${profile.meshConfig.version}`,
      kind: 'MeshConfig',
      metadata: { name: profile.meshConfig.name, namespace: profile.controlNamespace },
      spec: { traffic: { enableEgress: false }, featureFlags: { enableEgressPolicy: true } },
    },
  ];
}
