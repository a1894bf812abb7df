import { OUTBOUND_LISTENER } from '../vocabulary/envoy-names.js';
import { canonicalJson } from './canonical.js';
import type { Json, ProxyConfig } from './proxy-config.js';

/**
 * What Envoy refuses when it loads a config, checked on a compiled ProxyConfig (SPEC §9): OSM once
 * emitted two chains with one match and a single bad chain took every pod's egress down
 * (osm#5231). Returns one line per violation; [] when Envoy would load it. Run on every compiled
 * result by the tests (a property test feeds it random policy sets) and before `proxy config`
 * prints.
 */
export function checkLoadRules(config: ProxyConfig): string[] {
  const problems: string[] = [];
  const clusters = new Set<string>();
  const routeNames = new Set<string>();
  const dnsCaches = new Map<string, string>();

  for (const c of config.clusters.map(obj)) {
    const name = str(c.name);
    if (clusters.has(name)) problems.push(`cluster ${JSON.stringify(name)} is sent twice`);
    clusters.add(name);
    collectDnsCaches(c, dnsCaches, problems);
  }
  for (const rc of config.routeConfigurations.map(obj)) {
    const name = str(rc.name);
    if (routeNames.has(name)) problems.push(`route configuration ${JSON.stringify(name)} is sent twice`);
    routeNames.add(name);
    checkRouteConfiguration(rc, clusters, problems);
  }
  const listenerNames = new Set<string>();
  for (const l of config.listeners.map(obj)) {
    const name = str(l.name);
    if (listenerNames.has(name)) problems.push(`listener ${JSON.stringify(name)} is sent twice`);
    listenerNames.add(name);
    checkListener(l, clusters, routeNames, problems);
    collectDnsCaches(l, dnsCaches, problems);
  }
  if (config.listeners.length > 1 || (config.listeners.length === 1 && str(obj(config.listeners[0]).name) !== OUTBOUND_LISTENER)) {
    problems.push(`expected at most the listener ${JSON.stringify(OUTBOUND_LISTENER)}`);
  }
  return problems;
}

function obj(v: Json | undefined): { [k: string]: Json } {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? v : {};
}
function arr(v: Json | undefined): Json[] {
  return Array.isArray(v) ? v : [];
}
function str(v: Json | undefined): string {
  return typeof v === 'string' ? v : '';
}

const LISTENER_FILTER_ORDER = ['envoy.filters.listener.original_dst', 'envoy.filters.listener.tls_inspector', 'envoy.filters.listener.http_inspector'];

function checkListener(l: { [k: string]: Json }, clusters: Set<string>, routes: Set<string>, problems: string[]): void {
  const where = `listener ${JSON.stringify(str(l.name))}`;
  const chains = arr(l.filter_chains).map(obj);
  const defaultChain = l.default_filter_chain === undefined ? undefined : obj(l.default_filter_chain);
  if (chains.length === 0 && !defaultChain) problems.push(`${where} has no filter chain and no default filter chain`);
  const filterNames = arr(l.listener_filters).map((f) => str(obj(f).name));
  if (canonicalJson(filterNames) !== canonicalJson(LISTENER_FILTER_ORDER)) {
    problems.push(`${where} has listener filters ${filterNames.join(', ')}; expected ${LISTENER_FILTER_ORDER.join(', ')}`);
  }
  const names = new Set<string>();
  // Envoy indexes chains by every combination of their match values; two chains on one combination
  // is "multiple filter chains with the same matching rules" and the whole listener is refused.
  const combos = new Map<string, string>();
  for (const chain of chains) {
    const name = str(chain.name);
    if (names.has(name)) problems.push(`${where}: filter chain name ${JSON.stringify(name)} is used twice`);
    names.add(name);
    for (const combo of matchCombinations(obj(chain.filter_chain_match))) {
      const other = combos.get(combo);
      if (other !== undefined) problems.push(`${where}: filter chains ${JSON.stringify(other)} and ${JSON.stringify(name)} have the same match ${combo}`);
      else combos.set(combo, name);
    }
    checkNetworkFilters(`${where} chain ${JSON.stringify(name)}`, arr(chain.filters), clusters, routes, problems);
  }
  if (defaultChain) checkNetworkFilters(`${where} default chain`, arr(defaultChain.filters), clusters, routes, problems);
}

function matchCombinations(m: { [k: string]: Json }): string[] {
  const port = m.destination_port ?? null;
  const prefixes = arr(m.prefix_ranges).map((p) => `${str(obj(p).address_prefix)}/${obj(p).prefix_len}`);
  const names = arr(m.server_names).map((n) => str(n).toLowerCase());
  const transport = str(m.transport_protocol);
  const alpn = arr(m.application_protocols).map(str);
  const out: string[] = [];
  for (const prefix of prefixes.length ? prefixes : ['']) {
    for (const name of names.length ? names : ['']) {
      for (const app of alpn.length ? alpn : ['']) out.push(`{port ${port}, prefix ${prefix || '*'}, server name ${name || '*'}, transport ${transport || '*'}, ALPN ${app || '*'}}`);
    }
  }
  return out;
}

function checkNetworkFilters(where: string, filters: Json[], clusters: Set<string>, routes: Set<string>, problems: string[]): void {
  if (filters.length === 0) problems.push(`${where} has no network filters`);
  for (const f of filters.map(obj)) {
    const config = obj(f.typed_config);
    if (config.cluster !== undefined && !clusters.has(str(config.cluster))) {
      problems.push(`${where}: cluster ${JSON.stringify(config.cluster)} is referenced but not sent`);
    }
    const rds = obj(config.rds);
    if (config.rds !== undefined && !routes.has(str(rds.route_config_name))) {
      problems.push(`${where}: route configuration ${JSON.stringify(rds.route_config_name)} is referenced but not sent`);
    }
  }
}

function checkRouteConfiguration(rc: { [k: string]: Json }, clusters: Set<string>, problems: string[]): void {
  const where = `route configuration ${JSON.stringify(str(rc.name))}`;
  const domains = new Map<string, string>();
  const vhostNames = new Set<string>();
  for (const vh of arr(rc.virtual_hosts).map(obj)) {
    const name = str(vh.name);
    if (vhostNames.has(name)) problems.push(`${where}: virtual host name ${JSON.stringify(name)} is used twice`);
    vhostNames.add(name);
    const own = arr(vh.domains).map(str);
    if (own.length === 0) problems.push(`${where}: virtual host ${JSON.stringify(name)} has no domains`);
    for (const d of own) {
      // Envoy compares domains lower-cased and refuses the table when one repeats.
      const key = d.toLowerCase();
      const other = domains.get(key);
      if (other !== undefined) problems.push(`${where}: domain ${JSON.stringify(d)} is in virtual hosts ${JSON.stringify(other)} and ${JSON.stringify(name)}`);
      else domains.set(key, name);
    }
    for (const route of arr(vh.routes).map(obj)) {
      const action = obj(route.route);
      if (route.route !== undefined && !clusters.has(str(action.cluster))) {
        problems.push(`${where}: route ${JSON.stringify(route.name)} names cluster ${JSON.stringify(action.cluster)}, which is not sent`);
      }
      if ((route.route === undefined) === (route.direct_response === undefined)) {
        problems.push(`${where}: route ${JSON.stringify(route.name)} needs exactly one of route and direct_response`);
      }
    }
  }
}

/** Every dns_cache_config of one name must be identical (Envoy shares one cache per name). */
function collectDnsCaches(v: Json, caches: Map<string, string>, problems: string[]): void {
  if (Array.isArray(v)) return v.forEach((x) => collectDnsCaches(x, caches, problems));
  if (v === null || typeof v !== 'object') return;
  for (const [k, x] of Object.entries(v)) {
    if (k === 'dns_cache_config') {
      const name = str(obj(x).name);
      const text = canonicalJson(x);
      const seen = caches.get(name);
      if (seen !== undefined && seen !== text) problems.push(`dns_cache_config ${JSON.stringify(name)} has two different configurations`);
      caches.set(name, text);
    } else collectDnsCaches(x, caches, problems);
  }
}
