import { ADMIN_PORT, METRICS_PORT, OUTBOUND_PORT } from '../profile.js';
import { OUTBOUND_LISTENER, PASSTHROUGH_CLUSTER } from '../vocabulary/envoy-names.js';

/**
 * The Envoy v3 bootstrap meshgate renders for each sidecar (SPEC §5). Plain JSON in Envoy's
 * proto3-JSON field names; the tests check it against Envoy's .proto files.
 *
 * - admin on 127.0.0.1:15000 (never reachable from outside the pod);
 * - `proxy-health` listener on 0.0.0.0:15010 exposing only `/ready` and `/stats/prometheus` of the
 *   admin interface, so the kubelet's readiness probe and Prometheus can reach them (Istio does
 *   the same with its 15021 health port);
 * - with egress enabled, `outbound-listener` on 0.0.0.0:15001 whose default filter chain proxies
 *   every connection to its original destination (seed 001's `passthrough-outbound`);
 * - with egress disabled, no outbound listener at all: redirected connections are refused;
 * - on IPv6 clusters both listeners also listen on [::] (Envoy sets IPV6_V6ONLY, so beside
 *   0.0.0.0 on the same port): the interception script redirects IPv6 egress to 15001 too, and the
 *   kubelet probes an IPv6 pod address. Not on IPv4-only clusters, where binding [::] can fail.
 */
export interface BootstrapOptions {
  enableEgress: boolean;
  /** The cluster has IPv6 pod or service ranges (dual-stack or IPv6-only). */
  ipv6: boolean;
  /** Envoy `node.cluster`/`node.id`: `<serviceAccount>.<namespace>`, for stats and logs. */
  nodeName: string;
}

export const ADMIN_CLUSTER = 'envoy-admin';
export const HEALTH_LISTENER = 'proxy-health';
export const READY_PATH = '/ready';
export const METRICS_PATH = '/stats/prometheus';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type EnvoyBootstrap = { [key: string]: Json };

const TYPE = 'type.googleapis.com/';

function socketAddress(address: string, port: number): Json {
  return { socket_address: { address, port_value: port } };
}

/** `[::]` beside `0.0.0.0` on IPv6 clusters. */
function ipv6Addresses(ipv6: boolean, port: number): { additional_addresses?: Json } {
  return ipv6 ? { additional_addresses: [{ address: socketAddress('::', port) }] } : {};
}

function healthListener(ipv6: boolean): Json {
  const toAdmin = (path: string): Json => ({ match: { path }, route: { cluster: ADMIN_CLUSTER } });
  return {
    name: HEALTH_LISTENER,
    address: socketAddress('0.0.0.0', METRICS_PORT),
    ...ipv6Addresses(ipv6, METRICS_PORT),
    traffic_direction: 'INBOUND',
    filter_chains: [
      {
        filters: [
          {
            name: 'envoy.filters.network.http_connection_manager',
            typed_config: {
              '@type': `${TYPE}envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager`,
              stat_prefix: HEALTH_LISTENER,
              route_config: {
                name: HEALTH_LISTENER,
                virtual_hosts: [{ name: HEALTH_LISTENER, domains: ['*'], routes: [toAdmin(READY_PATH), toAdmin(METRICS_PATH)] }],
              },
              http_filters: [
                { name: 'envoy.filters.http.router', typed_config: { '@type': `${TYPE}envoy.extensions.filters.http.router.v3.Router` } },
              ],
            },
          },
        ],
      },
    ],
  };
}

function outboundListener(ipv6: boolean): Json {
  return {
    name: OUTBOUND_LISTENER,
    address: socketAddress('0.0.0.0', OUTBOUND_PORT),
    ...ipv6Addresses(ipv6, OUTBOUND_PORT),
    listener_filters: [
      {
        name: 'envoy.filters.listener.original_dst',
        typed_config: { '@type': `${TYPE}envoy.extensions.filters.listener.original_dst.v3.OriginalDst` },
      },
    ],
    traffic_direction: 'OUTBOUND',
    default_filter_chain: {
      name: 'outbound-egress-filter-chain',
      filters: [
        {
          name: 'envoy.filters.network.tcp_proxy',
          typed_config: {
            '@type': `${TYPE}envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy`,
            stat_prefix: PASSTHROUGH_CLUSTER,
            cluster: PASSTHROUGH_CLUSTER,
          },
        },
      ],
    },
  };
}

export function renderBootstrap(o: BootstrapOptions): EnvoyBootstrap {
  const listeners: Json[] = [healthListener(o.ipv6)];
  const clusters: Json[] = [
    {
      name: ADMIN_CLUSTER,
      type: 'STATIC',
      connect_timeout: '1s',
      load_assignment: {
        cluster_name: ADMIN_CLUSTER,
        endpoints: [{ lb_endpoints: [{ endpoint: { address: socketAddress('127.0.0.1', ADMIN_PORT) } }] }],
      },
    },
  ];
  if (o.enableEgress) {
    listeners.push(outboundListener(o.ipv6));
    clusters.push({ name: PASSTHROUGH_CLUSTER, type: 'ORIGINAL_DST', lb_policy: 'CLUSTER_PROVIDED', connect_timeout: '5s' });
  }
  return {
    node: { id: o.nodeName, cluster: o.nodeName },
    admin: { address: socketAddress('127.0.0.1', ADMIN_PORT) },
    static_resources: { listeners, clusters },
  };
}
