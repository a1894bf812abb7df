import { expect } from 'chai';
import { renderBootstrap } from '../../src/injector/bootstrap.js';
import {
  BOOTSTRAP_TYPE,
  checkEnvoyMessage,
  checkEnvoyResource,
  checkProxyConfig,
  loadEnvoyRegistry,
  registryBuildMs,
  type ProxyConfig,
} from '../support/envoy-proto.js';

type Json = Record<string, any>;

const T = 'type.googleapis.com/';
const DNS_CACHE = { name: 'egress-dns-cache', dns_lookup_family: 'V4_PREFERRED' };
const DFP_CLUSTER = 'egress-dynamic-forward-proxy';
const POLICIES = { filter_metadata: { 'meshgate.io': { policies: ['curl/httpbin'] } } };

function tcpProxy(cluster: string): Json {
  return {
    name: 'envoy.filters.network.tcp_proxy',
    typed_config: { '@type': `${T}envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy`, stat_prefix: cluster, cluster },
  };
}

const portRange = (p: number) => ({ destination_port_range: { start: p, end: p + 1 } });

/** A Listener in the shape of compiled-shapes.md, with every listener and network filter it names. */
function listener(): Json {
  return {
    '@type': `${T}envoy.config.listener.v3.Listener`,
    name: 'outbound-listener',
    address: { socket_address: { address: '0.0.0.0', port_value: 15001 } },
    additional_addresses: [{ address: { socket_address: { address: '::', port_value: 15001 } } }],
    traffic_direction: 'OUTBOUND',
    continue_on_listener_filters_timeout: true,
    listener_filters_timeout: '15s',
    listener_filters: [
      { name: 'envoy.filters.listener.original_dst', typed_config: { '@type': `${T}envoy.extensions.filters.listener.original_dst.v3.OriginalDst` } },
      {
        name: 'envoy.filters.listener.tls_inspector',
        typed_config: { '@type': `${T}envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector` },
        filter_disabled: { or_match: { rules: [portRange(25), portRange(3306)] } },
      },
      {
        name: 'envoy.filters.listener.http_inspector',
        typed_config: { '@type': `${T}envoy.extensions.filters.listener.http_inspector.v3.HttpInspector` },
        filter_disabled: portRange(3306),
      },
    ],
    filter_chains: [
      {
        name: 'egress-http-80',
        filter_chain_match: { destination_port: 80, transport_protocol: 'raw_buffer', application_protocols: ['http/1.0', 'http/1.1', 'h2c'] },
        filters: [
          {
            name: 'envoy.filters.network.http_connection_manager',
            typed_config: {
              '@type': `${T}envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager`,
              stat_prefix: 'egress-http-80',
              rds: { route_config_name: 'egress-http-80', config_source: { ads: {}, resource_api_version: 'V3' } },
              http_filters: [
                {
                  name: 'envoy.filters.http.dynamic_forward_proxy',
                  typed_config: { '@type': `${T}envoy.extensions.filters.http.dynamic_forward_proxy.v3.FilterConfig`, dns_cache_config: DNS_CACHE },
                },
                { name: 'envoy.filters.http.router', typed_config: { '@type': `${T}envoy.extensions.filters.http.router.v3.Router` } },
              ],
              normalize_path: true,
              merge_slashes: true,
            },
          },
        ],
        metadata: POLICIES,
      },
      {
        name: 'egress-https-443',
        filter_chain_match: {
          destination_port: 443,
          prefix_ranges: [{ address_prefix: '104.16.0.0', prefix_len: 12 }, { address_prefix: '2606:4700::', prefix_len: 32 }],
          server_names: ['httpbin.org', '*.example.com'],
        },
        filters: [
          {
            name: 'envoy.filters.network.sni_dynamic_forward_proxy',
            typed_config: {
              '@type': `${T}envoy.extensions.filters.network.sni_dynamic_forward_proxy.v3.FilterConfig`,
              dns_cache_config: DNS_CACHE,
              port_value: 443,
            },
          },
          tcpProxy(DFP_CLUSTER),
        ],
        metadata: POLICIES,
      },
      { name: 'egress-tcp-3306', filter_chain_match: { destination_port: 3306 }, filters: [tcpProxy('passthrough-outbound')] },
    ],
    default_filter_chain: { name: 'egress-passthrough', filters: [tcpProxy('passthrough-outbound')] },
  };
}

function routeConfiguration(): Json {
  const deny = { name: 'deny', match: { prefix: '/' }, direct_response: { status: 403, body: { inline_string: 'Access denied' } } };
  return {
    '@type': `${T}envoy.config.route.v3.RouteConfiguration`,
    name: 'egress-http-80',
    validate_clusters: false,
    virtual_hosts: [
      {
        name: 'httpbin.org',
        domains: ['httpbin.org', 'httpbin.org:80'],
        routes: [
          {
            name: 'get-anything',
            match: {
              safe_regex: { regex: '/anything(/.*)?' },
              headers: [
                { name: ':method', string_match: { exact: 'GET' } },
                { name: 'x-tenant', string_match: { safe_regex: { regex: 'a[0-9]+' } } },
                { name: 'x-debug', string_match: { prefix: 'on' } },
                { name: 'x-trace', present_match: true },
              ],
            },
            route: { cluster: 'httpbin.org:80', timeout: '0s' },
            metadata: POLICIES,
          },
          { name: 'status', match: { path: '/status/200' }, route: { cluster: 'httpbin.org:80', timeout: '0s' } },
          deny,
        ],
      },
      { name: '*.example.com', domains: ['*.example.com'], routes: [{ name: 'any', match: { prefix: '/' }, route: { cluster: DFP_CLUSTER, timeout: '0s' } }] },
      { name: 'deny-all', domains: ['*'], routes: [deny] },
    ],
  };
}

function clusters(): Json[] {
  return [
    { '@type': `${T}envoy.config.cluster.v3.Cluster`, name: 'passthrough-outbound', type: 'ORIGINAL_DST', lb_policy: 'CLUSTER_PROVIDED', connect_timeout: '5s' },
    {
      '@type': `${T}envoy.config.cluster.v3.Cluster`,
      name: 'httpbin.org:80',
      type: 'LOGICAL_DNS',
      dns_lookup_family: 'V4_PREFERRED',
      connect_timeout: '5s',
      load_assignment: {
        cluster_name: 'httpbin.org:80',
        endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 'httpbin.org', port_value: 80 } } } }] }],
      },
      circuit_breakers: { thresholds: [{ max_connections: 100, max_pending_requests: 10, max_requests: 1000, max_retries: 3 }] },
    },
    {
      '@type': `${T}envoy.config.cluster.v3.Cluster`,
      name: DFP_CLUSTER,
      lb_policy: 'CLUSTER_PROVIDED',
      connect_timeout: '5s',
      cluster_type: {
        name: 'envoy.clusters.dynamic_forward_proxy',
        typed_config: { '@type': `${T}envoy.extensions.clusters.dynamic_forward_proxy.v3.ClusterConfig`, dns_cache_config: DNS_CACHE },
      },
    },
  ];
}

function proxyConfig(): ProxyConfig {
  return { version: 'a1b2c3', listeners: [listener()], routeConfigurations: [routeConfiguration()], clusters: clusters() };
}

/** The one error of `json`, which must name `...parts`. */
function onlyError(errors: string[], ...parts: string[]): void {
  expect(errors, errors.join('\n')).to.have.length(1);
  for (const p of parts) expect(errors[0]).to.include(p);
}

describe('envoy-proto: strict proto3-JSON checks against Envoy\'s v3 protos', () => {
  before(() => {
    loadEnvoyRegistry();
    expect(registryBuildMs).to.be.a('number');
  });

  describe('accepts', () => {
    it('a Listener, RouteConfiguration and Clusters in the compiled shapes, with every extension named there', () => {
      expect(checkEnvoyResource(listener())).to.deep.equal([]);
      expect(checkEnvoyResource(routeConfiguration())).to.deep.equal([]);
      for (const c of clusters()) expect(checkEnvoyResource(c), c.name).to.deep.equal([]);
      expect(checkProxyConfig(proxyConfig())).to.deep.equal([]);
    });

    it('an empty proxy config (nothing allowed, egress closed: no listener)', () => {
      expect(checkProxyConfig({ version: '0', listeners: [], routeConfigurations: [], clusters: [] })).to.deep.equal([]);
    });

    it('the bootstrap renderBootstrap writes, in all its variants', () => {
      for (const caPem of ['-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n', '']) {
        for (const ipv6 of [true, false]) {
          const xds = { targetUri: 'meshgate.osm-system.svc:15128', caPem, tokenPath: '/var/run/secrets/meshgate.io/token' };
          expect(checkEnvoyMessage(BOOTSTRAP_TYPE, renderBootstrap({ ipv6, nodeName: 'curl.curl', xds }))).to.deep.equal([]);
        }
      }
    });

    it('an ADS bootstrap: TLS and HTTP/2 to the control plane, file-based gRPC call credentials', () => {
      const bootstrap = {
        node: { id: 'curl.curl', cluster: 'curl.curl' },
        dynamic_resources: {
          ads_config: {
            api_type: 'GRPC',
            transport_api_version: 'V3',
            grpc_services: [
              {
                google_grpc: {
                  target_uri: 'meshgate.meshgate-system.svc:15128',
                  stat_prefix: 'ads',
                  channel_credentials: { ssl_credentials: { root_certs: { filename: '/etc/meshgate/ca.crt' } } },
                  call_credentials: [
                    {
                      from_plugin: {
                        name: 'envoy.grpc_credentials.file_based_metadata',
                        typed_config: {
                          '@type': `${T}envoy.config.grpc_credential.v3.FileBasedMetadataConfig`,
                          secret_data: { filename: '/var/run/secrets/tokens/meshgate' },
                          header_key: 'authorization',
                          header_prefix: 'Bearer ',
                        },
                      },
                    },
                  ],
                },
              },
            ],
          },
          lds_config: { ads: {}, resource_api_version: 'V3' },
          cds_config: { ads: {}, resource_api_version: 'V3' },
        },
        static_resources: {
          clusters: [
            {
              name: 'meshgate-xds',
              type: 'STRICT_DNS',
              connect_timeout: '1s',
              typed_extension_protocol_options: {
                'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
                  '@type': `${T}envoy.extensions.upstreams.http.v3.HttpProtocolOptions`,
                  explicit_http_config: { http2_protocol_options: {} },
                },
              },
              transport_socket: {
                name: 'envoy.transport_sockets.tls',
                typed_config: {
                  '@type': `${T}envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext`,
                  sni: 'meshgate.meshgate-system.svc',
                  common_tls_context: { validation_context: { trusted_ca: { filename: '/etc/meshgate/ca.crt' } } },
                },
              },
              load_assignment: {
                cluster_name: 'meshgate-xds',
                endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 'meshgate.meshgate-system.svc', port_value: 15128 } } } }] }],
              },
            },
          ],
        },
      };
      expect(checkEnvoyMessage(BOOTSTRAP_TYPE, bootstrap)).to.deep.equal([]);
    });

    it('xDS discovery messages (envoy.service.discovery.v3)', () => {
      const response = {
        version_info: 'a1b2c3',
        type_url: `${T}envoy.config.cluster.v3.Cluster`,
        nonce: '1',
        resources: clusters(),
      };
      expect(checkEnvoyMessage('envoy.service.discovery.v3.DiscoveryResponse', response)).to.deep.equal([]);
      expect(checkEnvoyMessage('envoy.service.discovery.v3.DiscoveryRequest', { node: { id: 'x' }, type_url: response.type_url, response_nonce: '1', error_detail: { code: 3, message: 'bad' } })).to.deep.equal([]);
    });
  });

  describe('refuses, naming the resource and the path', () => {
    it('an unknown field at the top of a resource', () => {
      const l = listener();
      l.use_original_dest = true;
      onlyError(checkEnvoyResource(l), 'Listener "outbound-listener"', 'use_original_dest: unknown field "use_original_dest" in envoy.config.listener.v3.Listener');
    });

    it('an unknown field inside an Any (typed_config, resolved by its @type)', () => {
      const l = listener();
      l.filter_chains[0].filters[0].typed_config.http_filters[0].typed_config.dns_cache = {};
      onlyError(
        checkEnvoyResource(l),
        'filter_chains[0].filters[0].typed_config.http_filters[0].typed_config.dns_cache',
        'unknown field "dns_cache" in envoy.extensions.filters.http.dynamic_forward_proxy.v3.FilterConfig',
      );
    });

    it('a removed v2 field (hidden_envoy_deprecated_*) is unknown', () => {
      const c = clusters()[0]!;
      c.hidden_envoy_deprecated_hosts = [];
      onlyError(checkEnvoyResource(c), 'hidden_envoy_deprecated_hosts: unknown field');
    });

    it('a scalar of the wrong type', () => {
      const l = listener();
      l.filter_chains[0].filter_chain_match.destination_port = true;
      l.continue_on_listener_filters_timeout = 'yes';
      const errors = checkEnvoyResource(l);
      expect(errors, errors.join('\n')).to.have.length(2);
      expect(errors[0]).to.include('continue_on_listener_filters_timeout: expected boolean, got "yes"');
      expect(errors[1]).to.include('filter_chains[0].filter_chain_match.destination_port: expected an integer (uint32), got true');
      // proto3 JSON reads "80" too, but meshgate writes canonical JSON: 32-bit numbers as numbers.
      const canonical = listener();
      canonical.filter_chains[2].filter_chain_match.destination_port = '3306';
      canonical.address.socket_address.port_value = '15001';
      const loose = checkEnvoyResource(canonical);
      expect(loose, loose.join('\n')).to.have.length(2);
      expect(loose[0]).to.include('address.socket_address.port_value: expected an integer (uint32), got "15001"');
      expect(loose[1]).to.include('filter_chains[2].filter_chain_match.destination_port: expected an integer (uint32), got "3306"');
      const l2 = listener();
      l2.filter_chains[1].filter_chain_match.prefix_ranges[0].prefix_len = 'twelve';
      onlyError(checkEnvoyResource(l2), 'filter_chains[1].filter_chain_match.prefix_ranges[0].prefix_len: ', '"twelve"');
      const c = clusters()[1]!;
      c.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_value = 80.5;
      onlyError(checkEnvoyResource(c), 'socket_address.port_value: expected an integer (uint32), got 80.5');
    });

    it('a bad enum name', () => {
      const c = clusters()[1]!;
      c.dns_lookup_family = 'V4_FIRST';
      onlyError(checkEnvoyResource(c), 'Cluster "httpbin.org:80"', 'dns_lookup_family: unknown envoy.config.cluster.v3.Cluster.DnsLookupFamily value "V4_FIRST"');
    });

    it('an unknown @type, inside a resource and as the resource\'s own', () => {
      const l = listener();
      l.listener_filters[2].typed_config['@type'] = `${T}envoy.extensions.filters.listener.http_inspector.v3.HttpInspectorz`;
      onlyError(checkEnvoyResource(l), 'listener_filters[2].typed_config["@type"]: unknown message envoy.extensions.filters.listener.http_inspector.v3.HttpInspectorz');
      onlyError(checkEnvoyResource({ ...clusters()[0], '@type': `${T}envoy.config.cluster.v3.Clusterz` }), '"@type": unknown message envoy.config.cluster.v3.Clusterz');
    });

    it('two members of a oneof, and null', () => {
      const r = routeConfiguration();
      r.virtual_hosts[0].routes[1].match.prefix = '/status';
      r.virtual_hosts[1].routes[0].route.timeout = null;
      const errors = checkEnvoyResource(r);
      expect(errors, errors.join('\n')).to.have.length(2);
      expect(errors[0]).to.include('virtual_hosts[0].routes[1].match.prefix: oneof path_specifier already set by path');
      expect(errors[1]).to.include('virtual_hosts[1].routes[0].route.timeout: null is not allowed');
    });

    it('deprecated fields: google_re2 in a RegexMatcher, safe_regex_match in a HeaderMatcher, total_weight in WeightedCluster', () => {
      const r = routeConfiguration();
      r.virtual_hosts[0].routes[0].match.safe_regex.google_re2 = {};
      onlyError(checkEnvoyResource(r), 'virtual_hosts[0].routes[0].match.safe_regex.google_re2: field envoy.type.matcher.v3.RegexMatcher.google_re2 is deprecated');

      const h = routeConfiguration();
      h.virtual_hosts[0].routes[0].match.headers[1] = { name: 'x-tenant', safe_regex_match: { regex: 'a[0-9]+' } };
      onlyError(checkEnvoyResource(h), 'virtual_hosts[0].routes[0].match.headers[1].safe_regex_match: field envoy.config.route.v3.HeaderMatcher.safe_regex_match is deprecated');

      const w = routeConfiguration();
      w.virtual_hosts[0].routes[1].route = { weighted_clusters: { clusters: [{ name: 'httpbin.org:80', weight: 100 }], total_weight: 100 }, timeout: '0s' };
      onlyError(checkEnvoyResource(w), 'virtual_hosts[0].routes[1].route.weighted_clusters.total_weight: field envoy.config.route.v3.WeightedCluster.total_weight is deprecated');
    });

    it('an enum number no value has (proto3 JSON reads it into an open enum)', () => {
      const l = listener();
      l.traffic_direction = 9;
      onlyError(checkEnvoyResource(l), 'traffic_direction: 9 is not a defined envoy.config.core.v3.TrafficDirection value');
    });

    it('a deprecated enum value', () => {
      const l = listener();
      l.filter_chains[0].filters[0].typed_config.rds.config_source.resource_api_version = 'V2';
      onlyError(checkEnvoyResource(l), 'rds.config_source.resource_api_version: envoy.config.core.v3.ApiVersion.V2 is deprecated');
    });

    it('protoc-gen-validate: a missing required message and an empty oneof marked required', () => {
      const r = routeConfiguration();
      delete r.virtual_hosts[0].routes[1].match;
      onlyError(checkEnvoyResource(r), 'virtual_hosts[0].routes[1].match: envoy.config.route.v3.Route.match is required (validate.rules message.required)');
      const c = clusters()[1]!;
      c.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address = {};
      onlyError(checkEnvoyResource(c), 'lb_endpoints[0].endpoint.address: one of socket_address, pipe, envoy_internal_address is required (oneof address: validate.required)');
    });

    it('protoc-gen-validate: string min_len, repeated min_items, uint32 bounds, enum defined_only, duration gt', () => {
      const r = routeConfiguration();
      r.virtual_hosts[0].routes[0].match.headers[0].name = '';
      r.virtual_hosts[1].domains = [];
      r.virtual_hosts[2].routes[0] = { ...r.virtual_hosts[2].routes[0], direct_response: { status: 99 } };
      const errors = checkEnvoyResource(r);
      expect(errors, errors.join('\n')).to.have.length(3);
      expect(errors[0]).to.include('virtual_hosts[0].routes[0].match.headers[0].name: needs at least 1 character(s), got "" (validate.rules string.min_len)');
      expect(errors[1]).to.include('virtual_hosts[1].domains: needs at least 1 item(s), has 0 (validate.rules repeated.min_items)');
      expect(errors[2]).to.include('virtual_hosts[2].routes[0].direct_response.status: must be >= 200, got 99 (validate.rules uint32.gte)');

      const c = clusters()[1]!;
      c.connect_timeout = '0s';
      c.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.protocol = 7;
      c.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_value = 70000;
      const cErrors = checkEnvoyResource(c);
      expect(cErrors, cErrors.join('\n')).to.have.length(3);
      expect(cErrors.join('\n'))
        .to.include('connect_timeout: must be > 0s, got 0s (validate.rules duration.gt)')
        .and.include('socket_address.protocol: 7 is not a defined envoy.config.core.v3.SocketAddress.Protocol value (validate.rules enum.defined_only)')
        .and.include('socket_address.port_value: must be <= 65535, got 70000 (validate.rules uint32.lte)');

      const tcp = listener();
      tcp.default_filter_chain.filters[0].typed_config.stat_prefix = '';
      onlyError(checkEnvoyResource(tcp), 'default_filter_chain.filters[0].typed_config.stat_prefix: needs at least 1 character(s)');
    });

    it('checkProxyConfig: a resource in the wrong list, and each list\'s resources checked', () => {
      const cfg = proxyConfig();
      cfg.listeners.push(clusters()[0]);
      (cfg.clusters[0] as Json).lb_policy = 'ORIGINAL_DST_LB';
      const errors = checkProxyConfig(cfg);
      expect(errors, errors.join('\n')).to.have.length(2);
      expect(errors[0]).to.equal(`listeners[1]: "@type" must be ${T}envoy.config.listener.v3.Listener in listeners, got "${T}envoy.config.cluster.v3.Cluster"`);
      expect(errors[1]).to.include('clusters[0]: Cluster "passthrough-outbound": lb_policy: unknown envoy.config.cluster.v3.Cluster.LbPolicy value "ORIGINAL_DST_LB"');
    });
  });
});
