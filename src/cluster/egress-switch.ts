import { z } from 'zod';
import type { Profile } from '../profile.js';
import { describeApiFailure, failureOf, type ApiAction } from './api-errors.js';
import { mergePatchOptions, retryOnConflict, type KubeApi } from './kube-api.js';

/**
 * The mesh-wide egress switches in the profile's MeshConfig, changed exactly as OSM's and FSM's egress docs do with
 * `kubectl patch meshconfig osm-mesh-config -n osm-system --type=merge -p '{"spec":{"traffic":{"enableEgress":true}}}'`
 * (and `featureFlags.enableEgressPolicy` for `--policy on|off`).
 */

export interface EgressSwitches {
  /** `spec.traffic.enableEgress`: passthrough to any external destination. */
  enableEgress: boolean | undefined;
  /** `spec.featureFlags.enableEgressPolicy`: Egress policies are honoured. */
  enableEgressPolicy: boolean | undefined;
}

const MeshConfigSwitches = z
  .object({
    spec: z
      .object({
        traffic: z.object({ enableEgress: z.boolean().optional() }).loose().optional(),
        featureFlags: z.object({ enableEgressPolicy: z.boolean().optional() }).loose().optional(),
      })
      .loose()
      .optional(),
  })
  .loose();

export class MeshConfigError extends Error {
  override name = 'MeshConfigError';
}

function ref(profile: Profile) {
  const mc = profile.meshConfig;
  return { group: mc.group, version: mc.version, plural: 'meshconfigs', namespace: profile.controlNamespace, name: mc.name };
}

function fail(err: unknown, api: KubeApi, profile: Profile, verb: ApiAction['verb']): never {
  const r = ref(profile);
  const f = failureOf(err);
  if (f.code === 404) {
    if (f.message === 'the server could not find the requested resource') {
      throw new MeshConfigError(
        `the MeshConfig CRD meshconfigs.${r.group} is not installed in the cluster at ${api.server}: install the mesh first` +
          (profile.name === 'osm' ? ' (for FSM use --profile fsm)' : ''),
      );
    }
    throw new MeshConfigError(
      `MeshConfig [${r.name}] not found in namespace [${r.namespace}]: is the mesh installed there? If it is installed in another namespace, pass --mesh-namespace NS`,
    );
  }
  throw new MeshConfigError(describeApiFailure(err, { verb, group: r.group, resource: r.plural, name: r.name, namespace: r.namespace }, api.server));
}

export function switchesOf(meshConfig: unknown): EgressSwitches {
  const spec = MeshConfigSwitches.safeParse(meshConfig).data?.spec;
  return { enableEgress: spec?.traffic?.enableEgress, enableEgressPolicy: spec?.featureFlags?.enableEgressPolicy };
}

export async function readEgressSwitches(api: KubeApi, profile: Profile): Promise<EgressSwitches> {
  const r = ref(profile);
  try {
    return switchesOf(await api.custom.getNamespacedCustomObject({ group: r.group, version: r.version, namespace: r.namespace, plural: r.plural, name: r.name }));
  } catch (err) {
    fail(err, api, profile, 'get');
  }
}

/** Merge-patches the switches that are set; retried on 409 Conflict. Returns the switches after. */
export async function setEgressSwitches(api: KubeApi, profile: Profile, wanted: Partial<{ enableEgress: boolean; enableEgressPolicy: boolean }>): Promise<EgressSwitches> {
  const r = ref(profile);
  const spec: Record<string, unknown> = {};
  if (wanted.enableEgress !== undefined) spec.traffic = { enableEgress: wanted.enableEgress };
  if (wanted.enableEgressPolicy !== undefined) spec.featureFlags = { enableEgressPolicy: wanted.enableEgressPolicy };
  try {
    const after = await retryOnConflict(() =>
      api.custom.patchNamespacedCustomObject({ group: r.group, version: r.version, namespace: r.namespace, plural: r.plural, name: r.name, body: { spec } }, mergePatchOptions()),
    );
    return switchesOf(after);
  } catch (err) {
    fail(err, api, profile, 'patch');
  }
}

/** What the two switches mean together, in one line. */
export function describeSwitches(s: EgressSwitches): string {
  const passthrough = s.enableEgress === true;
  const policies = s.enableEgressPolicy === true;
  if (passthrough && policies) return 'passthrough is on: pods in the mesh reach any external destination, so Egress policies restrict nothing (they only add routing rules)';
  if (passthrough) return 'passthrough is on and Egress policies are off: pods in the mesh reach any external destination';
  if (policies) return 'passthrough is off: pods in the mesh reach external destinations only as Egress policies allow';
  return 'passthrough and Egress policies are both off: pods in the mesh cannot reach any external destination (turn policies on with --policy on)';
}

export function meshConfigName(profile: Profile): string {
  return `${profile.controlNamespace}/${profile.meshConfig.name}`;
}
