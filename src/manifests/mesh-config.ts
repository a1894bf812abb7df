import type { Profile } from '../profile.js';
import { commonLabels } from './names.js';
import type { InstallOptions, KubeObject } from './types.js';

/**
 * The default MeshConfig, with OSM v1.2's preset values. Egress is closed (`enableEgress: false`)
 * unless `--enable-egress`: with it open, Egress policies restrict nothing (osm#5335).
 */
export function defaultMeshConfig(profile: Profile, opts: Pick<InstallOptions, 'namespace' | 'meshName' | 'enableEgress'>): KubeObject {
  const logLevelKey = profile.name === 'fsm' ? 'fsmLogLevel' : 'osmLogLevel';
  return {
    apiVersion: `${profile.meshConfig.group}/${profile.meshConfig.version}`,
    kind: 'MeshConfig',
    metadata: { name: profile.meshConfig.name, namespace: opts.namespace, labels: commonLabels(opts.meshName) },
    spec: {
      sidecar: {
        enablePrivilegedInitContainer: false,
        logLevel: 'error',
        maxDataPlaneConnections: 0,
        configResyncInterval: '0s',
        localProxyMode: 'Localhost',
      },
      traffic: {
        enableEgress: opts.enableEgress,
        enablePermissiveTrafficPolicyMode: true,
        outboundIPRangeExclusionList: [],
        outboundIPRangeInclusionList: [],
        outboundPortExclusionList: [],
        inboundPortExclusionList: [],
        networkInterfaceExclusionList: [],
      },
      observability: {
        [logLevelKey]: 'info',
        enableDebugServer: false,
        tracing: { enable: false },
      },
      certificate: {
        serviceCertValidityDuration: '24h',
        certKeyBitSize: 2048,
      },
      featureFlags: {
        enableWASMStats: true,
        enableEgressPolicy: true,
        enableSnapshotCacheMode: false,
        enableAsyncProxyServiceMapping: false,
        enableIngressBackendPolicy: true,
        enableEnvoyActiveHealthChecks: false,
        enableRetryPolicy: false,
      },
    },
  };
}
