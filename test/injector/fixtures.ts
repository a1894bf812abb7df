/** Shared fixtures for the injector tests: the seeds' curl pod, mesh states, admission inputs. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { resolveProfile, type Profile, type ProfileName } from '../../src/profile.js';
import { storeFromObjects } from '../../src/cluster/state-dir.js';
import type { MeshState } from '../../src/state/mesh-state.js';
import type { MeshConfigSpec } from '../../src/state/types.js';
import { DEFAULT_SETTINGS, type MeshgateSettings } from '../../src/settings.js';
import type { AdmissionInput } from '../../src/vocabulary/admission.js';

/** A fixed CA certificate standing for meshgate's (the sidecar's xDS roots); also `--xds-ca` in CLI tests. */
export const XDS_CA_PATH = fileURLToPath(new URL('./xds-ca.crt', import.meta.url));
export const XDS_CA_PEM = readFileSync(XDS_CA_PATH, 'utf8');

/** Fixed settings so goldens do not move with package.json's version or the defaults. */
export const SETTINGS: MeshgateSettings = {
  ...DEFAULT_SETTINGS,
  clusterCIDRs: ['10.244.0.0/16', '10.96.0.0/12'],
  sidecarMode: 'classic',
  bypassGuard: 'deny',
  iptablesBackend: 'auto',
  defaultSidecarImage: 'envoyproxy/envoy-distroless:v1.34.1',
  defaultInitImage: 'meshgate/meshgate-init:0.1.0',
  version: '0.1.0',
  xds: { serviceName: 'meshgate', port: 15128, caPem: XDS_CA_PEM },
};

/**
 * The pod kube-apiserver hands the webhook for the OSM curl sample Deployment (seed 004:
 * `docs/example/manifests/samples/curl/curl.yaml`): no namespace and only generateName on CREATE.
 */
export function curlPod(): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      generateName: 'curl-54ccc6954c-',
      labels: { app: 'curl', 'pod-template-hash': '54ccc6954c' },
    },
    spec: {
      serviceAccountName: 'curl',
      nodeSelector: { 'kubernetes.io/os': 'linux' },
      containers: [{ name: 'curl', image: 'curlimages/curl', imagePullPolicy: 'IfNotPresent', command: ['/bin/sleep', 'infinity'] }],
    },
  };
}

/** The curl sample as `kubectl apply -f` sees it (ServiceAccount, Service, Deployment). */
export const CURL_YAML = `apiVersion: v1
kind: ServiceAccount
metadata:
  name: curl
---
apiVersion: v1
kind: Service
metadata:
  name: curl
  labels:
    app: curl
    service: curl
spec:
  ports:
  - name: http
    port: 80
  selector:
    app: curl
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: curl
spec:
  replicas: 1
  selector:
    matchLabels:
      app: curl
  template:
    metadata:
      labels:
        app: curl
    spec:
      serviceAccountName: curl
      nodeSelector:
        kubernetes.io/os: linux
      containers:
      - image: curlimages/curl
        imagePullPolicy: IfNotPresent
        name: curl
        command: ["/bin/sleep", "infinity"]
`;

export interface StateOptions {
  profile?: ProfileName;
  /** Namespaces: name → labels/annotations. */
  namespaces?: Record<string, { labels?: Record<string, string>; annotations?: Record<string, string> }>;
  meshConfig?: MeshConfigSpec;
}

export function profileOf(name: ProfileName = 'osm'): Profile {
  return resolveProfile(name);
}

/** Labels and annotation `meshgate namespace add` would set for the profile. */
export function enrolled(profile: Profile): { labels: Record<string, string>; annotations: Record<string, string> } {
  return {
    labels: { [`${profile.domain}/monitored-by`]: profile.meshName },
    annotations: { [`${profile.domain}/sidecar-injection`]: 'enabled' },
  };
}

export function meshState(o: StateOptions = {}): MeshState {
  const profile = profileOf(o.profile);
  const objects: unknown[] = Object.entries(o.namespaces ?? {}).map(([name, ns]) => ({
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name, labels: ns.labels ?? {}, annotations: ns.annotations ?? {} },
  }));
  if (o.meshConfig) {
    objects.push({
      apiVersion: `${profile.meshConfig.group}/${profile.meshConfig.version}`,
      kind: 'MeshConfig',
      metadata: { name: profile.meshConfig.name, namespace: profile.controlNamespace },
      spec: o.meshConfig,
    });
  }
  return storeFromObjects(profile, objects);
}

/** A mesh with namespace `curl` enrolled (label + annotation), egress per the argument. */
export function curlMesh(profile: ProfileName = 'osm', meshConfig: MeshConfigSpec = { traffic: { enableEgress: false } }): MeshState {
  return meshState({ profile, namespaces: { curl: enrolled(profileOf(profile)) }, meshConfig });
}

export function podAdmission(pod: unknown, namespace = 'curl', operation: AdmissionInput['operation'] = 'CREATE'): AdmissionInput {
  return {
    uid: '705ab4f5-6393-11e8-b7cc-42010a800002',
    kind: { group: '', version: 'v1', kind: 'Pod' },
    operation,
    namespace,
    name: '',
    object: pod as AdmissionInput['object'],
    oldObject: undefined,
    dryRun: false,
  };
}
