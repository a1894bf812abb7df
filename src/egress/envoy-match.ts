import ipaddr from 'ipaddr.js';
import { RE2JS } from 're2js';
import type { FilterChain, FilterDisabled, HeaderMatcher, Route, StringMatch, VirtualHost } from './proxy-config-schema.js';

/**
 * Envoy's matching algorithms for the subset meshgate emits, as pure functions: filter chain
 * selection (filter_chain_manager_impl), virtual host selection, route matching, path
 * normalization. Shared by `egress check` and anything else that must decide as Envoy does.
 */

/** What the listener knows about a connection when it picks a filter chain. */
export interface ConnectionFacts {
  /** Original destination port. */
  port: number;
  /** Original destination IP; undefined when it is not known (a name whose address was not given). */
  ip: string | undefined;
  /** SNI, lower-cased; undefined when the TLS inspector did not see one. */
  serverName: string | undefined;
  transportProtocol: string;
  applicationProtocols: string[];
}

export type ChainStep = 'destination_port' | 'destination_ip' | 'server_names' | 'transport_protocol' | 'application_protocols';

export interface ChainSelection {
  /** The chosen chain; undefined when some step left nothing (Envoy never backtracks). */
  chain: FilterChain | undefined;
  /** When nothing matched: the step that emptied the set, and the chains it had to choose from. */
  failedAt?: { step: ChainStep; candidates: FilterChain[] };
  /** Set when the IP was unknown and chains in play had prefix_ranges: those ranges (evaluated as not matching). */
  ipUndecided?: string[];
}

/** Whether a listener filter's `filter_disabled` predicate matches a destination port. */
export function predicateMatchesPort(p: FilterDisabled, port: number): boolean {
  if ('destination_port_range' in p) return port >= p.destination_port_range.start && port < p.destination_port_range.end;
  return p.or_match.rules.some((r) => predicateMatchesPort(r, port));
}

function parseIp(ip: string): ipaddr.IPv4 | ipaddr.IPv6 | undefined {
  try {
    const a = ipaddr.parse(ip);
    // An IPv4-mapped IPv6 destination is an IPv4 connection to Envoy.
    return a.kind() === 'ipv6' && (a as ipaddr.IPv6).isIPv4MappedAddress() ? (a as ipaddr.IPv6).toIPv4Address() : a;
  } catch {
    return undefined;
  }
}

/** The longest prefix among `chain`'s prefix_ranges that contains `ip`, or -1. */
function longestPrefixContaining(chain: FilterChain, ip: ipaddr.IPv4 | ipaddr.IPv6): number {
  let best = -1;
  for (const r of chain.filter_chain_match?.prefix_ranges ?? []) {
    const prefix = parseIp(r.address_prefix);
    const len = r.prefix_len ?? 0;
    if (!prefix || prefix.kind() !== ip.kind()) continue;
    if ((ip as ipaddr.IPv4).match(prefix as ipaddr.IPv4, len)) best = Math.max(best, len);
  }
  return best;
}

const hasRanges = (c: FilterChain) => (c.filter_chain_match?.prefix_ranges?.length ?? 0) > 0;
const serverNamesOf = (c: FilterChain) => c.filter_chain_match?.server_names ?? [];
const appProtocolsOf = (c: FilterChain) => c.filter_chain_match?.application_protocols ?? [];

/**
 * Envoy's filter chain selection: narrow field by field, keeping only the most specific chains at
 * each step, and never backtrack (a chain that matches the port but not the SNI means no match,
 * even when a port-less chain would have accepted the connection).
 */
export function selectFilterChain(chains: readonly FilterChain[], facts: ConnectionFacts): ChainSelection {
  const fail = (step: ChainStep, candidates: FilterChain[], extra: Partial<ChainSelection> = {}): ChainSelection => ({
    chain: undefined,
    failedAt: { step, candidates },
    ...extra,
  });

  // 1. destination_port: exact, else chains without one.
  let set = chains.filter((c) => c.filter_chain_match?.destination_port === facts.port);
  if (set.length === 0) set = chains.filter((c) => c.filter_chain_match?.destination_port === undefined);
  if (set.length === 0) return fail('destination_port', [...chains]);

  // 2. destination IP: the longest prefix containing it; chains without ranges stand for 0.0.0.0/0 and ::/0.
  let ipUndecided: string[] | undefined;
  const ip = facts.ip !== undefined ? parseIp(facts.ip) : undefined;
  const withRanges = set.filter(hasRanges);
  let byIp: FilterChain[] = [];
  if (ip) {
    let best = -1;
    for (const c of withRanges) best = Math.max(best, longestPrefixContaining(c, ip));
    if (best >= 0) byIp = withRanges.filter((c) => longestPrefixContaining(c, ip) === best);
  } else if (withRanges.length > 0) {
    // Unknown IP: decided as if it were outside every range (a name not among the policy's ipAddresses).
    ipUndecided = [...new Set(withRanges.flatMap((c) => c.filter_chain_match!.prefix_ranges!.map((r) => `${r.address_prefix}/${r.prefix_len ?? 0}`)))];
  }
  if (byIp.length === 0) byIp = set.filter((c) => !hasRanges(c));
  const extra = ipUndecided ? { ipUndecided } : {};
  if (byIp.length === 0) return fail('destination_ip', set, extra);
  set = byIp;

  // 3. server_names: exact, else the longest `*.suffix` wildcard, else chains without names.
  const sni = facts.serverName ?? '';
  let byName: FilterChain[] = [];
  if (sni !== '') {
    byName = set.filter((c) => serverNamesOf(c).some((n) => n.toLowerCase() === sni));
    // Wildcards from the longest suffix down, as Envoy walks "*.b.c.com", "*.c.com", "*.com".
    for (let pos = sni.indexOf('.', 1); byName.length === 0 && pos >= 0 && pos < sni.length - 1; pos = sni.indexOf('.', pos + 1)) {
      const wildcard = `*${sni.slice(pos)}`;
      byName = set.filter((c) => serverNamesOf(c).some((n) => n.toLowerCase() === wildcard));
    }
  }
  if (byName.length === 0) byName = set.filter((c) => serverNamesOf(c).length === 0);
  if (byName.length === 0) return fail('server_names', set, extra);
  set = byName;

  // 4. transport_protocol: exact, else chains without one.
  let byTransport = set.filter((c) => c.filter_chain_match?.transport_protocol === facts.transportProtocol);
  if (byTransport.length === 0) byTransport = set.filter((c) => !c.filter_chain_match?.transport_protocol);
  if (byTransport.length === 0) return fail('transport_protocol', set, extra);
  set = byTransport;

  // 5. application_protocols: the first of the connection's protocols some chain lists, else chains without any.
  let byApp: FilterChain[] = [];
  for (const p of facts.applicationProtocols) {
    byApp = set.filter((c) => appProtocolsOf(c).includes(p));
    if (byApp.length > 0) break;
  }
  if (byApp.length === 0) byApp = set.filter((c) => appProtocolsOf(c).length === 0);
  if (byApp.length === 0) return fail('application_protocols', set, extra);

  // The compiler never emits two chains with the same match (parseProxyConfig refuses them).
  return { chain: byApp[0], ...extra };
}

/**
 * Envoy's virtual host selection by the lower-cased Host: exact domain, then suffix wildcards
 * (`*.x`, `*x`, longest first, never matching the empty string), then prefix wildcards (`x*`), then `*`.
 * Domains with a port are compared against the whole Host value.
 */
export function selectVirtualHost(vhosts: readonly VirtualHost[], host: string): { vhost: VirtualHost; domain: string } | undefined {
  const h = host.toLowerCase();
  const all = vhosts.flatMap((vhost) => vhost.domains.map((d) => ({ vhost, domain: d, d: d.toLowerCase() })));
  const exact = all.find((e) => e.d === h);
  if (exact) return exact;
  const longest = (xs: typeof all, len: (e: (typeof all)[number]) => number) => xs.sort((a, b) => len(b) - len(a))[0];
  const suffix = longest(
    all.filter((e) => e.d.length > 1 && e.d.startsWith('*') && h.length > e.d.length - 1 && h.endsWith(e.d.slice(1))),
    (e) => e.d.length,
  );
  if (suffix) return suffix;
  const prefix = longest(
    all.filter((e) => e.d.length > 1 && e.d.endsWith('*') && h.length > e.d.length - 1 && h.startsWith(e.d.slice(0, -1))),
    (e) => e.d.length,
  );
  if (prefix) return prefix;
  return all.find((e) => e.d === '*');
}

const UNRESERVED = /[A-Za-z0-9\-._~]/;

/**
 * Envoy's `normalize_path` (RFC 3986 canonicalization as its Chromium URL code does it: decode
 * percent-encoded unreserved characters, upper-case other escapes, remove dot segments) followed by
 * `merge_slashes`. Only the path part changes; a query string is kept as it is.
 */
export function normalizePath(pathAndQuery: string): string {
  const q = pathAndQuery.indexOf('?');
  const rawPath = q < 0 ? pathAndQuery : pathAndQuery.slice(0, q);
  const query = q < 0 ? '' : pathAndQuery.slice(q);
  const decoded = rawPath.replace(/%([0-9A-Fa-f]{2})/g, (_m, hex: string) => {
    const c = String.fromCharCode(parseInt(hex, 16));
    return UNRESERVED.test(c) ? c : `%${hex.toUpperCase()}`;
  });
  const canonical = removeDotSegments(decoded.startsWith('/') ? decoded : `/${decoded}`);
  return canonical.replace(/\/{2,}/g, '/') + query;
}

/** RFC 3986 §5.2.4. */
function removeDotSegments(path: string): string {
  let input = path;
  const out: string[] = [];
  while (input.length > 0) {
    if (input.startsWith('../')) input = input.slice(3);
    else if (input.startsWith('./')) input = input.slice(2);
    else if (input.startsWith('/./')) input = input.slice(2);
    else if (input === '/.') input = '/';
    else if (input.startsWith('/../')) {
      input = input.slice(3);
      out.pop();
    } else if (input === '/..') {
      input = '/';
      out.pop();
    } else if (input === '.' || input === '..') input = '';
    else {
      const next = input.indexOf('/', 1);
      const seg = next < 0 ? input : input.slice(0, next);
      out.push(seg);
      input = input.slice(seg.length);
    }
  }
  return out.join('') || '/';
}

/** The path without its query string and fragment, as Envoy's path and regex matchers see it. */
export function pathWithoutQuery(path: string): string {
  const i = path.search(/[?#]/);
  return i < 0 ? path : path.slice(0, i);
}

const compiled = new Map<string, RE2JS>();
/** RE2 full match (Envoy's safe_regex must match the whole value). */
export function re2FullMatch(regex: string, value: string): boolean {
  let re = compiled.get(regex);
  if (!re) {
    re = RE2JS.compile(regex);
    compiled.set(regex, re);
  }
  return re.matches(value);
}

export function stringMatches(m: StringMatch, value: string): boolean {
  if (m.exact !== undefined) return value === m.exact;
  if (m.prefix !== undefined) return value.startsWith(m.prefix);
  return re2FullMatch(m.safe_regex!.regex, value);
}

/** The request as the router sees it: normalized path (with query), method, lower-cased header names. */
export interface RoutedRequest {
  path: string;
  method: string;
  authority: string;
  headers: Record<string, string>;
}

function headerValue(req: RoutedRequest, name: string): string | undefined {
  const n = name.toLowerCase();
  if (n === ':method') return req.method;
  if (n === ':path') return req.path;
  if (n === ':authority' || n === 'host') return req.authority;
  return Object.hasOwn(req.headers, n) ? req.headers[n] : undefined;
}

export function headerMatches(h: HeaderMatcher, req: RoutedRequest): boolean {
  const value = headerValue(req, h.name);
  if (h.present_match !== undefined) return (value !== undefined) === h.present_match;
  return value !== undefined && stringMatches(h.string_match!, value);
}

/** Whether a route's match accepts the request (path part, then every header matcher). */
export function routeMatches(route: Route, req: RoutedRequest): boolean {
  const m = route.match;
  const ok =
    m.prefix !== undefined
      ? req.path.startsWith(m.prefix)
      : m.path !== undefined
        ? pathWithoutQuery(req.path) === m.path
        : re2FullMatch(m.safe_regex!.regex, pathWithoutQuery(req.path));
  return ok && (m.headers ?? []).every((h) => headerMatches(h, req));
}
