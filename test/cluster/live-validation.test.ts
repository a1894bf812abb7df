import { expect } from 'chai';
import { KubeConfig } from '@kubernetes/client-node';
import { createClusterStateSource, type ClusterStateSource } from '../../src/cluster/informer-state.js';
import { validateAdmission } from '../../src/validate-admission.js';
import { resolveProfile } from '../../src/profile.js';
import { DEFAULT_SETTINGS } from '../../src/settings.js';
import type { AdmissionInput } from '../../src/vocabulary/admission.js';
import { FakeApiServer } from '../support/fake-apiserver.js';
import { capturingLogger, eventually } from '../support/fake-apiserver/wait.js';

/** The seed's Egress (FSM egress docs) that references an HTTPRouteGroup by name. */
const egress = {
  apiVersion: 'policy.openservicemesh.io/v1alpha1',
  kind: 'Egress',
  metadata: { name: 'httpbin-80', namespace: 'curl' },
  spec: {
    sources: [{ kind: 'ServiceAccount', name: 'curl', namespace: 'curl' }],
    hosts: ['httpbin.org'],
    ports: [{ number: 80, protocol: 'http' }],
    matches: [{ apiGroup: 'specs.smi-spec.io/v1alpha4', kind: 'HTTPRouteGroup', name: 'egress-http-route' }],
  },
};

const review = (): AdmissionInput => ({
  uid: '6f1c2a4e-0000-4000-8000-000000000001',
  kind: { group: 'policy.openservicemesh.io', version: 'v1alpha1', kind: 'Egress' },
  operation: 'CREATE',
  namespace: 'curl',
  name: 'httpbin-80',
  object: structuredClone(egress),
  oldObject: undefined,
  dryRun: false,
});

describe('webhook rules answering from live cluster state (end to end through the informers)', () => {
  let api: FakeApiServer;
  let source: ClusterStateSource | undefined;

  beforeEach(async () => {
    api = await FakeApiServer.start();
    api.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'osm-system' } });
    api.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'curl', labels: { 'openservicemesh.io/monitored-by': 'osm' } } });
    api.create({
      apiVersion: 'config.openservicemesh.io/v1alpha2',
      kind: 'MeshConfig',
      metadata: { name: 'osm-mesh-config', namespace: 'osm-system' },
      spec: { traffic: { enableEgress: false }, featureFlags: { enableEgressPolicy: true } },
    });
  });
  afterEach(async () => {
    await source?.stop();
    source = undefined;
    await api.close();
  });

  it('an Egress referencing a missing route group is NotFound on spec.matches[0].name, and valid once the group exists', async () => {
    const kc = new KubeConfig();
    kc.loadFromFile(await api.kubeconfig());
    source = createClusterStateSource({ profile: resolveProfile('osm'), logger: capturingLogger().logger, kubeConfig: kc });
    await source.start();
    await eventually('ready', () => source!.ready());

    const before = validateAdmission(review(), source.state, DEFAULT_SETTINGS);
    expect(before.errors).to.deep.equal([{ type: 'FieldValueNotFound', field: 'spec.matches[0].name', message: 'Not found: "egress-http-route"' }]);

    api.create({
      apiVersion: 'specs.smi-spec.io/v1alpha4',
      kind: 'HTTPRouteGroup',
      metadata: { name: 'egress-http-route', namespace: 'curl' },
      spec: { matches: [{ name: 'get', pathRegex: '/get' }] },
    });
    await eventually('route group in the live state', () => source!.state.httpRouteGroup('curl', 'egress-http-route'));
    const after = validateAdmission(review(), source.state, DEFAULT_SETTINGS);
    expect(after.errors).to.deep.equal([]);

    // And back: deleting the group makes the reference dangle again.
    api.remove('specs.smi-spec.io/v1alpha4', 'HTTPRouteGroup', 'egress-http-route', 'curl');
    await eventually('route group gone from the live state', () => !source!.state.httpRouteGroup('curl', 'egress-http-route'));
    expect(validateAdmission(review(), source.state, DEFAULT_SETTINGS).errors.map((e) => e.field)).to.deep.equal(['spec.matches[0].name']);
  });
});
