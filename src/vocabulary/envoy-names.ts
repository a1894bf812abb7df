/**
 * Names of the Envoy resources both the injector's bootstrap and the egress compiler use, so the
 * sidecar's static config and what meshgate serves over ADS agree.
 */
export const OUTBOUND_LISTENER = 'outbound-listener';
/** ORIGINAL_DST cluster for mesh-wide passthrough (the name OSM's egress guide uses). */
export const PASSTHROUGH_CLUSTER = 'passthrough-outbound';
export const TYPE_URL_PREFIX = 'type.googleapis.com/';
