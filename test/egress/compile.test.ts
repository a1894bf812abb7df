import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { compileProxyConfig } from '../../src/egress/compile.js';
import { canonicalize } from '../../src/egress/canonical.js';
import { checkLoadRules } from '../../src/egress/load-rules.js';
import type { ProxyConfig } from '../../src/egress/proxy-config.js';
import { DEFAULT_SETTINGS } from '../../src/settings.js';
import type { MeshStore } from '../../src/state/store.js';
import type { KubeObject } from '../../src/state/types.js';
import { egress, meshConfig, objectsIn, routeGroup, storeWith } from '../policy/helpers.js';

/**
 * The egress compiler on the seeds' policies and on the combinations that broke OSM. Every config
 * compiled here also passes the load-time rules (the property test in compile-properties.test.ts
 * does the same on random policy sets, and envoy-proto checks the schema).
 */
const CURL = { namespace: 'curl', name: 'curl' };
const CLOSED = meshConfig({ traffic: { enableEgress: false }, featureFlags: { enableEgressPolicy: true } });
const OPEN = meshConfig({ traffic: { enableEgress: true }, featureFlags: { enableEgressPolicy: true } });
const OSM = 'examples/policies/osm';

function compile(objects: KubeObject[], profile: 'osm' | 'fsm' = 'osm', settings = DEFAULT_SETTINGS) {
  const store = storeWith(objects, profile);
  const result = compileProxyConfig(CURL, store, settings);
  expect(checkLoadRules(result.config), 'load-time rules').to.deep.equal([]);
  for (const r of [...result.config.listeners, ...result.config.routeConfigurations, ...result.config.clusters]) {
    expect(JSON.stringify(r), 'canonical JSON').to.equal(JSON.stringify(canonicalize(r)));
  }
  return result;
}

type Obj = { [k: string]: any };
const listener = (c: ProxyConfig) => c.listeners[0] as Obj | undefined;
const chains = (c: ProxyConfig) => (listener(c)?.filter_chains ?? []) as Obj[];
const chainNamed = (c: ProxyConfig, name: string) => chains(c).find((x) => x.name === name);
const routeConfig = (c: ProxyConfig, name: string) => c.routeConfigurations.find((r) => (r as Obj).name === name) as Obj | undefined;
const clusterNames = (c: ProxyConfig) => c.clusters.map((x) => (x as Obj).name);
const policiesOf = (x: Obj) => x.metadata.filter_metadata['meshgate.io'].policies;

describe('egress compiler: the seeds (OSM egress policy demo)', () => {
  it('no policy and egress closed: no listener, no routes, no clusters (curl exits 7)', () => {
    const { config } = compile([CLOSED]);
    expect(config.listeners).to.deep.equal([]);
    expect(config.routeConfigurations).to.deep.equal([]);
    expect(config.clusters).to.deep.equal([]);
  });

  it('httpbin-80: an HTTP chain on port 80, a virtual host for httpbin.org, a DNS cluster for the host', () => {
    const { config } = compile([CLOSED, ...objectsIn(`${OSM}/httpbin-80.yaml`)]);
    expect(chains(config).map((x) => x.name)).to.deep.equal(['http-80']);
    expect(chainNamed(config, 'http-80')!.filter_chain_match).to.deep.equal({
      application_protocols: ['http/1.0', 'http/1.1', 'h2c'],
      destination_port: 80,
      transport_protocol: 'raw_buffer',
    });
    const vhosts = routeConfig(config, 'egress-http-80')!.virtual_hosts;
    expect(vhosts).to.have.length(1);
    expect(vhosts[0].domains).to.deep.equal(['httpbin.org', 'httpbin.org:80']);
    expect(vhosts[0].routes).to.deep.equal([
      {
        match: { prefix: '/' },
        metadata: { filter_metadata: { 'meshgate.io': { policies: ['curl/httpbin-80'] } } },
        name: 'curl/httpbin-80',
        route: { cluster: 'httpbin.org:80', timeout: '0s' },
      },
    ]);
    const cluster = config.clusters.find((x) => (x as Obj).name === 'httpbin.org:80') as Obj;
    expect(cluster.type).to.equal('LOGICAL_DNS');
    expect(cluster.dns_lookup_family).to.equal('V4_PREFERRED');
    expect(cluster.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address).to.deep.equal({ address: 'httpbin.org', port_value: 80 });
  });

  it('httpbin-443: an SNI chain whose upstream is the SNI name resolved by the proxy on 443', () => {
    const { config } = compile([CLOSED, ...objectsIn(`${OSM}/httpbin-443.yaml`)]);
    const chain = chainNamed(config, 'https-443')!;
    expect(chain.filter_chain_match).to.deep.equal({ destination_port: 443, server_names: ['httpbin.org'] });
    expect(chain.filters.map((f: Obj) => f.name)).to.deep.equal(['envoy.filters.network.sni_dynamic_forward_proxy', 'envoy.filters.network.tcp_proxy']);
    expect(chain.filters[0].typed_config.port_value).to.equal(443);
    expect(chain.filters[1].typed_config.cluster).to.equal('egress-dynamic-forward-proxy');
    expect(clusterNames(config)).to.deep.equal(['egress-dynamic-forward-proxy']);
  });

  it('tcp-443: any destination on port 443, to the original destination', () => {
    const { config } = compile([CLOSED, ...objectsIn(`${OSM}/tcp-443.yaml`)]);
    expect(chains(config)).to.have.length(1);
    expect(chains(config)[0]!.filter_chain_match).to.deep.equal({ destination_port: 443 });
    const cluster = config.clusters[0] as Obj;
    expect([cluster.name, cluster.type, cluster.lb_policy]).to.deep.equal(['egress-tcp-443', 'ORIGINAL_DST', 'CLUSTER_PROVIDED']);
  });

  it('route matches: /get only, as a full RE2 match; the updated route group adds /status.*', () => {
    const { config } = compile([CLOSED, ...objectsIn(`${OSM}/httpbin-80-route-matches.yaml`)]);
    const routes = routeConfig(config, 'egress-http-80')!.virtual_hosts[0].routes;
    expect(routes.map((r: Obj) => [r.name, r.match])).to.deep.equal([['curl/httpbin-80/egress-http-route/get', { safe_regex: { regex: '/get' } }]]);
    const updated = compile([CLOSED, ...objectsIn(`${OSM}/httpbin-80-route-matches.yaml`), ...objectsIn(`${OSM}/egress-http-route-status.yaml`)]).config;
    expect(routeConfig(updated, 'egress-http-80')!.virtual_hosts[0].routes.map((r: Obj) => r.match)).to.deep.equal([
      { safe_regex: { regex: '/get' } },
      { safe_regex: { regex: '/status.*' } },
    ]);
    const hcm = chainNamed(updated, 'http-80')!.filters[0].typed_config;
    expect([hcm.normalize_path, hcm.merge_slashes]).to.deep.equal([true, true]);
  });

  it('a missing HTTPRouteGroup allows no request on that host (fail closed), with a warning', () => {
    const result = compile([CLOSED, ...objectsIn(`${OSM}/httpbin-80-route-matches.yaml`).filter((o) => o.kind === 'Egress')]);
    expect(routeConfig(result.config, 'egress-http-80')!.virtual_hosts[0].routes).to.deep.equal([]);
    expect(result.warnings.join('\n')).to.match(/HTTPRouteGroup curl\/egress-http-route does not exist/);
  });

  it('methods and SMI headers (list of single-key maps) become header matchers', () => {
    const group = routeGroup([{ name: 'api', pathRegex: '/api/.*', methods: ['POST', 'GET'], headers: [{ 'User-Agent': '.*-http-client/.*' }] }]);
    const policy = egress({ matches: [{ apiGroup: 'specs.smi-spec.io/v1alpha4', kind: 'HTTPRouteGroup', name: 'egress-http-route' }] });
    const { config } = compile([CLOSED, group, policy]);
    expect(routeConfig(config, 'egress-http-80')!.virtual_hosts[0].routes[0].match).to.deep.equal({
      safe_regex: { regex: '/api/.*' },
      headers: [
        { name: ':method', string_match: { safe_regex: { regex: 'GET|POST' } } },
        { name: 'user-agent', string_match: { safe_regex: { regex: '.*-http-client/.*' } } },
      ],
    });
  });
});

describe('egress compiler: gates and profiles', () => {
  it('enableEgress: true with no policy: a listener whose default chain passes everything through', () => {
    const { config } = compile([OPEN]);
    expect(chains(config)).to.deep.equal([]);
    expect(listener(config)!.default_filter_chain.filters[0].typed_config.cluster).to.equal('passthrough-outbound');
    expect(clusterNames(config)).to.deep.equal(['passthrough-outbound']);
  });

  it('enableEgress: true with an http policy: unlisted hosts go to the original destination', () => {
    const { config } = compile([OPEN, ...objectsIn(`${OSM}/httpbin-80.yaml`)]);
    const star = routeConfig(config, 'egress-http-80')!.virtual_hosts.find((v: Obj) => v.domains.includes('*'));
    expect(star.routes[0].route.cluster).to.equal('passthrough-outbound');
  });

  it('enableEgressPolicy: false ignores every Egress policy', () => {
    const off = meshConfig({ traffic: { enableEgress: false }, featureFlags: { enableEgressPolicy: false } });
    expect(compile([off, ...objectsIn(`${OSM}/httpbin-80.yaml`)]).config.listeners).to.deep.equal([]);
  });

  it('fsm profile: 403 "Access denied" for unlisted hosts and for unmatched paths', () => {
    const fsmConfig = meshConfig({ traffic: { enableEgress: false } }, 'fsm-mesh-config', 'fsm-system', 'config.flomesh.io/v1alpha3');
    const objects = objectsIn('examples/policies/fsm/httpbin-80-route-matches.yaml');
    const { config } = compile([fsmConfig, ...objects], 'fsm');
    const vhosts = routeConfig(config, 'egress-http-80')!.virtual_hosts;
    const star = vhosts.find((v: Obj) => v.domains.includes('*'));
    expect(star.routes[0].direct_response).to.deep.equal({ status: 403, body: { inline_string: 'Access denied' } });
    const host = vhosts.find((v: Obj) => v.domains.includes('httpbin.org'));
    expect(host.routes.at(-1).direct_response.status).to.equal(403);
  });

  it('Egresses of both API groups select by source ServiceAccount; others are not read', () => {
    const fsmPolicy = egress({ hosts: ['example.org'] }, { name: 'fsm-80' }, 'policy.flomesh.io');
    const other = egress({ sources: [{ kind: 'ServiceAccount', name: 'other', namespace: 'curl' }], hosts: ['other.org'] }, { name: 'other' });
    const { config } = compile([CLOSED, ...objectsIn(`${OSM}/httpbin-80.yaml`), fsmPolicy, other]);
    const vhosts = routeConfig(config, 'egress-http-80')!.virtual_hosts.map((v: Obj) => v.name);
    expect(vhosts).to.deep.equal(['example.org:80', 'httpbin.org:80']);
  });

  it('IPv6 cluster ranges: the listener also listens on [::]:15001', () => {
    const { config } = compile([CLOSED, ...objectsIn(`${OSM}/tcp-443.yaml`)], 'osm', { ...DEFAULT_SETTINGS, clusterCIDRs: ['fd00::/48'] });
    expect(listener(config)!.additional_addresses).to.deep.equal([{ address: { socket_address: { address: '::', port_value: 15001 } } }]);
  });
});

describe('egress compiler: overlaps merge instead of breaking the listener (osm#5231)', () => {
  it('tcp 443 and https 443 with no hosts: one chain, not two with the same match', () => {
    const https = egress({ hosts: undefined, ports: [{ number: 443, protocol: 'https' }] }, { name: 'any-sni' });
    const { config } = compile([CLOSED, https, ...objectsIn(`${OSM}/tcp-443.yaml`)]);
    expect(chains(config).map((x) => [x.name, policiesOf(x)])).to.deep.equal([['tcp-443', ['curl/any-sni', 'curl/tcp-443']]]);
  });

  it('the same host in two policies: one virtual host, routes naming both policies', () => {
    const a = egress({}, { name: 'a' });
    const b = egress({ hosts: ['HTTPBIN.org', 'example.org'] }, { name: 'b' });
    const { config } = compile([CLOSED, a, b]);
    const vhosts = routeConfig(config, 'egress-http-80')!.virtual_hosts;
    expect(vhosts.map((v: Obj) => v.name)).to.deep.equal(['example.org:80', 'httpbin.org:80']);
    expect(policiesOf(vhosts[1].routes[0])).to.deep.equal(['curl/a', 'curl/b']);
    expect(policiesOf(chainNamed(config, 'http-80')!)).to.deep.equal(['curl/a', 'curl/b']);
  });

  it('http and tcp on one port: {P, raw_buffer, HTTP ALPN}, {P, raw_buffer} for other plaintext, and {P} for TLS', () => {
    const tcp80 = egress({ hosts: undefined, ports: [{ number: 80, protocol: 'tcp' }] }, { name: 'tcp-80' });
    const { config } = compile([CLOSED, ...objectsIn(`${OSM}/httpbin-80.yaml`), tcp80]);
    expect(chains(config).map((x) => [x.name, x.filter_chain_match])).to.deep.equal([
      ['http-80', { application_protocols: ['http/1.0', 'http/1.1', 'h2c'], destination_port: 80, transport_protocol: 'raw_buffer' }],
      ['tcp-80', { destination_port: 80 }],
      ['tcp-80-plaintext', { destination_port: 80, transport_protocol: 'raw_buffer' }],
    ]);
  });

  it('a prefix-ranged policy repeats the broader rules in its branch (Envoy never backtracks)', () => {
    const ranged = egress({ hosts: undefined, ipAddresses: ['203.0.113.7/24'], ports: [{ number: 5432, protocol: 'tcp' }] }, { name: 'db' });
    const sni = egress({ hosts: ['db.example.com'], ports: [{ number: 5432, protocol: 'https' }] }, { name: 'sni' });
    const { config } = compile([CLOSED, ranged, sni]);
    expect(chains(config).map((x) => [x.name, x.filter_chain_match])).to.deep.equal([
      ['https-5432', { destination_port: 5432, server_names: ['db.example.com'] }],
      ['https-5432-ranges-1', { destination_port: 5432, prefix_ranges: [{ address_prefix: '203.0.113.0', prefix_len: 24 }], server_names: ['db.example.com'] }],
      ['tcp-5432-ranges-1', { destination_port: 5432, prefix_ranges: [{ address_prefix: '203.0.113.0', prefix_len: 24 }] }],
    ]);
  });

  it('prefixes with the same rules share one chain; both address families', () => {
    const p = egress({ hosts: undefined, ipAddresses: ['192.0.2.0/25', '2001:db8::/32'], ports: [{ number: 22, protocol: 'tcp' }] }, { name: 'ssh' });
    const { config } = compile([CLOSED, p]);
    expect(chains(config).map((x) => [x.name, x.filter_chain_match.prefix_ranges])).to.deep.equal([
      ['tcp-22-ranges-1', [{ address_prefix: '192.0.2.0', prefix_len: 25 }, { address_prefix: '2001:db8::', prefix_len: 32 }]],
    ]);
  });

  it('server-first ports: port chains only, both inspectors disabled there (or_match for two ports)', () => {
    const one = egress({ hosts: undefined, ports: [{ number: 3306, protocol: 'tcp-server-first' }] }, { name: 'mysql' });
    const single = compile([CLOSED, one]).config;
    for (const f of listener(single)!.listener_filters.slice(1)) expect(f.filter_disabled).to.deep.equal({ destination_port_range: { start: 3306, end: 3307 } });
    const two = egress({ hosts: undefined, ports: [{ number: 25, protocol: 'TCP-Server-First' }] }, { name: 'smtp' });
    const both = compile([CLOSED, one, two]).config;
    expect(listener(both)!.listener_filters[1].filter_disabled).to.deep.equal({
      or_match: { rules: [{ destination_port_range: { start: 25, end: 26 } }, { destination_port_range: { start: 3306, end: 3307 } }] },
    });
  });

  it('a stored conflict on a server-first port keeps the port chain and drops the http rule, with a warning', () => {
    const sf = egress({ hosts: undefined, ports: [{ number: 8080, protocol: 'tcp-server-first' }] }, { name: 'sf' });
    const http = egress({ ports: [{ number: 8080, protocol: 'http' }] }, { name: 'web' });
    const result = compile([CLOSED, sf, http]);
    expect(chains(result.config).map((x) => x.name)).to.deep.equal(['tcp-8080']);
    expect(result.warnings.join('\n')).to.match(/curl\/web: http on port 8080 is ignored/);
  });

  it('wildcard hosts: the forward proxy cluster; off port 80 only *.h:P domains', () => {
    const w = egress({ hosts: ['*.example.com'], ports: [{ number: 80, protocol: 'http' }, { number: 8080, protocol: 'http' }] }, { name: 'w' });
    const { config } = compile([CLOSED, w]);
    expect(routeConfig(config, 'egress-http-80')!.virtual_hosts[0].domains).to.deep.equal(['*.example.com', '*.example.com:80']);
    expect(routeConfig(config, 'egress-http-8080')!.virtual_hosts[0].domains).to.deep.equal(['*.example.com:8080']);
    expect(routeConfig(config, 'egress-http-8080')!.virtual_hosts[0].routes[0].route.cluster).to.equal('egress-dynamic-forward-proxy');
  });

  it('an unparseable regex in a stored route group drops that match, not the route table', () => {
    const group = routeGroup([{ name: 'bad', pathRegex: '/(?=x)' }, { name: 'good', pathRegex: '/ok' }]);
    const policy = egress({ matches: [{ apiGroup: 'specs.smi-spec.io/v1alpha4', kind: 'HTTPRouteGroup', name: 'egress-http-route' }] });
    const result = compile([CLOSED, group, policy]);
    expect(routeConfig(result.config, 'egress-http-80')!.virtual_hosts[0].routes.map((r: Obj) => r.match.safe_regex.regex)).to.deep.equal(['/ok']);
    expect(result.warnings.join('\n')).to.match(/match "bad" is ignored/);
  });
});

describe('egress compiler: UpstreamTrafficSetting, as OSM applies it', () => {
  const uts = (spec: unknown, name = 'uts'): KubeObject => ({ apiVersion: 'policy.openservicemesh.io/v1alpha1', kind: 'UpstreamTrafficSetting', metadata: { name, namespace: 'curl' }, spec });
  const ref = { apiGroup: 'policy.openservicemesh.io/v1alpha1', kind: 'UpstreamTrafficSetting', name: 'uts' };

  it('connection settings become the cluster connect timeout, circuit breakers and requests per connection', () => {
    const setting = uts({ host: 'httpbin.org', connectionSettings: { tcp: { maxConnections: 10, connectTimeout: '1m30s' }, http: { maxRequests: 20, maxPendingRequests: 5, maxRetries: 2, maxRequestsPerConnection: 7 } } });
    const { config } = compile([CLOSED, setting, egress({ matches: [ref] })]);
    const cluster = config.clusters.find((x) => (x as Obj).name === 'httpbin.org:80') as Obj;
    expect(cluster.connect_timeout).to.equal('90s');
    expect(cluster.circuit_breakers).to.deep.equal({ thresholds: [{ max_connections: 10, max_pending_requests: 5, max_requests: 20, max_retries: 2 }] });
    expect(cluster.typed_extension_protocol_options['envoy.extensions.upstreams.http.v3.HttpProtocolOptions'].common_http_protocol_options).to.deep.equal({ max_requests_per_connection: 7 });
  });

  it('a policy whose UpstreamTrafficSetting does not exist is dropped, with a warning', () => {
    const result = compile([CLOSED, egress({ matches: [ref] })]);
    expect(result.config.listeners).to.deep.equal([]);
    expect(result.warnings.join('\n')).to.match(/ignored: the UpstreamTrafficSetting/);
  });
});

describe('egress compiler: deterministic output', () => {
  const objects = (): KubeObject[] => [
    CLOSED,
    ...objectsIn(`${OSM}/httpbin-80-route-matches.yaml`),
    ...objectsIn(`${OSM}/httpbin-443.yaml`),
    ...objectsIn(`${OSM}/tcp-443.yaml`),
    egress({ hosts: undefined, ipAddresses: ['10.0.0.0/8'], ports: [{ number: 443, protocol: 'tcp' }] }, { name: 'ranged' }),
  ];

  it('the same state in any insertion order gives byte-identical output and version', () => {
    const a = compile(objects()).config;
    const b = compile(objects().reverse()).config;
    expect(JSON.stringify(b)).to.equal(JSON.stringify(a));
    expect(a.version).to.match(/^[0-9a-f]{16}$/);
  });

  it('a change in content changes the version', () => {
    const a = compile(objects()).config;
    const b = compile([...objects(), egress({ hosts: ['example.org'] }, { name: 'more' })]).config;
    expect(b.version).to.not.equal(a.version);
  });

  it('two processes compile the same bytes (as two replicas would)', function () {
    this.timeout(60000);
    const script = `
      import { compileProxyConfig } from './src/egress/compile.ts';
      import { DEFAULT_SETTINGS } from './src/settings.ts';
      import { storeWith, objectsIn } from './test/policy/helpers.ts';
      const s = storeWith([${JSON.stringify(CLOSED)}, ...objectsIn('${OSM}/httpbin-80-route-matches.yaml'), ...objectsIn('${OSM}/tcp-443.yaml')]);
      process.stdout.write(JSON.stringify(compileProxyConfig({ namespace: 'curl', name: 'curl' }, s, DEFAULT_SETTINGS).config));`;
    const run = () => execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' });
    const first = run();
    expect(run()).to.equal(first);
    const inProcess = compile([CLOSED, ...objectsIn(`${OSM}/httpbin-80-route-matches.yaml`), ...objectsIn(`${OSM}/tcp-443.yaml`)]).config;
    expect(first).to.equal(JSON.stringify(inProcess));
  });

  it('reads only the policies that name the account (an index, not a scan)', () => {
    const store: MeshStore = storeWith([CLOSED, ...objectsIn(`${OSM}/httpbin-80.yaml`)]);
    for (let i = 0; i < 50; i++) store.upsert(egress({ sources: [{ kind: 'ServiceAccount', name: `sa${i}`, namespace: 'other' }] }, { name: `p${i}`, namespace: 'other' }));
    const asked: unknown[] = [];
    const spy = new Proxy(store, {
      get(target, prop, receiver) {
        const v = Reflect.get(target, prop, receiver);
        if (typeof v !== 'function') return v;
        return (...args: unknown[]) => {
          const out = v.apply(target, args);
          if (prop === 'egressesFor') asked.push(...(out as unknown[]));
          return out;
        };
      },
    });
    compileProxyConfig(CURL, spy, DEFAULT_SETTINGS);
    expect(asked).to.have.length(1);
  });
});

describe('load-time rules: each defect Envoy refuses is caught', () => {
  const base = (): ProxyConfig => structuredClone(compile([CLOSED, ...objectsIn(`${OSM}/httpbin-80.yaml`), ...objectsIn(`${OSM}/tcp-443.yaml`)]).config);
  const mutate = (edit: (c: { listeners: Obj[]; routeConfigurations: Obj[]; clusters: Obj[] }) => void): string[] => {
    const c = base();
    edit(c as unknown as { listeners: Obj[]; routeConfigurations: Obj[]; clusters: Obj[] });
    return checkLoadRules(c);
  };

  it('two chains with the same match', () => {
    const problems = mutate((c) => c.listeners[0]!.filter_chains.push({ ...c.listeners[0]!.filter_chains[1], name: 'copy' }));
    expect(problems.join('\n')).to.match(/filter chains "tcp-443" and "copy" have the same match \{port 443/);
  });
  it('overlapping server names across chains with otherwise equal matches', () => {
    const problems = mutate((c) => {
      const chain = (name: string, names: string[]) => ({ name, filter_chain_match: { destination_port: 8443, server_names: names }, filters: c.listeners[0]!.filter_chains[1].filters });
      c.listeners[0]!.filter_chains.push(chain('a', ['x.org', 'y.org']), chain('b', ['Y.org']));
    });
    expect(problems.join('\n')).to.match(/"a" and "b" have the same match .*server name y\.org/);
  });
  it('a repeated chain name', () => {
    const problems = mutate((c) => (c.listeners[0]!.filter_chains[1].name = 'http-80'));
    expect(problems.join('\n')).to.match(/filter chain name "http-80" is used twice/);
  });
  it('repeated virtual-host domains, compared lower-cased', () => {
    const problems = mutate((c) => c.routeConfigurations[0]!.virtual_hosts.push({ name: 'dup', domains: ['HTTPBIN.ORG'], routes: [] }));
    expect(problems.join('\n')).to.match(/domain "HTTPBIN.ORG" is in virtual hosts "httpbin.org:80" and "dup"/);
  });
  it('a listener with neither chains nor a default chain', () => {
    const problems = mutate((c) => (c.listeners[0]!.filter_chains = []));
    expect(problems.join('\n')).to.match(/no filter chain and no default filter chain/);
  });
  it('a route or a chain naming a cluster that is not sent, an RDS name that is not sent', () => {
    expect(mutate((c) => (c.clusters = c.clusters.filter((x) => x.name !== 'httpbin.org:80'))).join('\n')).to.match(/names cluster "httpbin.org:80", which is not sent/);
    expect(mutate((c) => (c.clusters = c.clusters.filter((x) => x.name !== 'egress-tcp-443'))).join('\n')).to.match(/cluster "egress-tcp-443" is referenced but not sent/);
    expect(mutate((c) => (c.routeConfigurations = [])).join('\n')).to.match(/route configuration "egress-http-80" is referenced but not sent/);
  });
  it('a resource sent twice', () => {
    expect(mutate((c) => c.clusters.push(c.clusters[0]!)).join('\n')).to.match(/is sent twice/);
  });
  it('two different dns_cache_configs of one name', () => {
    const w = egress({ hosts: ['*.example.com'] }, { name: 'w' });
    const c = structuredClone(compile([CLOSED, w]).config) as unknown as { clusters: Obj[] };
    c.clusters.find((x) => x.name === 'egress-dynamic-forward-proxy')!.cluster_type.typed_config.dns_cache_config.dns_lookup_family = 'V6_ONLY';
    expect(checkLoadRules(c as unknown as ProxyConfig).join('\n')).to.match(/dns_cache_config "egress-dns-cache" has two different configurations/);
  });
});

