import {
  normalizePath,
  predicateMatchesPort,
  routeMatches,
  selectFilterChain,
  selectVirtualHost,
  type ChainSelection,
  type ConnectionFacts,
  type RoutedRequest,
} from './envoy-match.js';
import type { ProxyConfig } from './proxy-config.js';
import { parseProxyConfig, type Cluster, type FilterChain, type Listener, type NetworkFilter, type ParsedProxyConfig, type Route } from './proxy-config-schema.js';

/**
 * `meshgate egress check`'s interpreter: what Envoy would do with one connection or request, derived
 * only from the compiled resources the sidecar receives (never from the policies), so it explains
 * what is enforced rather than what was meant.
 */

export interface ExplainRequest {
  scheme: 'http' | 'https' | 'tcp';
  /** DNS name the app asks for; absent when it dials an IP literal. */
  host?: string;
  port: number;
  /** Destination IP the app dials (`--ip`, or the literal of `tcp://IP:P`); unknown when absent. */
  ip?: string;
  /** HTTP method (default GET). */
  method?: string;
  /** HTTP path with optional query (default "/"). */
  path?: string;
  /** Extra HTTP request headers; a `host` header here overrides the Host curl would send. */
  headers?: Record<string, string>;
  /** The ServiceAccount `ns/name` the config belongs to, for wording only. */
  from?: string;
}

export type Outcome = 'allowed' | 'refused' | 'reset' | 'http-404' | 'http-403';

export interface Explanation {
  allowed: boolean;
  outcome: Outcome;
  /** `ns/name` of the Egress that allows it (first in the resource's meshgate.io metadata). */
  policy?: string;
  /** One line for a platform engineer. */
  reason: string;
  listener?: string;
  chain?: string;
  virtualHost?: string;
  route?: string;
  cluster?: string;
  /** Where the proxy connects: `host:port` (resolved by the proxy) or the original destination. */
  upstream?: string;
  /** Set when the answer depends on something the request did not say (the destination IP of a name). */
  caveat?: string;
}

/**
 * The ALPN list a TLS client offers. curl offers `h2, http/1.1` by default; no meshgate chain matches
 * on TLS application protocols, so the choice only matters for hand-written configs.
 */
export const TLS_CLIENT_ALPN = ['h2', 'http/1.1'] as const;

export function explainRequest(config: ProxyConfig, request: ExplainRequest): Explanation {
  return explainParsed(parseProxyConfig(config), request);
}

/** As explainRequest, on an already parsed config (for many requests against one config). */
export function explainParsed(config: ParsedProxyConfig, request: ExplainRequest): Explanation {
  const listener = config.listener;
  if (!listener) {
    const who = request.from ? ` for ${request.from}` : '';
    return {
      allowed: false,
      outcome: 'refused',
      reason: `refused: no Egress policy allows anything${who} and egress is closed (no outbound listener; curl exits 7)`,
    };
  }

  const { facts, inspectors } = connectionFacts(listener, request);
  const selection = selectFilterChain(listener.filter_chains ?? [], facts);
  const caveat = selection.ipUndecided ? ipCaveat(request, selection.ipUndecided) : undefined;
  const base = { listener: listener.name, ...(caveat ? { caveat } : {}) };
  const withCaveat = (e: Explanation): Explanation => (caveat ? { ...e, reason: `${e.reason}; ${caveat}` } : e);

  let chain: { name: string; filters: NetworkFilter[]; metadata?: FilterChain['metadata'] };
  let viaDefault = false;
  if (selection.chain) chain = selection.chain;
  else if (listener.default_filter_chain) {
    chain = listener.default_filter_chain;
    viaDefault = true;
  } else {
    return withCaveat({ ...base, allowed: false, outcome: 'reset', reason: noChainReason(selection, facts, request, inspectors) });
  }

  const ctx: Ctx = { config, request, facts, chainName: chain.name, viaDefault, chainPolicies: policiesOf(chain.metadata) };
  return withCaveat({ ...base, chain: chain.name, ...runNetworkFilters(ctx, chain.filters) });
}

interface Ctx {
  config: ParsedProxyConfig;
  request: ExplainRequest;
  facts: ConnectionFacts;
  chainName: string;
  viaDefault: boolean;
  chainPolicies: string[];
}

// ---------------------------------------------------------------------------------------------
// What the listener filters learn about the connection.

interface Inspectors {
  tls: boolean;
  http: boolean;
}

function inspectorRuns(listener: Listener, name: string, port: number): boolean {
  const f = listener.listener_filters?.find((x) => x.name === name);
  return f !== undefined && !(f.filter_disabled && predicateMatchesPort(f.filter_disabled, port));
}

function connectionFacts(listener: Listener, r: ExplainRequest): { facts: ConnectionFacts; inspectors: Inspectors } {
  const inspectors = {
    tls: inspectorRuns(listener, 'envoy.filters.listener.tls_inspector', r.port),
    http: inspectorRuns(listener, 'envoy.filters.listener.http_inspector', r.port),
  };
  // With no inspector deciding, Envoy sets transport "raw_buffer" itself (ActiveTcpSocket::newConnection).
  let transportProtocol = 'raw_buffer';
  let serverName: string | undefined;
  let applicationProtocols: string[] = [];
  if (r.scheme === 'https' && inspectors.tls) {
    transportProtocol = 'tls';
    // curl sends no SNI for an IP literal.
    serverName = r.host?.toLowerCase();
    applicationProtocols = [...TLS_CLIENT_ALPN];
  } else if (r.scheme === 'http' && inspectors.http) {
    // curl speaks HTTP/1.1 on http:// URLs.
    applicationProtocols = ['http/1.1'];
  }
  return { facts: { port: r.port, ip: r.ip, serverName, transportProtocol, applicationProtocols }, inspectors };
}

// ---------------------------------------------------------------------------------------------
// No filter chain.

function curlExit(r: ExplainRequest): string {
  return r.scheme === 'https' ? 'curl exits 35' : 'curl exits 56';
}

function describeWants(chains: readonly FilterChain[], what: (c: FilterChain) => string): string {
  const parts = chains.map((c) => {
    const p = policiesOf(c.metadata);
    return `${what(c)}${p.length > 0 ? ` [${p.join(', ')}]` : ''}`;
  });
  return [...new Set(parts)].join('; ');
}

function noChainReason(sel: ChainSelection, facts: ConnectionFacts, r: ExplainRequest, inspectors: Inspectors): string {
  const failed = sel.failedAt!;
  const on = `on port ${facts.port}`;
  const m = (c: FilterChain) => c.filter_chain_match ?? {};
  let what: string;
  switch (failed.step) {
    case 'destination_port': {
      const ports = [...new Set(failed.candidates.map((c) => m(c).destination_port).filter((p) => p !== undefined))].sort((a, b) => a - b);
      what = `no Egress policy allows port ${facts.port} (no filter chain for it; chains exist for port${ports.length === 1 ? '' : 's'} ${ports.join(', ') || 'none'})`;
      break;
    }
    case 'destination_ip': {
      const wants = describeWants(failed.candidates, (c) => (m(c).prefix_ranges ?? []).map((p) => `${p.address_prefix}/${p.prefix_len ?? 0}`).join(', '));
      what =
        facts.ip === undefined
          ? `every filter chain ${on} wants a destination IP in its ranges (${wants})`
          : `no filter chain ${on} matches destination IP ${facts.ip} (chains there want ${wants})`;
      break;
    }
    case 'server_names':
      what = `no filter chain ${on} matches ${facts.serverName ? `server name "${facts.serverName}"` : `a connection without a server name (${sniAbsence(r, inspectors)})`} (chains there want ${describeWants(
        failed.candidates,
        (c) => (m(c).server_names ?? []).join(', '),
      )})`;
      break;
    case 'transport_protocol':
      what = `no filter chain ${on} accepts ${facts.transportProtocol === 'tls' ? 'a TLS connection' : 'a plaintext connection'} (chains there want ${describeWants(
        failed.candidates,
        (c) => `transport ${m(c).transport_protocol}`,
      )})`;
      break;
    case 'application_protocols':
      what = `no filter chain ${on} accepts ${facts.applicationProtocols.length > 0 ? `protocol ${facts.applicationProtocols.join('/')}` : 'a connection whose protocol the proxy does not recognise'} (chains there want ${describeWants(
        failed.candidates,
        (c) => (m(c).application_protocols ?? []).join(', '),
      )})`;
      break;
  }
  return `reset: ${what}; the proxy closes the connection (${curlExit(r)})`;
}

function sniAbsence(r: ExplainRequest, inspectors: Inspectors): string {
  if (r.scheme !== 'https') return `a ${r.scheme} client sends no SNI`;
  if (!inspectors.tls) return `the TLS inspector is disabled on port ${r.port}`;
  return 'the client dials an IP and sends no SNI';
}

// ---------------------------------------------------------------------------------------------
// Network filters.

type Step = Omit<Explanation, 'listener' | 'chain' | 'caveat'>;

function runNetworkFilters(ctx: Ctx, filters: NetworkFilter[]): Step {
  const first = filters[0]!;
  switch (first.name) {
    case 'envoy.filters.network.http_connection_manager':
      return runHttp(ctx, first.typed_config.rds.route_config_name);
    case 'envoy.filters.network.sni_dynamic_forward_proxy': {
      const tcp = filters[1]!;
      const clusterName = tcp.name === 'envoy.filters.network.tcp_proxy' ? tcp.typed_config.cluster : '';
      const sni = ctx.facts.serverName;
      if (!sni) {
        return { allowed: false, outcome: 'reset', cluster: clusterName, reason: `reset: filter chain ${ctx.chainName} forwards by SNI but the connection has none; ${curlExit(ctx.request)}` };
      }
      return toCluster(ctx, clusterName, { sniTarget: `${sni}:${first.typed_config.port_value}` }, undefined);
    }
    case 'envoy.filters.network.tcp_proxy':
      return toCluster(ctx, first.typed_config.cluster, {}, undefined);
  }
}

function runHttp(ctx: Ctx, routeConfigName: string): Step {
  const { request: r } = ctx;
  if (r.scheme !== 'http') {
    // The HTTP connection manager reads a TLS handshake or arbitrary bytes as a malformed request.
    const what = r.scheme === 'https' ? 'a TLS handshake' : 'bytes that are not HTTP';
    return {
      allowed: false,
      outcome: 'reset',
      reason: `reset: filter chain ${ctx.chainName} expects plaintext HTTP but gets ${what}; the proxy closes the connection (${curlExit(r)})`,
    };
  }
  const rc = ctx.config.routeConfigurations.get(routeConfigName)!;
  const authority = authorityOf(r);
  const found = selectVirtualHost(rc.virtual_hosts ?? [], authority);
  // Methods are case-sensitive (RFC 9110) and Envoy's :method matchers compare them as sent.
  const method = r.method ?? 'GET';
  const path = normalizePath(r.path ?? '/');
  const shown = `${method} ${path}`;
  if (!found) {
    const domains = (rc.virtual_hosts ?? []).flatMap((v) => v.domains);
    return {
      allowed: false,
      outcome: 'http-404',
      reason: `404: no virtual host for "${authority}" on port ${r.port} (route configuration ${rc.name} has ${domains.join(', ') || 'none'}); no Egress policy allows this host`,
    };
  }
  const vh = found.vhost;
  const headers = Object.fromEntries(Object.entries(r.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
  const routed: RoutedRequest = { path, method, authority, headers };
  const index = (vh.routes ?? []).findIndex((route) => routeMatches(route, routed));
  const route = index >= 0 ? vh.routes![index]! : undefined;
  if (!route) {
    const allowedBy = [...new Set((vh.routes ?? []).flatMap((x) => policiesOf(x.metadata)))];
    return {
      allowed: false,
      outcome: 'http-404',
      virtualHost: vh.name,
      reason: `404: virtual host ${vh.name} (domain "${found.domain}") has no route for ${shown}${allowedBy.length > 0 ? ` (its routes come from ${allowedBy.join(', ')}: ${describeRoutes(vh.routes ?? [])})` : ''}`,
    };
  }
  const routeName = route.name ?? `#${index + 1}`;
  if (route.direct_response) {
    const status = route.direct_response.status;
    const body = route.direct_response.body?.inline_string;
    const why = found.domain === '*' ? `no Egress policy allows host "${authority}"` : `no Egress route allows ${shown} on ${vh.name}`;
    return {
      allowed: false,
      outcome: status === 403 ? 'http-403' : 'http-404',
      virtualHost: vh.name,
      route: routeName,
      reason: `${status}${body ? ` "${body}"` : ''}: ${why} (route ${routeName} in virtual host ${vh.name} answers directly)`,
    };
  }
  return toCluster(ctx, route.route!.cluster, { authority }, { vhost: vh.name, route: routeName, routeObj: route });
}

/** The Host (:authority) curl sends: the URL's host, with `:port` unless it is the scheme's default. */
function authorityOf(r: ExplainRequest): string {
  const override = Object.entries(r.headers ?? {}).find(([k]) => k.toLowerCase() === 'host');
  if (override) return override[1];
  const host = r.host ?? (r.ip?.includes(':') ? `[${r.ip}]` : (r.ip ?? ''));
  return r.port === 80 ? host : `${host}:${r.port}`;
}

function describeRoutes(routes: readonly Route[]): string {
  return routes
    .map((x) => {
      const m = x.match;
      const p = m.safe_regex ? `path ~ ${m.safe_regex.regex}` : m.path !== undefined ? `path = ${m.path}` : `prefix ${m.prefix}`;
      const h = (m.headers ?? []).map((hm) => `${hm.name}${hm.present_match !== undefined ? ' present' : ` ${JSON.stringify(hm.string_match)}`}`);
      return [p, ...h].join(' ');
    })
    .join('; ');
}

// ---------------------------------------------------------------------------------------------
// Clusters.

function toCluster(
  ctx: Ctx,
  clusterName: string,
  target: { authority?: string; sniTarget?: string },
  http: { vhost: string; route: string; routeObj: Route } | undefined,
): Step {
  const cluster = ctx.config.clusters.get(clusterName)!;
  const upstream = upstreamOf(ctx, cluster, target);
  const where = http ? { virtualHost: http.vhost, route: http.route } : {};
  if (upstream.error) {
    return { ...where, allowed: false, outcome: 'reset', cluster: cluster.name, reason: `reset: ${upstream.error}; ${curlExit(ctx.request)}` };
  }
  // HTTP answers name the route's policies; everything else the chain's.
  const policies = http ? policiesOf(http.routeObj.metadata) : ctx.chainPolicies;
  const via = http ? `route ${http.route}` : ctx.viaDefault ? `default filter chain ${ctx.chainName}` : `filter chain ${ctx.chainName}`;
  let reason: string;
  if (policies.length > 0) {
    const more = policies.length > 1 ? ` (also ${policies.slice(1).join(', ')})` : '';
    reason = `allowed by Egress ${policies[0]}${more} (${via}, cluster ${cluster.name})`;
  } else if (cluster.type === 'ORIGINAL_DST') {
    reason = `allowed by egress passthrough (traffic.enableEgress: true), not by an Egress policy (${via}, cluster ${cluster.name} to the original destination)`;
  } else {
    reason = `allowed, no Egress policy recorded (${via}, cluster ${cluster.name})`;
  }
  return {
    ...where,
    allowed: true,
    outcome: 'allowed',
    ...(policies[0] !== undefined ? { policy: policies[0] } : {}),
    reason,
    cluster: cluster.name,
    upstream: upstream.value!,
  };
}

function upstreamOf(ctx: Ctx, cluster: Cluster, target: { authority?: string; sniTarget?: string }): { value?: string; error?: string } {
  const r = ctx.request;
  if (cluster.type === 'ORIGINAL_DST') {
    const dst = r.ip !== undefined ? `${r.ip.includes(':') ? `[${r.ip}]` : r.ip}:${r.port}` : `${r.host ?? '?'}:${r.port}`;
    return { value: `${dst} (original destination)` };
  }
  if (cluster.type === 'LOGICAL_DNS') {
    const sa = cluster.load_assignment!.endpoints[0]!.lb_endpoints[0]!.endpoint.address.socket_address;
    return { value: `${sa.address}:${sa.port_value} (resolved by the proxy)` };
  }
  // Dynamic forward proxy: the host comes from SNI (network filter) or the Host header (HTTP).
  if (target.sniTarget) return { value: `${target.sniTarget} (SNI, resolved by the proxy)` };
  if (target.authority !== undefined) {
    const { host, port } = splitAuthority(target.authority);
    return { value: `${host}:${port ?? 80} (Host header, resolved by the proxy)` };
  }
  return { error: `cluster ${cluster.name} is a dynamic forward proxy but the connection carries no host name for it` };
}

function splitAuthority(a: string): { host: string; port?: number } {
  const m = /^(\[[^\]]*\]|[^:]*)(?::([0-9]+))?$/.exec(a);
  if (!m) return { host: a };
  return { host: m[1]!, ...(m[2] !== undefined ? { port: Number(m[2]) } : {}) };
}

function policiesOf(metadata: FilterChain['metadata']): string[] {
  return metadata?.filter_metadata['meshgate.io'].policies ?? [];
}

function ipCaveat(r: ExplainRequest, ranges: string[]): string {
  return `this depends on the IP ${r.host ? `"${r.host}" resolves to` : 'dialed'} (chains on port ${r.port} also match ${ranges.join(', ')}); decided as if it were outside those ranges: pass --ip to decide`;
}
