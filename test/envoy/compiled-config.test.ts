import { expect } from 'chai';
import fc from 'fast-check';
import { compileProxyConfig } from '../../src/egress/compile.js';
import { DEFAULT_SETTINGS } from '../../src/settings.js';
import type { KubeObject } from '../../src/state/types.js';
import { compileSet, policySetArb, PROPERTY_SEED } from '../support/egress-policy-sets.js';
import { meshConfig, objectsIn, storeWith } from '../policy/helpers.js';
import { checkProxyConfig, loadEnvoyRegistry } from '../support/envoy-proto.js';

/**
 * Every resource the egress compiler emits passes the strict proto3-JSON check against Envoy's own
 * .proto files (unknown fields, wrong types, bad enums, unknown @type, deprecated fields, PGV rules):
 * for each step of the seeds' demos, in both profiles, and for random policy sets.
 */
const CLOSED = meshConfig({ traffic: { enableEgress: false }, featureFlags: { enableEgressPolicy: true } });
const OPEN = meshConfig({ traffic: { enableEgress: true }, featureFlags: { enableEgressPolicy: true } });
const FSM_CLOSED = meshConfig({ traffic: { enableEgress: false } }, 'fsm-mesh-config', 'fsm-system', 'config.flomesh.io/v1alpha3');

const steps: [string, 'osm' | 'fsm', KubeObject[]][] = [
  ['no policy, egress closed', 'osm', [CLOSED]],
  ['egress open', 'osm', [OPEN]],
  ...(['httpbin-80', 'httpbin-443', 'tcp-443', 'httpbin-80-route-matches'] as const).map((f): [string, 'osm', KubeObject[]] => [f, 'osm', [CLOSED, ...objectsIn(`examples/policies/osm/${f}.yaml`)]]),
  ['route matches updated', 'osm', [CLOSED, ...objectsIn('examples/policies/osm/httpbin-80-route-matches.yaml'), ...objectsIn('examples/policies/osm/egress-http-route-status.yaml')]],
  ['every osm policy with egress open', 'osm', [OPEN, ...['httpbin-80-route-matches', 'httpbin-443', 'tcp-443'].flatMap((f) => objectsIn(`examples/policies/osm/${f}.yaml`))]],
  ...(['httpbin-80', 'httpbin-443', 'tcp-443', 'httpbin-80-route-matches'] as const).map((f): [string, 'fsm', KubeObject[]] => [`fsm ${f}`, 'fsm', [FSM_CLOSED, ...objectsIn(`examples/policies/fsm/${f}.yaml`)]]),
];

describe('compiled proxy config: strict schema check against Envoy\'s .proto files', function () {
  this.timeout(120000);
  before(() => loadEnvoyRegistry());

  for (const [name, profile, objects] of steps) {
    it(`seed step: ${name} (${profile})`, () => {
      const { config } = compileProxyConfig({ namespace: 'curl', name: 'curl' }, storeWith(objects, profile), DEFAULT_SETTINGS);
      expect(checkProxyConfig(config)).to.deep.equal([]);
    });
  }

  it('UpstreamTrafficSetting fields, IPv6 listener addresses and server-first predicates', () => {
    const uts: KubeObject = { apiVersion: 'policy.openservicemesh.io/v1alpha1', kind: 'UpstreamTrafficSetting', metadata: { name: 'uts', namespace: 'curl' }, spec: { host: 'httpbin.org', connectionSettings: { tcp: { maxConnections: 10, connectTimeout: '2s' }, http: { maxRequests: 20, maxPendingRequests: 5, maxRetries: 2, maxRequestsPerConnection: 7 } } } };
    const policy = (name: string, spec: object): KubeObject => ({ apiVersion: 'policy.openservicemesh.io/v1alpha1', kind: 'Egress', metadata: { name, namespace: 'curl' }, spec: { sources: [{ kind: 'ServiceAccount', name: 'curl', namespace: 'curl' }], ...spec } });
    const objects = [
      CLOSED,
      uts,
      policy('web', { hosts: ['httpbin.org'], ports: [{ number: 80, protocol: 'http' }], matches: [{ apiGroup: 'policy.openservicemesh.io/v1alpha1', kind: 'UpstreamTrafficSetting', name: 'uts' }] }),
      policy('db', { ipAddresses: ['2001:db8::/32', '10.0.0.0/8'], ports: [{ number: 3306, protocol: 'tcp-server-first' }, { number: 25, protocol: 'tcp-server-first' }], matches: [{ apiGroup: 'policy.openservicemesh.io/v1alpha1', kind: 'UpstreamTrafficSetting', name: 'uts' }] }),
    ];
    const { config } = compileProxyConfig({ namespace: 'curl', name: 'curl' }, storeWith(objects), { ...DEFAULT_SETTINGS, clusterCIDRs: ['fd00::/48'] });
    expect(checkProxyConfig(config)).to.deep.equal([]);
  });

  it('random policy sets (150, seeded)', () => {
    fc.assert(
      fc.property(policySetArb, (s) => {
        expect(checkProxyConfig(compileSet(s).config)).to.deep.equal([]);
      }),
      { seed: PROPERTY_SEED, numRuns: 150 },
    );
  });
});
