import type { TypeStatus } from './stream-protocol.js';

/**
 * What `meshgate proxy status` and the operational endpoint `GET /debug/proxies` show of the
 * connected proxies (plain data: the CLI reads it without loading the server).
 */

export const PROXY_STATUS_PATH = '/debug/proxies';

export interface ProxyStatus {
  /** Envoy's node id (the injected bootstrap: `<pod>.<namespace>`). */
  node: string;
  /** node.cluster as Envoy sent it. */
  cluster: string;
  /** The ServiceAccount the stream is served as, `ns/name`. */
  identity: string;
  /** When the stream was accepted, ISO 8601. */
  since: string;
  peer?: string;
  /** Per type (`LDS`, `RDS`, `CDS`): acknowledged and sent versions, last rejection. */
  types: Record<string, TypeStatus>;
  lastRejection?: { type: string; version: string; message: string; at: string };
}

export interface ProxyStatusReport {
  proxies: ProxyStatus[];
}

export interface StatusProvider {
  proxyStatus(): ProxyStatusReport;
}
