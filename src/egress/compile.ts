import { OUTBOUND_PORT } from '../profile.js';
import type { MeshState } from '../state/mesh-state.js';
import type { MeshgateSettings } from '../settings.js';
import { OUTBOUND_LISTENER, PASSTHROUGH_CLUSTER, TYPE_URL_PREFIX as T } from '../vocabulary/envoy-names.js';
import { contentVersion } from './canonical.js';
import type { Json, ProxyConfig } from './proxy-config.js';
import { cidrContains, isServerFirst, readPolicies, type Cidr, type PortRule, type RouteMatch, type UpstreamSettings } from './read-policies.js';

/**
 * The egress compiler (SPEC §9): one ServiceAccount's Egress policies, with the MeshConfig's two
 * gates, as the Envoy v3 outbound listener, route configurations and clusters its sidecar enforces.
 * Pure and deterministic: the same state gives the same bytes and the same version.
 *
 * Shapes (docs/enforcement.md explains each and the OSM defect it avoids):
 * - nothing allowed and egress closed → no listener (connections refused, curl exit 7);
 * - per port P, one "branch" per distinct destination prefix plus one for any destination, since
 *   Envoy picks the longest matching prefix and never backtracks: a branch holds every rule that
 *   applies to its addresses (rules with a containing prefix or none), so policies combine as a
 *   union instead of hiding one another; branches with equal content share one chain;
 * - in each branch: an HTTP chain (raw_buffer + HTTP ALPN → RDS `egress-http-P`), an SNI chain
 *   (server_names → SNI forward proxy, upstream = DNS(SNI):P), and a port chain (→ original
 *   destination) — never two chains with the same match;
 * - server-first ports carry the port chain only, with the TLS and HTTP inspectors disabled.
 */

export interface ServiceAccountRef {
  namespace: string;
  name: string;
}

export interface CompileResult {
  config: ProxyConfig;
  /** What was left out of the config and why (stored objects admission would refuse). */
  warnings: string[];
}

export const HTTP_ROUTE_PREFIX = 'egress-http-';
export const DYNAMIC_FORWARD_PROXY_CLUSTER = 'egress-dynamic-forward-proxy';
export const DNS_CACHE = { dns_lookup_family: 'V4_PREFERRED', name: 'egress-dns-cache' } as const;
export const METADATA_KEY = 'meshgate.io';
export const ACCESS_DENIED = 'Access denied';
const CONNECT_TIMEOUT = '5s';
const HTTP_ALPN = ['http/1.0', 'http/1.1', 'h2c'];

const tcpCluster = (port: number) => `egress-tcp-${port}`;
const hostCluster = (host: string, port: number) => `${host}:${port}`;
const isWildcard = (host: string) => host.startsWith('*.');
const unique = <V>(xs: Iterable<V>) => [...new Set(xs)];
const sorted = (xs: Iterable<string>) => unique(xs).sort();
const byName = (a: Json, b: Json) => {
  const x = (a as { name: string }).name;
  const y = (b as { name: string }).name;
  return x < y ? -1 : x > y ? 1 : 0;
};
const policyMetadata = (policies: string[]): Json => ({ filter_metadata: { [METADATA_KEY]: { policies: sorted(policies) } } });

export function compileProxyConfig(account: ServiceAccountRef, state: MeshState, settings: MeshgateSettings): CompileResult {
  const mesh = state.meshConfig();
  const passthrough = mesh?.traffic?.enableEgress === true;
  const policiesOn = mesh?.featureFlags?.enableEgressPolicy !== false;
  const { rules, warnings } = policiesOn ? readPolicies(state.egressesFor(account), state) : { rules: [], warnings: [] };
  const ipv6 = settings.clusterCIDRs.some((c) => c.includes(':'));
  const denyUnmatchedHttp = state.profile.name === 'fsm';

  const ports = [...new Set(rules.map((r) => r.port))].sort((a, b) => a - b);
  const serverFirstPorts = ports.filter((p) => rules.some((r) => r.port === p && isServerFirst(r)));
  const chains: Json[] = [];
  const routeConfigurations: Json[] = [];
  const clusters = new Map<string, Json>();
  let needsForwardProxy = false;

  for (const port of ports) {
    const here = rules.filter((r) => r.port === port);
    const serverFirst = serverFirstPorts.includes(port);
    const http: PortRule[] = [];
    const sni: PortRule[] = [];
    const plain: PortRule[] = [];
    for (const r of here) {
      const kind = r.protocol === 'http' ? (r.hosts.length ? 'http' : 'none') : r.protocol === 'https' && r.hosts.length ? 'sni' : 'plain';
      if (serverFirst && (kind === 'http' || kind === 'sni')) {
        // Admission refuses this; a stored conflict must not take the port's MySQL with it.
        warnings.push(`Egress ${r.policy}: ${r.protocol} on port ${port} is ignored (port ${port} is tcp-server-first for this ServiceAccount)`);
        continue;
      }
      if (kind === 'none') warnings.push(`Egress ${r.policy}: http port ${port} has no hosts, so it allows nothing`);
      else if (kind === 'http') http.push(r);
      else if (kind === 'sni') sni.push(r);
      else if (kind === 'plain') plain.push(r);
    }

    if (http.length) {
      routeConfigurations.push(routeConfiguration(port, http, { passthrough, deny: denyUnmatchedHttp }, clusters, warnings));
      if (http.some((r) => r.hosts.some(isWildcard))) needsForwardProxy = true;
    }
    if (sni.length) needsForwardProxy = true;
    if (plain.length) clusters.set(tcpCluster(port), originalDestinationCluster(tcpCluster(port), firstUpstream(plain, warnings, tcpCluster(port))));
    chains.push(...portChains(port, http, sni, plain));
  }

  if (needsForwardProxy) clusters.set(DYNAMIC_FORWARD_PROXY_CLUSTER, forwardProxyCluster());
  if (passthrough) clusters.set(PASSTHROUGH_CLUSTER, originalDestinationCluster(PASSTHROUGH_CLUSTER, undefined));

  const listeners = chains.length || passthrough ? [outboundListener(chains, serverFirstPorts, passthrough, ipv6)] : [];
  // Every object below is written with its keys in sorted order, so the output is canonical JSON
  // without a second pass (a test holds every builder to it).
  const resources = { listeners, routeConfigurations: routeConfigurations.sort(byName), clusters: [...clusters.values()].sort(byName) };
  return { config: { version: contentVersion(resources), ...resources }, warnings };
}

// ---- listener ----

function outboundListener(chains: Json[], serverFirstPorts: number[], passthrough: boolean, ipv6: boolean): Json {
  const disabled = portPredicate(serverFirstPorts);
  const inspector = (name: string, type: string): Json => ({
    ...(disabled ? { filter_disabled: disabled } : {}),
    name: `envoy.filters.listener.${name}`,
    typed_config: { '@type': `${T}envoy.extensions.filters.listener.${name}.v3.${type}` },
  });
  return {
    '@type': `${T}envoy.config.listener.v3.Listener`,
    ...(ipv6 ? { additional_addresses: [{ address: socketAddress('::', OUTBOUND_PORT) }] } : {}),
    address: socketAddress('0.0.0.0', OUTBOUND_PORT),
    continue_on_listener_filters_timeout: true,
    ...(passthrough ? { default_filter_chain: { filters: [tcpProxy(PASSTHROUGH_CLUSTER, PASSTHROUGH_CLUSTER)], name: 'passthrough' } } : {}),
    filter_chains: chains,
    listener_filters: [
      {
        name: 'envoy.filters.listener.original_dst',
        typed_config: { '@type': `${T}envoy.extensions.filters.listener.original_dst.v3.OriginalDst` },
      },
      inspector('tls_inspector', 'TlsInspector'),
      inspector('http_inspector', 'HttpInspector'),
    ],
    name: OUTBOUND_LISTENER,
    traffic_direction: 'OUTBOUND',
  };
}

/** Server-first ports as a ListenerFilterChainMatchPredicate (an `or_match` only for two or more). */
function portPredicate(ports: number[]): Json | undefined {
  const one = (p: number): Json => ({ destination_port_range: { end: p + 1, start: p } });
  if (ports.length === 0) return undefined;
  return ports.length === 1 ? one(ports[0]!) : { or_match: { rules: ports.map(one) } };
}

function socketAddress(address: string, port: number): Json {
  return { socket_address: { address, port_value: port } };
}

function tcpProxy(statPrefix: string, cluster: string): Json {
  return {
    name: 'envoy.filters.network.tcp_proxy',
    typed_config: { '@type': `${T}envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy`, cluster, stat_prefix: statPrefix },
  };
}

interface Branch {
  /** Undefined: any destination (no prefix_ranges). */
  cidr: Cidr | undefined;
  http: string[];
  sni: { names: string[]; policies: string[] } | undefined;
  plain: string[];
}

/**
 * The rules that cover every address of a prefix: those without prefixes, those listing that very
 * prefix (a map look-up), and those listing a shorter one that contains it (a scan of the few
 * broader prefixes only), so a port with hundreds of prefixes is not quadratic.
 */
function rulesCovering(rules: PortRule[]): (cidr: Cidr | undefined) => PortRule[] {
  const any = rules.filter((r) => r.cidrs.length === 0);
  const exact = new Map<string, PortRule[]>();
  const listed: { cidr: Cidr; rule: PortRule }[] = [];
  for (const r of rules) {
    for (const c of r.cidrs) {
      exact.set(c.text, [...(exact.get(c.text) ?? []), r]);
      listed.push({ cidr: c, rule: r });
    }
  }
  return (cidr) => {
    if (!cidr) return any;
    const out = new Set([...any, ...(exact.get(cidr.text) ?? [])]);
    for (const l of listed) if (l.cidr.prefixLen < cidr.prefixLen && cidrContains(l.cidr, cidr)) out.add(l.rule);
    return [...out];
  };
}

/**
 * The chains of one port. Envoy narrows by destination port, then by the longest matching prefix
 * (falling back to chains without one), and never backtracks; so each prefix's branch must repeat
 * every rule that covers its addresses, or a policy with a prefix would hide a broader one.
 */
function portChains(port: number, http: PortRule[], sni: PortRule[], plain: PortRule[]): Json[] {
  const cidrs = new Map<string, Cidr>();
  for (const r of [...sni, ...plain]) for (const c of r.cidrs) cidrs.set(c.text, c);
  const sniCovering = rulesCovering(sni);
  const plainCovering = rulesCovering(plain);
  // HTTP is routed by Host to DNS-resolved upstreams, so the dialed address never matters.
  const httpPolicies = sorted(http.map((r) => r.policy));
  const branches: Branch[] = [undefined, ...[...cidrs.values()]].map((cidr) => {
    const sniHere = sniCovering(cidr);
    return {
      cidr,
      http: httpPolicies,
      sni: sniHere.length ? { names: sorted(sniHere.flatMap((r) => r.hosts)), policies: sorted(sniHere.map((r) => r.policy)) } : undefined,
      plain: sorted(plainCovering(cidr).map((r) => r.policy)),
    };
  });

  const out: Json[] = [];
  const emit = (kind: 'http' | 'https' | 'tcp', signature: (b: Branch) => string | undefined, build: (b: Branch, name: string, prefixes: Cidr[] | undefined) => Json) => {
    // The branch for any destination stands alone; prefix branches with equal content share a chain.
    const groups = new Map<string, { first: Branch; cidrs: Cidr[] }>();
    for (const b of branches) {
      const sig = signature(b);
      if (sig === undefined) continue;
      if (!b.cidr) {
        out.push(build(b, `${kind}-${port}`, undefined));
        continue;
      }
      const g = groups.get(sig);
      if (g) g.cidrs.push(b.cidr);
      else groups.set(sig, { first: b, cidrs: [b.cidr] });
    }
    [...groups.values()].forEach((g, i) => out.push(build(g.first, `${kind}-${port}-ranges-${i + 1}`, g.cidrs)));
  };
  // Keys in sorted order: application_protocols, destination_port, prefix_ranges, server_names, transport_protocol.
  const match = (prefixes: Cidr[] | undefined, o: { alpn?: string[]; names?: string[]; transport?: string }): Json => ({
    ...(o.alpn ? { application_protocols: o.alpn } : {}),
    destination_port: port,
    ...(prefixes ? { prefix_ranges: prefixes.map((c) => ({ address_prefix: c.address, prefix_len: c.prefixLen })) } : {}),
    ...(o.names ? { server_names: o.names } : {}),
    ...(o.transport ? { transport_protocol: o.transport } : {}),
  });

  emit('http', (b) => (b.http.length ? JSON.stringify(b.http) : undefined), (b, name, prefixes) => ({
    filter_chain_match: match(prefixes, { alpn: HTTP_ALPN, transport: 'raw_buffer' }),
    filters: [httpConnectionManager(port)],
    metadata: policyMetadata(b.http),
    name,
  }));
  emit('https', (b) => (b.sni ? JSON.stringify(b.sni) : undefined), (b, name, prefixes) => ({
    filter_chain_match: match(prefixes, { names: b.sni!.names }),
    filters: [
      {
        name: 'envoy.filters.network.sni_dynamic_forward_proxy',
        typed_config: {
          '@type': `${T}envoy.extensions.filters.network.sni_dynamic_forward_proxy.v3.FilterConfig`,
          dns_cache_config: { ...DNS_CACHE },
          port_value: port,
        },
      },
      tcpProxy(name, DYNAMIC_FORWARD_PROXY_CLUSTER),
    ],
    metadata: policyMetadata(b.sni!.policies),
    name,
  }));
  emit('tcp', (b) => (b.plain.length ? JSON.stringify(b.plain) : undefined), (b, name, prefixes) => ({
    filter_chain_match: match(prefixes, {}),
    filters: [tcpProxy(name, tcpCluster(port))],
    metadata: policyMetadata(b.plain),
    name,
  }));
  // Beside an HTTP chain, plaintext that is not HTTP narrows to the HTTP chain's raw_buffer at the
  // transport step and would be reset at the ALPN step (Envoy never backtracks to the {P} chain):
  // a raw_buffer copy of the port chain catches it. TLS still falls through to {P}.
  emit('tcp', (b) => (b.plain.length && b.http.length ? JSON.stringify(b.plain) : undefined), (b, name, prefixes) => ({
    filter_chain_match: match(prefixes, { transport: 'raw_buffer' }),
    filters: [tcpProxy(`${name}-plaintext`, tcpCluster(port))],
    metadata: policyMetadata(b.plain),
    name: `${name}-plaintext`,
  }));
  return out;
}

function httpConnectionManager(port: number): Json {
  return {
    name: 'envoy.filters.network.http_connection_manager',
    // Routes match the normalized path (normalize_path, merge_slashes), so `//get` or `/x/../get`
    // cannot step around a path rule.
    typed_config: {
      '@type': `${T}envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager`,
      http_filters: [
        {
          name: 'envoy.filters.http.dynamic_forward_proxy',
          typed_config: {
            '@type': `${T}envoy.extensions.filters.http.dynamic_forward_proxy.v3.FilterConfig`,
            dns_cache_config: { ...DNS_CACHE },
          },
        },
        { name: 'envoy.filters.http.router', typed_config: { '@type': `${T}envoy.extensions.filters.http.router.v3.Router` } },
      ],
      merge_slashes: true,
      normalize_path: true,
      rds: { config_source: { ads: {}, resource_api_version: 'V3' }, route_config_name: `${HTTP_ROUTE_PREFIX}${port}` },
      stat_prefix: `${HTTP_ROUTE_PREFIX}${port}`,
    },
  };
}

// ---- routes ----

const accessDenied = (): Json => ({
  direct_response: { body: { inline_string: ACCESS_DENIED }, status: 403 },
  match: { prefix: '/' },
  name: 'access-denied',
});

function routeMatchJson(m: RouteMatch): Json {
  const headers: Json[] = [];
  if (m.methods.length === 1) headers.push({ name: ':method', string_match: { exact: m.methods[0]! } });
  else if (m.methods.length > 1) headers.push({ name: ':method', string_match: { safe_regex: { regex: m.methods.map(escapeRegex).join('|') } } });
  for (const [name, regex] of m.headers) headers.push({ name, string_match: { safe_regex: { regex } } });
  return { ...(headers.length ? { headers } : {}), ...(m.pathRegex !== undefined ? { safe_regex: { regex: m.pathRegex } } : { prefix: '/' }) };
}

const escapeRegex = (s: string) => s.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&');

/** The virtual hosts of one http port: one per host, merged across policies, with their routes. */
function routeConfiguration(port: number, rules: PortRule[], o: { passthrough: boolean; deny: boolean }, clusters: Map<string, Json>, warnings: string[]): Json {
  const { passthrough, deny } = o;
  const rulesByHost = new Map<string, PortRule[]>();
  for (const r of rules) for (const h of r.hosts) rulesByHost.set(h, [...(rulesByHost.get(h) ?? []), r]);
  const virtualHosts: Json[] = sorted(rulesByHost.keys()).map((host) => {
    const mine = rulesByHost.get(host)!;
    const cluster = isWildcard(host) ? DYNAMIC_FORWARD_PROXY_CLUSTER : hostCluster(host, port);
    if (!isWildcard(host)) clusters.set(cluster, dnsCluster(host, port, firstUpstream(mine, warnings, cluster)));
    // Identical matches from several policies become one route naming them all; the catch-all last.
    const routes = new Map<string, { match: Json; name: string; policies: string[]; catchAll: boolean }>();
    for (const r of mine) {
      for (const m of r.routes) {
        const match = routeMatchJson(m);
        const key = JSON.stringify(match);
        const seen = routes.get(key);
        if (seen) seen.policies.push(r.policy);
        else routes.set(key, { match, name: m.name ? `${r.policy}/${m.name}` : r.policy, policies: [r.policy], catchAll: m.name === undefined });
      }
    }
    const ordered = [...routes.values()].filter((r) => !r.catchAll).concat([...routes.values()].filter((r) => r.catchAll));
    const out: Json[] = ordered.map((r) => ({ match: r.match, metadata: policyMetadata(r.policies), name: r.name, route: { cluster, timeout: '0s' } }));
    if (deny) out.push(accessDenied());
    return { domains: domainsOf(host, port), name: `${host}:${port}`, routes: out };
  });
  if (passthrough) {
    virtualHosts.push({ domains: ['*'], name: 'passthrough', routes: [{ match: { prefix: '/' }, name: 'passthrough', route: { cluster: PASSTHROUGH_CLUSTER, timeout: '0s' } }] });
  } else if (deny) {
    virtualHosts.push({ domains: ['*'], name: 'access-denied', routes: [accessDenied()] });
  }
  // validate_clusters false: clusters arrive over CDS before routes name them; Envoy need not check at load.
  return {
    '@type': `${T}envoy.config.route.v3.RouteConfiguration`,
    name: `${HTTP_ROUTE_PREFIX}${port}`,
    validate_clusters: false,
    virtual_hosts: virtualHosts,
  };
}

/**
 * Host header forms a virtual host answers: `h` and `h:P`. A wildcard host's upstream is the forward
 * proxy, which takes a port-less Host to mean port 80, so off port 80 only `*.h:P` is listed.
 */
function domainsOf(host: string, port: number): string[] {
  if (isWildcard(host) && port !== 80) return [`${host}:${port}`];
  return [host, `${host}:${port}`];
}

// ---- clusters ----

function firstUpstream(rules: PortRule[], warnings: string[], cluster: string): UpstreamSettings | undefined {
  const named = rules.map((r) => r.upstream).filter((u): u is UpstreamSettings => u !== undefined);
  const distinct = unique(named.map((u) => u.name));
  if (distinct.length > 1) warnings.push(`cluster ${cluster}: UpstreamTrafficSettings ${distinct.join(', ')} disagree; ${distinct[0]} applies`);
  return named[0];
}

function upstreamFields(u: UpstreamSettings | undefined, http: boolean): Record<string, Json> {
  if (!u) return {};
  const threshold: Record<string, Json> = {};
  if (u.maxConnections !== undefined) threshold.max_connections = u.maxConnections;
  if (u.maxPendingRequests !== undefined) threshold.max_pending_requests = u.maxPendingRequests;
  if (u.maxRequests !== undefined) threshold.max_requests = u.maxRequests;
  if (u.maxRetries !== undefined) threshold.max_retries = u.maxRetries;
  const out: Record<string, Json> = {};
  if (Object.keys(threshold).length) out.circuit_breakers = { thresholds: [threshold] };
  if (u.connectTimeoutSeconds !== undefined) out.connect_timeout = `${+u.connectTimeoutSeconds.toFixed(9)}s`;
  if (http && u.maxRequestsPerConnection !== undefined) {
    out.typed_extension_protocol_options = {
      'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
        '@type': `${T}envoy.extensions.upstreams.http.v3.HttpProtocolOptions`,
        common_http_protocol_options: { max_requests_per_connection: u.maxRequestsPerConnection },
        explicit_http_config: { http_protocol_options: {} },
      },
    };
  }
  return out;
}

function originalDestinationCluster(name: string, upstream: UpstreamSettings | undefined): Json {
  const { circuit_breakers, connect_timeout } = upstreamFields(upstream, false);
  return {
    '@type': `${T}envoy.config.cluster.v3.Cluster`,
    ...(circuit_breakers ? { circuit_breakers } : {}),
    connect_timeout: connect_timeout ?? CONNECT_TIMEOUT,
    lb_policy: 'CLUSTER_PROVIDED',
    name,
    type: 'ORIGINAL_DST',
  };
}

function dnsCluster(host: string, port: number, upstream: UpstreamSettings | undefined): Json {
  const name = hostCluster(host, port);
  const { circuit_breakers, connect_timeout, typed_extension_protocol_options } = upstreamFields(upstream, true);
  return {
    '@type': `${T}envoy.config.cluster.v3.Cluster`,
    ...(circuit_breakers ? { circuit_breakers } : {}),
    connect_timeout: connect_timeout ?? CONNECT_TIMEOUT,
    dns_lookup_family: 'V4_PREFERRED',
    load_assignment: {
      cluster_name: name,
      endpoints: [{ lb_endpoints: [{ endpoint: { address: socketAddress(host, port) } }] }],
    },
    name,
    type: 'LOGICAL_DNS',
    ...(typed_extension_protocol_options ? { typed_extension_protocol_options } : {}),
  };
}

function forwardProxyCluster(): Json {
  return {
    '@type': `${T}envoy.config.cluster.v3.Cluster`,
    cluster_type: {
      name: 'envoy.clusters.dynamic_forward_proxy',
      typed_config: {
        '@type': `${T}envoy.extensions.clusters.dynamic_forward_proxy.v3.ClusterConfig`,
        dns_cache_config: { ...DNS_CACHE },
      },
    },
    connect_timeout: CONNECT_TIMEOUT,
    lb_policy: 'CLUSTER_PROVIDED',
    name: DYNAMIC_FORWARD_PROXY_CLUSTER,
  };
}
