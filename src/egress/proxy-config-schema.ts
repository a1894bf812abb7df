import { checkLoadRules } from './load-rules.js';
import { z } from 'zod';
import type { ProxyConfig } from './proxy-config.js';

/**
 * The Envoy v3 subset meshgate's compiler emits (docs/enforcement.md lists it), as strict zod
 * schemas: a consumer of compiled resources (`egress check`, the stand-in proxy of the data-plane
 * tests) must refuse a field, `@type` or filter name it does not know instead of ignoring it, or it
 * would explain traffic differently from what Envoy does with that field.
 */

const T = 'type.googleapis.com/';
export const TYPE_URLS = {
  listener: `${T}envoy.config.listener.v3.Listener`,
  routeConfiguration: `${T}envoy.config.route.v3.RouteConfiguration`,
  cluster: `${T}envoy.config.cluster.v3.Cluster`,
  originalDst: `${T}envoy.extensions.filters.listener.original_dst.v3.OriginalDst`,
  tlsInspector: `${T}envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector`,
  httpInspector: `${T}envoy.extensions.filters.listener.http_inspector.v3.HttpInspector`,
  tcpProxy: `${T}envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy`,
  sniDynamicForwardProxy: `${T}envoy.extensions.filters.network.sni_dynamic_forward_proxy.v3.FilterConfig`,
  httpConnectionManager: `${T}envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager`,
  httpDynamicForwardProxy: `${T}envoy.extensions.filters.http.dynamic_forward_proxy.v3.FilterConfig`,
  router: `${T}envoy.extensions.filters.http.router.v3.Router`,
  dynamicForwardProxyCluster: `${T}envoy.extensions.clusters.dynamic_forward_proxy.v3.ClusterConfig`,
} as const;

/** proto3-JSON Duration: "5s", "0.250s". */
const duration = z.string().regex(/^-?[0-9]+(\.[0-9]{1,9})?s$/, 'must be a proto3-JSON Duration such as "5s"');
const port = z.int().min(0).max(65535);
const typeUrl = <U extends string>(url: U) => z.literal(url);

const metadata = z.strictObject({
  filter_metadata: z.strictObject({
    'meshgate.io': z.strictObject({ policies: z.array(z.string()) }),
  }),
});

const socketAddress = z.strictObject({ address: z.string(), port_value: port });
const address = z.strictObject({ socket_address: socketAddress });

const portRange = z.strictObject({ start: port, end: z.int().min(0).max(65536) });
export type FilterDisabled = { destination_port_range: { start: number; end: number } } | { or_match: { rules: FilterDisabled[] } };
const filterDisabled: z.ZodType<FilterDisabled> = z.lazy(() =>
  z.union([z.strictObject({ destination_port_range: portRange }), z.strictObject({ or_match: z.strictObject({ rules: z.array(filterDisabled) }) })]),
);

const listenerFilter = z.discriminatedUnion('name', [
  z.strictObject({
    name: z.literal('envoy.filters.listener.original_dst'),
    typed_config: z.strictObject({ '@type': typeUrl(TYPE_URLS.originalDst) }),
    filter_disabled: filterDisabled.optional(),
  }),
  z.strictObject({
    name: z.literal('envoy.filters.listener.tls_inspector'),
    typed_config: z.strictObject({ '@type': typeUrl(TYPE_URLS.tlsInspector) }),
    filter_disabled: filterDisabled.optional(),
  }),
  z.strictObject({
    name: z.literal('envoy.filters.listener.http_inspector'),
    typed_config: z.strictObject({ '@type': typeUrl(TYPE_URLS.httpInspector) }),
    filter_disabled: filterDisabled.optional(),
  }),
]);

const dnsCacheConfig = z.strictObject({
  name: z.string(),
  dns_lookup_family: z.enum(['AUTO', 'V4_ONLY', 'V6_ONLY', 'V4_PREFERRED', 'ALL']).optional(),
});

const httpFilter = z.discriminatedUnion('name', [
  z.strictObject({
    name: z.literal('envoy.filters.http.dynamic_forward_proxy'),
    typed_config: z.strictObject({ '@type': typeUrl(TYPE_URLS.httpDynamicForwardProxy), dns_cache_config: dnsCacheConfig }),
  }),
  z.strictObject({
    name: z.literal('envoy.filters.http.router'),
    typed_config: z.strictObject({ '@type': typeUrl(TYPE_URLS.router) }),
  }),
]);

const networkFilter = z.discriminatedUnion('name', [
  z.strictObject({
    name: z.literal('envoy.filters.network.tcp_proxy'),
    typed_config: z.strictObject({ '@type': typeUrl(TYPE_URLS.tcpProxy), stat_prefix: z.string(), cluster: z.string() }),
  }),
  z.strictObject({
    name: z.literal('envoy.filters.network.sni_dynamic_forward_proxy'),
    typed_config: z.strictObject({
      '@type': typeUrl(TYPE_URLS.sniDynamicForwardProxy),
      dns_cache_config: dnsCacheConfig,
      port_value: port,
    }),
  }),
  z.strictObject({
    name: z.literal('envoy.filters.network.http_connection_manager'),
    typed_config: z.strictObject({
      '@type': typeUrl(TYPE_URLS.httpConnectionManager),
      stat_prefix: z.string(),
      rds: z.strictObject({
        route_config_name: z.string(),
        config_source: z.strictObject({ ads: z.strictObject({}), resource_api_version: z.literal('V3') }),
      }),
      http_filters: z.array(httpFilter),
      normalize_path: z.boolean().optional(),
      merge_slashes: z.boolean().optional(),
    }),
  }),
]);
export type NetworkFilter = z.infer<typeof networkFilter>;

const filterChainMatch = z.strictObject({
  destination_port: port.optional(),
  prefix_ranges: z.array(z.strictObject({ address_prefix: z.string(), prefix_len: z.int().min(0).max(128).optional() })).optional(),
  server_names: z.array(z.string()).optional(),
  transport_protocol: z.string().optional(),
  application_protocols: z.array(z.string()).optional(),
});
export type FilterChainMatch = z.infer<typeof filterChainMatch>;

const filterChain = z.strictObject({
  name: z.string(),
  filter_chain_match: filterChainMatch.optional(),
  filters: z.array(networkFilter),
  metadata: metadata.optional(),
});
export type FilterChain = z.infer<typeof filterChain>;

const listener = z.strictObject({
  '@type': typeUrl(TYPE_URLS.listener),
  name: z.string(),
  address,
  additional_addresses: z.array(z.strictObject({ address })).optional(),
  traffic_direction: z.enum(['UNSPECIFIED', 'INBOUND', 'OUTBOUND']).optional(),
  continue_on_listener_filters_timeout: z.boolean().optional(),
  listener_filters_timeout: duration.optional(),
  listener_filters: z.array(listenerFilter).optional(),
  filter_chains: z.array(filterChain).optional(),
  default_filter_chain: z.strictObject({ name: z.string(), filters: z.array(networkFilter), metadata: metadata.optional() }).optional(),
});
export type Listener = z.infer<typeof listener>;

const stringMatch = z
  .strictObject({
    exact: z.string().optional(),
    prefix: z.string().optional(),
    safe_regex: z.strictObject({ regex: z.string() }).optional(),
  })
  .refine((m) => [m.exact, m.prefix, m.safe_regex].filter((v) => v !== undefined).length === 1, 'must set exactly one of exact, prefix, safe_regex');
export type StringMatch = z.infer<typeof stringMatch>;

const headerMatcher = z
  .strictObject({ name: z.string(), string_match: stringMatch.optional(), present_match: z.boolean().optional() })
  .refine((h) => (h.string_match === undefined) !== (h.present_match === undefined), 'must set exactly one of string_match, present_match');
export type HeaderMatcher = z.infer<typeof headerMatcher>;

const routeMatch = z
  .strictObject({
    prefix: z.string().optional(),
    path: z.string().optional(),
    safe_regex: z.strictObject({ regex: z.string() }).optional(),
    headers: z.array(headerMatcher).optional(),
  })
  .refine((m) => [m.prefix, m.path, m.safe_regex].filter((v) => v !== undefined).length === 1, 'must set exactly one of prefix, path, safe_regex');
export type RouteMatch = z.infer<typeof routeMatch>;

const route = z
  .strictObject({
    name: z.string().optional(),
    match: routeMatch,
    route: z.strictObject({ cluster: z.string(), timeout: duration.optional() }).optional(),
    direct_response: z
      .strictObject({
        // Only the statuses `egress check` has an outcome for.
        status: z.union([z.literal(403), z.literal(404)]),
        body: z.strictObject({ inline_string: z.string() }).optional(),
      })
      .optional(),
    metadata: metadata.optional(),
  })
  .refine((r) => (r.route === undefined) !== (r.direct_response === undefined), 'must set exactly one of route, direct_response');
export type Route = z.infer<typeof route>;

const virtualHost = z.strictObject({ name: z.string(), domains: z.array(z.string()).min(1), routes: z.array(route).optional() });
export type VirtualHost = z.infer<typeof virtualHost>;

const routeConfiguration = z.strictObject({
  '@type': typeUrl(TYPE_URLS.routeConfiguration),
  name: z.string(),
  virtual_hosts: z.array(virtualHost).optional(),
  validate_clusters: z.boolean().optional(),
});
export type RouteConfiguration = z.infer<typeof routeConfiguration>;

const circuitBreakers = z.strictObject({
  thresholds: z.array(
    z.strictObject({
      max_connections: z.int().min(0).optional(),
      max_pending_requests: z.int().min(0).optional(),
      max_requests: z.int().min(0).optional(),
      max_retries: z.int().min(0).optional(),
    }),
  ),
});

const cluster = z.strictObject({
  '@type': typeUrl(TYPE_URLS.cluster),
  name: z.string(),
  type: z.enum(['ORIGINAL_DST', 'LOGICAL_DNS']).optional(),
  cluster_type: z
    .strictObject({
      name: z.literal('envoy.clusters.dynamic_forward_proxy'),
      typed_config: z.strictObject({ '@type': typeUrl(TYPE_URLS.dynamicForwardProxyCluster), dns_cache_config: dnsCacheConfig }),
    })
    .optional(),
  lb_policy: z.literal('CLUSTER_PROVIDED').optional(),
  connect_timeout: duration.optional(),
  dns_lookup_family: z.enum(['AUTO', 'V4_ONLY', 'V6_ONLY', 'V4_PREFERRED', 'ALL']).optional(),
  load_assignment: z
    .strictObject({
      cluster_name: z.string(),
      endpoints: z.array(
        z.strictObject({ lb_endpoints: z.array(z.strictObject({ endpoint: z.strictObject({ address }) })) }),
      ),
    })
    .optional(),
  circuit_breakers: circuitBreakers.optional(),
  // From an UpstreamTrafficSetting's maxRequestsPerConnection; no effect on what is allowed.
  typed_extension_protocol_options: z
    .strictObject({
      'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': z.strictObject({
        '@type': z.literal(`${T}envoy.extensions.upstreams.http.v3.HttpProtocolOptions`),
        common_http_protocol_options: z.strictObject({ max_requests_per_connection: z.int().min(0) }),
        explicit_http_config: z.strictObject({ http_protocol_options: z.strictObject({}) }),
      }),
    })
    .optional(),
});
export type Cluster = z.infer<typeof cluster>;

export interface ParsedProxyConfig {
  version: string;
  listener: Listener | undefined;
  routeConfigurations: Map<string, RouteConfiguration>;
  clusters: Map<string, Cluster>;
}

/** A compiled config that breaks the contract: a compiler bug, never something a user caused. */
export class ProxyConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`compiled proxy config breaks the Envoy subset contract: ${problems.slice(0, 5).join('; ')}${problems.length > 5 ? ` (and ${problems.length - 5} more)` : ''}`);
    this.name = 'ProxyConfigError';
  }
}

function issues(where: string, error: z.ZodError): string[] {
  return error.issues.map((i) => {
    const path = i.path.length > 0 ? `.${i.path.map(String).join('.')}` : '';
    const keys = i.code === 'unrecognized_keys' ? `: ${i.keys.join(', ')}` : '';
    return `${where}${path}: ${i.message}${keys}`;
  });
}

/**
 * Parses and cross-checks a ProxyConfig: strict shapes, unique names, no dangling route or cluster
 * references, no two filter chains with the same match (Envoy rejects all of these at load).
 * Throws ProxyConfigError listing every problem.
 */
export function parseProxyConfig(config: ProxyConfig): ParsedProxyConfig {
  const problems: string[] = [];
  const parseEach = <S extends z.ZodType>(kind: string, schema: S, values: readonly unknown[]): z.infer<S>[] => {
    const out: z.infer<S>[] = [];
    values.forEach((v, i) => {
      const r = schema.safeParse(v);
      if (r.success) out.push(r.data);
      else problems.push(...issues(`${kind}[${i}]`, r.error));
    });
    return out;
  };
  const listeners = parseEach('listeners', listener, config.listeners ?? []);
  const routes = parseEach('routeConfigurations', routeConfiguration, config.routeConfigurations ?? []);
  const clusters = parseEach('clusters', cluster, config.clusters ?? []);
  if (typeof config.version !== 'string') problems.push('version: must be a string');
  if (listeners.length > 1) problems.push(`listeners: at most one listener, found ${listeners.length}`);

  const byName = <V extends { name: string }>(kind: string, values: V[]): Map<string, V> => {
    const m = new Map<string, V>();
    for (const v of values) {
      if (m.has(v.name)) problems.push(`${kind}: name "${v.name}" repeated`);
      m.set(v.name, v);
    }
    return m;
  };
  const routeMap = byName('routeConfigurations', routes);
  const clusterMap = byName('clusters', clusters);
  for (const c of clusters) checkCluster(c, problems);

  const l = listeners[0];
  // Load-time rules (unique names, no dangling references, no two chains with one match, unique
  // domains): the same checker the compiler's tests hold every compiled result to.
  if (problems.length === 0) problems.push(...checkLoadRules(config));

  if (problems.length > 0) throw new ProxyConfigError(problems);
  return { version: config.version, listener: l, routeConfigurations: routeMap, clusters: clusterMap };
}

function checkCluster(c: Cluster, problems: string[]): void {
  const kinds = [c.type, c.cluster_type].filter((v) => v !== undefined).length;
  if (kinds !== 1) problems.push(`cluster ${c.name}: must set exactly one of type, cluster_type`);
  if (c.type === 'LOGICAL_DNS') {
    const endpoints = c.load_assignment?.endpoints.flatMap((e) => e.lb_endpoints) ?? [];
    if (endpoints.length !== 1) problems.push(`cluster ${c.name}: a LOGICAL_DNS cluster needs exactly one endpoint`);
  }
}
