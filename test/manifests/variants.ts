import { defaultInstallOptions } from '../../src/manifests/defaults.js';
import type { InstallOptions } from '../../src/manifests/types.js';
import { resolveProfile } from '../../src/profile.js';

const fsm = resolveProfile('fsm');

/** The install variants the tests render, each with its golden file. */
export const VARIANTS: Record<string, InstallOptions> = {
  osm: defaultInstallOptions(),
  fsm: { ...defaultInstallOptions(), profile: fsm, namespace: fsm.controlNamespace, meshName: fsm.meshName },
  'osm-cert-manager-egress': { ...defaultInstallOptions(), certManager: true, enableEgress: true },
  'fsm-both-egress-groups': {
    ...defaultInstallOptions(),
    profile: fsm,
    namespace: fsm.controlNamespace,
    meshName: fsm.meshName,
    bothEgressGroups: true,
    replicas: 3,
  },
};
