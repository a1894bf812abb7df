/**
 * Plain shapes of the Kubernetes objects meshgate reads. Objects under review are parsed strictly
 * by the rules in policy/; objects held in the cluster state are whatever the API server stored, so
 * they are read leniently (a malformed stored object must not break admission of others).
 */
export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  [key: string]: unknown;
}

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
  spec?: unknown;
  [key: string]: unknown;
}

export interface NamespaceInfo {
  name: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

/** The subset of OSM/FSM MeshConfig `spec` meshgate reads (both profiles share these fields). */
export interface MeshConfigSpec {
  sidecar?: {
    enablePrivilegedInitContainer?: boolean;
    logLevel?: string;
    sidecarImage?: string;
    initContainerImage?: string;
    localProxyMode?: string;
    resources?: {
      requests?: Record<string, string>;
      limits?: Record<string, string>;
    };
    [key: string]: unknown;
  };
  traffic?: {
    enableEgress?: boolean;
    enablePermissiveTrafficPolicyMode?: boolean;
    outboundIPRangeExclusionList?: string[];
    outboundIPRangeInclusionList?: string[];
    outboundPortExclusionList?: number[];
    inboundPortExclusionList?: number[];
    networkInterfaceExclusionList?: string[];
    [key: string]: unknown;
  };
  featureFlags?: {
    enableEgressPolicy?: boolean;
    [key: string]: unknown;
  };
  [key: string]: unknown;
}

/** Identity of a namespaced object: `namespace/name`. */
export interface ObjectRef {
  namespace: string;
  name: string;
}

/** An Egress policy as held in the state: which API group it came from matters for identity. */
export interface EgressRef extends ObjectRef {
  group: string;
}

/**
 * An Egress policy as the egress compiler reads it: its spec's lists, read leniently from the stored
 * object (entries of the wrong type are dropped; admission already refused them). Values are as
 * written; the compiler normalizes case and validity.
 */
export interface EgressPolicy {
  ref: EgressRef;
  hosts: readonly string[];
  ipAddresses: readonly string[];
  ports: readonly { number: number; protocol: string }[];
  matches: readonly { apiGroup: string; kind: string; name: string }[];
}
