import { expect } from 'chai';
import type { KubeObject } from '../../src/state/types.js';
import { egress, meshConfig, rendered, routeGroup, storeWith, validate } from './helpers.js';

const LABEL_MSG =
  "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const PROTOCOLS = 'supported values: "http", "https", "tcp", "tcp-server-first"';
const SMI = { apiGroup: 'specs.smi-spec.io/v1alpha4', kind: 'HTTPRouteGroup', name: 'egress-http-route' };
const UTS = (name: string, group = 'policy.openservicemesh.io') => ({ apiGroup: `${group}/v1alpha1`, kind: 'UpstreamTrafficSetting', name });
const uts = (name: string): KubeObject => ({
  apiVersion: 'policy.openservicemesh.io/v1alpha1',
  kind: 'UpstreamTrafficSetting',
  metadata: { name, namespace: 'curl' },
  spec: {},
});

interface Row {
  rule: string;
  object: KubeObject;
  state?: KubeObject[];
  /** Every one of these `field: message` lines must be among the errors. */
  expect: string[];
}

const rows: Row[] = [
  // ---- Egress: sources
  { rule: 'sources missing', object: egress({ sources: undefined }), expect: ['spec.sources: Required value'] },
  { rule: 'sources empty', object: egress({ sources: [] }), expect: ['spec.sources: Required value'] },
  {
    rule: 'source kind must be ServiceAccount',
    object: egress({ sources: [{ kind: 'User', name: 'curl', namespace: 'curl' }] }),
    expect: ['spec.sources[0].kind: Unsupported value: "User": supported values: "ServiceAccount"'],
  },
  {
    rule: 'source name required',
    object: egress({ sources: [{ kind: 'ServiceAccount', namespace: 'curl' }] }),
    expect: ['spec.sources[0].name: Required value'],
  },
  {
    rule: 'source name empty',
    object: egress({ sources: [{ kind: 'ServiceAccount', name: '', namespace: 'curl' }] }),
    expect: ['spec.sources[0].name: Required value'],
  },
  {
    rule: 'source name is a DNS-1123 label',
    object: egress({ sources: [{ kind: 'ServiceAccount', name: 'Curl_SA', namespace: 'curl' }] }),
    expect: [`spec.sources[0].name: Invalid value: "Curl_SA": ${LABEL_MSG}`],
  },
  {
    rule: 'source namespace is a DNS-1123 label (length)',
    object: egress({ sources: [{ kind: 'ServiceAccount', name: 'curl', namespace: 'a'.repeat(64) }] }),
    expect: [`spec.sources[0].namespace: Invalid value: "${'a'.repeat(64)}": must be no more than 63 characters`],
  },
  // ---- Egress: ports
  { rule: 'ports missing', object: egress({ ports: undefined, hosts: undefined }), expect: ['spec.ports: Required value'] },
  { rule: 'ports empty', object: egress({ ports: [] }), expect: ['spec.ports: Required value'] },
  {
    rule: 'port number range',
    object: egress({ ports: [{ number: 80, protocol: 'http' }, { number: 70000, protocol: 'tcp' }] }),
    expect: ['spec.ports[1].number: Invalid value: 70000: must be between 1 and 65535, inclusive'],
  },
  { rule: 'port number zero', object: egress({ ports: [{ number: 0, protocol: 'tcp' }] }), expect: ['spec.ports[0].number: Invalid value: 0: must be between 1 and 65535, inclusive'] },
  {
    rule: 'port number as a string',
    object: egress({ ports: [{ number: '80', protocol: 'http' }] }),
    expect: ['spec.ports[0].number: Invalid value: "80": must be an integer'],
  },
  { rule: 'port number fraction', object: egress({ ports: [{ number: 80.5, protocol: 'http' }] }), expect: ['spec.ports[0].number: Invalid value: 80.5: must be an integer'] },
  { rule: 'port number required', object: egress({ ports: [{ protocol: 'http' }] }), expect: ['spec.ports[0].number: Required value'] },
  {
    rule: 'port protocol enum',
    object: egress({ ports: [{ number: 53, protocol: 'udp' }] }),
    expect: [`spec.ports[0].protocol: Unsupported value: "udp": ${PROTOCOLS}`],
  },
  // Protocols are read case-insensitively, as OSM reads them: see 'protocol case' below (accepted with a warning).
  { rule: 'port protocol in another case is still checked', object: egress({ ports: [{ number: 53, protocol: 'UDP' }] }), expect: [`spec.ports[0].protocol: Unsupported value: "UDP": ${PROTOCOLS}`] },
  {
    rule: 'port duplicate in another case',
    object: egress({ ports: [{ number: 80, protocol: 'http' }, { number: 80, protocol: 'HTTP' }] }),
    expect: ['spec.ports[1]: Duplicate value: {"number":80,"protocol":"HTTP"}'],
  },
  {
    rule: 'http port in upper case needs hosts',
    object: egress({ hosts: undefined, ports: [{ number: 80, protocol: 'HTTP' }] }),
    expect: ['spec.hosts: Required value: an "http" port needs at least one host'],
  },
  {
    rule: 'matches need an http port (TCP is tcp)',
    object: egress({ hosts: undefined, ports: [{ number: 443, protocol: 'TCP' }], matches: [SMI] }),
    expect: ['spec.matches: Forbidden: matches apply only to "http" ports: add an "http" port to spec.ports or remove spec.matches'],
  },
  {
    rule: 'duplicate port',
    object: egress({ ports: [{ number: 80, protocol: 'http' }, { number: 80, protocol: 'http' }] }),
    expect: ['spec.ports[1]: Duplicate value: {"number":80,"protocol":"http"}'],
  },
  // ---- Egress: hosts
  { rule: 'host with scheme', object: egress({ hosts: ['http://httpbin.org'] }), expect: ['spec.hosts[0]: Invalid value: "http://httpbin.org": remove the scheme: use "httpbin.org"'] },
  { rule: 'host with port', object: egress({ hosts: ['httpbin.org:80'] }), expect: ['spec.hosts[0]: Invalid value: "httpbin.org:80": put the port in spec.ports: use "httpbin.org"'] },
  { rule: 'host with path', object: egress({ hosts: ['httpbin.org/get'] }), expect: ['spec.hosts[0]: Invalid value: "httpbin.org/get": remove the path: use "httpbin.org"'] },
  {
    rule: 'host as a full URL',
    object: egress({ hosts: ['https://httpbin.org:443/get'] }),
    expect: ['spec.hosts[0]: Invalid value: "https://httpbin.org:443/get": remove the scheme, remove the path, put the port in spec.ports: use "httpbin.org"'],
  },
  {
    rule: 'host as an IPv4 literal',
    object: egress({ hosts: ['1.2.3.4'] }),
    expect: ['spec.hosts[0]: Invalid value: "1.2.3.4": an IP address is not a host name: use spec.ipAddresses with a CIDR such as "1.2.3.4/32"'],
  },
  {
    rule: 'host as an IPv6 literal with port',
    object: egress({ hosts: ['[2001:db8::1]:80'] }),
    expect: ['spec.hosts[0]: Invalid value: "[2001:db8::1]:80": an IP address is not a host name: use spec.ipAddresses with a CIDR such as "2001:db8::1/128"'],
  },
  { rule: 'host as a CIDR', object: egress({ hosts: ['10.0.0.0/8'] }), expect: ['spec.hosts[0]: Invalid value: "10.0.0.0/8": a CIDR is not a host name: put it in spec.ipAddresses'] },
  { rule: 'host upper case', object: egress({ hosts: ['HTTPBin.org'] }), expect: ['spec.hosts[0]: Invalid value: "HTTPBin.org": must be lower case: use "httpbin.org"'] },
  {
    rule: 'host wildcard only as the leading label',
    object: egress({ hosts: ['*.*.example.com'] }),
    expect: [
      "spec.hosts[0]: Invalid value: \"*.*.example.com\": a wildcard DNS-1123 subdomain must start with '*.', followed by a valid DNS subdomain, which must consist of lower case alphanumeric characters, '-' or '.' and end with an alphanumeric character (e.g. '*.example.com', regex used for validation is '\\*\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
    ],
  },
  { rule: 'duplicate host', object: egress({ hosts: ['httpbin.org', 'httpbin.org'] }), expect: ['spec.hosts[1]: Duplicate value: "httpbin.org"'] },
  { rule: 'http port needs a host', object: egress({ hosts: undefined }), expect: ['spec.hosts: Required value: an "http" port needs at least one host'] },
  { rule: 'http port needs a host (empty list)', object: egress({ hosts: [] }), expect: ['spec.hosts: Required value: an "http" port needs at least one host'] },
  // ---- Egress: ipAddresses
  {
    rule: 'ipAddress prefix too long',
    object: egress({ ipAddresses: ['10.0.0.0/33'], ports: [{ number: 5432, protocol: 'tcp' }] }),
    expect: ['spec.ipAddresses[0]: Invalid value: "10.0.0.0/33": must be an IPv4 or IPv6 CIDR such as "10.0.0.0/8" or "2001:db8::/32"'],
  },
  {
    rule: 'ipAddress bare address',
    object: egress({ ipAddresses: ['2001:db8::1'], ports: [{ number: 5432, protocol: 'tcp' }] }),
    expect: ['spec.ipAddresses[0]: Invalid value: "2001:db8::1": must be a CIDR, not a single address: use "2001:db8::1/128"'],
  },
  {
    rule: 'ipAddress is anchored (OSM regex was not)',
    object: egress({ ipAddresses: ['x10.0.0.0/8'], ports: [{ number: 5432, protocol: 'tcp' }] }),
    expect: ['spec.ipAddresses[0]: Invalid value: "x10.0.0.0/8": must be an IPv4 or IPv6 CIDR such as "10.0.0.0/8" or "2001:db8::/32"'],
  },
  {
    rule: 'ipAddress short IPv4 forms are not CIDRs',
    object: egress({ ipAddresses: ['10/8'], ports: [{ number: 5432, protocol: 'tcp' }] }),
    expect: ['spec.ipAddresses[0]: Invalid value: "10/8": must be an IPv4 or IPv6 CIDR such as "10.0.0.0/8" or "2001:db8::/32"'],
  },
  // ---- Egress: matches
  {
    rule: 'matches need an http port',
    object: egress({ hosts: undefined, ports: [{ number: 443, protocol: 'tcp' }], matches: [SMI] }),
    state: [routeGroup([{ name: 'get', pathRegex: '/get' }])],
    expect: ['spec.matches: Forbidden: matches apply only to "http" ports: add an "http" port to spec.ports or remove spec.matches'],
  },
  {
    rule: 'match apiGroup',
    object: egress({ matches: [{ ...SMI, apiGroup: 'specs.smi-spec.io/v1alpha3' }] }),
    expect: ['spec.matches[0].apiGroup: Unsupported value: "specs.smi-spec.io/v1alpha3": supported values: "specs.smi-spec.io/v1alpha4", "policy.openservicemesh.io/v1alpha1"'],
  },
  {
    rule: 'match apiGroup of the other policy group',
    object: egress({ matches: [UTS('s', 'policy.flomesh.io')] }),
    expect: ['spec.matches[0].apiGroup: Unsupported value: "policy.flomesh.io/v1alpha1": supported values: "specs.smi-spec.io/v1alpha4", "policy.openservicemesh.io/v1alpha1"'],
  },
  {
    rule: 'match kind for the SMI group',
    object: egress({ matches: [{ ...SMI, kind: 'TCPRoute' }] }),
    expect: ['spec.matches[0].kind: Unsupported value: "TCPRoute": supported values: "HTTPRouteGroup"'],
  },
  {
    rule: 'match kind for the policy group',
    object: egress({ matches: [{ ...UTS('s'), kind: 'HTTPRouteGroup' }] }),
    expect: ['spec.matches[0].kind: Unsupported value: "HTTPRouteGroup": supported values: "UpstreamTrafficSetting"'],
  },
  { rule: 'match name required', object: egress({ matches: [{ ...SMI, name: '' }] }), expect: ['spec.matches[0].name: Required value'] },
  { rule: 'route group must exist', object: egress({ matches: [SMI] }), expect: ['spec.matches[0].name: Not found: "egress-http-route"'] },
  {
    rule: 'route group must exist in the policy namespace',
    object: egress({ matches: [SMI] }),
    state: [routeGroup([{ name: 'get' }], 'egress-http-route', 'other')],
    expect: ['spec.matches[0].name: Not found: "egress-http-route"'],
  },
  { rule: 'upstream setting must exist', object: egress({ matches: [UTS('httpbin')] }), expect: ['spec.matches[0].name: Not found: "httpbin"'] },
  {
    // The other policy group's UpstreamTrafficSetting of the same name is another object, one OSM never reads.
    rule: "upstream setting must exist in the policy's own group",
    object: egress({ matches: [UTS('httpbin', 'policy.flomesh.io')] }, {}, 'policy.flomesh.io'),
    state: [{ ...uts('httpbin'), apiVersion: 'policy.openservicemesh.io/v1alpha1' }],
    expect: ['spec.matches[0].name: Not found: "httpbin"'],
  },
  {
    rule: 'at most one upstream setting',
    object: egress({ matches: [UTS('a'), SMI, UTS('b')] }),
    state: [uts('a'), uts('b'), routeGroup([{ name: 'get' }])],
    expect: ['spec.matches[2].kind: Invalid value: "UpstreamTrafficSetting": at most one UpstreamTrafficSetting may be referenced; spec.matches[0] already is one'],
  },
  {
    rule: 'duplicate match',
    object: egress({ matches: [SMI, SMI] }),
    state: [routeGroup([{ name: 'get' }])],
    expect: ['spec.matches[1]: Duplicate value: {"apiGroup":"specs.smi-spec.io/v1alpha4","kind":"HTTPRouteGroup","name":"egress-http-route"}'],
  },
  // ---- Egress: server-first inside the policy
  {
    rule: 'server-first port shared with another protocol in the policy',
    object: egress({ hosts: undefined, ports: [{ number: 3306, protocol: 'tcp-server-first' }, { number: 3306, protocol: 'tcp' }] }),
    expect: [
      'spec.ports[1].protocol: Invalid value: "tcp": port 3306 is also "tcp-server-first" in spec.ports[0]; a "tcp-server-first" port cannot share its number with another protocol',
    ],
  },
  // ---- structure
  { rule: 'unknown spec field (typo)', object: egress({ host: ['httpbin.org'] }), expect: ['spec.host: Forbidden: unknown field; did you mean "hosts"?'] },
  {
    rule: 'unknown field in a port',
    object: egress({ ports: [{ number: 80, protocol: 'http', targetPort: 8080 }] }),
    expect: ['spec.ports[0].targetPort: Forbidden: unknown field; known fields: "number", "protocol"'],
  },
  { rule: 'spec required', object: { ...egress(), spec: undefined }, expect: ['spec: Required value'] },
  { rule: 'spec is an object', object: { ...egress(), spec: 'hosts' }, expect: ['spec: Invalid value: "hosts": must be an object'] },
  { rule: 'hosts is a list', object: egress({ hosts: 'httpbin.org' }), expect: ['spec.hosts: Invalid value: "httpbin.org": must be a list'] },
  { rule: 'name required', object: egress({}, { name: undefined }), expect: ['metadata.name: Required value: name or generateName is required'] },
  {
    rule: 'name is a DNS-1123 subdomain',
    object: egress({}, { name: 'HTTPBin_80' }),
    expect: [
      "metadata.name: Invalid value: \"HTTPBin_80\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
    ],
  },
  // ---- HTTPRouteGroup
  { rule: 'route group matches required', object: routeGroup(undefined), expect: ['spec.matches: Required value'] },
  { rule: 'route group matches non-empty', object: routeGroup([]), expect: ['spec.matches: Required value'] },
  { rule: 'route group match name required', object: routeGroup([{ pathRegex: '/get' }]), expect: ['spec.matches[0].name: Required value'] },
  { rule: 'route group match names unique', object: routeGroup([{ name: 'get' }, { name: 'get' }]), expect: ['spec.matches[1].name: Duplicate value: "get"'] },
  {
    rule: 'pathRegex is RE2 (no look-ahead)',
    object: routeGroup([{ name: 'get', pathRegex: '/get(?!/private)' }]),
    expect: ['spec.matches[0].pathRegex: Invalid value: "/get(?!/private)": must be an RE2 regular expression: error parsing regexp: invalid or unsupported Perl syntax: `(?!`'],
  },
  {
    rule: 'pathRegex is RE2 (no back-reference)',
    object: routeGroup([{ name: 'x', pathRegex: '/(a)\\1' }]),
    expect: ['spec.matches[0].pathRegex: Invalid value: "/(a)\\\\1": must be an RE2 regular expression: error parsing regexp: invalid escape sequence: `\\1`'],
  },
  {
    rule: 'header value is RE2',
    object: routeGroup([{ name: 'admin', headers: [{ 'user-agent': '.*' }, { 'x-user': '(admin' }] }]),
    expect: ['spec.matches[0].headers[1].x-user: Invalid value: "(admin": must be an RE2 regular expression: error parsing regexp: missing closing ): `(admin`'],
  },
  {
    rule: 'header name is a token',
    object: routeGroup([{ name: 'admin', headers: [{ 'x user': 'a' }] }]),
    expect: ["spec.matches[0].headers[0]: Invalid value: \"x user\": must be an HTTP header name: letters, digits and !#$%&'*+-.^_`|~"],
  },
  {
    rule: 'header item has one name (smi-sdk-go: incorrect length of keyval)',
    object: routeGroup([{ name: 'admin', headers: [{ 'x-user': 'a' }, { 'user-agent': '.*curl.*', cookie: 'type=insider' }] }]),
    expect: [
      'spec.matches[0].headers[1]: Invalid value: {"user-agent":".*curl.*","cookie":"type=insider"}: must have exactly one header name and value (smi-sdk-go: incorrect length of keyval)',
    ],
  },
  {
    rule: 'header item is not empty',
    object: routeGroup([{ name: 'admin', headers: [{}] }]),
    expect: ['spec.matches[0].headers[0]: Invalid value: {}: must have exactly one header name and value'],
  },
  {
    rule: 'header names unique in a match (any case)',
    object: routeGroup([{ name: 'admin', headers: [{ 'user-agent': '.*curl.*' }, { 'User-Agent': '.*wget.*' }] }]),
    expect: ['spec.matches[0].headers[1]: Duplicate value: "User-Agent"'],
  },
  {
    rule: 'header value is a string',
    object: routeGroup([{ name: 'admin', headers: [{ 'x-id': 5 }] }]),
    expect: ['spec.matches[0].headers[0].x-id: Invalid value: 5: must be a string'],
  },
  {
    rule: 'header item is a map',
    object: routeGroup([{ name: 'admin', headers: ['user-agent: .*'] }]),
    expect: ['spec.matches[0].headers[0]: Invalid value: "user-agent: .*": must be an object'],
  },
  {
    rule: 'headers as a map (SMI spec prose; OSM\'s CRD rejects it) are denied, naming the list form',
    object: routeGroup([{ name: 'android-insiders', headers: { 'user-agent': '.*Android.*', cookie: '^(.*?;)?(type=insider)(;.*)?$' } }]),
    expect: [
      'spec.matches[0].headers: Invalid value: {"user-agent":".*Android.*","cookie":"^(.*?;)?(type=insider)(;.*)?$"}: must be a list of single-key maps, one header each (SMI\'s form): use [{"user-agent":".*Android.*"},{"cookie":"^(.*?;)?(type=insider)(;.*)?$"}]',
    ],
  },
  {
    rule: 'methods from the SMI list',
    object: routeGroup([{ name: 'get', methods: ['GET', 'get'] }]),
    expect: ['spec.matches[0].methods[1]: Unsupported value: "get": supported values: "*", "GET", "HEAD", "PUT", "POST", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"'],
  },
  { rule: 'route group unknown match field', object: routeGroup([{ name: 'get', path: '/get' }]), expect: ['spec.matches[0].path: Forbidden: unknown field; did you mean "pathRegex"?'] },
  // ---- MeshConfig
  {
    rule: 'sidecar.logLevel enum',
    object: meshConfig({ sidecar: { logLevel: 'verbose' } }),
    expect: ['spec.sidecar.logLevel: Unsupported value: "verbose": supported values: "trace", "debug", "info", "warning", "warn", "error", "critical", "off"'],
  },
  {
    rule: 'sidecar.localProxyMode enum',
    object: meshConfig({ sidecar: { localProxyMode: 'localhost' } }),
    expect: ['spec.sidecar.localProxyMode: Unsupported value: "localhost": supported values: "Localhost", "PodIP"'],
  },
  {
    rule: 'sidecar image reference',
    object: meshConfig({ sidecar: { envoyImage: 'envoyproxy/envoy:v1.34.1 ' } }),
    expect: ['spec.sidecar.envoyImage: Invalid value: "envoyproxy/envoy:v1.34.1 ": must be an image reference without surrounding whitespace'],
  },
  {
    rule: 'init image reference (FSM field)',
    object: meshConfig({ sidecar: { initContainerImage: 'flomesh/fsm-init:' } }, 'fsm-mesh-config', 'fsm-system', 'config.flomesh.io/v1alpha3'),
    expect: [
      'spec.sidecar.initContainerImage: Invalid value: "flomesh/fsm-init:": must be an image reference such as "envoyproxy/envoy:v1.34.1" or "registry.example.com/init@sha256:<hex>"',
    ],
  },
  {
    rule: 'outbound IP range exclusion is a CIDR',
    object: meshConfig({ traffic: { outboundIPRangeExclusionList: ['10.0.0.0/8', '169.254.169.254'] } }),
    expect: ['spec.traffic.outboundIPRangeExclusionList[1]: Invalid value: "169.254.169.254": must be a CIDR, not a single address: use "169.254.169.254/32"'],
  },
  {
    rule: 'outbound IP range inclusion is a CIDR',
    object: meshConfig({ traffic: { outboundIPRangeInclusionList: ['fd00::/129'] } }),
    expect: ['spec.traffic.outboundIPRangeInclusionList[0]: Invalid value: "fd00::/129": must be an IPv4 or IPv6 CIDR such as "10.0.0.0/8" or "2001:db8::/32"'],
  },
  {
    rule: 'outbound port exclusion range',
    object: meshConfig({ traffic: { outboundPortExclusionList: [0] } }),
    expect: ['spec.traffic.outboundPortExclusionList[0]: Invalid value: 0: must be between 1 and 65535, inclusive'],
  },
  {
    rule: 'inbound port exclusion is an integer',
    object: meshConfig({ traffic: { inboundPortExclusionList: ['8080'] } }),
    expect: ['spec.traffic.inboundPortExclusionList[0]: Invalid value: "8080": must be an integer'],
  },
  {
    rule: 'network interface names',
    object: meshConfig({ traffic: { networkInterfaceExclusionList: ['eth0', 'averyveryverylongname', 'eth0:1', 'a/b', 'eth$0'] } }),
    expect: [
      "spec.traffic.networkInterfaceExclusionList[1]: Invalid value: \"averyveryverylongname\": must be a network interface name meshgate can exclude: 1-15 characters from A-Z a-z 0-9 _ . @ + -, not starting with - . + or @",
      "spec.traffic.networkInterfaceExclusionList[2]: Invalid value: \"eth0:1\": must be a network interface name meshgate can exclude: 1-15 characters from A-Z a-z 0-9 _ . @ + -, not starting with - . + or @",
      "spec.traffic.networkInterfaceExclusionList[3]: Invalid value: \"a/b\": must be a network interface name meshgate can exclude: 1-15 characters from A-Z a-z 0-9 _ . @ + -, not starting with - . + or @",
      "spec.traffic.networkInterfaceExclusionList[4]: Invalid value: \"eth$0\": must be a network interface name meshgate can exclude: 1-15 characters from A-Z a-z 0-9 _ . @ + -, not starting with - . + or @",
    ],
  },
  { rule: 'enableEgress is a boolean', object: meshConfig({ traffic: { enableEgress: 'false' } }), expect: ['spec.traffic.enableEgress: Invalid value: "false": must be a boolean'] },
];

describe('validating rules (one row per rule)', () => {
  for (const row of rows) {
    it(row.rule, () => {
      const out = validate(row.object, storeWith(row.state ?? []));
      const lines = rendered(out);
      for (const e of row.expect) expect(lines, `errors were:\n${lines.join('\n')}`).to.include(e);
      expect(out.forbidden).to.equal(undefined);
    });
  }

  it('accepts the well-formed base objects of the table', () => {
    for (const obj of [
      egress(),
      egress({ hosts: ['*.example.com', 'localhost'], ports: [{ number: 443, protocol: 'https' }], ipAddresses: ['10.0.0.1/8', '2001:db8::/32'] }),
      egress({ matches: [SMI, UTS('a')] }),
      routeGroup([{ name: 'get', methods: ['GET', '*'], pathRegex: '/status.*', headers: [{ 'x-user': '^(alice|bob)$' }, { 'User-Agent': '.*curl.*' }] }]),
      egress({ ports: [{ number: 80, protocol: 'HTTP' }, { number: 443, protocol: 'Https' }, { number: 3306, protocol: 'TCP-Server-First' }] }),
      meshConfig({
        sidecar: { logLevel: 'warn', localProxyMode: 'PodIP', envoyImage: 'docker.io/envoyproxy/envoy:v1.34.1@sha256:' + 'a'.repeat(64), initContainerImage: 'localhost:5000/init' },
        traffic: { outboundIPRangeExclusionList: ['169.254.169.254/32'], outboundPortExclusionList: [1, 65535], networkInterfaceExclusionList: ['eth0', 'cni-podman0'] },
      }),
    ]) {
      const state = storeWith([routeGroup([{ name: 'get' }]), uts('a')]);
      expect(rendered(validate(obj, state)), JSON.stringify(obj)).to.deep.equal([]);
    }
  });

  it('reports every error of an object at once, type errors included', () => {
    const out = validate(
      egress({
        sources: [{ kind: 'User', name: 'Bad_Name', namespace: 'curl' }],
        hosts: ['http://httpbin.org'],
        ports: [{ number: '80', protocol: 'http' }, { number: 70000, protocol: 'udp' }],
        ipAddresses: ['10.0.0.0/33'],
        matches: [SMI],
        bogus: true,
      }),
    );
    expect(out.errors.map((e) => e.field)).to.have.members([
      'spec.sources[0].kind',
      'spec.sources[0].name',
      'spec.hosts[0]',
      'spec.ports[0].number',
      'spec.ports[1].number',
      'spec.ports[1].protocol',
      'spec.ipAddresses[0]',
      'spec.matches[0].name',
      'spec.bogus',
    ]);
    expect(out.errors.find((e) => e.field === 'spec.ports[0].number')?.type).to.equal('FieldValueTypeInvalid');
    expect(out.errors.find((e) => e.field === 'spec.ports[1].protocol')?.type).to.equal('FieldValueNotSupported');
  });

  it('treats null optional fields as absent, as the API server prunes them', () => {
    expect(rendered(validate(egress({ ipAddresses: null, matches: null })))).to.deep.equal([]);
  });

  it('accepts generateName instead of a name', () => {
    expect(rendered(validate(egress({}, { name: undefined, generateName: 'httpbin-' })))).to.deep.equal([]);
  });

  it('allows kinds it has no rules for, and Egress DELETE', () => {
    expect(validate({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' }, data: { a: 1 } })).to.deep.equal({ errors: [], warnings: [] });
    expect(validate({ apiVersion: 'policy.example.com/v1', kind: 'Egress', metadata: { name: 'x' }, spec: 7 })).to.deep.equal({ errors: [], warnings: [] });
    expect(validate({ ...egress(), spec: 'garbage' }, storeWith([]), 'DELETE').errors).to.deep.equal([]);
  });
});
