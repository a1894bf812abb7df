# A stand-in for the meshgate sidecar (Envoy) in the network-namespace test rig. No Envoy binary
# can exist where these tests run, so this proxy enforces exactly the Envoy v3 subset that
# meshgate's compiler emits (/work/scratch/compiled-shapes.md, SPEC §9), the way Envoy would:
# original_dst + TLS/HTTP inspectors, filter-chain selection, tcp_proxy, SNI and HTTP dynamic
# forward proxies, and an HTTP/1.1 connection manager with virtual hosts and routes.
#
# Usage: envoy-standin.py --config FILE --hosts HOSTSFILE [--listener-filters-timeout S] [--check]
#   FILE:       {"version", "listeners", "routeConfigurations", "clusters"} (proto3 JSON, snake_case)
#   HOSTSFILE:  "name ip" per line: the proxy's DNS (re-read at every lookup)
#   --listener-filters-timeout S  overrides the listener's listener_filters_timeout (a test knob)
#   --check     validate the config, print "ok <version>" and exit (no sockets)
# Prints "ready" on stdout once listening; SIGHUP re-reads FILE and prints "reloaded <version>" or
# "reload failed: <error>". One log line per connection / HTTP request goes to stderr.
#
# Strict: anything outside the subset (unknown field, filter, @type, cluster type, match kind) or a
# reference to a route configuration or cluster that is not in the file is refused, with one line
# on stderr naming the field, and a non-zero exit (or, on reload, the old config stays).
# Standard library only: Debian's /usr/bin/python3, run as UID 1500 inside the pod namespace.
import argparse
import ipaddress
import json
import os
import re
import select
import signal
import socket
import struct
import sys
import threading
import time

SO_ORIGINAL_DST = 80  # linux/netfilter_ipv4.h; IP6T_SO_ORIGINAL_DST (netfilter_ipv6) is also 80
SOL_IP = 0
SOL_IPV6 = 41
PROXY_PORT = 15001
T = "type.googleapis.com/"
TYPES = {
    "listener": T + "envoy.config.listener.v3.Listener",
    "route": T + "envoy.config.route.v3.RouteConfiguration",
    "cluster": T + "envoy.config.cluster.v3.Cluster",
    "envoy.filters.listener.original_dst": T + "envoy.extensions.filters.listener.original_dst.v3.OriginalDst",
    "envoy.filters.listener.tls_inspector": T + "envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector",
    "envoy.filters.listener.http_inspector": T + "envoy.extensions.filters.listener.http_inspector.v3.HttpInspector",
    "envoy.filters.network.tcp_proxy": T + "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
    "envoy.filters.network.sni_dynamic_forward_proxy": T
    + "envoy.extensions.filters.network.sni_dynamic_forward_proxy.v3.FilterConfig",
    "envoy.filters.network.http_connection_manager": T
    + "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
    "envoy.filters.http.dynamic_forward_proxy": T + "envoy.extensions.filters.http.dynamic_forward_proxy.v3.FilterConfig",
    "envoy.filters.http.router": T + "envoy.extensions.filters.http.router.v3.Router",
    "envoy.clusters.dynamic_forward_proxy": T + "envoy.extensions.clusters.dynamic_forward_proxy.v3.ClusterConfig",
}
LISTENER_FILTER_ORDER = [
    "envoy.filters.listener.original_dst",
    "envoy.filters.listener.tls_inspector",
    "envoy.filters.listener.http_inspector",
]
DEFAULT_LISTENER_FILTERS_TIMEOUT = 15.0
DEFAULT_CONNECT_TIMEOUT = 5.0
MAX_CLIENT_HELLO = 64 * 1024  # Envoy's tls_inspector default max_client_hello_size
MAX_HTTP_INSPECT = 8 * 1024
MAX_REQUEST_HEAD = 60 * 1024  # Envoy's default max_request_headers_kb


def log(msg):
    print(f"envoy-standin: {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Strict validation: the config file becomes a small model, or ConfigError names the bad field.
# ---------------------------------------------------------------------------------------------


class ConfigError(Exception):
    pass


def fail(path, msg):
    raise ConfigError(f"{path}: {msg}")


def obj(v, path, required=(), optional=()):
    """An object with exactly these fields: an unknown field is an error, as in a strict proto parse."""
    if not isinstance(v, dict):
        fail(path, "must be an object")
    for k in v:
        if k not in required and k not in optional:
            fail(f"{path}.{k}", "unknown field")
    for k in required:
        if k not in v:
            fail(f"{path}.{k}", "required field missing")
    return v


def string(v, path, nonempty=True):
    if not isinstance(v, str) or (nonempty and v == ""):
        fail(path, "must be a non-empty string" if nonempty else "must be a string")
    return v


def uint(v, path, lo=0, hi=2**32 - 1):
    # bool is an int in Python; proto3 JSON never writes a number as true/false.
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        fail(path, f"must be an integer in [{lo}, {hi}]")
    return v


def boolean(v, path):
    if not isinstance(v, bool):
        fail(path, "must be true or false")
    return v


def enum(v, path, allowed):
    if v not in allowed:
        fail(path, f"must be one of {', '.join(allowed)} (got {json.dumps(v)})")
    return v


def array(v, path, nonempty=False):
    if not isinstance(v, list) or (nonempty and not v):
        fail(path, "must be a non-empty list" if nonempty else "must be a list")
    return v


def duration(v, path):
    """proto3 JSON Duration: "5s", "0.250s"."""
    if not isinstance(v, str) or not re.fullmatch(r"\d+(\.\d{1,9})?s", v):
        fail(path, 'must be a Duration string like "5s"')
    return float(v[:-1])


def typed(v, path, name):
    """typed_config: its @type must be the one proto message that `name` takes."""
    t = v.get("@type") if isinstance(v, dict) else None
    if t != TYPES[name]:
        fail(f"{path}.@type", f"must be {TYPES[name]} for {name} (got {json.dumps(t)})")


def metadata(v, path):
    # Only meshgate's explanation metadata is part of the subset; it never changes traffic.
    obj(v, path, ["filter_metadata"])
    fm = obj(v["filter_metadata"], f"{path}.filter_metadata", ["meshgate.io"])
    mg = obj(fm["meshgate.io"], f"{path}.filter_metadata.meshgate.io", ["policies"])
    for i, p in enumerate(array(mg["policies"], f"{path}.filter_metadata.meshgate.io.policies")):
        string(p, f"{path}.filter_metadata.meshgate.io.policies[{i}]")


def dns_cache_config(v, path, caches):
    obj(v, path, ["name", "dns_lookup_family"])
    name = string(v["name"], f"{path}.name")
    enum(v["dns_lookup_family"], f"{path}.dns_lookup_family", ["V4_PREFERRED"])
    # Envoy shares one cache per name and refuses two different configs under the same name.
    if name in caches and caches[name] != v:
        fail(path, f"dns cache {name} is configured differently elsewhere")
    caches[name] = v


class Cluster:
    def __init__(self, name, kind, connect_timeout, host=None, port=None):
        self.name, self.kind, self.connect_timeout, self.host, self.port = name, kind, connect_timeout, host, port


def parse_cluster(c, path, caches):
    common = ["@type", "name"]
    opt = ["connect_timeout", "circuit_breakers"]
    if not isinstance(c, dict):
        fail(path, "must be an object")
    typed(c, path, "cluster")
    if "type" in c and "cluster_type" in c:
        fail(path, "type and cluster_type are one of (both set)")
    if "cluster_type" in c:
        obj(c, path, common + ["lb_policy", "cluster_type"], opt)
        enum(c["lb_policy"], f"{path}.lb_policy", ["CLUSTER_PROVIDED"])
        ct = obj(c["cluster_type"], f"{path}.cluster_type", ["name", "typed_config"])
        enum(ct["name"], f"{path}.cluster_type.name", ["envoy.clusters.dynamic_forward_proxy"])
        tc = c["cluster_type"]["typed_config"]
        typed(tc, f"{path}.cluster_type.typed_config", "envoy.clusters.dynamic_forward_proxy")
        obj(tc, f"{path}.cluster_type.typed_config", ["@type", "dns_cache_config"])
        dns_cache_config(tc["dns_cache_config"], f"{path}.cluster_type.typed_config.dns_cache_config", caches)
        kind = "dfp"
    else:
        if "type" not in c:
            fail(f"{path}.type", "required field missing (or cluster_type)")
        t = enum(c["type"], f"{path}.type", ["ORIGINAL_DST", "LOGICAL_DNS"])
        if t == "ORIGINAL_DST":
            obj(c, path, common + ["type", "lb_policy"], opt)
            # Envoy refuses an ORIGINAL_DST cluster with any other lb_policy.
            enum(c["lb_policy"], f"{path}.lb_policy", ["CLUSTER_PROVIDED"])
            kind = "original_dst"
        else:
            obj(c, path, common + ["type", "dns_lookup_family", "load_assignment"], opt)
            enum(c["dns_lookup_family"], f"{path}.dns_lookup_family", ["V4_PREFERRED"])
            kind = "logical_dns"
    name = string(c["name"], f"{path}.name")
    timeout = duration(c["connect_timeout"], f"{path}.connect_timeout") if "connect_timeout" in c else DEFAULT_CONNECT_TIMEOUT
    if "circuit_breakers" in c:  # accepted and checked, not enforced by the stand-in
        cb = obj(c["circuit_breakers"], f"{path}.circuit_breakers", ["thresholds"])
        for i, th in enumerate(array(cb["thresholds"], f"{path}.circuit_breakers.thresholds")):
            p = f"{path}.circuit_breakers.thresholds[{i}]"
            obj(th, p, [], ["max_connections", "max_pending_requests", "max_requests", "max_retries"])
            for k, n in th.items():
                uint(n, f"{p}.{k}")
    if kind != "logical_dns":
        return Cluster(name, kind, timeout)
    p = f"{path}.load_assignment"
    la = obj(c["load_assignment"], p, ["cluster_name", "endpoints"])
    if string(la["cluster_name"], f"{p}.cluster_name") != name:
        fail(f"{p}.cluster_name", f"must equal the cluster name {name}")
    eps = array(la["endpoints"], f"{p}.endpoints")
    # Envoy: "LOGICAL_DNS clusters must have a single locality_lb_endpoint and a single lb_endpoint".
    if len(eps) != 1:
        fail(f"{p}.endpoints", "a LOGICAL_DNS cluster needs exactly one entry")
    obj(eps[0], f"{p}.endpoints[0]", ["lb_endpoints"])
    lbs = array(eps[0]["lb_endpoints"], f"{p}.endpoints[0].lb_endpoints")
    if len(lbs) != 1:
        fail(f"{p}.endpoints[0].lb_endpoints", "a LOGICAL_DNS cluster needs exactly one lb_endpoint")
    p = f"{p}.endpoints[0].lb_endpoints[0]"
    obj(lbs[0], p, ["endpoint"])
    obj(lbs[0]["endpoint"], f"{p}.endpoint", ["address"])
    obj(lbs[0]["endpoint"]["address"], f"{p}.endpoint.address", ["socket_address"])
    sa = obj(lbs[0]["endpoint"]["address"]["socket_address"], f"{p}.endpoint.address.socket_address", ["address", "port_value"])
    host = string(sa["address"], f"{p}.endpoint.address.socket_address.address")
    port = uint(sa["port_value"], f"{p}.endpoint.address.socket_address.port_value", 1, 65535)
    return Cluster(name, kind, timeout, host.lower(), port)


RE2_UNSUPPORTED = re.compile(r"\(\?[=!]|\(\?<[=!]|\\[1-9]|\(\?P=")


def regex(v, path):
    obj(v, path, ["regex"])
    src = string(v["regex"], f"{path}.regex", nonempty=False)
    # Lookaround and backreferences are Python-only: RE2 (Envoy) refuses them, so we do too.
    if RE2_UNSUPPORTED.search(src):
        fail(f"{path}.regex", "lookaround/backreference is not RE2 syntax")
    try:
        return re.compile(src)
    except re.error as err:
        fail(f"{path}.regex", f"invalid regex: {err}")


class Route:
    def __init__(self, name, kind, value, headers, action):
        self.name, self.kind, self.value, self.headers, self.action = name, kind, value, headers, action


def parse_route(r, path, clusters):
    obj(r, path, ["match"], ["name", "route", "direct_response", "metadata"])
    name = string(r["name"], f"{path}.name") if "name" in r else ""
    m = obj(r["match"], f"{path}.match", [], ["prefix", "path", "safe_regex", "headers"])
    kinds = [k for k in ("prefix", "path", "safe_regex") if k in m]
    if len(kinds) != 1:
        fail(f"{path}.match", "needs exactly one of prefix, path, safe_regex")
    kind = kinds[0]
    value = regex(m[kind], f"{path}.match.safe_regex") if kind == "safe_regex" else string(m[kind], f"{path}.match.{kind}", False)
    headers = []
    for i, h in enumerate(array(m.get("headers", []), f"{path}.match.headers")):
        hp = f"{path}.match.headers[{i}]"
        obj(h, hp, ["name"], ["string_match", "present_match"])
        hname = string(h["name"], f"{hp}.name").lower()
        if ("string_match" in h) == ("present_match" in h):
            fail(hp, "needs exactly one of string_match, present_match")
        if "present_match" in h:
            if h["present_match"] is not True:
                fail(f"{hp}.present_match", "only true is in the subset")
            headers.append((hname, "present", None))
            continue
        sm = obj(h["string_match"], f"{hp}.string_match", [], ["exact", "prefix", "safe_regex"])
        if len(sm) != 1:
            fail(f"{hp}.string_match", "needs exactly one of exact, prefix, safe_regex")
        (sk,) = sm.keys()
        sv = regex(sm[sk], f"{hp}.string_match.safe_regex") if sk == "safe_regex" else string(sm[sk], f"{hp}.string_match.{sk}", False)
        headers.append((hname, sk, sv))
    if "metadata" in r:
        metadata(r["metadata"], f"{path}.metadata")
    if ("route" in r) == ("direct_response" in r):
        fail(path, "needs exactly one of route, direct_response")
    if "route" in r:
        ra = obj(r["route"], f"{path}.route", ["cluster"], ["timeout"])
        cname = string(ra["cluster"], f"{path}.route.cluster")
        if cname not in clusters:
            fail(f"{path}.route.cluster", f"cluster {cname} is not in clusters")
        timeout = duration(ra["timeout"], f"{path}.route.timeout") if "timeout" in ra else 15.0
        action = ("route", clusters[cname], timeout)
    else:
        dr = obj(r["direct_response"], f"{path}.direct_response", ["status"], ["body"])
        status = uint(dr["status"], f"{path}.direct_response.status", 200, 599)
        body = ""
        if "body" in dr:
            b = obj(dr["body"], f"{path}.direct_response.body", ["inline_string"])
            body = string(b["inline_string"], f"{path}.direct_response.body.inline_string", False)
        action = ("direct", status, body)
    return Route(name, kind, value, headers, action)


class VirtualHost:
    def __init__(self, name, domains, routes):
        self.name, self.domains, self.routes = name, domains, routes


class RouteConfig:
    def __init__(self, name, vhosts):
        self.name, self.vhosts = name, vhosts
        # Envoy's lookup tables: exact, suffix wildcards, prefix wildcards, the one "*".
        self.exact, self.suffix, self.prefix, self.default = {}, [], [], None
        for vh in vhosts:
            for d in vh.domains:
                if d == "*":
                    self.default = vh
                elif d.startswith("*"):
                    self.suffix.append((d[1:], vh))
                elif d.endswith("*"):
                    self.prefix.append((d[:-1], vh))
                else:
                    self.exact[d] = vh
        self.suffix.sort(key=lambda x: -len(x[0]))  # longest first, as Envoy iterates
        self.prefix.sort(key=lambda x: -len(x[0]))

    def find(self, host):
        host = host.lower()
        if host in self.exact:
            return self.exact[host]
        # The wildcard must cover at least one character: "*.x.com" does not match ".x.com".
        for suffix, vh in self.suffix:
            if len(host) > len(suffix) and host.endswith(suffix):
                return vh
        for prefix, vh in self.prefix:
            if len(host) > len(prefix) and host.startswith(prefix):
                return vh
        return self.default


def parse_route_configuration(rc, path, clusters):
    if not isinstance(rc, dict):
        fail(path, "must be an object")
    typed(rc, path, "route")
    obj(rc, path, ["@type", "name", "virtual_hosts"], ["validate_clusters"])
    name = string(rc["name"], f"{path}.name")
    if "validate_clusters" in rc:
        boolean(rc["validate_clusters"], f"{path}.validate_clusters")
    seen_domains, seen_names, vhosts = {}, set(), []
    for i, vh in enumerate(array(rc["virtual_hosts"], f"{path}.virtual_hosts")):
        vp = f"{path}.virtual_hosts[{i}]"
        obj(vh, vp, ["name", "domains", "routes"])
        vname = string(vh["name"], f"{vp}.name")
        if vname in seen_names:
            fail(f"{vp}.name", f"virtual host name {vname} repeats")
        seen_names.add(vname)
        domains = []
        for j, d in enumerate(array(vh["domains"], f"{vp}.domains", nonempty=True)):
            d = string(d, f"{vp}.domains[{j}]").lower()
            if "*" in d.strip("*") or (d != "*" and d.startswith("*") and d.endswith("*")):
                fail(f"{vp}.domains[{j}]", f"wildcard only as a whole prefix or suffix: {d}")
            # Envoy: "Only unique values for domains are permitted" (lower-cased; one "*").
            if d in seen_domains:
                fail(f"{vp}.domains[{j}]", f"domain {d} repeats (also in {seen_domains[d]})")
            seen_domains[d] = vname
            domains.append(d)
        routes = [parse_route(r, f"{vp}.routes[{k}]", clusters) for k, r in enumerate(array(vh["routes"], f"{vp}.routes"))]
        vhosts.append(VirtualHost(vname, domains, routes))
    return RouteConfig(name, vhosts)


def predicate(v, path):
    """filter_disabled: a ListenerFilterChainMatchPredicate over the destination port."""
    if isinstance(v, dict) and "or_match" in v:
        obj(v, path, ["or_match"])
        om = obj(v["or_match"], f"{path}.or_match", ["rules"])
        rules = [predicate(r, f"{path}.or_match.rules[{i}]") for i, r in enumerate(array(om["rules"], f"{path}.or_match.rules", True))]
        return lambda port: any(r(port) for r in rules)
    obj(v, path, ["destination_port_range"])
    pr = obj(v["destination_port_range"], f"{path}.destination_port_range", ["start", "end"])
    start = uint(pr["start"], f"{path}.destination_port_range.start", 0, 65535)
    end = uint(pr["end"], f"{path}.destination_port_range.end", 0, 65536)
    if end <= start:
        fail(f"{path}.destination_port_range", "end must be greater than start (end is exclusive)")
    return lambda port: start <= port < end


class Chain:
    def __init__(self, name, match, action):
        self.name, self.action = name, action
        self.port = match.get("destination_port")
        self.prefixes = match.get("prefix_ranges", [])
        self.server_names = match.get("server_names", [])
        self.transport = match.get("transport_protocol")
        self.alpn = match.get("application_protocols", [])


def parse_filters(fs, path, clusters, routes, caches, http_routes_needing_dfp):
    """Network filters. The subset's chains are [tcp_proxy], [sni_dfp, tcp_proxy] or [hcm]."""
    array(fs, path, nonempty=True)
    names = []
    for i, f in enumerate(fs):
        fp = f"{path}[{i}]"
        obj(f, fp, ["name", "typed_config"])
        name = enum(f["name"], f"{fp}.name", [
            "envoy.filters.network.tcp_proxy",
            "envoy.filters.network.sni_dynamic_forward_proxy",
            "envoy.filters.network.http_connection_manager",
        ])
        typed(f["typed_config"], f"{fp}.typed_config", name)
        names.append(name)
    short = [n.rsplit(".", 1)[1] for n in names]
    if short not in (["tcp_proxy"], ["sni_dynamic_forward_proxy", "tcp_proxy"], ["http_connection_manager"]):
        fail(path, f"filter sequence {short} is not in the subset ([tcp_proxy], [sni_dynamic_forward_proxy, tcp_proxy], [http_connection_manager])")
    last = fs[-1]["typed_config"]
    lp = f"{path}[{len(fs) - 1}].typed_config"
    if short[-1] == "tcp_proxy":
        obj(last, lp, ["@type", "stat_prefix", "cluster"])
        string(last["stat_prefix"], f"{lp}.stat_prefix")
        cname = string(last["cluster"], f"{lp}.cluster")
        if cname not in clusters:
            fail(f"{lp}.cluster", f"cluster {cname} is not in clusters")
        cluster = clusters[cname]
        sni_port = None
        if len(fs) == 2:
            sp = f"{path}[0].typed_config"
            sc = obj(fs[0]["typed_config"], sp, ["@type", "dns_cache_config", "port_value"])
            dns_cache_config(sc["dns_cache_config"], f"{sp}.dns_cache_config", caches)
            sni_port = uint(sc["port_value"], f"{sp}.port_value", 1, 65535)
            if cluster.kind != "dfp":
                fail(f"{lp}.cluster", "after sni_dynamic_forward_proxy the tcp_proxy must use the dynamic forward proxy cluster")
        elif cluster.kind == "dfp":
            fail(f"{lp}.cluster", "a tcp_proxy to the dynamic forward proxy cluster needs sni_dynamic_forward_proxy before it")
        return ("tcp", cluster, sni_port)
    obj(last, lp, ["@type", "stat_prefix", "rds", "http_filters"], ["normalize_path", "merge_slashes"])
    string(last["stat_prefix"], f"{lp}.stat_prefix")
    rds = obj(last["rds"], f"{lp}.rds", ["route_config_name", "config_source"])
    cs = obj(rds["config_source"], f"{lp}.rds.config_source", ["ads", "resource_api_version"])
    obj(cs["ads"], f"{lp}.rds.config_source.ads")
    enum(cs["resource_api_version"], f"{lp}.rds.config_source.resource_api_version", ["V3"])
    rname = string(rds["route_config_name"], f"{lp}.rds.route_config_name")
    if rname not in routes:
        fail(f"{lp}.rds.route_config_name", f"route configuration {rname} is not in routeConfigurations")
    hfs = array(last["http_filters"], f"{lp}.http_filters", nonempty=True)
    hnames = []
    for i, hf in enumerate(hfs):
        hp = f"{lp}.http_filters[{i}]"
        obj(hf, hp, ["name", "typed_config"])
        hn = enum(hf["name"], f"{hp}.name", ["envoy.filters.http.dynamic_forward_proxy", "envoy.filters.http.router"])
        typed(hf["typed_config"], f"{hp}.typed_config", hn)
        if hn == "envoy.filters.http.router":
            obj(hf["typed_config"], f"{hp}.typed_config", ["@type"])
        else:
            obj(hf["typed_config"], f"{hp}.typed_config", ["@type", "dns_cache_config"])
            dns_cache_config(hf["typed_config"]["dns_cache_config"], f"{hp}.typed_config.dns_cache_config", caches)
        hnames.append(hn.rsplit(".", 1)[1])
    if hnames not in (["router"], ["dynamic_forward_proxy", "router"]):
        fail(f"{lp}.http_filters", f"{hnames} is not [dynamic_forward_proxy?, router] (router must be last)")
    dfp = hnames[0] == "dynamic_forward_proxy"
    if not dfp:
        http_routes_needing_dfp.append((rname, f"{lp}.http_filters"))
    normalize = boolean(last["normalize_path"], f"{lp}.normalize_path") if "normalize_path" in last else False
    merge = boolean(last["merge_slashes"], f"{lp}.merge_slashes") if "merge_slashes" in last else False
    return ("http", routes[rname], normalize, merge)


class Listener:
    pass


def parse_listener(li, path, clusters, routes, caches, override_timeout):
    if not isinstance(li, dict):
        fail(path, "must be an object")
    typed(li, path, "listener")
    obj(li, path, ["@type", "name", "address", "filter_chains", "listener_filters"], [
        "additional_addresses", "traffic_direction", "continue_on_listener_filters_timeout",
        "listener_filters_timeout", "default_filter_chain",
    ])
    L = Listener()
    L.need_dfp = []  # (route configuration, where) of HCMs without the HTTP dfp filter
    L.name = string(li["name"], f"{path}.name")
    obj(li["address"], f"{path}.address", ["socket_address"])
    sa = obj(li["address"]["socket_address"], f"{path}.address.socket_address", ["address", "port_value"])
    enum(sa["address"], f"{path}.address.socket_address.address", ["0.0.0.0"])
    enum(sa["port_value"], f"{path}.address.socket_address.port_value", [PROXY_PORT])
    L.ipv6 = False
    for i, a in enumerate(array(li.get("additional_addresses", []), f"{path}.additional_addresses")):
        ap = f"{path}.additional_addresses[{i}]"
        obj(a, ap, ["address"])
        obj(a["address"], f"{ap}.address", ["socket_address"])
        s = obj(a["address"]["socket_address"], f"{ap}.address.socket_address", ["address", "port_value"])
        enum(s["address"], f"{ap}.address.socket_address.address", ["::"])
        enum(s["port_value"], f"{ap}.address.socket_address.port_value", [PROXY_PORT])
        L.ipv6 = True
    if "traffic_direction" in li:
        enum(li["traffic_direction"], f"{path}.traffic_direction", ["OUTBOUND"])
    L.continue_on_timeout = boolean(li["continue_on_listener_filters_timeout"], f"{path}.continue_on_listener_filters_timeout") \
        if "continue_on_listener_filters_timeout" in li else False
    L.timeout = duration(li["listener_filters_timeout"], f"{path}.listener_filters_timeout") \
        if "listener_filters_timeout" in li else DEFAULT_LISTENER_FILTERS_TIMEOUT
    if override_timeout is not None:
        L.timeout = override_timeout
    # Listener filters: the subset's three, each at most once, in this relative order.
    L.tls, L.http = None, None  # None = absent; else a predicate "disabled for this port"
    seen = []
    for i, lf in enumerate(array(li["listener_filters"], f"{path}.listener_filters")):
        lp = f"{path}.listener_filters[{i}]"
        obj(lf, lp, ["name", "typed_config"], ["filter_disabled"])
        name = enum(lf["name"], f"{lp}.name", LISTENER_FILTER_ORDER)
        typed(lf["typed_config"], f"{lp}.typed_config", name)
        obj(lf["typed_config"], f"{lp}.typed_config", ["@type"])
        if seen and LISTENER_FILTER_ORDER.index(name) <= LISTENER_FILTER_ORDER.index(seen[-1]):
            fail(f"{lp}.name", f"{name} repeats or is out of order (original_dst, tls_inspector, http_inspector)")
        seen.append(name)
        disabled = lambda port: False
        if "filter_disabled" in lf:
            if name == "envoy.filters.listener.original_dst":
                fail(f"{lp}.filter_disabled", "original_dst is never disabled in the subset")
            disabled = predicate(lf["filter_disabled"], f"{lp}.filter_disabled")
        if name.endswith("tls_inspector"):
            L.tls = disabled
        elif name.endswith("http_inspector"):
            L.http = disabled
    # Without original_dst the chains would match 15001 and ORIGINAL_DST would loop to ourselves.
    if "envoy.filters.listener.original_dst" not in seen:
        fail(f"{path}.listener_filters", "envoy.filters.listener.original_dst is required")
    L.chains = []
    names, keys = set(), {}
    for i, fc in enumerate(array(li["filter_chains"], f"{path}.filter_chains")):
        cp = f"{path}.filter_chains[{i}]"
        obj(fc, cp, ["name", "filters"], ["filter_chain_match", "metadata"])
        name = string(fc["name"], f"{cp}.name")
        if name in names:
            fail(f"{cp}.name", f"filter chain name {name} repeats")
        names.add(name)
        match = parse_chain_match(fc.get("filter_chain_match", {}), f"{cp}.filter_chain_match")
        if "metadata" in fc:
            metadata(fc["metadata"], f"{cp}.metadata")
        chain = Chain(name, match, parse_filters(fc["filters"], f"{cp}.filters", clusters, routes, caches, L.need_dfp))
        # Envoy: "multiple filter chains with the same matching rules are defined" (per leaf).
        for key in chain_keys(chain):
            if key in keys:
                fail(f"{cp}.filter_chain_match", f"same matching rules as filter chain {keys[key]}")
            keys[key] = name
        L.chains.append(chain)
    L.default = None
    if "default_filter_chain" in li:
        dp = f"{path}.default_filter_chain"
        dc = obj(li["default_filter_chain"], dp, ["name", "filters"])
        L.default = Chain(string(dc["name"], f"{dp}.name"), {}, parse_filters(dc["filters"], f"{dp}.filters", clusters, routes, caches, L.need_dfp))
    if not L.chains and L.default is None:
        fail(f"{path}.filter_chains", "a listener needs a filter chain or a default_filter_chain")
    return L


def parse_chain_match(m, path):
    obj(m, path, [], ["destination_port", "prefix_ranges", "server_names", "transport_protocol", "application_protocols"])
    out = {}
    if "destination_port" in m:
        out["destination_port"] = uint(m["destination_port"], f"{path}.destination_port", 1, 65535)
    if "prefix_ranges" in m:
        nets = []
        for i, pr in enumerate(array(m["prefix_ranges"], f"{path}.prefix_ranges")):
            pp = f"{path}.prefix_ranges[{i}]"
            obj(pr, pp, ["address_prefix", "prefix_len"])
            try:
                ip = ipaddress.ip_address(string(pr["address_prefix"], f"{pp}.address_prefix"))
            except ValueError:
                fail(f"{pp}.address_prefix", f"not an IP address: {pr['address_prefix']}")
            plen = uint(pr["prefix_len"], f"{pp}.prefix_len", 0, ip.max_prefixlen)
            nets.append(ipaddress.ip_network(f"{ip}/{plen}", strict=False))  # Envoy's CidrRange masks
        out["prefix_ranges"] = nets
    if "server_names" in m:
        names = []
        for i, n in enumerate(array(m["server_names"], f"{path}.server_names")):
            n = string(n, f"{path}.server_names[{i}]")
            if "*" in n and not (n.startswith("*.") and "*" not in n[1:]):
                fail(f"{path}.server_names[{i}]", f"partial wildcards are not supported: {n}")
            names.append(n)
        out["server_names"] = names
    if "transport_protocol" in m:
        out["transport_protocol"] = enum(m["transport_protocol"], f"{path}.transport_protocol", ["raw_buffer", "tls"])
    if "application_protocols" in m:
        out["application_protocols"] = [string(a, f"{path}.application_protocols[{i}]") for i, a in enumerate(array(m["application_protocols"], f"{path}.application_protocols"))]
    return out


def chain_keys(c):
    for port in [c.port]:
        for pr in c.prefixes or [None]:
            for sn in c.server_names or [None]:
                for ap in c.alpn or [None]:
                    yield (port, str(pr) if pr else None, sn, c.transport, ap)


class Config:
    pass


def load_config(path, override_timeout=None):
    try:
        with open(path) as f:
            doc = json.load(f)
    except (OSError, ValueError) as err:
        raise ConfigError(f"{path}: cannot read JSON: {err}")
    obj(doc, "config", ["version", "listeners", "routeConfigurations", "clusters"])
    cfg = Config()
    cfg.version = string(doc["version"], "version")
    caches = {}
    cfg.clusters = {}
    for i, c in enumerate(array(doc["clusters"], "clusters")):
        cl = parse_cluster(c, f"clusters[{i}]", caches)
        if cl.name in cfg.clusters:
            fail(f"clusters[{i}].name", f"cluster {cl.name} repeats")
        cfg.clusters[cl.name] = cl
    routes = {}
    for i, rc in enumerate(array(doc["routeConfigurations"], "routeConfigurations")):
        r = parse_route_configuration(rc, f"routeConfigurations[{i}]", cfg.clusters)
        if r.name in routes:
            fail(f"routeConfigurations[{i}].name", f"route configuration {r.name} repeats")
        routes[r.name] = r
    listeners = array(doc["listeners"], "listeners")
    if len(listeners) > 1:
        fail("listeners", "at most one listener (outbound-listener)")
    cfg.listener = parse_listener(listeners[0], "listeners[0]", cfg.clusters, routes, caches, override_timeout) if listeners else None
    # A route to the dynamic forward proxy cluster only works behind the HTTP dfp filter.
    for rname, where in (cfg.listener.need_dfp if cfg.listener else []):
        for vh in routes[rname].vhosts:
            for r in vh.routes:
                if r.action[0] == "route" and r.action[1].kind == "dfp":
                    fail(where, f"route {r.name or '?'} of {rname} uses the dynamic forward proxy cluster, "
                                "which needs envoy.filters.http.dynamic_forward_proxy")
    return cfg


# ---------------------------------------------------------------------------------------------
# DNS: the hosts file.
# ---------------------------------------------------------------------------------------------


class Resolver:
    def __init__(self, path):
        self.path = path

    def resolve(self, name):
        """V4_PREFERRED: the first IPv4 address for name, else the first IPv6 one; IP literals as is."""
        name = name.strip("[]").lower()
        try:
            return str(ipaddress.ip_address(name))
        except ValueError:
            pass
        v4, v6 = [], []
        try:
            with open(self.path) as f:
                for line in f:
                    parts = line.split("#", 1)[0].split()
                    if len(parts) >= 2 and parts[0].lower() == name:
                        ip = ipaddress.ip_address(parts[1])
                        (v4 if ip.version == 4 else v6).append(str(ip))
        except OSError as err:
            log(f"hosts file {self.path}: {err}")
        return (v4 + v6)[0] if v4 or v6 else None


# ---------------------------------------------------------------------------------------------
# Listener filters: original_dst, tls_inspector, http_inspector.
# ---------------------------------------------------------------------------------------------


def original_dst(conn):
    if conn.family == socket.AF_INET:
        raw = conn.getsockopt(SOL_IP, SO_ORIGINAL_DST, 16)  # struct sockaddr_in
        return socket.inet_ntop(socket.AF_INET, raw[4:8]), struct.unpack("!H", raw[2:4])[0]
    raw = conn.getsockopt(SOL_IPV6, SO_ORIGINAL_DST, 28)  # struct sockaddr_in6
    return socket.inet_ntop(socket.AF_INET6, raw[8:24]), struct.unpack("!H", raw[2:4])[0]


MORE, NOT_TLS, TOO_LARGE = "more", "not-tls", "too-large"


def parse_client_hello(buf):
    """MORE, NOT_TLS, TOO_LARGE or ("tls", sni or None, [alpn]). Like BoringSSL in Envoy's
    tls_inspector, the handshake message may span several records and TCP reads."""
    hs, i = b"", 0
    while True:
        if len(buf) < i + 5:
            if buf[i:i + 1] not in (b"", b"\x16") or buf[i + 1:i + 2] not in (b"", b"\x03"):
                return NOT_TLS
            return MORE if len(buf) < MAX_CLIENT_HELLO else TOO_LARGE
        if buf[i] != 0x16 or buf[i + 1] != 0x03:
            return NOT_TLS
        rec_len = struct.unpack("!H", buf[i + 3:i + 5])[0]
        if rec_len == 0 or rec_len > 16384:
            return NOT_TLS
        if len(buf) < i + 5 + rec_len:
            return MORE if len(buf) < MAX_CLIENT_HELLO else TOO_LARGE
        hs += buf[i + 5:i + 5 + rec_len]
        i += 5 + rec_len
        if len(hs) >= 4:
            if hs[0] != 1:  # not a ClientHello
                return NOT_TLS
            n = int.from_bytes(hs[1:4], "big")
            if len(hs) >= 4 + n:
                return parse_hello_body(hs[4:4 + n])


def parse_hello_body(b):
    try:
        p = 2 + 32  # legacy_version, random
        p += 1 + b[p]  # session id
        p += 2 + struct.unpack("!H", b[p:p + 2])[0]  # cipher suites
        p += 1 + b[p]  # compression methods
        sni, alpn = None, []
        if p == len(b):
            return ("tls", None, [])
        end = p + 2 + struct.unpack("!H", b[p:p + 2])[0]
        p += 2
        while p + 4 <= end:
            etype, elen = struct.unpack("!HH", b[p:p + 4])
            data = b[p + 4:p + 4 + elen]
            p += 4 + elen
            if etype == 0:  # server_name: list of (type 0 = host_name, name)
                q = 2
                while q + 3 <= len(data):
                    ntype, nlen = data[q], struct.unpack("!H", data[q + 1:q + 3])[0]
                    if ntype == 0:
                        sni = data[q + 3:q + 3 + nlen].decode("ascii").lower()
                    q += 3 + nlen
            elif etype == 16:  # application_layer_protocol_negotiation
                q = 2
                while q < len(data):
                    alpn.append(data[q + 1:q + 1 + data[q]].decode("ascii", "replace"))
                    q += 1 + data[q]
        return ("tls", sni, alpn)
    except (IndexError, struct.error, UnicodeDecodeError):
        return NOT_TLS


H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
HTTP_METHODS = {b"GET", b"HEAD", b"POST", b"PUT", b"DELETE", b"CONNECT", b"OPTIONS", b"TRACE", b"PATCH",
                b"PROPFIND", b"PROPPATCH", b"MKCOL", b"COPY", b"MOVE", b"LOCK", b"UNLOCK", b"PURGE"}
HTTP_PREFIX = re.compile(rb"[A-Z]*( [^ \r\n]*( (H(T(T(P(/(1(\.[01]?)?)?)?)?)?)?)?)?)?\r?")


def parse_http_start(buf):
    """http_inspector: MORE, None (not HTTP) or "http/1.0" | "http/1.1" | "h2c"."""
    if buf[:len(H2_PREFACE)] == H2_PREFACE[:len(buf)]:
        return "h2c" if len(buf) >= len(H2_PREFACE) else MORE
    eol = buf.find(b"\r\n")
    if eol < 0:
        if len(buf) > MAX_HTTP_INSPECT or not HTTP_PREFIX.fullmatch(buf):
            return None
        method = buf.split(b" ", 1)[0]
        if b" " in buf and method not in HTTP_METHODS:
            return None
        if b" " not in buf and not any(m.startswith(method) for m in HTTP_METHODS):
            return None
        return MORE
    m = re.fullmatch(rb"([A-Z]+) [^ ]+ HTTP/1\.([01])", buf[:eol])
    if not m or m.group(1) not in HTTP_METHODS:
        return None
    return "http/1." + m.group(2).decode()


class Detected:
    def __init__(self):
        self.transport, self.sni, self.alpn = None, None, []
        self.timed_out = False


def inspect(conn, run_tls, run_http, timeout, continue_on_timeout):
    """Peeks (MSG_PEEK) like Envoy's listener filters; None means close the connection."""
    d = Detected()
    if not run_tls and not run_http:
        return d
    deadline = None if not timeout else time.monotonic() + timeout
    buf = b""
    while True:
        if run_tls:
            st = parse_client_hello(buf) if buf else MORE
            if st == TOO_LARGE:
                log("tls_inspector: ClientHello too large, closing")
                return None
            if st == NOT_TLS:
                run_tls = False
            elif st != MORE:
                d.transport, d.sni, d.alpn = "tls", st[1], st[2]
                run_tls = run_http = False  # http_inspector skips TLS connections
        if not run_tls and run_http:
            st = parse_http_start(buf) if buf else MORE
            if st != MORE:
                if st:
                    d.alpn = [st]
                run_http = False
        if not run_tls and not run_http:
            return d
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            if not continue_on_timeout:
                log("listener filters timed out, closing")
                return None
            d.timed_out = True
            return d
        r, _, _ = select.select([conn], [], [], remaining)
        if not r:
            continue
        data = conn.recv(MAX_CLIENT_HELLO, socket.MSG_PEEK)
        if not data:
            log("peer closed during listener filters")
            return None
        if len(data) == len(buf):
            time.sleep(0.01)  # readable without new bytes: FIN after data; wait for the timeout
        buf = data


# ---------------------------------------------------------------------------------------------
# Filter chain selection (filter_chain_manager_impl: narrow field by field, never backtrack).
# ---------------------------------------------------------------------------------------------


def select_chain(listener, ip, port, sni, transport, alpn):
    cs = [c for c in listener.chains if c.port == port] or [c for c in listener.chains if c.port is None]
    addr = ipaddress.ip_address(ip)
    best, best_len = [], -1
    for c in cs:
        for n in c.prefixes:
            if n.version == addr.version and addr in n:
                if n.prefixlen > best_len:
                    best, best_len = [c], n.prefixlen
                elif n.prefixlen == best_len and c not in best:
                    best.append(c)
    cs = best or [c for c in cs if not c.prefixes]
    if sni:
        exact = [c for c in cs if sni in c.server_names]
        if exact:
            cs = exact
        else:
            wild, wlen = [], -1
            for c in cs:
                for n in c.server_names:
                    if n.startswith("*.") and sni.endswith(n[1:]) and len(sni) > len(n) - 1:
                        if len(n) > wlen:
                            wild, wlen = [c], len(n)
                        elif len(n) == wlen:
                            wild.append(c)
            cs = wild or [c for c in cs if not c.server_names]
    else:
        cs = [c for c in cs if not c.server_names]
    cs = [c for c in cs if c.transport == transport] or [c for c in cs if c.transport is None]
    for proto in alpn:  # the first of the connection's protocols that some chain lists
        hit = [c for c in cs if proto in c.alpn]
        if hit:
            return hit[0]
    cs = [c for c in cs if not c.alpn]
    return cs[0] if cs else None


# ---------------------------------------------------------------------------------------------
# Connections.
# ---------------------------------------------------------------------------------------------


def reset(conn):
    """Close with RST (SO_LINGER {1, 0}): curl sees 56, or 35 during the TLS handshake."""
    try:
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    conn.close()


def fmt(ip, port):
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def connect(ip, port, timeout):
    # The process runs as UID 1500, so the interception rules let this connection out directly.
    s = socket.create_connection((ip, port), timeout=timeout)
    s.settimeout(None)
    return s


def pipe(a, b):
    """tcp_proxy: bytes both ways; a half-close is passed on; done when both directions end."""
    def one_way(src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
    t = threading.Thread(target=one_way, args=(b, a), daemon=True)
    t.start()
    one_way(a, b)
    t.join()


class Proxy:
    def __init__(self, args):
        self.args = args
        self.resolver = Resolver(args.hosts)
        self.config = None
        self.socks = {}  # family -> listening socket
        self.ids = 0

    def apply(self, cfg):
        """Opens or closes the 15001 sockets to match cfg; raises OSError if a bind fails."""
        want = set()
        if cfg.listener:
            want.add(socket.AF_INET)
            if cfg.listener.ipv6:
                want.add(socket.AF_INET6)
        for fam in want - set(self.socks):
            s = socket.socket(fam, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if fam == socket.AF_INET6:
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                s.bind(("0.0.0.0" if fam == socket.AF_INET else "::", PROXY_PORT))
                s.listen(128)
            except OSError:
                s.close()
                raise
            self.socks[fam] = s
        for fam in set(self.socks) - want:
            self.socks.pop(fam).close()
        self.config = cfg

    def serve(self, wake):
        while True:
            r, _, _ = select.select([wake, *self.socks.values()], [], [])
            if wake in r:
                wake.recv(64)
                if RELOAD.is_set():
                    RELOAD.clear()
                    self.reload()
                continue
            for s in r:
                try:
                    conn, peer = s.accept()
                except OSError:
                    continue
                self.ids += 1
                threading.Thread(target=self.handle, args=(conn, peer, self.config, self.ids), daemon=True).start()

    def reload(self):
        try:
            cfg = load_config(self.args.config, self.args.listener_filters_timeout)
            self.apply(cfg)
        except (ConfigError, OSError) as err:
            log(f"reload failed, keeping version {self.config.version}: {err}")
            print(f"reload failed: {err}", flush=True)
            return
        log(f"reloaded {cfg.version}")
        print(f"reloaded {cfg.version}", flush=True)

    def handle(self, conn, peer, cfg, cid):
        tag = f"#{cid} {fmt(peer[0], peer[1])}"
        try:
            self.handle_conn(conn, cfg, tag)
        except Exception as err:  # one bad connection must not kill the proxy
            log(f"{tag} error: {err!r}")
            reset(conn)

    def handle_conn(self, conn, cfg, tag):
        L = cfg.listener
        if L is None:  # listener removed between accept and now
            return reset(conn)
        try:
            ip, port = original_dst(conn)
        except OSError as err:
            log(f"{tag} no original destination ({err.strerror}), closing")
            return reset(conn)
        tag += f" -> {fmt(ip, port)}"
        run_tls = L.tls is not None and not L.tls(port)
        run_http = L.http is not None and not L.http(port)
        t0 = time.monotonic()
        d = inspect(conn, run_tls, run_http, L.timeout, L.continue_on_timeout)
        if d is None:
            return reset(conn)
        transport = d.transport or "raw_buffer"  # Envoy's default when no inspector set one
        info = f"transport={transport} sni={d.sni or '-'} alpn={','.join(d.alpn) or '-'}" \
               f" inspect={'timeout' if d.timed_out else 'done'}/{time.monotonic() - t0:.2f}s"
        chain = select_chain(L, ip, port, d.sni, transport, d.alpn) or L.default
        if chain is None:
            log(f"{tag} {info} chain=<none>: reset")
            return reset(conn)
        if chain.action[0] == "tcp":
            self.tcp(conn, chain, ip, port, d, f"{tag} {info} chain={chain.name}")
        else:
            log(f"{tag} {info} chain={chain.name}: http_connection_manager")
            HttpSession(self, conn, chain, ip, port, f"{tag} chain={chain.name}").run()

    def tcp(self, conn, chain, ip, port, d, tag):
        _, cluster, sni_port = chain.action
        if cluster.kind == "original_dst":
            target, where = ip, port
        elif cluster.kind == "logical_dns":
            target, where = self.resolver.resolve(cluster.host), cluster.port
        else:  # dynamic forward proxy behind sni_dynamic_forward_proxy: DNS(SNI):port_value
            target, where = (self.resolver.resolve(d.sni) if d.sni else None), sni_port
        if target is None:
            log(f"{tag} cluster={cluster.name}: no address (sni={d.sni}), closing")
            return conn.close()
        try:
            up = connect(target, where, cluster.connect_timeout)
        except OSError as err:
            log(f"{tag} cluster={cluster.name} upstream={fmt(target, where)}: connect failed ({err}), closing")
            return conn.close()
        log(f"{tag} cluster={cluster.name} upstream={fmt(target, where)}: tcp_proxy")
        try:
            pipe(conn, up)
        finally:
            up.close()
            conn.close()


# ---------------------------------------------------------------------------------------------
# HTTP/1.1 connection manager + router.
# ---------------------------------------------------------------------------------------------

REASONS = {100: "Continue", 200: "OK", 201: "Created", 204: "No Content", 301: "Moved Permanently", 302: "Found",
           304: "Not Modified", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
           405: "Method Not Allowed", 408: "Request Timeout", 413: "Payload Too Large", 501: "Not Implemented", 426: "Upgrade Required",
           429: "Too Many Requests", 431: "Request Header Fields Too Large", 500: "Internal Server Error",
           502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "upgrade", "te"}
UNRESERVED = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


class HttpError(Exception):
    pass


class Reader:
    """Buffered reads from a socket; EOFError when the peer closes mid-message."""

    def __init__(self, sock):
        self.sock, self.buf = sock, b""

    def fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError
        self.buf += data

    def head(self, limit=MAX_REQUEST_HEAD):
        """Up to the blank line; None on a clean close before any byte."""
        while b"\r\n\r\n" not in self.buf:
            if len(self.buf) > limit:
                raise HttpError(431)
            try:
                self.fill()
            except EOFError:
                if not self.buf:
                    return None
                raise
        h, _, self.buf = self.buf.partition(b"\r\n\r\n")
        return h.decode("latin-1")

    def line(self):
        while b"\r\n" not in self.buf:
            self.fill()
        ln, _, self.buf = self.buf.partition(b"\r\n")
        return ln

    def exact(self, n):
        while len(self.buf) < n:
            self.fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def chunked(self):
        """A whole chunked body, re-framed byte for byte (sizes, data, trailers)."""
        out = b""
        while True:
            size_line = self.line()
            try:
                size = int(size_line.split(b";")[0].strip(), 16)
            except ValueError:
                raise HttpError(400)
            out += size_line + b"\r\n"
            if size == 0:
                while True:
                    t = self.line()
                    out += t + b"\r\n"
                    if not t:
                        return out
            out += self.exact(size + 2)

    def until_close(self):
        out = self.buf
        self.buf = b""
        while True:
            data = self.sock.recv(65536)
            if not data:
                return out
            out += data


def parse_head(text):
    lines = text.split("\r\n")
    headers = []
    for ln in lines[1:]:
        name, sep, value = ln.partition(":")
        if not sep or not name or name != name.strip() or " " in name:
            raise HttpError(400)
        headers.append((name, value.strip()))
    return lines[0], headers


def get(headers, name):
    vals = [v for k, v in headers if k.lower() == name]
    return ",".join(vals) if vals else None


def normalize_path(path, normalize, merge):
    """normalize_path (Envoy's canonicalPath: %XX of unreserved characters decoded, other escapes
    upper-cased, "." and ".." segments resolved, RFC 3986 §5.2.4), then merge_slashes."""
    if normalize:
        def esc(m):
            ch = chr(int(m.group(1), 16))
            return ch if ch in UNRESERVED else "%" + m.group(1).upper()
        path = re.sub(r"%([0-9A-Fa-f]{2})", esc, path)
        segs, out = path.split("/"), []
        for i, s in enumerate(segs):
            last = i == len(segs) - 1
            if s == "." or s == "..":
                if s == ".." and len(out) > 1:
                    out.pop()
                if last:
                    out.append("")
            else:
                out.append(s)
        path = "/".join(out) or "/"
        if not path.startswith("/"):
            path = "/" + path
    if merge:
        path = re.sub(r"/{2,}", "/", path)
    return path


def route_matches(r, method, path, path_query, headers, authority):
    if r.kind == "prefix":
        ok = path_query.startswith(r.value)  # prefix is matched against the whole :path
    elif r.kind == "path":
        ok = path == r.value
    else:
        ok = r.value.fullmatch(path) is not None
    if not ok:
        return False
    pseudo = {":method": method, ":path": path_query, ":authority": authority, ":scheme": "http"}
    for name, kind, want in r.headers:
        have = pseudo[name] if name in pseudo else get(headers, name)
        if have is None:
            return False
        if kind == "exact" and have != want:
            return False
        if kind == "prefix" and not have.startswith(want):
            return False
        if kind == "safe_regex" and want.fullmatch(have) is None:
            return False
    return True


def http_date():
    return time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime())


class HttpSession:
    def __init__(self, proxy, conn, chain, dst_ip, dst_port, tag):
        self.proxy, self.conn, self.tag = proxy, conn, tag
        _, self.rc, self.normalize, self.merge = chain.action
        self.dst = (dst_ip, dst_port)
        self.reader = Reader(conn)
        self.pool = {}  # (ip, port) -> (socket, Reader): upstream keep-alive within this connection

    def local_reply(self, status, body="", close=False, extra=()):
        hs = [f"HTTP/1.1 {status} {REASONS.get(status, 'Unknown')}"]
        if body:
            hs += [f"content-length: {len(body.encode())}", "content-type: text/plain"]
        else:
            hs.append("content-length: 0")
        hs += [f"date: {http_date()}", "server: envoy", *extra]
        if close:
            hs.append("connection: close")
        self.conn.sendall(("\r\n".join(hs) + "\r\n\r\n").encode() + body.encode())

    def run(self):
        try:
            while self.one_request():
                pass
        except HttpError as err:
            status = err.args[0]
            log(f"{self.tag} bad request: {status}")
            try:
                self.local_reply(status, REASONS.get(status, ""), close=True)
            except OSError:
                pass
        except (EOFError, OSError) as err:
            log(f"{self.tag} connection ended: {err!r}")
        finally:
            for s, _ in self.pool.values():
                s.close()
            self.conn.close()

    def one_request(self):
        """Handles one request; False when the connection is to be closed."""
        head = self.reader.head()
        if head is None:
            return False
        request_line, headers = parse_head(head)
        m = re.fullmatch(r"([A-Z]+) (\S+) HTTP/1\.([01])", request_line)
        if not m:
            raise HttpError(400)
        method, target, minor = m.group(1), m.group(2), m.group(3)
        if minor == "0":  # Envoy refuses HTTP/1.0 unless accept_http_10 (not in the subset)
            self.local_reply(426, "", close=True)
            log(f"{self.tag} {method} {target} HTTP/1.0: 426")
            return False
        authority = get(headers, "host")
        if re.match(r"(?i)https?://", target):  # absolute-form: the URL's authority wins
            rest = target.split("://", 1)[1]
            authority, slash, p = rest.partition("/")
            target = "/" + p if slash else "/"
        if not authority:
            raise HttpError(400)
        cl, te = get(headers, "content-length"), get(headers, "transfer-encoding")
        if te and cl:
            raise HttpError(400)
        if te and te.lower() != "chunked":
            raise HttpError(501)  # Envoy: only chunked is implemented
        body = b""
        if te:
            body = self.reader.chunked()
        elif cl:
            if not cl.isdigit():
                raise HttpError(400)
            body = self.reader.exact(int(cl))
        client_close = (get(headers, "connection") or "").lower() == "close"
        if method == "CONNECT" or not target.startswith("/"):
            # CONNECT needs a connect_matcher route (not in the subset): no route.
            self.local_reply(404, close=client_close)
            log(f"{self.tag} {method} {target}: no route: 404")
            return not client_close
        raw_path, q, query = target.partition("?")
        raw_path = raw_path.split("#", 1)[0]
        path = normalize_path(raw_path, self.normalize, self.merge)
        path_query = path + (q + query if q else "")
        vh = self.rc.find(authority)
        what = f"{self.tag} {method} host={authority} path={path_query}"
        if vh is None:
            self.local_reply(404, close=client_close)
            log(f"{what} vhost=<none>: 404")
            return not client_close
        route = next((r for r in vh.routes if route_matches(r, method, path, path_query, headers, authority.lower())), None)
        if route is None:
            self.local_reply(404, close=client_close)
            log(f"{what} vhost={vh.name} route=<none>: 404")
            return not client_close
        what += f" vhost={vh.name} route={route.name or '?'}"
        if route.action[0] == "direct":
            _, status, text = route.action
            self.local_reply(status, text, close=client_close)
            log(f"{what}: direct_response {status}")
            return not client_close
        _, cluster, timeout = route.action
        if get(headers, "upgrade") and "upgrade" in (get(headers, "connection") or "").lower():
            # No upgrade_configs in the subset: Envoy's router refuses the upgrade with 403.
            self.local_reply(403, close=client_close)
            log(f"{what}: upgrade refused: 403")
            return not client_close
        return self.forward(method, path_query, headers, body, te, cluster, timeout, authority, client_close, what)

    def upstream_address(self, cluster, authority):
        if cluster.kind == "original_dst":
            return self.dst, None
        if cluster.kind == "logical_dns":
            ip = self.proxy.resolver.resolve(cluster.host)
            return ((ip, cluster.port), None) if ip else (None, "no healthy upstream")
        # Dynamic forward proxy: the Host header's host, its port or 80 (never the dialed IP).
        m = re.fullmatch(r"\[([0-9a-fA-F:.]+)\](?::(\d+))?|([^:]+)(?::(\d+))?", authority)
        if not m:
            return None, "invalid host"
        host, port = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
        ip = self.proxy.resolver.resolve(host)
        return ((ip, int(port or 80)), None) if ip else (None, "dns resolution failure")

    def forward(self, method, path_query, headers, body, te, cluster, timeout, authority, client_close, what):
        addr, problem = self.upstream_address(cluster, authority)
        if addr is None:
            self.local_reply(503, problem, close=client_close)
            log(f"{what} cluster={cluster.name}: {problem}: 503")
            return not client_close
        what += f" cluster={cluster.name} upstream={fmt(*addr)}"
        lines = [f"{method} {path_query} HTTP/1.1"]
        lines += [f"{k}: {v}" for k, v in headers if k.lower() not in HOP_BY_HOP and k.lower() != "x-forwarded-proto"]
        lines.append("x-forwarded-proto: http")
        request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
        t0 = time.monotonic()
        for attempt in (0, 1):  # a pooled connection the upstream closed meanwhile: retry once, fresh
            pooled = addr in self.pool
            if not pooled:
                try:
                    up = connect(addr[0], addr[1], cluster.connect_timeout)
                except OSError as err:
                    self.local_reply(503, "upstream connect error or disconnect/reset before headers. reset reason: connection failure", close=client_close)
                    log(f"{what}: connect failed ({err}): 503")
                    return not client_close
                self.pool[addr] = (up, Reader(up))
            up, ureader = self.pool[addr]
            up.settimeout(timeout or None)  # route timeout 0s = none
            try:
                up.sendall(request)
                status, rheaders = self.read_response_head(ureader)
                break
            except (OSError, EOFError) as err:
                self.pool.pop(addr)[0].close()
                if pooled and attempt == 0 and not isinstance(err, socket.timeout):
                    continue
                if isinstance(err, socket.timeout):
                    self.local_reply(504, "upstream request timeout", close=client_close)
                    log(f"{what}: timeout: 504")
                else:
                    self.local_reply(503, "upstream connect error or disconnect/reset before headers. reset reason: connection termination", close=client_close)
                    log(f"{what}: upstream reset: 503")
                return not client_close
        # Envoy overwrites server (server_header_transformation OVERWRITE) and adds its timing.
        out = [k_v for k_v in rheaders if k_v[0].lower() not in HOP_BY_HOP and k_v[0].lower() != "server"]
        out += [("server", "envoy"), ("x-envoy-upstream-service-time", str(int((time.monotonic() - t0) * 1000)))]
        upstream_close = (get(rheaders, "connection") or "").lower() == "close"
        rte, rcl = get(rheaders, "transfer-encoding"), get(rheaders, "content-length")
        try:
            if method == "HEAD" or status in (204, 304):
                rbody = b""
            elif rte and rte.lower() == "chunked":
                rbody = ureader.chunked()
            elif rcl is not None:
                rbody = ureader.exact(int(rcl))
            else:  # close-delimited: so is our reply
                rbody, upstream_close, client_close = ureader.until_close(), True, True
        except (OSError, EOFError, ValueError) as err:
            log(f"{what}: upstream failed mid-response ({err!r}): closing")
            self.pool.pop(addr)[0].close()
            return False
        if upstream_close:
            self.pool.pop(addr)[0].close()
        else:
            up.settimeout(None)
        if client_close:
            out.append(("connection", "close"))
        head = f"HTTP/1.1 {status} {REASONS.get(status, 'Unknown')}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in out) + "\r\n"
        self.conn.sendall(head.encode("latin-1") + rbody)
        log(f"{what}: {status}")
        return not client_close

    def read_response_head(self, ureader):
        while True:
            head = ureader.head(limit=MAX_REQUEST_HEAD)
            if head is None:
                raise EOFError("upstream closed")
            status_line, rheaders = parse_head(head)
            m = re.fullmatch(r"HTTP/1\.[01] (\d{3})(?: .*)?", status_line)
            if not m:
                raise EOFError(f"bad status line {status_line!r}")
            status = int(m.group(1))
            if 100 <= status < 200 and status != 101:
                # Interim responses are passed on; the final one follows.
                self.conn.sendall(f"HTTP/1.1 {status} {REASONS.get(status, 'Continue')}\r\n\r\n".encode())
                continue
            return status, rheaders


# ---------------------------------------------------------------------------------------------

RELOAD = threading.Event()


def main():
    ap = argparse.ArgumentParser(description="meshgate's Envoy stand-in for the netns test rig")
    ap.add_argument("--config", required=True)
    ap.add_argument("--hosts", required=True)
    ap.add_argument("--listener-filters-timeout", type=float, default=None)
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    try:
        cfg = load_config(args.config, args.listener_filters_timeout)
    except ConfigError as err:
        print(f"envoy-standin: invalid config: {err}", file=sys.stderr, flush=True)
        sys.exit(1)
    if args.check:
        print(f"ok {cfg.version}", flush=True)
        return
    proxy = Proxy(args)
    try:
        proxy.apply(cfg)
    except OSError as err:
        print(f"envoy-standin: cannot listen on {PROXY_PORT}: {err}", file=sys.stderr, flush=True)
        sys.exit(1)
    # SIGHUP sets a flag and wakes the accept loop through the wakeup fd; the reload itself runs
    # in the loop, never inside the signal handler.
    wake_r, wake_w = socket.socketpair()
    wake_r.setblocking(False)
    wake_w.setblocking(False)
    signal.set_wakeup_fd(wake_w.fileno())
    signal.signal(signal.SIGHUP, lambda *_: RELOAD.set())
    log(f"version {cfg.version}: {'listening on ' + str(PROXY_PORT) if cfg.listener else 'no listener'}")
    print("ready", flush=True)
    proxy.serve(wake_r)


if __name__ == "__main__":
    main()
