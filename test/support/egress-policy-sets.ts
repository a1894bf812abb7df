import fc from 'fast-check';
import { compileProxyConfig } from '../../src/egress/compile.js';
import { DEFAULT_SETTINGS } from '../../src/settings.js';
import type { KubeObject } from '../../src/state/types.js';
import { egress, meshConfig, routeGroup, storeWith } from '../policy/helpers.js';

/**
 * Random policy sets for one ServiceAccount (curl/curl), shared by the compiler's property tests
 * and the strict schema check: several policies, ports shared across protocols, duplicate and
 * wildcard hosts, prefixes of both families that nest and overlap, route groups that exist or not,
 * both gates, both profiles.
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

type PolicySet = typeof policySetArb extends fc.Arbitrary<infer T> ? T : never;

export function compileSet(s: PolicySet) {
  const mc =
    s.profile === 'osm'
      ? meshConfig({ traffic: { enableEgress: s.enableEgress }, featureFlags: { enableEgressPolicy: s.enableEgressPolicy } })
      : meshConfig({ traffic: { enableEgress: s.enableEgress }, featureFlags: { enableEgressPolicy: s.enableEgressPolicy } }, 'fsm-mesh-config', 'fsm-system', 'config.flomesh.io/v1alpha3');
  const store = storeWith([mc, ...ROUTE_GROUPS, ...(s.policies as KubeObject[])], s.profile);
  const settings = { ...DEFAULT_SETTINGS, clusterCIDRs: s.ipv6 ? ['10.96.0.0/12', 'fd00::/108'] : ['10.96.0.0/12'] };
  return compileProxyConfig({ namespace: 'curl', name: 'curl' }, store, settings);
}

export { PROPERTY_SEED } from './property-seed.js';

