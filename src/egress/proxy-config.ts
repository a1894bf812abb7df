/** A JSON value: what the compiled Envoy resources are made of. */
export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/**
 * What one ServiceAccount's sidecar is told (SPEC §9): Envoy v3 resources in proto3-JSON with their
 * `@type`, and a version that is a hash of their content.
 */
export interface ProxyConfig {
  version: string;
  listeners: Json[];
  routeConfigurations: Json[];
  clusters: Json[];
}
