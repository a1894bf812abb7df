import { expect } from 'chai';
import { explainRequest, type ExplainRequest } from '../../src/egress/explain.js';
import { normalizePath } from '../../src/egress/envoy-match.js';
import type { Json, ProxyConfig } from '../../src/egress/proxy-config.js';
import { ProxyConfigError } from '../../src/egress/proxy-config-schema.js';

// Hand-written configs in the shapes of compiled-shapes.md, so the interpreter is tested apart from the compiler.
const T = 'type.googleapis.com/';
const ADS = { ads: {}, resource_api_version: 'V3' };
const DNS_CACHE = { name: 'egress-dns-cache', dns_lookup_family: 'V4_PREFERRED' };
const meta = (...policies: string[]) => ({ filter_metadata: { 'meshgate.io': { policies } } });

const tcpProxy = (cluster: string) => ({
  name: 'envoy.filters.network.tcp_proxy',
  typed_config: { '@type': `${T}envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy`, stat_prefix: cluster, cluster },
});
const sniForward = (port: number) => [
  {
    name: 'envoy.filters.network.sni_dynamic_forward_proxy',
    typed_config: { '@type': `${T}envoy.extensions.filters.network.sni_dynamic_forward_proxy.v3.FilterConfig`, dns_cache_config: DNS_CACHE, port_value: port },
  },
  tcpProxy('egress-dynamic-forward-proxy'),
];
const hcm = (port: number) => ({
  name: 'envoy.filters.network.http_connection_manager',
  typed_config: {
    '@type': `${T}envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager`,
    stat_prefix: `egress-http-${port}`,
    rds: { route_config_name: `egress-http-${port}`, config_source: ADS },
    http_filters: [
      { name: 'envoy.filters.http.dynamic_forward_proxy', typed_config: { '@type': `${T}envoy.extensions.filters.http.dynamic_forward_proxy.v3.FilterConfig`, dns_cache_config: DNS_CACHE } },
      { name: 'envoy.filters.http.router', typed_config: { '@type': `${T}envoy.extensions.filters.http.router.v3.Router` } },
    ],
    normalize_path: true,
    merge_slashes: true,
  },
});
const HTTP_PROTOCOLS = ['http/1.0', 'http/1.1', 'h2c'];
const httpChain = (port: number, ...policies: string[]) => ({
  name: `egress-http-${port}`,
  filter_chain_match: { destination_port: port, transport_protocol: 'raw_buffer', application_protocols: HTTP_PROTOCOLS },
  filters: [hcm(port)],
  ...(policies.length ? { metadata: meta(...policies) } : {}),
});

const portRange = (p: number) => ({ destination_port_range: { start: p, end: p + 1 } });
function listener(chains: unknown[], opts: { serverFirst?: number[]; defaultChain?: boolean } = {}): unknown {
  const disabled =
    opts.serverFirst && opts.serverFirst.length > 0
      ? { filter_disabled: opts.serverFirst.length === 1 ? portRange(opts.serverFirst[0]!) : { or_match: { rules: opts.serverFirst.map(portRange) } } }
      : {};
  return {
    '@type': `${T}envoy.config.listener.v3.Listener`,
    name: 'outbound-listener',
    address: { socket_address: { address: '0.0.0.0', port_value: 15001 } },
    traffic_direction: 'OUTBOUND',
    continue_on_listener_filters_timeout: true,
    listener_filters: [
      { name: 'envoy.filters.listener.original_dst', typed_config: { '@type': `${T}envoy.extensions.filters.listener.original_dst.v3.OriginalDst` } },
      { name: 'envoy.filters.listener.tls_inspector', typed_config: { '@type': `${T}envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector` }, ...disabled },
      { name: 'envoy.filters.listener.http_inspector', typed_config: { '@type': `${T}envoy.extensions.filters.listener.http_inspector.v3.HttpInspector` }, ...disabled },
    ],
    filter_chains: chains,
    ...(opts.defaultChain ? { default_filter_chain: { name: 'passthrough', filters: [tcpProxy('passthrough-outbound')] } } : {}),
  };
}

const routeTo = (name: string, match: unknown, cluster: string, ...policies: string[]) => ({
  name,
  match,
  route: { cluster, timeout: '0s' },
  ...(policies.length ? { metadata: meta(...policies) } : {}),
});
const routeConfig = (port: number, virtualHosts: unknown[]) => ({
  '@type': `${T}envoy.config.route.v3.RouteConfiguration`,
  name: `egress-http-${port}`,
  virtual_hosts: virtualHosts,
  validate_clusters: false,
});

const CLUSTER = `${T}envoy.config.cluster.v3.Cluster`;
const passthrough = { '@type': CLUSTER, name: 'passthrough-outbound', type: 'ORIGINAL_DST', lb_policy: 'CLUSTER_PROVIDED', connect_timeout: '5s' };
const dfpCluster = {
  '@type': CLUSTER,
  name: 'egress-dynamic-forward-proxy',
  lb_policy: 'CLUSTER_PROVIDED',
  connect_timeout: '5s',
  cluster_type: {
    name: 'envoy.clusters.dynamic_forward_proxy',
    typed_config: { '@type': `${T}envoy.extensions.clusters.dynamic_forward_proxy.v3.ClusterConfig`, dns_cache_config: DNS_CACHE },
  },
};
const dnsCluster = (host: string, port: number) => ({
  '@type': CLUSTER,
  name: `${host}:${port}`,
  type: 'LOGICAL_DNS',
  dns_lookup_family: 'V4_PREFERRED',
  connect_timeout: '5s',
  load_assignment: { cluster_name: `${host}:${port}`, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: host, port_value: port } } } }] }] },
});

// Built loosely and checked by the interpreter's own strict parse, as compiler output would be.
const config = (listeners: unknown[], routeConfigurations: unknown[] = [], clusters: unknown[] = [passthrough, dfpCluster]): ProxyConfig => ({
  version: 'test',
  listeners: listeners as Json[],
  routeConfigurations: routeConfigurations as Json[],
  clusters: clusters as Json[],
});

/** The seeds' httpbin-80 policy: one http chain on 80, httpbin.org and httpbin.org:80 to a LOGICAL_DNS cluster. */
const HTTPBIN_80 = config(
  [listener([httpChain(80, 'curl/httpbin-80')])],
  [routeConfig(80, [{ name: 'httpbin.org', domains: ['httpbin.org', 'httpbin.org:80'], routes: [routeTo('curl/httpbin-80', { prefix: '/' }, 'httpbin.org:80', 'curl/httpbin-80')] }])],
  [dnsCluster('httpbin.org', 80)],
);

const explain = (c: ProxyConfig, r: Partial<ExplainRequest> & { scheme: ExplainRequest['scheme']; port: number }) => explainRequest(c, r);

describe('egress explain (interpreting compiled Envoy resources)', () => {
  describe('listener', () => {
    it('no listener: refused (curl exits 7)', () => {
      const e = explain(config([]), { scheme: 'http', host: 'httpbin.org', port: 80, from: 'curl/curl' });
      expect(e).to.deep.equal({
        allowed: false,
        outcome: 'refused',
        reason: 'refused: no Egress policy allows anything for curl/curl and egress is closed (no outbound listener; curl exits 7)',
      });
    });

    it('allows the seeds\' http://httpbin.org/get through the route, naming the policy, route, cluster and upstream', () => {
      const e = explain(HTTPBIN_80, { scheme: 'http', host: 'httpbin.org', port: 80, path: '/get' });
      expect(e).to.deep.include({
        allowed: true,
        outcome: 'allowed',
        policy: 'curl/httpbin-80',
        listener: 'outbound-listener',
        chain: 'egress-http-80',
        virtualHost: 'httpbin.org',
        route: 'curl/httpbin-80',
        cluster: 'httpbin.org:80',
        upstream: 'httpbin.org:80 (resolved by the proxy)',
      });
      expect(e.reason).to.equal('allowed by Egress curl/httpbin-80 (route curl/httpbin-80, cluster httpbin.org:80)');
    });

    it('refuses a config outside the contract (unknown field, dangling reference) instead of guessing', () => {
      const bad = structuredClone(HTTPBIN_80);
      (bad.listeners[0] as Record<string, Json>).per_connection_buffer_limit_bytes = 1024;
      expect(() => explain(bad, { scheme: 'http', host: 'httpbin.org', port: 80 })).to.throw(ProxyConfigError, /per_connection_buffer_limit_bytes/);
      const dangling = config(HTTPBIN_80.listeners, HTTPBIN_80.routeConfigurations, []);
      expect(() => explain(dangling, { scheme: 'http', host: 'httpbin.org', port: 80 })).to.throw(ProxyConfigError, /cluster "httpbin.org:80", which is not sent/);
      const twice = config([listener([{ name: 'a', filter_chain_match: { destination_port: 443 }, filters: [tcpProxy('passthrough-outbound')] }, { name: 'b', filter_chain_match: { destination_port: 443 }, filters: [tcpProxy('passthrough-outbound')] }])]);
      expect(() => explain(twice, { scheme: 'tcp', ip: '1.2.3.4', port: 443 })).to.throw(ProxyConfigError, /same match/);
      const unknownFilter = structuredClone(HTTPBIN_80);
      ((unknownFilter.listeners[0] as { filter_chains: { filters: { name: string }[] }[] }).filter_chains[0]!.filters[0]!).name = 'envoy.filters.network.rbac';
      expect(() => explain(unknownFilter, { scheme: 'http', host: 'httpbin.org', port: 80 })).to.throw(ProxyConfigError);
    });
  });

  describe('filter chain selection', () => {
    const tcpChain = (name: string, match: unknown, ...policies: string[]) => ({
      name,
      filter_chain_match: match,
      filters: [tcpProxy('passthrough-outbound')],
      ...(policies.length ? { metadata: meta(...policies) } : {}),
    });

    it('a chain on the port wins over a port-less chain', () => {
      const c = config([listener([tcpChain('any-port', {}, 'curl/any'), tcpChain('tcp-443', { destination_port: 443 }, 'curl/tcp-443')])]);
      expect(explain(c, { scheme: 'tcp', ip: '1.2.3.4', port: 443 })).to.deep.include({ outcome: 'allowed', chain: 'tcp-443', policy: 'curl/tcp-443', upstream: '1.2.3.4:443 (original destination)' });
      expect(explain(c, { scheme: 'tcp', ip: '1.2.3.4', port: 5432 })).to.deep.include({ outcome: 'allowed', chain: 'any-port', policy: 'curl/any' });
    });

    it('no chain for the port and no port-less chain: reset, naming the ports that have chains', () => {
      const c = config([listener([tcpChain('tcp-443', { destination_port: 443 }, 'curl/tcp-443')])]);
      const e = explain(c, { scheme: 'tcp', ip: '1.2.3.4', port: 5432 });
      expect(e.outcome).to.equal('reset');
      expect(e.allowed).to.equal(false);
      expect(e.reason).to.equal('reset: no Egress policy allows port 5432 (no filter chain for it; chains exist for port 443); the proxy closes the connection (curl exits 56)');
    });

    it('picks the longest matching prefix range; chains without ranges only when none contains the IP', () => {
      const c = config([
        listener([
          tcpChain('wide', { destination_port: 443, prefix_ranges: [{ address_prefix: '10.0.0.0', prefix_len: 8 }] }, 'curl/wide'),
          tcpChain('narrow', { destination_port: 443, prefix_ranges: [{ address_prefix: '10.1.0.0', prefix_len: 16 }] }, 'curl/narrow'),
          tcpChain('v6', { destination_port: 443, prefix_ranges: [{ address_prefix: '2001:db8::', prefix_len: 32 }] }, 'curl/v6'),
          tcpChain('rest', { destination_port: 443 }, 'curl/rest'),
        ]),
      ]);
      expect(explain(c, { scheme: 'tcp', ip: '10.1.2.3', port: 443 }).chain).to.equal('narrow');
      expect(explain(c, { scheme: 'tcp', ip: '10.2.0.1', port: 443 }).chain).to.equal('wide');
      expect(explain(c, { scheme: 'tcp', ip: '2001:db8::1', port: 443 })).to.deep.include({ chain: 'v6', upstream: '[2001:db8::1]:443 (original destination)' });
      expect(explain(c, { scheme: 'tcp', ip: '192.0.2.1', port: 443 }).chain).to.equal('rest');
    });

    it('an unknown IP with prefix ranges in play is decided as outside them, and says so', () => {
      const onlyRanges = config([listener([tcpChain('ranges', { destination_port: 443, prefix_ranges: [{ address_prefix: '192.0.2.0', prefix_len: 24 }] }, 'curl/ips')])]);
      const e = explain(onlyRanges, { scheme: 'tcp', host: 'db.example.com', port: 443 });
      expect(e.outcome).to.equal('reset');
      expect(e.caveat).to.match(/depends on the IP "db.example.com" resolves to .*192\.0\.2\.0\/24.*pass --ip/);
      expect(e.reason).to.contain('pass --ip');
      expect(explain(onlyRanges, { scheme: 'tcp', host: 'db.example.com', ip: '192.0.2.7', port: 443 })).to.deep.include({ outcome: 'allowed', policy: 'curl/ips' });
      // The usual case, no ranges on the port: a definite answer without a caveat.
      const e2 = explain(HTTPBIN_80, { scheme: 'http', host: 'httpbin.org', port: 80 });
      expect(e2.caveat).to.equal(undefined);
    });

    const https = config([
      listener([
        { name: 'https-443', filter_chain_match: { destination_port: 443, server_names: ['httpbin.org', '*.example.com'] }, filters: sniForward(443), metadata: meta('curl/httpbin-443') },
        tcpChain('any-port', {}, 'curl/any'),
      ]),
    ]);

    it('server names: exact, and *.suffix at any depth but not the apex', () => {
      expect(explain(https, { scheme: 'https', host: 'httpbin.org', port: 443 })).to.deep.include({
        outcome: 'allowed',
        policy: 'curl/httpbin-443',
        cluster: 'egress-dynamic-forward-proxy',
        upstream: 'httpbin.org:443 (SNI, resolved by the proxy)',
      });
      expect(explain(https, { scheme: 'https', host: 'HttpBin.ORG', port: 443 }).outcome).to.equal('allowed');
      expect(explain(https, { scheme: 'https', host: 'a.example.com', port: 443 }).outcome).to.equal('allowed');
      expect(explain(https, { scheme: 'https', host: 'a.b.c.example.com', port: 443 }).upstream).to.equal('a.b.c.example.com:443 (SNI, resolved by the proxy)');
      expect(explain(https, { scheme: 'https', host: 'example.com', port: 443 }).outcome).to.equal('reset');
    });

    it('never backtracks: the port matches but the SNI does not → reset (curl 35), although a port-less chain exists', () => {
      const e = explain(https, { scheme: 'https', host: 'example.org', port: 443 });
      expect(e.outcome).to.equal('reset');
      expect(e.reason).to.equal(
        'reset: no filter chain on port 443 matches server name "example.org" (chains there want httpbin.org, *.example.com [curl/httpbin-443]); the proxy closes the connection (curl exits 35)',
      );
      // A plaintext client on 443 has no SNI either: same chain set, same answer.
      expect(explain(https, { scheme: 'tcp', ip: '1.2.3.4', port: 443 }).reason).to.match(/without a server name \(a tcp client sends no SNI\)/);
      // The port-less chain is used only where no chain names the port.
      expect(explain(https, { scheme: 'https', host: 'example.org', port: 8443 }).chain).to.equal('any-port');
    });

    it('a wildcard loses to an exact name; a longer wildcard wins over a shorter one', () => {
      const c = config([
        listener([
          { name: 'exact', filter_chain_match: { destination_port: 443, server_names: ['api.example.com'] }, filters: sniForward(443), metadata: meta('curl/exact') },
          { name: 'long', filter_chain_match: { destination_port: 443, server_names: ['*.api.example.com'] }, filters: sniForward(443), metadata: meta('curl/long') },
          { name: 'short', filter_chain_match: { destination_port: 443, server_names: ['*.example.com'] }, filters: sniForward(443), metadata: meta('curl/short') },
        ]),
      ]);
      expect(explain(c, { scheme: 'https', host: 'api.example.com', port: 443 }).chain).to.equal('exact');
      expect(explain(c, { scheme: 'https', host: 'v1.api.example.com', port: 443 }).chain).to.equal('long');
      expect(explain(c, { scheme: 'https', host: 'web.example.com', port: 443 }).chain).to.equal('short');
    });

    it('transport: a TLS client on an http port does not land in the HTTP chain (istio#26079)', () => {
      const e = explain(HTTPBIN_80, { scheme: 'https', host: 'httpbin.org', port: 80 });
      expect(e.outcome).to.equal('reset');
      expect(e.reason).to.match(/no filter chain on port 80 accepts a TLS connection \(chains there want transport raw_buffer \[curl\/httpbin-80\]\).*curl exits 35/);
      // Without transport_protocol in the match, the same client would reach the HTTP connection manager and fail there.
      const loose = structuredClone(HTTPBIN_80);
      const m = (loose.listeners[0] as { filter_chains: { filter_chain_match: Record<string, Json> }[] }).filter_chains[0]!.filter_chain_match;
      delete m.transport_protocol;
      const e2 = explain(loose, { scheme: 'https', host: 'httpbin.org', port: 80 });
      expect(e2).to.deep.include({ outcome: 'reset', chain: 'egress-http-80' });
      expect(e2.reason).to.contain('expects plaintext HTTP but gets a TLS handshake');
    });

    it('application protocols: a plain tcp client on an http-only port is reset', () => {
      const e = explain(HTTPBIN_80, { scheme: 'tcp', ip: '1.2.3.4', port: 80 });
      expect(e.outcome).to.equal('reset');
      expect(e.reason).to.contain('no filter chain on port 80 accepts a connection whose protocol the proxy does not recognise (chains there want http/1.0, http/1.1, h2c');
    });

    it('an http and a tcp policy on one port: transport is decided before application protocols, never backtracking', () => {
      const mk = (...tcpChains: unknown[]) =>
        config([listener([httpChain(80, 'curl/httpbin-80'), ...tcpChains])], HTTPBIN_80.routeConfigurations, [...HTTPBIN_80.clusters, passthrough]);
      // {80, raw_buffer, http} + {80}: a plaintext non-HTTP client matches raw_buffer exactly, then fails on
      // the application protocols; the port-80 chain without a transport is never reconsidered.
      const trap = mk(tcpChain('tcp-80', { destination_port: 80 }, 'curl/tcp-80'));
      expect(explain(trap, { scheme: 'http', host: 'httpbin.org', port: 80 })).to.deep.include({ chain: 'egress-http-80', policy: 'curl/httpbin-80' });
      expect(explain(trap, { scheme: 'https', host: 'httpbin.org', port: 80 })).to.deep.include({ chain: 'tcp-80', outcome: 'allowed' });
      const e = explain(trap, { scheme: 'tcp', ip: '1.2.3.4', port: 80 });
      expect(e.outcome).to.equal('reset');
      expect(e.reason).to.contain('no filter chain on port 80 accepts a connection whose protocol the proxy does not recognise');
      // A raw_buffer tcp chain beside the HTTP chain (and one without transport for TLS) carries both.
      const both = mk(tcpChain('tcp-80-plain', { destination_port: 80, transport_protocol: 'raw_buffer' }, 'curl/tcp-80'), tcpChain('tcp-80', { destination_port: 80 }, 'curl/tcp-80'));
      expect(explain(both, { scheme: 'tcp', ip: '1.2.3.4', port: 80 })).to.deep.include({ chain: 'tcp-80-plain', policy: 'curl/tcp-80', outcome: 'allowed' });
      expect(explain(both, { scheme: 'https', host: 'httpbin.org', port: 80 })).to.deep.include({ chain: 'tcp-80', outcome: 'allowed' });
      expect(explain(both, { scheme: 'http', host: 'httpbin.org', port: 80 })).to.deep.include({ chain: 'egress-http-80', policy: 'curl/httpbin-80' });
      // An unlisted host still hits the HTTP chain (an HTTP request is HTTP) and gets the 404.
      expect(explain(both, { scheme: 'http', host: 'example.org', port: 80 }).outcome).to.equal('http-404');
    });

    it('default filter chain: unmatched connections pass through to the original destination', () => {
      const c = config([listener([tcpChain('tcp-443', { destination_port: 443 }, 'curl/tcp-443')], { defaultChain: true })]);
      const e = explain(c, { scheme: 'tcp', ip: '203.0.113.9', port: 5432 });
      expect(e).to.deep.include({ allowed: true, outcome: 'allowed', chain: 'passthrough', cluster: 'passthrough-outbound', upstream: '203.0.113.9:5432 (original destination)' });
      expect(e.policy).to.equal(undefined);
      expect(e.reason).to.equal(
        'allowed by egress passthrough (traffic.enableEgress: true), not by an Egress policy (default filter chain passthrough, cluster passthrough-outbound to the original destination)',
      );
    });

    it('server-first port: the inspectors are disabled there, so even a TLS client lands in the plain tcp chain', () => {
      const chains = [
        tcpChain('tcp-3306', { destination_port: 3306 }, 'curl/mysql'),
        tcpChain('tcp-25', { destination_port: 25 }, 'curl/smtp'),
        { name: 'https-3306', filter_chain_match: { destination_port: 3306, server_names: ['db.example.com'] }, filters: sniForward(3306), metadata: meta('curl/db-https') },
      ];
      // Not a real compiler output (server-first ports carry tcp chains only): it shows the SNI is never read.
      const c = config([listener(chains, { serverFirst: [3306, 25] })]);
      expect(explain(c, { scheme: 'https', host: 'db.example.com', port: 3306 })).to.deep.include({ chain: 'tcp-3306', policy: 'curl/mysql' });
      expect(explain(c, { scheme: 'tcp', host: 'smtp.example.com', port: 25 })).to.deep.include({ chain: 'tcp-25', outcome: 'allowed' });
      // With the inspectors on, the TLS client's SNI picks the https chain.
      const inspected = config([listener(chains)]);
      expect(explain(inspected, { scheme: 'https', host: 'db.example.com', port: 3306 })).to.deep.include({ chain: 'https-3306', policy: 'curl/db-https' });
      // An HTTP client on a server-first port is not recognised as HTTP: no HTTP chain is eligible.
      const httpThere = config([listener([httpChain(3306, 'curl/h')], { serverFirst: [3306] })], [routeConfig(3306, [{ name: 'any', domains: ['*'], routes: [routeTo('r', { prefix: '/' }, 'passthrough-outbound')] }])]);
      expect(explain(httpThere, { scheme: 'http', host: 'db.example.com', port: 3306 }).outcome).to.equal('reset');
    });
  });

  describe('HTTP: virtual hosts and routes', () => {
    const vhosts = [
      { name: 'exact', domains: ['api.example.com', 'api.example.com:8080'], routes: [routeTo('exact', { prefix: '/' }, 'passthrough-outbound', 'curl/exact')] },
      { name: 'wild', domains: ['*.example.com:8080'], routes: [routeTo('wild', { prefix: '/' }, 'egress-dynamic-forward-proxy', 'curl/wild')] },
      { name: 'any', domains: ['*'], routes: [{ name: 'deny', match: { prefix: '/' }, direct_response: { status: 403, body: { inline_string: 'Access denied' } } }] },
    ];
    const c = config([listener([httpChain(8080)])], [routeConfig(8080, vhosts)]);

    it('exact domain (with the port the Host carries), then *.x, then *', () => {
      expect(explain(c, { scheme: 'http', host: 'API.example.com', port: 8080, ip: '192.0.2.1' })).to.deep.include({
        virtualHost: 'exact',
        policy: 'curl/exact',
        upstream: '192.0.2.1:8080 (original destination)',
      });
      expect(explain(c, { scheme: 'http', host: 'a.b.example.com', port: 8080 })).to.deep.include({
        virtualHost: 'wild',
        upstream: 'a.b.example.com:8080 (Host header, resolved by the proxy)',
      });
      const e = explain(c, { scheme: 'http', host: 'example.org', port: 8080 });
      expect(e).to.deep.include({ allowed: false, outcome: 'http-403', virtualHost: 'any', route: 'deny' });
      expect(e.reason).to.equal('403 "Access denied": no Egress policy allows host "example.org:8080" (route deny in virtual host any answers directly)');
    });

    it('Host with port: "httpbin.org:80" is sent as "httpbin.org" on port 80, and an explicit Host header is used as is', () => {
      expect(explain(HTTPBIN_80, { scheme: 'http', host: 'httpbin.org', port: 80, headers: { Host: 'httpbin.org:80' } }).outcome).to.equal('allowed');
      const forged = explain(HTTPBIN_80, { scheme: 'http', host: 'httpbin.org', port: 80, headers: { host: 'evil.example' } });
      expect(forged.outcome).to.equal('http-404');
      expect(forged.reason).to.equal('404: no virtual host for "evil.example" on port 80 (route configuration egress-http-80 has httpbin.org, httpbin.org:80); no Egress policy allows this host');
    });

    const routes = config(
      [listener([httpChain(80, 'curl/httpbin-80')])],
      [
        routeConfig(80, [
          {
            name: 'httpbin.org',
            domains: ['httpbin.org', 'httpbin.org:80'],
            routes: [
              routeTo('get', { safe_regex: { regex: '/get' }, headers: [{ name: ':method', string_match: { exact: 'GET' } }] }, 'httpbin.org:80', 'curl/httpbin-80'),
              routeTo('status', { safe_regex: { regex: '/status.*' }, headers: [{ name: 'x-team', string_match: { safe_regex: { regex: 'pay(ments)?' } } }] }, 'httpbin.org:80', 'curl/status'),
              routeTo('exact-path', { path: '/anything' }, 'httpbin.org:80', 'curl/anything'),
            ],
          },
        ]),
      ],
      [dnsCluster('httpbin.org', 80)],
    );
    const get = (path: string, more: Partial<ExplainRequest> = {}) => explain(routes, { scheme: 'http', host: 'httpbin.org', port: 80, path, ...more });

    it('regex routes match the whole path, query excluded', () => {
      expect(get('/get')).to.deep.include({ outcome: 'allowed', route: 'get', policy: 'curl/httpbin-80' });
      expect(get('/get?show_env=1').outcome).to.equal('allowed');
      const e = get('/get/x');
      expect(e).to.deep.include({ outcome: 'http-404', virtualHost: 'httpbin.org' });
      expect(e.reason).to.match(/^404: virtual host httpbin.org \(domain "httpbin.org"\) has no route for GET \/get\/x \(its routes come from curl\/httpbin-80, curl\/status, curl\/anything: path ~ \/get :method/);
      expect(get('/gets').outcome).to.equal('http-404');
      expect(get('/anything').route).to.equal('exact-path');
      expect(get('/anything?x=1').route).to.equal('exact-path');
      expect(get('/anything/else').outcome).to.equal('http-404');
    });

    it('paths are normalized (dot segments, repeated slashes, escaped unreserved characters) before matching', () => {
      expect(get('//get').route).to.equal('get');
      expect(get('/a/../get').route).to.equal('get');
      expect(get('/./get').route).to.equal('get');
      expect(get('/%67et').route).to.equal('get');
      expect(get('/%2e%2e/get').route).to.equal('get');
      expect(normalizePath('/a//b/./c/../d?q=/../x')).to.equal('/a/b/d?q=/../x');
      expect(normalizePath('/../..')).to.equal('/');
      expect(normalizePath('/a%2fb')).to.equal('/a%2Fb');
    });

    it(':method and header matchers (RE2 full match on the value)', () => {
      expect(get('/get', { method: 'POST' }).outcome).to.equal('http-404');
      // Methods are case-sensitive, as Envoy compares them.
      expect(get('/get', { method: 'get' }).outcome).to.equal('http-404');
      expect(get('/get', { method: 'GET' }).outcome).to.equal('allowed');
      expect(get('/status/200', { headers: { 'X-Team': 'payments' } })).to.deep.include({ route: 'status', policy: 'curl/status' });
      expect(get('/status/200', { headers: { 'x-team': 'pay' } }).route).to.equal('status');
      expect(get('/status/200', { headers: { 'x-team': 'payroll' } }).outcome).to.equal('http-404');
      expect(get('/status/200').outcome).to.equal('http-404');
    });

    it('present_match, prefix string match and the first matching route wins', () => {
      const c2 = config(
        [listener([httpChain(80)])],
        [
          routeConfig(80, [
            {
              name: 'h',
              domains: ['*'],
              routes: [
                routeTo('traced', { prefix: '/', headers: [{ name: 'x-trace', present_match: true }] }, 'passthrough-outbound', 'a/traced'),
                routeTo('bearer', { prefix: '/api', headers: [{ name: 'authorization', string_match: { prefix: 'Bearer ' } }] }, 'passthrough-outbound', 'a/bearer'),
                routeTo('all', { prefix: '/' }, 'passthrough-outbound', 'a/all'),
              ],
            },
          ]),
        ],
      );
      const go = (path: string, headers: Record<string, string>) => explain(c2, { scheme: 'http', host: 'x.test', port: 80, path, headers }).route;
      expect(go('/api', { 'x-trace': '1', authorization: 'Bearer t' })).to.equal('traced');
      expect(go('/api/v1', { authorization: 'Bearer t' })).to.equal('bearer');
      expect(go('/api/v1', { authorization: 'Basic t' })).to.equal('all');
    });

    it('no listener for https on an http-only config port: reset, not 404', () => {
      expect(explain(HTTPBIN_80, { scheme: 'https', host: 'httpbin.org', port: 443 }).outcome).to.equal('reset');
    });

    it('passthrough * virtual host (egress open): unlisted hosts go to the original destination without a policy', () => {
      const open = config(
        [listener([httpChain(80)], { defaultChain: true })],
        [
          routeConfig(80, [
            HTTPBIN_80.routeConfigurations[0] && { name: 'httpbin.org', domains: ['httpbin.org', 'httpbin.org:80'], routes: [routeTo('curl/httpbin-80', { prefix: '/' }, 'httpbin.org:80', 'curl/httpbin-80')] },
            { name: 'passthrough', domains: ['*'], routes: [routeTo('passthrough', { prefix: '/' }, 'passthrough-outbound')] },
          ]),
        ],
        [dnsCluster('httpbin.org', 80), passthrough],
      );
      const e = explain(open, { scheme: 'http', host: 'example.org', port: 80, ip: '93.184.215.14' });
      expect(e).to.deep.include({ allowed: true, route: 'passthrough', upstream: '93.184.215.14:80 (original destination)' });
      expect(e.policy).to.equal(undefined);
      expect(e.reason).to.match(/^allowed by egress passthrough/);
      expect(explain(open, { scheme: 'http', host: 'httpbin.org', port: 80 }).policy).to.equal('curl/httpbin-80');
    });
  });
});
