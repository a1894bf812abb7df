import fc from 'fast-check';

/**
 * fast-check arbitraries for the fuzz suites (test/fuzz/): Kubernetes objects meshgate admits
 * (Egress, HTTPRouteGroup, MeshConfig, Pod) and AdmissionReview envelopes, biased towards the
 * inputs a real admission path meets and the ones that break parsers: wrong types, missing and
 * unknown fields, huge strings, unicode (incl. lone surrogates and control characters), deep
 * nesting, invalid and catastrophic regexes, odd CIDRs, hosts and ports. Every value is plain
 * JSON-compatible data except where `inProcessOnly` values (NaN, Infinity, -0) are mixed in.
 */

// ---- building blocks ----

/** A value of the wrong type for almost any field. */
export const oddValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.string({ maxLength: 8 }),
  fc.constant(''),
  // Fresh containers per case (fc.constant would hand out one shared instance).
  fc.constant(null).map(() => []),
  fc.constant(null).map(() => ({})),
  fc.array(fc.jsonValue({ maxDepth: 1 }), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 4 }), fc.jsonValue({ maxDepth: 1 }), { maxKeys: 3 }),
);

/** Values JSON cannot carry; only for in-process targets. */
export const inProcessOnlyValue: fc.Arbitrary<unknown> = fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -0);

/** Mostly `arb`, sometimes a value of the wrong type. */
export function maybeOdd<T>(arb: fc.Arbitrary<T>, oddWeight = 1): fc.Arbitrary<T | unknown> {
  return fc.oneof({ weight: 10, arbitrary: arb }, { weight: oddWeight, arbitrary: oddValue });
}

/** An object nested `depth` levels deep under `key` (stack-depth probes). */
export function nested(depth: number, key = 'a', leaf: unknown = 'x'): unknown {
  let v: unknown = leaf;
  for (let i = 0; i < depth; i++) v = { [key]: v };
  return v;
}

/** An array nested `depth` levels deep. */
export function nestedArray(depth: number): unknown {
  let v: unknown = [];
  for (let i = 0; i < depth; i++) v = [v];
  return v;
}

export const deepValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.integer({ min: 50, max: 3000 }).map((d) => nested(d)),
  fc.integer({ min: 50, max: 3000 }).map((d) => nestedArray(d)),
);

const controlChars = fc.constantFrom('\n', '\r\n', '\t', '\u0000', '\u001b[31m', '\u2028', '\u0085', '\u007f');

/** Strings that break naive code: unicode, control characters, lone surrogates, huge, empty. */
export const nastyString: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.string({ maxLength: 20 }) },
  { weight: 3, arbitrary: fc.string({ unit: 'grapheme', maxLength: 12 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 12 }) },
  { weight: 2, arbitrary: fc.tuple(fc.string({ maxLength: 6 }), controlChars, fc.string({ maxLength: 6 })).map(([a, c, b]) => a + c + b) },
  { weight: 1, arbitrary: fc.constantFrom('', ' ', '\ud800', '\udfff', 'é', 'e\u0301', '😀', 'İ', 'ß', '‮rtl', '${x}', '%s%n', '../../etc/passwd', '__proto__', 'constructor') },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom('a', 'é', '😀', 'a.', '-'), fc.integer({ min: 250, max: 70_000 })).map(([s, n]) => s.repeat(n)) },
);

/** A plausible value, or a nasty one. */
function plausible<T extends string>(values: readonly T[]): fc.Arbitrary<string> {
  return fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...values) }, { weight: 2, arbitrary: nastyString });
}

/** An object with every key optional (fast-check drops each key at random). */
function partialRecord<T extends Record<string, fc.Arbitrary<unknown>>>(model: T): fc.Arbitrary<Partial<{ [K in keyof T]: unknown }>> {
  return fc.record(model, { requiredKeys: [] }) as fc.Arbitrary<Partial<{ [K in keyof T]: unknown }>>;
}

/** Adds a few unknown fields to objects now and then (newer API servers and typos). */
function withExtras(arb: fc.Arbitrary<Record<string, unknown>>): fc.Arbitrary<Record<string, unknown>> {
  return fc
    .tuple(arb, fc.option(fc.dictionary(plausible(['extra', 'x-unknown', '__proto__', 'status']), oddValue, { maxKeys: 2 }), { freq: 5 }))
    .map(([o, extra]) => (extra ? { ...extra, ...o } : o));
}

// ---- names, hosts, addresses, ports ----

export const NAMESPACES = ['curl', 'default', 'outside', 'osm-system', 'kube-system', 'kube-public', 'fsm-system'] as const;
export const namespaceName = plausible(NAMESPACES);
export const objectName = plausible(['httpbin-80', 'egress-a', 'curl', 'a', 'x'.repeat(253), 'Not_A_Name', '-bad-', 'dots.are.ok']);

const ipv4Cidr = fc.tuple(fc.ipV4(), fc.integer({ min: -1, max: 40 })).map(([ip, p]) => `${ip}/${p}`);
const ipv6Cidr = fc.tuple(fc.ipV6(), fc.integer({ min: -1, max: 140 })).map(([ip, p]) => `${ip}/${p}`);

export const cidr: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: ipv4Cidr },
  { weight: 2, arbitrary: ipv6Cidr },
  fc.ipV4(),
  fc.ipV6(),
  fc.constantFrom('10.0.0.0/8', '0.0.0.0/0', '::/0', '1.2.3.4/', '/8', '1.2.3/24', '01.02.03.04/8', '1.2.3.4/08', '::ffff:1.2.3.4/128', 'fe80::1%eth0/64', '1.2.3.4/32/1', ' 10.0.0.0/8', '10.0.0.0/8 ', 'localhost'),
  nastyString,
);

const unicodeLabel = fc.constantFrom('bücher', 'xn--bcher-kva', 'пример', '例え', 'ä', '😀');

export const host: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.domain() },
  { weight: 2, arbitrary: fc.domain().map((d) => `*.${d}`) },
  fc.tuple(fc.constantFrom('http://', 'https://', 'tcp://', '//'), fc.domain()).map(([s, d]) => s + d),
  fc.tuple(fc.domain(), fc.integer({ min: -1, max: 70_000 })).map(([d, p]) => `${d}:${p}`),
  fc.tuple(fc.domain(), fc.constantFrom('/', '/get', '?q=1', '#x')).map(([d, p]) => d + p),
  fc.ipV4(),
  fc.ipV6(),
  fc.ipV6().map((ip) => `[${ip}]`),
  ipv4Cidr,
  fc.tuple(unicodeLabel, fc.domain()).map(([l, d]) => `${l}.${d}`),
  fc.constantFrom('', '*', '*.', '**.a.com', 'a.*.com', '*.*.com', 'a..b', '.a.com', 'a.com.', 'A.COM', '-a.com', 'a-.com', 'localhost', 'x'.repeat(64) + '.com', `${'a.'.repeat(130)}com`),
  nastyString,
);

export const portNumber: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 1, max: 65_535 }) },
  fc.integer({ min: -100_000, max: 200_000 }),
  fc.constantFrom(0, -1, 65_536, 70_000, 80.5, 1e21, Number.MAX_SAFE_INTEGER + 2),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.integer({ min: 1, max: 65_535 }).map(String),
  fc.constantFrom('80', '0x50', '80.0', ' 80', '1e3', 'http', ''),
  oddValue,
);

export const protocol = plausible(['http', 'https', 'tcp', 'tcp-server-first', 'udp', 'HTTP', 'grpc', 'TCP-SERVER-FIRST', '']);

// ---- Egress ----

export const EGRESS_API_VERSIONS = ['policy.openservicemesh.io/v1alpha1', 'policy.flomesh.io/v1alpha1'] as const;

const egressSource = withExtras(
  partialRecord({
    kind: maybeOdd(plausible(['ServiceAccount', 'serviceaccount', 'User', 'Group'])),
    name: maybeOdd(plausible(['curl', 'default', 'Bad_Name', 'a'.repeat(64)])),
    namespace: maybeOdd(namespaceName),
    mtls: maybeOdd(fc.constant(null).map(() => ({}))),
  }) as fc.Arbitrary<Record<string, unknown>>,
);

const egressPort = withExtras(partialRecord({ number: portNumber, protocol: maybeOdd(protocol) }) as fc.Arbitrary<Record<string, unknown>>);

const egressMatch = withExtras(
  partialRecord({
    apiGroup: maybeOdd(plausible(['specs.smi-spec.io/v1alpha4', 'policy.openservicemesh.io/v1alpha1', 'policy.flomesh.io/v1alpha1', 'specs.smi-spec.io', 'v1'])),
    kind: maybeOdd(plausible(['HTTPRouteGroup', 'UpstreamTrafficSetting', 'httproutegroup', 'Service'])),
    name: maybeOdd(plausible(['egress-http-route', 'missing', 'settings'])),
  }) as fc.Arbitrary<Record<string, unknown>>,
);

function listOf<T>(arb: fc.Arbitrary<T>, maxLength = 4): fc.Arbitrary<unknown> {
  return maybeOdd(fc.array(arb, { maxLength }));
}

export const egressSpec = withExtras(
  partialRecord({
    sources: listOf(maybeOdd(egressSource)),
    hosts: listOf(maybeOdd(host), 5),
    ipAddresses: listOf(maybeOdd(cidr), 4),
    ports: listOf(maybeOdd(egressPort), 5),
    matches: listOf(maybeOdd(egressMatch), 3),
  }) as fc.Arbitrary<Record<string, unknown>>,
);

export const objectMeta = withExtras(
  partialRecord({
    name: maybeOdd(objectName),
    namespace: maybeOdd(namespaceName),
    generateName: maybeOdd(fc.constantFrom('curl-', '')),
    labels: maybeOdd(fc.dictionary(plausible(['app', 'openservicemesh.io/monitored-by']), plausible(['curl', 'osm']), { maxKeys: 3 })),
    annotations: maybeOdd(fc.dictionary(plausible(['a', 'kubectl.kubernetes.io/last-applied-configuration']), nastyString, { maxKeys: 3 })),
    resourceVersion: maybeOdd(fc.constantFrom('1', '42')),
  }) as fc.Arbitrary<Record<string, unknown>>,
);

function kubeObject(apiVersions: fc.Arbitrary<string>, kind: string, spec: fc.Arbitrary<unknown>): fc.Arbitrary<Record<string, unknown>> {
  return withExtras(
    fc
      .tuple(maybeOdd(apiVersions, 1), maybeOdd(fc.constant(kind), 1), maybeOdd(objectMeta, 1), maybeOdd(spec, 1))
      .chain(([apiVersion, k, metadata, s]) =>
        partialRecord({ apiVersion: fc.constant(apiVersion), kind: fc.constant(k), metadata: fc.constant(metadata), spec: fc.constant(s) }).map(
          // apiVersion, kind and spec are present most of the time; metadata may go missing.
          (o) => ({ apiVersion, kind: k, ...o, spec: 'spec' in o ? o.spec : s }) as Record<string, unknown>,
        ),
      ),
  );
}

export const egress: fc.Arbitrary<Record<string, unknown>> = kubeObject(fc.constantFrom(...EGRESS_API_VERSIONS), 'Egress', egressSpec);

// ---- HTTPRouteGroup ----

/** Valid RE2, RE2-invalid (look-arounds, back-references), catastrophic for JS backtracking, malformed, huge. */
export const regex: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom('/get', '.*', '^/api/v[0-9]+/.*$', '/status/(200|404)', '\\d+', '[[:alpha:]]+', '(?i)abc', '\\pL+') },
  { weight: 3, arbitrary: fc.constantFrom('(?=x)a', '(?!x)a', '(?<=a)b', '(?<!a)b', '(a)\\1', '(?<n>a)\\k<n>', 'a++', '\\', '[', '(', ')', '*', '+a', 'a{2,1}', 'a{1001}', 'a{1000}{1000}', '(?P<n', '\\p{Nope}', '[z-a]', '\\Q', '(?z)') },
  { weight: 2, arbitrary: fc.constantFrom('(a+)+$', '(a|aa)+$', '(.*a){25}', '^(([a-z])+.)+[A-Z]([a-z])+$', '(x+x+)+y', '^(\\w+\\s?)*$', '(a*)*b') },
  { weight: 1, arbitrary: fc.integer({ min: 100, max: 3_000 }).map((n) => '('.repeat(n) + 'a' + ')'.repeat(n)) },
  { weight: 1, arbitrary: fc.integer({ min: 100, max: 20_000 }).map((n) => 'a'.repeat(n)) },
  { weight: 1, arbitrary: fc.integer({ min: 10, max: 1_000 }).map((n) => '(a|b)*'.repeat(n)) },
  { weight: 1, arbitrary: fc.integer({ min: 10, max: 2_000 }).map((n) => '['.repeat(n)) },
  { weight: 3, arbitrary: nastyString },
);

export const HTTP_METHOD_VALUES = ['*', 'GET', 'HEAD', 'PUT', 'POST', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH', 'get', 'FETCH'] as const;

const routeMatch = withExtras(
  partialRecord({
    name: maybeOdd(plausible(['get', 'post', 'all', ''])),
    methods: listOf(maybeOdd(plausible(HTTP_METHOD_VALUES)), 4),
    pathRegex: maybeOdd(regex),
    // SMI's list of single-key maps (items with 0 or 2 keys too), and the map form admission refuses.
    headers: maybeOdd(
      fc.oneof(
        fc.array(fc.dictionary(plausible(['user-agent', 'host', ':authority']), maybeOdd(regex), { minKeys: 0, maxKeys: 2 }), { maxLength: 3 }),
        fc.dictionary(plausible(['user-agent', 'host', ':authority']), maybeOdd(regex), { maxKeys: 3 }),
      ),
    ),
  }) as fc.Arbitrary<Record<string, unknown>>,
);

export const httpRouteGroupSpec = withExtras(partialRecord({ matches: listOf(maybeOdd(routeMatch), 5) }) as fc.Arbitrary<Record<string, unknown>>);

export const httpRouteGroup: fc.Arbitrary<Record<string, unknown>> = kubeObject(
  fc.constantFrom('specs.smi-spec.io/v1alpha4', 'specs.smi-spec.io/v1alpha3'),
  'HTTPRouteGroup',
  httpRouteGroupSpec,
);

// ---- MeshConfig ----

export const image: fc.Arbitrary<string> = plausible([
  'envoyproxy/envoy-distroless:v1.34.1',
  'openservicemesh/init:v1.2.4',
  'registry.example.com:5000/envoy@sha256:' + 'a'.repeat(64),
  'envoy@sha256:xyz',
  'UPPER/case:tag',
  'a b',
  ':tag',
  'envoy:',
  'localhost/envoy',
]);

const interfaceName = plausible(['eth0', 'lo', 'veth-x', 'a'.repeat(16), 'bad/name', 'eth 0', '.', '..']);
const portList = listOf(portNumber, 5);

export const meshConfigSpec = withExtras(
  partialRecord({
    sidecar: maybeOdd(
      withExtras(
        partialRecord({
          enablePrivilegedInitContainer: maybeOdd(fc.boolean()),
          logLevel: maybeOdd(plausible(['error', 'debug', 'warn', 'trace', 'verbose'])),
          localProxyMode: maybeOdd(plausible(['Localhost', 'PodIP', 'localhost'])),
          maxDataPlaneConnections: maybeOdd(fc.integer({ min: -5, max: 100_000 })),
          envoyImage: maybeOdd(image),
          sidecarImage: maybeOdd(image),
          initContainerImage: maybeOdd(image),
          resources: maybeOdd(
            fc.record({
              limits: fc.dictionary(plausible(['cpu', 'memory']), plausible(['1', '500m', '1Gi', 'lots']), { maxKeys: 2 }),
              requests: fc.dictionary(plausible(['cpu', 'memory']), plausible(['1', '100m', '64Mi']), { maxKeys: 2 }),
            }),
          ),
        }) as fc.Arbitrary<Record<string, unknown>>,
      ),
    ),
    traffic: maybeOdd(
      withExtras(
        partialRecord({
          enableEgress: maybeOdd(fc.boolean()),
          enablePermissiveTrafficPolicyMode: maybeOdd(fc.boolean()),
          outboundIPRangeExclusionList: listOf(maybeOdd(cidr), 4),
          outboundIPRangeInclusionList: listOf(maybeOdd(cidr), 4),
          outboundPortExclusionList: portList,
          inboundPortExclusionList: portList,
          networkInterfaceExclusionList: listOf(maybeOdd(interfaceName), 3),
        }) as fc.Arbitrary<Record<string, unknown>>,
      ),
    ),
    featureFlags: maybeOdd(partialRecord({ enableEgressPolicy: maybeOdd(fc.boolean()) }) as fc.Arbitrary<Record<string, unknown>>),
  }) as fc.Arbitrary<Record<string, unknown>>,
);

export const meshConfig: fc.Arbitrary<Record<string, unknown>> = kubeObject(
  fc.constantFrom('config.openservicemesh.io/v1alpha2', 'config.flomesh.io/v1alpha3'),
  'MeshConfig',
  meshConfigSpec,
).map((o) => {
  // Mostly the profile's own MeshConfig, so the store takes it.
  const meta = o.metadata && typeof o.metadata === 'object' && !Array.isArray(o.metadata) ? (o.metadata as Record<string, unknown>) : undefined;
  return meta && meta.name === undefined ? { ...o, metadata: { ...meta, name: 'osm-mesh-config', namespace: 'osm-system' } } : o;
});

// ---- Pod ----

const DOMAINS = ['openservicemesh.io', 'flomesh.io'] as const;

const annotationKey = fc.oneof(
  { weight: 6, arbitrary: fc.tuple(fc.constantFrom(...DOMAINS), fc.constantFrom('sidecar-injection', 'outbound-ip-range-exclusion-list', 'outbound-ip-range-inclusion-list', 'outbound-port-exclusion-list', 'ignore', 'monitored-by')).map(([d, k]) => `${d}/${k}`) },
  { weight: 3, arbitrary: fc.constantFrom('meshgate.io/status', 'meshgate.io/sidecar-mode', 'meshgate.io/iptables-backend', 'meshgate.io/unknown') },
  { weight: 1, arbitrary: nastyString },
);

const statusAnnotation = fc.oneof(
  fc.constant('{"version":"0.1.0","containers":["envoy"],"initContainers":["osm-init"],"volumes":[]}'),
  fc.constant('{"version":"0.1.0","containers":[],"initContainers":[],"volumes":[]}'),
  fc.constant('{"containers":"envoy"}'),
  fc.constant('null'),
  fc.constant('[]'),
  fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.stringify(v)),
);

const portListAnnotation = fc.array(fc.oneof(fc.integer({ min: -5, max: 70_000 }).map(String), fc.constantFrom('', ' ', 'abc', '80-90', '1e3', '0x50')), { maxLength: 6 }).chain((a) => fc.constantFrom(',', ', ', ',,').map((sep) => a.join(sep)));
const cidrListAnnotation = fc.array(cidr, { maxLength: 5 }).chain((a) => fc.constantFrom(',', ', ', ' , ', ',,').map((sep) => a.join(sep)));

const annotationValue = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom('enabled', 'disabled', 'yes', 'no', 'true', 'false', 'Enabled', ' TRUE ', 'maybe', '', 'native', 'classic', 'nft', 'legacy', 'auto', 'NATIVE', 'osm') },
  { weight: 2, arbitrary: cidrListAnnotation },
  { weight: 2, arbitrary: portListAnnotation },
  { weight: 1, arbitrary: statusAnnotation },
  { weight: 1, arbitrary: nastyString },
);

export const podAnnotations = fc.dictionary(annotationKey, annotationValue, { maxKeys: 5 });

const CONTAINER_NAMES = ['app', 'curl', 'envoy', 'osm-init', 'fsm-init', 'sidecar', ''] as const;
const capabilityNames = fc.array(plausible(['NET_ADMIN', 'NET_RAW', 'SYS_ADMIN', 'ALL', 'net_admin', 'CAP_NET_ADMIN', 'CHOWN']), { maxLength: 3 });

export const securityContext = withExtras(
  partialRecord({
    runAsUser: maybeOdd(fc.oneof(fc.constantFrom(0, 1000, 1500, 1501, -1, 2 ** 31), fc.integer({ min: 0, max: 70_000 }))),
    runAsGroup: maybeOdd(fc.constantFrom(0, 1500, 3000)),
    runAsNonRoot: maybeOdd(fc.boolean()),
    privileged: maybeOdd(fc.boolean()),
    allowPrivilegeEscalation: maybeOdd(fc.boolean()),
    readOnlyRootFilesystem: maybeOdd(fc.boolean()),
    capabilities: maybeOdd(partialRecord({ add: maybeOdd(capabilityNames), drop: maybeOdd(capabilityNames) })),
  }) as fc.Arbitrary<Record<string, unknown>>,
);

export const container = withExtras(
  fc
    .tuple(
      maybeOdd(plausible(CONTAINER_NAMES), 1),
      partialRecord({
        image: maybeOdd(image),
        command: maybeOdd(fc.array(nastyString, { maxLength: 3 })),
        args: maybeOdd(fc.array(nastyString, { maxLength: 2 })),
        securityContext: maybeOdd(securityContext),
        restartPolicy: maybeOdd(plausible(['Always', 'Never', 'OnFailure'])),
        ports: maybeOdd(fc.array(partialRecord({ name: plausible(['http', 'metrics']), containerPort: portNumber, protocol: plausible(['TCP', 'UDP']) }), { maxLength: 2 })),
        env: maybeOdd(fc.array(fc.record({ name: plausible(['A', 'HTTP_PROXY']), value: nastyString }), { maxLength: 2 })),
      }),
    )
    .map(([name, rest]) => ({ name, ...rest }) as Record<string, unknown>),
);

export const podSpec = withExtras(
  fc
    .tuple(
      maybeOdd(fc.array(container, { maxLength: 4 }), 1),
      partialRecord({
        initContainers: maybeOdd(fc.array(container, { maxLength: 3 })),
        volumes: maybeOdd(fc.array(fc.record({ name: plausible(['data', 'envoy-bootstrap', 'osm-envoy-bootstrap', '']), emptyDir: fc.constant(null).map(() => ({})) }), { maxLength: 2 })),
        hostNetwork: maybeOdd(fc.boolean()),
        serviceAccountName: maybeOdd(plausible(['curl', 'default'])),
        securityContext: maybeOdd(partialRecord({ runAsUser: maybeOdd(fc.constantFrom(0, 1500, 1000)), runAsNonRoot: maybeOdd(fc.boolean()) })),
        restartPolicy: maybeOdd(plausible(['Always', 'Never', 'OnFailure'])),
      }),
    )
    .map(([containers, rest]) => ({ containers, ...rest }) as Record<string, unknown>),
);

export const podMetadata = withExtras(
  partialRecord({
    name: maybeOdd(objectName),
    generateName: maybeOdd(fc.constantFrom('curl-7c9d5bd9d7-', '')),
    namespace: maybeOdd(namespaceName),
    labels: maybeOdd(fc.dictionary(plausible(['app', 'pod-template-hash']), plausible(['curl', 'x']), { maxKeys: 2 })),
    annotations: maybeOdd(podAnnotations, 1),
  }) as fc.Arbitrary<Record<string, unknown>>,
);

export const pod: fc.Arbitrary<Record<string, unknown>> = withExtras(
  fc.tuple(maybeOdd(podMetadata, 1), maybeOdd(podSpec, 1)).map(([metadata, spec]) => ({ apiVersion: 'v1', kind: 'Pod', metadata, spec })),
);

/** Pods that parse (the pod schema holds), so the injector really runs on them. */
export const wellTypedPod: fc.Arbitrary<Record<string, unknown>> = fc
  .tuple(
    fc.option(fc.constantFrom(...NAMESPACES), { nil: undefined }),
    // Half without annotations: random ones mostly make the injector deny, and it should also inject.
    fc.option(podAnnotations, { nil: {}, freq: 2 }),
    // Now and then a name the mesh injects itself (the injector must refuse, not duplicate it).
    fc.uniqueArray(fc.oneof({ weight: 12, arbitrary: fc.constantFrom<string>('app', 'curl', 'web', 'worker', 'api') }, { weight: 1, arbitrary: fc.constantFrom<string>('envoy', 'osm-init') }), {
      minLength: 1,
      maxLength: 3,
    }),
    fc.uniqueArray(fc.oneof({ weight: 8, arbitrary: fc.constantFrom<string>('setup', 'migrate') }, { weight: 1, arbitrary: fc.constantFrom<string>('envoy', 'osm-init') }), { maxLength: 2 }),
    fc.array(securityContext.filter((sc) => isWellTypedSecurityContext(sc)), { minLength: 3, maxLength: 3 }),
    fc.option(fc.boolean(), { nil: undefined }),
  )
  .map(([namespace, annotations, names, initNames, contexts, hostNetwork]) => {
    // Container names are unique across containers and init containers, as the API server demands.
    const inits = initNames.filter((n) => !names.includes(n));
    return {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'fuzz', ...(namespace ? { namespace } : {}), annotations },
      spec: {
        serviceAccountName: 'curl',
        ...(hostNetwork === undefined ? {} : { hostNetwork }),
        containers: names.map((name, i) => ({ name, image: 'busybox', securityContext: contexts[i % contexts.length] })),
        ...(inits.length ? { initContainers: inits.map((name) => ({ name, image: 'busybox' })) } : {}),
      },
    };
  });

function isWellTypedSecurityContext(sc: Record<string, unknown>): boolean {
  const okInt = (v: unknown) => v === undefined || Number.isSafeInteger(v);
  const okBool = (v: unknown) => v === undefined || typeof v === 'boolean';
  const caps = sc.capabilities as { add?: unknown; drop?: unknown } | undefined;
  const okCaps =
    caps === undefined ||
    (typeof caps === 'object' && caps !== null && !Array.isArray(caps) && [caps.add, caps.drop].every((l) => l === undefined || (Array.isArray(l) && l.every((c) => typeof c === 'string'))));
  return okInt(sc.runAsUser) && okBool(sc.privileged) && okCaps;
}

// ---- AdmissionReview ----

export const OPERATIONS = ['CREATE', 'UPDATE', 'DELETE', 'CONNECT'] as const;

export const KIND_CHOICES = {
  Egress: { group: 'policy.openservicemesh.io', version: 'v1alpha1', kind: 'Egress', resource: 'egresses' },
  FsmEgress: { group: 'policy.flomesh.io', version: 'v1alpha1', kind: 'Egress', resource: 'egresses' },
  HTTPRouteGroup: { group: 'specs.smi-spec.io', version: 'v1alpha4', kind: 'HTTPRouteGroup', resource: 'httproutegroups' },
  MeshConfig: { group: 'config.openservicemesh.io', version: 'v1alpha2', kind: 'MeshConfig', resource: 'meshconfigs' },
  FsmMeshConfig: { group: 'config.flomesh.io', version: 'v1alpha3', kind: 'MeshConfig', resource: 'meshconfigs' },
  Pod: { group: '', version: 'v1', kind: 'Pod', resource: 'pods' },
  Other: { group: 'apps', version: 'v1', kind: 'Deployment', resource: 'deployments' },
} as const;
type KindChoice = keyof typeof KIND_CHOICES;

/** An object for a kind: mostly one of that kind, sometimes anything. */
export function objectFor(kind: KindChoice): fc.Arbitrary<unknown> {
  const typed: Record<KindChoice, fc.Arbitrary<unknown>> = {
    Egress: egress,
    FsmEgress: egress,
    HTTPRouteGroup: httpRouteGroup,
    MeshConfig: meshConfig,
    FsmMeshConfig: meshConfig,
    Pod: fc.oneof(pod, wellTypedPod),
    Other: fc.jsonValue({ maxDepth: 3 }),
  };
  return fc.oneof({ weight: 12, arbitrary: typed[kind] }, { weight: 1, arbitrary: oddValue }, { weight: 1, arbitrary: deepValue });
}

/** A well-formed AdmissionReview v1 request for a random kind with a fuzzed object. */
export const admissionReview: fc.Arbitrary<{ apiVersion: string; kind: string; request: Record<string, unknown> }> = fc
  .constantFrom(...(Object.keys(KIND_CHOICES) as KindChoice[]))
  .chain((k) =>
    fc
      .record({
        uid: fc.uuid(),
        operation: fc.constantFrom(...OPERATIONS),
        object: objectFor(k),
        oldObject: fc.option(objectFor(k), { nil: null, freq: 3 }),
        namespace: fc.option(namespaceName, { nil: undefined }),
        name: fc.option(objectName, { nil: undefined }),
        dryRun: fc.boolean(),
      })
      .map(({ uid, operation, object, oldObject, namespace, name, dryRun }) => {
        const c = KIND_CHOICES[k];
        const gvk = { group: c.group, version: c.version, kind: c.kind };
        const gvr = { group: c.group, version: c.version, resource: c.resource };
        return {
          apiVersion: 'admission.k8s.io/v1',
          kind: 'AdmissionReview',
          request: {
            uid,
            kind: gvk,
            resource: gvr,
            requestKind: gvk,
            requestResource: gvr,
            ...(name !== undefined ? { name } : {}),
            ...(namespace !== undefined ? { namespace } : {}),
            operation,
            userInfo: { username: 'fuzz' },
            object: operation === 'DELETE' ? null : object,
            oldObject: operation === 'CREATE' ? null : oldObject ?? object,
            dryRun,
          },
        };
      }),
  );

/** Dotted paths into a review that a malformed variant breaks. */
const REVIEW_PATHS = [
  'apiVersion',
  'kind',
  'request',
  'request.uid',
  'request.kind',
  'request.kind.kind',
  'request.kind.group',
  'request.operation',
  'request.object',
  'request.object.metadata',
  'request.object.spec',
  'request.oldObject',
  'request.name',
  'request.namespace',
  'request.dryRun',
  'request.userInfo',
  'request.resource',
] as const;

type Edit = { path: string; action: 'delete' } | { path: string; action: 'set'; value: unknown };

const reviewEdit: fc.Arbitrary<Edit> = fc.oneof(
  fc.record({ path: fc.constantFrom(...REVIEW_PATHS), action: fc.constant('delete' as const) }),
  fc.record({
    path: fc.constantFrom(...REVIEW_PATHS),
    action: fc.constant('set' as const),
    value: fc.oneof(oddValue, nastyString, deepValue, fc.constantFrom('admission.k8s.io/v1beta1', 'AdmissionReview', 'CREATE', 'create', 'PATCH')),
  }),
);

const isPlainObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Applies an edit, copying only the objects on the path (the rest may be thousands of levels deep). */
function applyEdit(value: unknown, parts: readonly string[], edit: Edit): unknown {
  if (!isPlainObject(value)) return value;
  const [head, ...rest] = parts as [string, ...string[]];
  const copy: Record<string, unknown> = { ...value };
  if (rest.length > 0) copy[head] = applyEdit(value[head], rest, edit);
  else if (edit.action === 'delete') delete copy[head];
  else copy[head] = edit.value;
  return copy;
}

/** A review with one to three fields removed or given the wrong type. */
export const malformedReview: fc.Arbitrary<unknown> = fc
  .tuple(admissionReview, fc.array(reviewEdit, { minLength: 1, maxLength: 3 }))
  .map(([review, edits]) => edits.reduce<unknown>((r, e) => applyEdit(r, e.path.split('.'), e), review));

/** Any body a webhook could receive as JSON: valid reviews, malformed ones, random JSON. */
export const anyReviewBody: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 6, arbitrary: admissionReview },
  { weight: 4, arbitrary: malformedReview },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 4 }) },
);

/**
 * What the server must answer for a body: a review whose envelope is intact and whose uid is a
 * non-empty string must get an AdmissionReview echoing that uid; anything else gets HTTP 400.
 */
export function expectsReviewAnswer(body: unknown): body is { request: { uid: string; object?: unknown } } {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return false;
  const b = body as Record<string, unknown>;
  const req = b.request as Record<string, unknown> | null | undefined;
  return (
    b.apiVersion === 'admission.k8s.io/v1' &&
    b.kind === 'AdmissionReview' &&
    req !== null &&
    typeof req === 'object' &&
    !Array.isArray(req) &&
    typeof req.uid === 'string' &&
    req.uid !== ''
  );
}

/** A document for the offline CLI: a fuzzed object of a kind it reads. */
export const cliDocument: fc.Arbitrary<Record<string, unknown>> = fc.oneof(egress, httpRouteGroup, meshConfig, pod, wellTypedPod);

/** Workloads that carry a pod template, for `meshgate inject`. */
export const workload: fc.Arbitrary<Record<string, unknown>> = fc
  .tuple(fc.constantFrom('Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job', 'CronJob'), fc.oneof(wellTypedPod, pod))
  .map(([kind, p]) => {
    const template = { metadata: p.metadata, spec: p.spec };
    const group = kind === 'Job' || kind === 'CronJob' ? 'batch/v1' : 'apps/v1';
    const spec = kind === 'CronJob' ? { schedule: '* * * * *', jobTemplate: { spec: { template } } } : { template };
    return { apiVersion: group, kind, metadata: { name: `fuzz-${kind.toLowerCase()}` }, spec };
  });
