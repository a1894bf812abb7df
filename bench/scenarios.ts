/** The admission requests the benchmark sends, as real AdmissionReview v1 bodies. */

function review(kind: { group: string; version: string; kind: string }, resource: string, namespace: string, name: string, object: unknown) {
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: '705ab4f5-6393-11e8-b7cc-42010a800002',
      kind,
      resource: { group: kind.group, version: kind.version, resource },
      requestKind: kind,
      requestResource: { group: kind.group, version: kind.version, resource },
      name,
      namespace,
      operation: 'CREATE',
      userInfo: { username: 'admin', groups: ['system:authenticated'] },
      object,
      oldObject: null,
      dryRun: false,
      options: { apiVersion: 'meta.k8s.io/v1', kind: 'CreateOptions' },
    },
  };
}

const egressKind = { group: 'policy.openservicemesh.io', version: 'v1alpha1', kind: 'Egress' };
const podKind = { group: '', version: 'v1', kind: 'Pod' };

export function validEgress(ns = 'ns-0') {
  return review(egressKind, 'egresses', ns, 'httpbin-80', {
    apiVersion: 'policy.openservicemesh.io/v1alpha1',
    kind: 'Egress',
    metadata: { name: 'httpbin-80', namespace: ns },
    spec: {
      sources: [{ kind: 'ServiceAccount', name: 'curl', namespace: ns }],
      hosts: ['httpbin.org'],
      ports: [{ number: 80, protocol: 'http' }],
      matches: [{ apiGroup: 'specs.smi-spec.io/v1alpha4', kind: 'HTTPRouteGroup', name: 'rg-0' }],
    },
  });
}

export function invalidEgress(ns = 'ns-0') {
  return review(egressKind, 'egresses', ns, 'bad', {
    apiVersion: 'policy.openservicemesh.io/v1alpha1',
    kind: 'Egress',
    metadata: { name: 'bad', namespace: ns },
    spec: {
      sources: [{ kind: 'User', name: 'curl', namespace: ns }],
      hosts: ['http://httpbin.org/get'],
      ports: [{ number: 70000, protocol: 'udp' }],
      matches: [{ apiGroup: 'specs.smi-spec.io/v1alpha4', kind: 'HTTPRouteGroup', name: 'missing' }],
    },
  });
}

function container(name: string) {
  return {
    name,
    image: 'curlimages/curl',
    command: ['/bin/sleep', 'infinity'],
    imagePullPolicy: 'IfNotPresent',
    resources: {},
    terminationMessagePath: '/dev/termination-log',
    terminationMessagePolicy: 'File',
    volumeMounts: [{ name: 'kube-api-access-x', mountPath: '/var/run/secrets/kubernetes.io/serviceaccount', readOnly: true }],
  };
}

export function pod(ns: string, containers: number) {
  const names = containers === 1 ? ['curl'] : Array.from({ length: containers }, (_, i) => `app-${i}`);
  return review(podKind, 'pods', ns, '', {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { generateName: 'curl-54ccc6954c-', labels: { app: 'curl', 'pod-template-hash': '54ccc6954c' } },
    spec: {
      serviceAccountName: 'curl',
      containers: names.map(container),
      restartPolicy: 'Always',
      dnsPolicy: 'ClusterFirst',
      volumes: [{ name: 'kube-api-access-x', projected: { sources: [{ serviceAccountToken: { path: 'token', expirationSeconds: 3607 } }] } }],
    },
  });
}

export interface Scenario {
  name: string;
  path: '/validate' | '/mutate';
  body: unknown;
  /** What a correct answer looks like, checked once before load. */
  expect: 'allowed' | 'denied' | 'patched' | 'skipped';
}

export const SCENARIOS: Scenario[] = [
  { name: 'validate valid Egress', path: '/validate', body: validEgress(), expect: 'allowed' },
  { name: 'validate invalid Egress', path: '/validate', body: invalidEgress(), expect: 'denied' },
  { name: 'mutate curl pod', path: '/mutate', body: pod('ns-0', 1), expect: 'patched' },
  { name: 'mutate 10-container pod', path: '/mutate', body: pod('ns-0', 10), expect: 'patched' },
  { name: 'mutate skipped pod', path: '/mutate', body: pod('not-in-mesh', 1), expect: 'skipped' },
];
