import ipaddr from 'ipaddr.js';
import { HTTP_ROUTE_GROUP_API_VERSION } from '../profile.js';
import type { MeshState } from '../state/mesh-state.js';
import type { EgressPolicy, KubeObject } from '../state/types.js';
import { normalizeProtocol, SERVER_FIRST, type EgressProtocol } from '../vocabulary/egress-protocol.js';
import { re2Error } from '../vocabulary/re2-regex.js';

/**
 * The Egress policies of one ServiceAccount, read into what the compiler programs: per port, the
 * hosts, prefix ranges and HTTP route matches each policy allows. Stored objects are read
 * leniently: admission refused anything malformed, but a policy stored before meshgate ran (or in a
 * `--state` file) may still hold it, and one bad entry must never cost the sidecar its whole config
 * (OSM's osm#5231). What is dropped is said in a warning.
 */

/** `ns/name` of an Egress, as `egress check` and the chain metadata name it. */
export type PolicyName = string;

export interface Cidr {
  /** Normalized network address (host bits cleared). */
  address: string;
  prefixLen: number;
  family: 'ipv4' | 'ipv6';
  /** `address/prefixLen`, the identity used for grouping. */
  text: string;
  /** The network address's bytes, for containment checks without parsing. */
  bytes: readonly number[];
}

/** One HTTP route match: an HTTPRouteGroup match, or the catch-all when a policy names none. */
export interface RouteMatch {
  /** `group/match` for a route group's match; undefined for the catch-all. */
  name: string | undefined;
  pathRegex: string | undefined;
  /** Methods to match; empty means any. */
  methods: string[];
  /** Header name (lower case) → RE2 pattern of the whole value. */
  headers: [string, string][];
}

export interface UpstreamSettings {
  /** `ns/name` of the UpstreamTrafficSetting. */
  name: string;
  connectTimeoutSeconds?: number;
  maxConnections?: number;
  maxRequests?: number;
  maxPendingRequests?: number;
  maxRetries?: number;
  maxRequestsPerConnection?: number;
}

export interface PortRule {
  policy: PolicyName;
  port: number;
  protocol: EgressProtocol;
  /** Lower-cased DNS names, `*.` wildcards included. */
  hosts: string[];
  /** Empty: any destination IP. */
  cidrs: Cidr[];
  /** HTTP only: the route matches (the catch-all when the policy references no route group). */
  routes: RouteMatch[];
  upstream: UpstreamSettings | undefined;
}

export interface ReadPolicies {
  rules: PortRule[];
  warnings: string[];
}

const DNS_NAME = /^(\*\.)?[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$/;
const UPSTREAM_KIND = 'UpstreamTrafficSetting';

export function readPolicies(policies: readonly EgressPolicy[], state: MeshState): ReadPolicies {
  const rules: PortRule[] = [];
  const warnings: string[] = [];
  for (const policy of policies) {
    const name = `${policy.ref.namespace}/${policy.ref.name}`;
    const upstream = upstreamOf(policy, state);
    if (upstream === 'missing') {
      // As OSM: a policy whose UpstreamTrafficSetting is missing is ignored (admission refuses it).
      warnings.push(`Egress ${name} is ignored: the UpstreamTrafficSetting it names does not exist`);
      continue;
    }
    const { hosts, cidrs, warnings: own } = readLists(policy, name);
    warnings.push(...own);
    const routes = readRouteMatches(policy, name, state, warnings);
    for (const p of policy.ports) {
      const protocol = normalizeProtocol(p.protocol);
      if (!protocol || !Number.isInteger(p.number) || p.number < 1 || p.number > 65535) {
        warnings.push(`Egress ${name}: port ${JSON.stringify(p.number)}/${JSON.stringify(p.protocol)} is ignored (not a port number and protocol meshgate supports)`);
        continue;
      }
      rules.push({ policy: name, port: p.number, protocol, hosts, cidrs, routes: protocol === 'http' ? routes : [], upstream });
    }
  }
  return { rules, warnings };
}

export const isServerFirst = (r: PortRule) => r.protocol === SERVER_FIRST;

/**
 * Hosts and prefixes of a policy, kept per stored policy object: the store replaces the object
 * when the policy changes, so a recompile of an unchanged policy parses nothing again.
 */
const listsOf = new WeakMap<EgressPolicy, { hosts: string[]; cidrs: Cidr[]; warnings: string[] }>();
function readLists(policy: EgressPolicy, name: PolicyName): { hosts: string[]; cidrs: Cidr[]; warnings: string[] } {
  let lists = listsOf.get(policy);
  if (!lists) {
    const warnings: string[] = [];
    lists = { hosts: readHosts(policy, name, warnings), cidrs: readCidrs(policy, name, warnings), warnings };
    listsOf.set(policy, lists);
  }
  return lists;
}

function readHosts(policy: EgressPolicy, name: PolicyName, warnings: string[]): string[] {
  const out = new Set<string>();
  for (const raw of policy.hosts) {
    const host = raw.toLowerCase();
    if (DNS_NAME.test(host) && host.length <= 253) out.add(host);
    else warnings.push(`Egress ${name}: host ${JSON.stringify(raw)} is ignored (not a DNS name)`);
  }
  return [...out].sort();
}

export function parseCidr(text: string): Cidr | undefined {
  try {
    const [addr, len] = text.includes('/') ? ipaddr.parseCIDR(text) : ((a) => [a, a.kind() === 'ipv4' ? 32 : 128] as const)(ipaddr.parse(text));
    const family = addr.kind();
    const bytes = addr.toByteArray();
    // Clear the host bits, as Envoy's prefix matcher does.
    for (let i = 0; i < bytes.length; i++) {
      const keep = Math.max(0, Math.min(8, len - i * 8));
      bytes[i]! &= (0xff << (8 - keep)) & 0xff;
    }
    const address = ipaddr.fromByteArray(bytes).toString();
    return { address, prefixLen: len, family, text: `${address}/${len}`, bytes };
  } catch {
    return undefined;
  }
}

/** Whether `outer` contains every address of `inner`. */
export function cidrContains(outer: Cidr, inner: Cidr): boolean {
  if (outer.family !== inner.family || outer.prefixLen > inner.prefixLen) return false;
  const whole = outer.prefixLen >> 3;
  for (let i = 0; i < whole; i++) if (outer.bytes[i] !== inner.bytes[i]) return false;
  const rest = outer.prefixLen & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (outer.bytes[whole]! & mask) === (inner.bytes[whole]! & mask);
}

function readCidrs(policy: EgressPolicy, name: PolicyName, warnings: string[]): Cidr[] {
  const out = new Map<string, Cidr>();
  for (const raw of policy.ipAddresses) {
    const cidr = parseCidr(raw.trim());
    if (cidr) out.set(cidr.text, cidr);
    else warnings.push(`Egress ${name}: ipAddresses entry ${JSON.stringify(raw)} is ignored (not a CIDR)`);
  }
  return [...out.values()].sort((a, b) => (a.text < b.text ? -1 : a.text > b.text ? 1 : 0));
}

const CATCH_ALL: RouteMatch = { name: undefined, pathRegex: undefined, methods: [], headers: [] };

function readRouteMatches(policy: EgressPolicy, name: PolicyName, state: MeshState, warnings: string[]): RouteMatch[] {
  const groups = policy.matches.filter((m) => m.kind === 'HTTPRouteGroup' && m.apiGroup === HTTP_ROUTE_GROUP_API_VERSION);
  // As OSM: no route group named → every path; route groups named → only their matches (a missing
  // group allows nothing: fail closed).
  if (groups.length === 0) return [CATCH_ALL];
  const out: RouteMatch[] = [];
  for (const ref of groups) {
    const group = state.httpRouteGroup(policy.ref.namespace, ref.name);
    if (!group) {
      warnings.push(`Egress ${name}: HTTPRouteGroup ${policy.ref.namespace}/${ref.name} does not exist, so it allows no request`);
      continue;
    }
    const read = routeGroupMatchesOf(group, ref.name);
    out.push(...read.matches);
    warnings.push(...read.warnings.map((w) => `Egress ${name}: ${w}`));
  }
  return out;
}

function asRecord(v: unknown): Record<string, unknown> | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

/**
 * SMI's header form is a list of single-key maps (`- user-agent: ".*Android.*"`); an object is read
 * too, so a route group stored before meshgate's CRD still means what it says.
 */
function headerPairs(v: unknown): [string, unknown][] {
  if (Array.isArray(v)) return v.flatMap((item) => Object.entries(asRecord(item) ?? {}));
  return Object.entries(asRecord(v) ?? {});
}

/** A route group's matches, kept per stored object (compiling RE2 patterns is the costly part). */
const matchesOf = new WeakMap<KubeObject, { matches: RouteMatch[]; warnings: string[] }>();
function routeGroupMatchesOf(group: KubeObject, groupName: string): { matches: RouteMatch[]; warnings: string[] } {
  let read = matchesOf.get(group);
  if (!read) {
    const warnings: string[] = [];
    read = { matches: routeGroupMatches(group, groupName, warnings), warnings };
    matchesOf.set(group, read);
  }
  return read;
}

function routeGroupMatches(group: KubeObject, groupName: string, warnings: string[]): RouteMatch[] {
  const out: RouteMatch[] = [];
  const matches = Array.isArray(asRecord(group.spec)?.matches) ? (asRecord(group.spec)!.matches as unknown[]) : [];
  for (const [i, raw] of matches.entries()) {
    const m = asRecord(raw);
    if (!m) continue;
    const label = `HTTPRouteGroup ${group.metadata?.namespace ?? ''}/${groupName} match ${typeof m.name === 'string' ? JSON.stringify(m.name) : `#${i}`}`;
    const pathRegex = typeof m.pathRegex === 'string' && m.pathRegex !== '' ? m.pathRegex : undefined;
    const patterns: string[] = pathRegex ? [pathRegex] : [];
    const headers: [string, string][] = [];
    let bad = false;
    for (const [header, value] of headerPairs(m.headers)) {
      if (typeof value !== 'string' || !/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(header)) bad = true;
      else headers.push([header.toLowerCase(), value]);
    }
    patterns.push(...headers.map(([, v]) => v));
    const methods = Array.isArray(m.methods) ? m.methods.filter((x): x is string => typeof x === 'string') : [];
    if (bad || patterns.some((p) => re2Error(p) !== undefined)) {
      // Envoy rejects a whole route table over one bad regex; leave this match out instead.
      warnings.push(`${label} is ignored (a pattern is not RE2, or a header is malformed)`);
      continue;
    }
    out.push({
      name: `${groupName}/${typeof m.name === 'string' ? m.name : i}`,
      pathRegex,
      methods: methods.includes('*') ? [] : [...new Set(methods)].sort(),
      headers: headers.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)),
    });
  }
  return out;
}

/** The policy's UpstreamTrafficSetting (OSM: the first one matched), 'missing', or undefined. */
function upstreamOf(policy: EgressPolicy, state: MeshState): UpstreamSettings | 'missing' | undefined {
  const ref = policy.matches.find((m) => m.kind === UPSTREAM_KIND && m.apiGroup === `${policy.ref.group}/v1alpha1`);
  if (!ref) return undefined;
  const obj = state.upstreamTrafficSetting(policy.ref.namespace, ref.name, policy.ref.group);
  if (!obj) return 'missing';
  const conn = asRecord(asRecord(obj.spec)?.connectionSettings);
  const tcp = asRecord(conn?.tcp);
  const http = asRecord(conn?.http);
  const count = (v: unknown) => (Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 0xffffffff ? (v as number) : undefined);
  const settings: UpstreamSettings = { name: `${policy.ref.namespace}/${ref.name}` };
  const timeout = durationSeconds(tcp?.connectTimeout);
  if (timeout !== undefined) settings.connectTimeoutSeconds = timeout;
  const fields = [
    ['maxConnections', tcp?.maxConnections],
    ['maxRequests', http?.maxRequests],
    ['maxPendingRequests', http?.maxPendingRequests],
    ['maxRetries', http?.maxRetries],
    ['maxRequestsPerConnection', http?.maxRequestsPerConnection],
  ] as const;
  for (const [k, v] of fields) {
    const n = count(v);
    if (n !== undefined) settings[k] = n;
  }
  return settings;
}

/** A metav1.Duration (`1m30s`, `500ms`, `2h`) in seconds, or undefined. */
export function durationSeconds(v: unknown): number | undefined {
  if (typeof v !== 'string' || !/^(\d+(\.\d+)?(h|m|s|ms|us|µs|ns))+$/.test(v)) return undefined;
  const unit: Record<string, number> = { h: 3600, m: 60, s: 1, ms: 1e-3, us: 1e-6, µs: 1e-6, ns: 1e-9 };
  let total = 0;
  for (const [, n, , u] of v.matchAll(/(\d+(\.\d+)?)(h|ms|m|s|us|µs|ns)/g)) total += Number(n) * unit[u!]!;
  return total > 0 ? total : undefined;
}
