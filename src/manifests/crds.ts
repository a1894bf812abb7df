import { EGRESS_GROUPS, SMI_SPECS_GROUP, type Profile } from '../profile.js';
import { COMPONENT_LABEL } from './names.js';
import { arr, bool, freeForm, int, obj, quantityMap, str, type SchemaNode } from './openapi-schema.js';
import type { KubeObject } from './types.js';

/**
 * CustomResourceDefinitions for the APIs meshgate admits: Egress and UpstreamTrafficSetting in both
 * policy groups (OSM's and FSM's; SPEC §1), SMI HTTPRouteGroup v1alpha4, and the profile's MeshConfig.
 * Field names and defaults mirror OSM v1.2.4's CRDs so the YAML of OSM's and FSM's docs applies unchanged; OSM's
 * IPv4-only CIDR patterns are gone (IPv6 is supported) and semantic checks are the webhook's.
 */

interface PrinterColumn {
  name: string;
  type: 'string' | 'integer' | 'boolean' | 'date' | 'number';
  jsonPath: string;
  description?: string;
  priority?: number;
}

interface CrdSpec {
  group: string;
  version: string;
  kind: string;
  plural: string;
  singular: string;
  shortNames?: string[];
  description: string;
  spec: SchemaNode;
  printerColumns: PrinterColumn[];
}

const AGE: PrinterColumn = { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' };

export function customResourceDefinition(c: CrdSpec): KubeObject {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: `${c.plural}.${c.group}`,
      labels: { 'app.kubernetes.io/part-of': 'meshgate', [COMPONENT_LABEL]: 'crds' },
    },
    spec: {
      group: c.group,
      scope: 'Namespaced',
      names: {
        kind: c.kind,
        listKind: `${c.kind}List`,
        plural: c.plural,
        singular: c.singular,
        ...(c.shortNames ? { shortNames: c.shortNames } : {}),
      },
      versions: [
        {
          name: c.version,
          served: true,
          storage: true,
          schema: {
            openAPIV3Schema: {
              type: 'object',
              description: c.description,
              properties: {
                apiVersion: str('APIVersion defines the versioned schema of this representation of an object.'),
                kind: str('Kind is a string value representing the REST resource this object represents.'),
                metadata: { type: 'object' },
                spec: c.spec,
              },
              required: ['spec'],
            },
          },
          additionalPrinterColumns: c.printerColumns,
        },
      ],
    },
  };
}

const egressSpec: SchemaNode = obj(
  'Egress policy: which ServiceAccounts may reach which external hosts, IP ranges and ports. Required: sources, ports.',
  {
    sources: arr(
      'Sources the egress policy applies to. Required, non-empty.',
      obj(
        'A source of egress traffic.',
        {
          kind: str('Kind of this source. Must be ServiceAccount.'),
          name: str('Name of the ServiceAccount (a DNS-1123 label).'),
          namespace: str('Namespace of the ServiceAccount (a DNS-1123 label).'),
        },
        { required: ['kind', 'name', 'namespace'] },
      ),
    ),
    hosts: arr(
      'External hosts the sources may reach: DNS names, optionally with one leading "*." wildcard label. No scheme, port, path or IP literal (use ipAddresses for IPs). Matched against the HTTP Host header on http ports and the TLS SNI on https ports.',
      str('A DNS name such as httpbin.org or *.example.com.'),
    ),
    ipAddresses: arr(
      'IP address ranges the sources may reach, as IPv4 or IPv6 CIDRs (e.g. 1.1.1.0/24, 2001:db8::/32). Matched for tcp ports.',
      str('An IPv4 or IPv6 CIDR.'),
    ),
    ports: arr(
      'Ports the sources may reach. Required, non-empty.',
      obj(
        'A destination port and the protocol served on it.',
        {
          number: int('Port number, 1-65535.'),
          protocol: str(
            'Protocol served on the port: http, https, tcp or tcp-server-first (server speaks first, e.g. MySQL; no protocol detection on that port).',
          ),
        },
        { required: ['number', 'protocol'] },
      ),
    ),
    matches: arr(
      'Resources an http Egress matches on: an SMI HTTPRouteGroup (apiGroup specs.smi-spec.io/v1alpha4) in the same namespace, or at most one UpstreamTrafficSetting of the policy group. Only allowed with an http port.',
      obj(
        'A reference to a resource in the policy\'s namespace.',
        {
          apiGroup: str('API group and version of the referenced resource, e.g. specs.smi-spec.io/v1alpha4.'),
          kind: str('Kind of the referenced resource: HTTPRouteGroup or UpstreamTrafficSetting.'),
          name: str('Name of the referenced resource.'),
        },
        { required: ['apiGroup', 'kind', 'name'] },
      ),
    ),
  },
);

export function egressCrd(group: string): KubeObject {
  return customResourceDefinition({
    group,
    version: 'v1alpha1',
    kind: 'Egress',
    plural: 'egresses',
    singular: 'egress',
    shortNames: ['egress'],
    description: 'Egress allows ServiceAccounts in the mesh to reach destinations outside the cluster. Validated by meshgate.',
    spec: egressSpec,
    printerColumns: [
      { name: 'Hosts', type: 'string', jsonPath: '.spec.hosts', description: 'Allowed external hosts' },
      { name: 'IP-Ranges', type: 'string', jsonPath: '.spec.ipAddresses', description: 'Allowed IP ranges', priority: 1 },
      AGE,
    ],
  });
}

export function upstreamTrafficSettingCrd(group: string): KubeObject {
  return customResourceDefinition({
    group,
    version: 'v1alpha1',
    kind: 'UpstreamTrafficSetting',
    plural: 'upstreamtrafficsettings',
    singular: 'upstreamtrafficsetting',
    shortNames: ['uts'],
    description: 'UpstreamTrafficSetting sets connection limits and rate limits for traffic to an upstream host.',
    spec: obj(
      'Traffic settings for one upstream host.',
      {
        host: str('The upstream host (a service FQDN or an external host) these settings apply to.'),
        connectionSettings: freeForm('Connection settings (tcp: maxConnections, connectTimeout; http: maxRequestsPerConnection, maxPendingRequests, maxRequests, maxRetries).'),
        rateLimit: freeForm('Rate limiting applied to the upstream host (local tcp and http limits).'),
        httpRoutes: arr('Per-route settings for HTTP traffic to the host.', freeForm('Settings for one HTTP route (path, rateLimit).')),
      },
      { required: ['host'] },
    ),
    printerColumns: [{ name: 'Host', type: 'string', jsonPath: '.spec.host' }, AGE],
  });
}

export function httpRouteGroupCrd(): KubeObject {
  return customResourceDefinition({
    group: SMI_SPECS_GROUP,
    version: 'v1alpha4',
    kind: 'HTTPRouteGroup',
    plural: 'httproutegroups',
    singular: 'httproutegroup',
    shortNames: ['htr'],
    description: 'HTTPRouteGroup (SMI Traffic Specs) names HTTP request matches that policies refer to.',
    spec: obj('The route group. Required: matches.', {
      matches: arr(
        'Named HTTP request matches. Required; names unique within the group.',
        obj(
          'One HTTP request match; all given conditions must hold.',
          {
            name: str('Name of the match, referenced by policies.'),
            methods: arr('HTTP methods: *, GET, HEAD, PUT, POST, DELETE, CONNECT, OPTIONS, TRACE or PATCH.', str('An HTTP method.')),
            pathRegex: str('Regular expression (RE2 syntax, as Envoy evaluates it) the request path must match.'),
            // SMI's wire form, as OSM's CRD declares it: a list of single-key maps (`- user-agent: ".*Android.*"`).
            headers: arr(
              'Headers the request must carry: a list of single-key maps, header name to an RE2 regular expression its value must match.',
              { type: 'object', description: 'One header: its name and the RE2 regular expression its value must match.', additionalProperties: { type: 'string' } },
            ),
          },
          { required: ['name'] },
        ),
      ),
    }),
    printerColumns: [AGE],
  });
}

function meshConfigSpec(profile: Profile): SchemaNode {
  const isFsm = profile.name === 'fsm';
  const spec = obj(
    `Mesh-wide configuration${isFsm ? ' (FSM sections beyond OSM v1.2\'s are kept as written)' : ''}.`,
    {
      sidecar: obj('Configuration for the proxy sidecar.', {
        enablePrivilegedInitContainer: bool('Run the init container privileged. When false it only has NET_ADMIN and NET_RAW.'),
        logLevel: str('Proxy log level for newly created pods: trace, debug, info, warning, warn, error, critical or off.'),
        maxDataPlaneConnections: int('Max allowed data plane sidecar connections (0: no limit).'),
        envoyImage: str('Image of the proxy sidecar.'),
        envoyWindowsImage: str('Image of the proxy sidecar on Windows nodes.'),
        initContainerImage: str('Image of the init container that sets up traffic interception.'),
        sidecarImage: str('Image of the sidecar (FSM/osm-edge name for the proxy image).'),
        resources: obj('Compute resources of the proxy sidecar.', {
          limits: quantityMap('Limits describes the maximum amount of compute resources allowed.'),
          requests: quantityMap('Requests describes the minimum amount of compute resources required.'),
        }),
        configResyncInterval: str('Resync interval for regular proxy broadcast updates, e.g. 90s.'),
        tlsMinProtocolVersion: str('Minimum TLS version the sidecar supports: TLS_AUTO, TLSv1_0, TLSv1_1, TLSv1_2 or TLSv1_3.', { default: 'TLSv1_2' }),
        tlsMaxProtocolVersion: str('Maximum TLS version the sidecar supports: TLS_AUTO, TLSv1_0, TLSv1_1, TLSv1_2 or TLSv1_3.', { default: 'TLSv1_3' }),
        cipherSuites: arr('Ciphers offered when negotiating TLS 1.0-1.2 (OpenSSL names).', str('A cipher name.')),
        ecdhCurves: arr('ECDH curves for TLS connections.', str('A curve name.')),
        localProxyMode: str('Address the proxy uses to reach the local application: Localhost or PodIP.', { default: 'Localhost' }),
      }),
      traffic: obj('Configuration for traffic management.', {
        enableEgress: bool(
          'Mesh-wide egress passthrough: when true, pods may reach any external destination and Egress policies restrict nothing. When false, only what Egress policies allow.',
        ),
        outboundIPRangeExclusionList: arr('IP ranges (IPv4 or IPv6 CIDRs) excluded from outbound interception.', str('A CIDR.')),
        outboundIPRangeInclusionList: arr('IP ranges (IPv4 or IPv6 CIDRs) to intercept; when set, only these are redirected.', str('A CIDR.')),
        outboundPortExclusionList: arr('Ports (1-65535) excluded from outbound interception.', int('A port.')),
        inboundPortExclusionList: arr('Ports (1-65535) excluded from inbound interception.', int('A port.')),
        networkInterfaceExclusionList: arr('Network interfaces excluded from interception.', str('An interface name.')),
        enablePermissiveTrafficPolicyMode: bool('Allow traffic between meshed pods without SMI traffic policies.'),
        inboundExternalAuthorization: freeForm('External authorization for inbound connections (enable, address, port, statPrefix, timeout, failureModeAllow).'),
      }),
      observability: obj('Configuration for observing the mesh: logs, tracing, debug server.', {
        osmLogLevel: str('Control plane log level.'),
        fsmLogLevel: str('Control plane log level (FSM name).'),
        enableDebugServer: bool('Enable the control plane debug endpoint.'),
        tracing: obj('Distributed tracing.', {
          enable: bool('Enable tracing.'),
          port: int('Port of the tracing collector.'),
          address: str('Address of the tracing collector.'),
          endpoint: str('Endpoint path of the tracing collector.'),
        }),
      }),
      certificate: obj(
        'Configuration for mesh certificate management.',
        {
          serviceCertValidityDuration: str('Validity of service certificates, a duration such as 24h.'),
          certKeyBitSize: int('Key size in bits for data plane certificates.'),
          ingressGateway: freeForm('Certificate of the ingress gateway (subjectAltNames, validityDuration, secret).'),
        },
        { required: ['serviceCertValidityDuration', 'certKeyBitSize'] },
      ),
      featureFlags: obj('Feature flags.', {
        enableWASMStats: bool('Enable WASM-based proxy statistics.'),
        enableEgressPolicy: bool('Enable Egress policies. When false, Egress objects have no effect.'),
        enableMulticlusterMode: bool('Deprecated, no longer used.'),
        enableSnapshotCacheMode: bool('Enable the xDS snapshot cache.'),
        enableAsyncProxyServiceMapping: bool('Map proxies to services asynchronously.'),
        enableIngressBackendPolicy: bool('Enable IngressBackend policies.'),
        enableEnvoyActiveHealthChecks: bool('Enable active health checks by the proxy.'),
        enableRetryPolicy: bool('Enable Retry policies.'),
      }),
    },
  );
  if (isFsm) {
    // FSM's MeshConfig has many more fields than OSM v1.2's (repoServer, sidecar drivers, ...):
    // keep them as written instead of pruning them.
    spec['x-kubernetes-preserve-unknown-fields'] = true;
    for (const section of Object.values(spec.properties ?? {})) section['x-kubernetes-preserve-unknown-fields'] = true;
  }
  return spec;
}

export function meshConfigCrd(profile: Profile): KubeObject {
  return customResourceDefinition({
    group: profile.meshConfig.group,
    version: profile.meshConfig.version,
    kind: 'MeshConfig',
    plural: 'meshconfigs',
    singular: 'meshconfig',
    shortNames: ['meshconfig'],
    description: `MeshConfig is the mesh-wide configuration, one per mesh (${profile.meshConfig.name} in the control namespace). Validated by meshgate.`,
    spec: meshConfigSpec(profile),
    printerColumns: [
      { name: 'Egress', type: 'boolean', jsonPath: '.spec.traffic.enableEgress', description: 'Mesh-wide egress passthrough' },
      { name: 'Egress-Policy', type: 'boolean', jsonPath: '.spec.featureFlags.enableEgressPolicy', description: 'Egress policies enabled' },
      AGE,
    ],
  });
}

/**
 * The policy API groups whose CRDs an install creates: the profile's own (`policy.<domain>`), and
 * the other one only when asked. Both CRDs define kind Egress, so with both installed kubectl
 * resolves `kubectl get egress` to one group by name order (policy.flomesh.io first), which would
 * make OSM's egress policy demo's `kubectl delete egress httpbin-80` look in the wrong group.
 */
export function policyGroups(profile: Profile, bothEgressGroups: boolean): string[] {
  const own = `policy.${profile.domain}`;
  return bothEgressGroups ? [own, ...EGRESS_GROUPS.filter((g) => g !== own)] : [own];
}

/** Every CRD of an install: Egress and UpstreamTrafficSetting per policy group, HTTPRouteGroup, MeshConfig. */
export function allCrds(profile: Profile, bothEgressGroups = false): KubeObject[] {
  const groups = policyGroups(profile, bothEgressGroups);
  return [...groups.map(egressCrd), ...groups.map(upstreamTrafficSettingCrd), httpRouteGroupCrd(), meshConfigCrd(profile)];
}
