import { ADMIN_PORT, METRICS_PORT } from '../profile.js';

/**
 * The Envoy v3 bootstrap meshgate renders for each sidecar (SPEC §5, §10). Plain JSON in Envoy's
 * proto3-JSON field names; the tests check it against Envoy's .proto files.
 *
 * - node id and cluster `<serviceAccount>.<namespace>`: for stats and logs only, since the ADS
 *   server takes the identity from the token, never from the node;
 * - admin on 127.0.0.1:15000 (never reachable from outside the pod);
 * - `proxy-health` listener on 0.0.0.0:15010 exposing only `/ready` and `/stats/prometheus` of the
 *   admin interface, so the kubelet's readiness probe and Prometheus can reach them (Istio does
 *   the same with its 15021 health port);
 * - everything else (the outbound listener, its routes and clusters, the passthrough when the
 *   MeshConfig enables egress) comes from meshgate over ADS: `google_grpc` to the meshgate Service
 *   over TLS with meshgate's CA as the only roots, and the pod's projected ServiceAccount token
 *   sent as `authorization: Bearer <token>` by the file-based metadata plugin. The plugin needs
 *   `credentials_factory_name` to name it too: Envoy's default factory drops plugin credentials,
 *   and no token would be sent. Envoy re-reads the token file for every new stream (the kubelet
 *   refreshes it); `root_certs` is read once;
 * - `initial_fetch_timeout` on LDS and CDS: without meshgate, Envoy finishes starting after 10 s
 *   with no outbound listener (redirected connections are refused: fails closed), and once
 *   configured it keeps its last config while meshgate is away;
 * - on IPv6 clusters the health listener also listens on [::] (Envoy sets IPV6_V6ONLY, so beside
 *   0.0.0.0 on the same port): the kubelet probes an IPv6 pod address. Not on IPv4-only clusters,
 *   where binding [::] can fail. (The outbound listener's addresses come over ADS.)
 */
export interface BootstrapOptions {
  /** The cluster has IPv6 pod or service ranges (dual-stack or IPv6-only). */
  ipv6: boolean;
  /** Envoy `node.cluster`/`node.id`: `<serviceAccount>.<namespace>`, for stats and logs. */
  nodeName: string;
  xds: XdsConnection;
}

/** How the sidecar reaches meshgate's ADS server. */
export interface XdsConnection {
  /** `<service>.<namespace>.svc:<port>`; its host must be a name in meshgate's serving certificate. */
  targetUri: string;
  /** PEM roots for meshgate's serving certificate; empty: gRPC's default roots. */
  caPem: string;
  /** The projected ServiceAccount token file inside the proxy container. */
  tokenPath: string;
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

export const ADS_STAT_PREFIX = 'ads';
export const FILE_BASED_METADATA = 'envoy.grpc_credentials.file_based_metadata';
/** How long Envoy waits for the first LDS/CDS answer before it finishes starting without it. */
export const INITIAL_FETCH_TIMEOUT = '10s';

function adsConfig(x: XdsConnection): Json {
  return {
    api_type: 'GRPC',
    transport_api_version: 'V3',
    set_node_on_first_message_only: true,
    grpc_services: [
      {
        google_grpc: {
          target_uri: x.targetUri,
          stat_prefix: ADS_STAT_PREFIX,
          credentials_factory_name: FILE_BASED_METADATA,
          channel_credentials: { ssl_credentials: x.caPem ? { root_certs: { inline_string: x.caPem } } : {} },
          call_credentials: [
            {
              from_plugin: {
                name: FILE_BASED_METADATA,
                typed_config: {
                  '@type': `${TYPE}envoy.config.grpc_credential.v3.FileBasedMetadataConfig`,
                  secret_data: { filename: x.tokenPath },
                  header_prefix: 'Bearer ',
                },
              },
            },
          ],
        },
      },
    ],
  };
}

function viaAds(): Json {
  return { ads: {}, resource_api_version: 'V3', initial_fetch_timeout: INITIAL_FETCH_TIMEOUT };
}

export function renderBootstrap(o: BootstrapOptions): EnvoyBootstrap {
  return {
    node: { id: o.nodeName, cluster: o.nodeName },
    admin: { address: socketAddress('127.0.0.1', ADMIN_PORT) },
    dynamic_resources: { ads_config: adsConfig(o.xds), lds_config: viaAds(), cds_config: viaAds() },
    static_resources: {
      listeners: [healthListener(o.ipv6)],
      clusters: [
        {
          name: ADMIN_CLUSTER,
          type: 'STATIC',
          connect_timeout: '1s',
          load_assignment: {
            cluster_name: ADMIN_CLUSTER,
            endpoints: [{ lb_endpoints: [{ endpoint: { address: socketAddress('127.0.0.1', ADMIN_PORT) } }] }],
          },
        },
      ],
    },
  };
}
