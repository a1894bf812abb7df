import { expect } from 'chai';
import fc from 'fast-check';
import { compileProxyConfig } from '../../src/egress/compile.js';
import { checkLoadRules } from '../../src/egress/load-rules.js';
import { DEFAULT_SETTINGS } from '../../src/settings.js';
import type { KubeObject } from '../../src/state/types.js';
import { egress, meshConfig, routeGroup, storeWith } from '../policy/helpers.js';

/**
 * Random policy sets for one ServiceAccount — several policies, ports shared across protocols,
 * duplicate and wildcard hosts, prefixes of both families that nest and overlap — compile to
 * configs that Envoy would load: no rule of checkLoadRules is ever violated. (The strict schema
 * check of the same configs is in test/envoy/compiled-config.test.ts.) Seeded, so a failure replays.
 */
const HOSTS = ['httpbin.org', 'HTTPBIN.org', 'example.com', '*.example.com', 'a.example.com', '*.b.example.com', 'api.example.org'];
const CIDRS = ['10.0.0.0/8', '10.1.0.0/16', '10.1.2.3', '10.1.2.3/32', '192.0.2.0/24', '2001:db8::/32', '2001:db8:1::/48', '203.0.113.7/32'];
const PORTS = [80, 443, 8080, 3306];
const PROTOCOLS = ['http', 'https', 'tcp', 'tcp-server-first', 'HTTP', 'TCP'];
const ROUTE_GROUPS = [
  routeGroup([{ name: 'get', pathRegex: '/get' }, { name: 'status', pathRegex: '/status.*', methods: ['GET', 'HEAD'] }], 'rg-a'),
  routeGroup([{ name: 'any', headers: [{ 'user-agent': '.*curl.*' }] }, { name: 'get', pathRegex: '/get' }], 'rg-b'),
];

const policyArb = (i: number) =>
  fc
    .record({
      hosts: fc.subarray(HOSTS, { maxLength: 4 }),
      ipAddresses: fc.subarray(CIDRS, { maxLength: 3 }),
      ports: fc.uniqueArray(fc.record({ number: fc.constantFrom(...PORTS), protocol: fc.constantFrom(...PROTOCOLS) }), { minLength: 1, maxLength: 3, selector: (p) => `${p.number}/${p.protocol}` }),
      groups: fc.subarray(['rg-a', 'rg-b', 'missing'], { maxLength: 2 }),
      fsmGroup: fc.boolean(),
    })
    .map((p) =>
      egress(
        {
          hosts: p.hosts.length ? p.hosts : undefined,
          ipAddresses: p.ipAddresses.length ? p.ipAddresses : undefined,
          ports: p.ports,
          matches: p.groups.length ? p.groups.map((name) => ({ apiGroup: 'specs.smi-spec.io/v1alpha4', kind: 'HTTPRouteGroup', name })) : undefined,
        },
        { name: `p${i}` },
        p.fsmGroup ? 'policy.flomesh.io' : 'policy.openservicemesh.io',
      ),
    );

export const policySetArb = fc.record({
  policies: fc.integer({ min: 1, max: 6 }).chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => policyArb(i)))),
  enableEgress: fc.boolean(),
  enableEgressPolicy: fc.constantFrom(true, true, true, false, undefined),
  profile: fc.constantFrom('osm' as const, 'fsm' as const),
  ipv6: fc.boolean(),
});

export function compileSet(s: fc.RecordValue<typeof policySetArb> extends infer T ? T : never) {
  const mc =
    s.profile === 'osm'
      ? meshConfig({ traffic: { enableEgress: s.enableEgress }, featureFlags: { enableEgressPolicy: s.enableEgressPolicy } })
      : meshConfig({ traffic: { enableEgress: s.enableEgress }, featureFlags: { enableEgressPolicy: s.enableEgressPolicy } }, 'fsm-mesh-config', 'fsm-system', 'config.flomesh.io/v1alpha3');
  const store = storeWith([mc, ...ROUTE_GROUPS, ...(s.policies as KubeObject[])], s.profile);
  const settings = { ...DEFAULT_SETTINGS, clusterCIDRs: s.ipv6 ? ['10.96.0.0/12', 'fd00::/108'] : ['10.96.0.0/12'] };
  return compileProxyConfig({ namespace: 'curl', name: 'curl' }, store, settings);
}

export const PROPERTY_SEED = 20261203;

describe('egress compiler: properties over random policy sets', () => {
  it('never emits what Envoy refuses at load (400 sets)', () => {
    let withListener = 0;
    fc.assert(
      fc.property(policySetArb, (s) => {
        const { config } = compileSet(s);
        expect(checkLoadRules(config)).to.deep.equal([]);
        if (config.listeners.length) withListener++;
      }),
      { seed: PROPERTY_SEED, numRuns: 400 },
    );
    // The generator must reach the interesting cases, not only empty configs.
    expect(withListener).to.be.greaterThan(200);
  });

  it('is deterministic: compiling the same set twice gives the same bytes', () => {
    fc.assert(
      fc.property(policySetArb, (s) => {
        expect(JSON.stringify(compileSet(s).config)).to.equal(JSON.stringify(compileSet(s).config));
      }),
      { seed: PROPERTY_SEED, numRuns: 100 },
    );
  });

  it('a policy with the listener-level gates off (enableEgressPolicy false, egress closed) yields no listener', () => {
    fc.assert(
      fc.property(policySetArb, (s) => {
        const { config } = compileSet({ ...s, enableEgress: false, enableEgressPolicy: false });
        expect(config.listeners).to.deep.equal([]);
      }),
      { seed: PROPERTY_SEED, numRuns: 50 },
    );
  });
});
