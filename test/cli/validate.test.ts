import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateDocuments } from '../../src/cli/commands/validate.js';
import { parseDocuments } from '../../src/io/yaml-documents.js';
import { renderFieldError } from '../../src/vocabulary/field-errors.js';
import { resolveProfile } from '../../src/profile.js';

const OSM = resolveProfile('osm');

const ROOT = process.cwd();
const BIN = join(ROOT, 'bin/meshgate');

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

function meshgate(args: string[], stdin?: string): Run {
  const r = spawnSync(BIN, args, { cwd: ROOT, input: stdin ?? '', encoding: 'utf8', timeout: 20000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const egressYaml = (name: string, port: number, protocol: string, group = 'policy.openservicemesh.io') => `
kind: Egress
apiVersion: ${group}/v1alpha1
metadata:
  name: ${name}
  namespace: curl
spec:
  sources:
  - kind: ServiceAccount
    name: curl
    namespace: curl
  ports:
  - number: ${port}
    protocol: ${protocol}
`;

describe('meshgate validate (the CLI, spawned)', function () {
  let tmp: string;

  before(function () {
    if (!existsSync(join(ROOT, 'dist/src/cli/main.js'))) {
      this.timeout(120000);
      const build = spawnSync(join(ROOT, 'node_modules/.bin/tsc'), ['-p', '.'], { cwd: ROOT, encoding: 'utf8' });
      if (!existsSync(join(ROOT, 'dist/src/cli/main.js'))) throw new Error(`build failed: ${build.stdout}${build.stderr}`);
    }
    tmp = mkdtempSync(join(tmpdir(), 'meshgate-validate-'));
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  it('exits 0 on the seed policies, one line per object, nothing on stderr', () => {
    const r = meshgate(['validate', '-f', 'examples/policies/osm/', '--state', 'examples/state']);
    expect(r.status, r.stderr).to.equal(0);
    expect(r.stdout).to.contain('egress.policy.openservicemesh.io/httpbin-80 (examples/policies/osm/httpbin-80.yaml#1): valid\n');
    expect(r.stdout).to.contain('httproutegroup.specs.smi-spec.io/egress-http-route (examples/policies/osm/httpbin-80-route-matches.yaml#1): valid\n');
    expect(r.stdout.trim().split('\n')).to.have.length(6);
    expect(r.stderr).to.equal('');
  });

  it('exits 1 on an invalid object and prints the causes as kubectl does', () => {
    const r = meshgate(['validate', '-f', 'examples/invalid/port-protocol.yaml']);
    expect(r.status).to.equal(1);
    expect(r.stdout).to.equal(
      'egress.policy.openservicemesh.io/dns-udp (examples/invalid/port-protocol.yaml#1): invalid\n' +
        'The Egress "dns-udp" is invalid:\n' +
        '* spec.ports[0].protocol: Unsupported value: "udp": supported values: "http", "https", "tcp", "tcp-server-first"\n',
    );
  });

  it('reads standard input with -f -', () => {
    const bad = meshgate(['validate', '-f', '-'], egressYaml('p', 70000, 'tcp'));
    expect(bad.status).to.equal(1);
    expect(bad.stdout).to.equal(
      'egress.policy.openservicemesh.io/p (-#1): invalid\nThe Egress "p" is invalid:\n' +
        '* spec.ports[0].number: Invalid value: 70000: must be between 1 and 65535, inclusive\n',
    );
  });

  it('prints a machine-readable array with -o json', () => {
    const r = meshgate(['validate', '-o', 'json', '-f', 'examples/invalid/port-number-string.yaml', '-f', 'examples/policies/osm/tcp-443.yaml', '-f', 'examples/workloads/curl.yaml']);
    expect(r.status).to.equal(1);
    expect(r.stderr).to.equal('');
    const results = JSON.parse(r.stdout) as Array<Record<string, unknown>>;
    expect(results.map((x) => [x.kind, x.name, x.result])).to.deep.equal([
      ['Egress', 'port-string', 'invalid'],
      ['Egress', 'tcp-443', 'valid'],
      ['ServiceAccount', 'curl', 'skipped'],
      ['Service', 'curl', 'skipped'],
      // A workload's pod template goes through the injector and the pod guard (issue #14).
      ['Deployment', 'curl', 'valid'],
    ]);
    expect(results[0]).to.deep.include({ source: 'examples/invalid/port-number-string.yaml', document: 1, apiVersion: 'policy.openservicemesh.io/v1alpha1', namespace: 'curl' });
    expect(results[0]!.errors).to.deep.equal([
      { type: 'FieldValueTypeInvalid', field: 'spec.ports[0].number', message: 'Invalid value: "80": must be an integer' },
    ]);
    expect(results[1]!.warnings).to.deep.equal([]);
  });

  it('checks input Egresses against each other for server-first conflicts, whatever their order', () => {
    const a = join(tmp, 'a-sf.yaml');
    const b = join(tmp, 'b-tcp.yaml');
    writeFileSync(a, egressYaml('mysql-sf', 3306, 'tcp-server-first'));
    writeFileSync(b, egressYaml('mysql-tcp', 3306, 'tcp', 'policy.flomesh.io'));
    for (const order of [[a, b], [b, a]]) {
      const r = meshgate(['validate', '-f', order[0]!, '-f', order[1]!]);
      expect(r.status).to.equal(1);
      expect(r.stdout).to.contain('* spec.ports[0].protocol: Invalid value: "tcp-server-first": conflicts with Egress curl/mysql-tcp (policy.flomesh.io)');
      expect(r.stdout).to.contain('* spec.ports[0].protocol: Invalid value: "tcp": conflicts with Egress curl/mysql-sf (policy.openservicemesh.io)');
    }
    // In-process, the same function: each alone is fine; an Egress in the state counts as existing.
    const docs = (text: string) => parseDocuments('x.yaml', text);
    const sf = docs(egressYaml('mysql-sf', 3306, 'tcp-server-first'));
    const tcp = docs(egressYaml('mysql-tcp', 3306, 'tcp', 'policy.flomesh.io'));
    expect(validateDocuments(OSM, sf, [], 'default')[0]!.result).to.equal('valid');
    expect(validateDocuments(OSM, tcp, sf, 'default')[0]!.result).to.equal('invalid');
    // The same object in the state and the inputs is one object: no conflict with itself.
    expect(validateDocuments(OSM, docs(egressYaml('mysql-sf', 3306, 'tcp')), sf, 'default')[0]!.result).to.equal('valid');
  });

  it('counts HTTPRouteGroups in the inputs and in --state as existing', () => {
    const egressOnly = join(tmp, 'matches.yaml');
    writeFileSync(
      egressOnly,
      'kind: Egress\napiVersion: policy.openservicemesh.io/v1alpha1\nmetadata: {name: httpbin-80, namespace: curl}\n' +
        'spec:\n  sources: [{kind: ServiceAccount, name: curl, namespace: curl}]\n  hosts: [httpbin.org]\n' +
        '  ports: [{number: 80, protocol: http}]\n  matches: [{apiGroup: specs.smi-spec.io/v1alpha4, kind: HTTPRouteGroup, name: egress-http-route}]\n',
    );
    const r = meshgate(['validate', '-f', egressOnly, '-f', 'examples/policies/osm/egress-http-route-status.yaml']);
    expect(r.status, r.stdout).to.equal(0);
    const egressDocs = parseDocuments(egressOnly, readFileSync(egressOnly, 'utf8'));
    const missing = validateDocuments(OSM, egressDocs, [], 'default')[0]!;
    expect(missing.result).to.equal('invalid');
    expect(missing.errors.map(renderFieldError)).to.deep.equal(['spec.matches[0].name: Not found: "egress-http-route"']);
    const state = parseDocuments('state.yaml', readFileSync('examples/state/egress-http-route.yaml', 'utf8'));
    expect(validateDocuments(OSM, egressDocs, state, 'default')[0]!.result).to.equal('valid');
  });

  it("accepts OSM's demo route group (headers as SMI's list of single-key maps) and an upper-case protocol, warning on the protocol", () => {
    // OSM v1.2.4 demo/deploy-traffic-specs.sh, as written there ($BOOKSTORE_NAMESPACE set to bookstore).
    const demo = `apiVersion: specs.smi-spec.io/v1alpha4
kind: HTTPRouteGroup
metadata:
  name: bookstore-service-routes
  namespace: "bookstore"
spec:
  matches:
  - name: books-bought
    pathRegex: /books-bought
    methods:
    - GET
    headers:
    - "user-agent": ".*-http-client/*.*"
    - "client-app": "bookbuyer"
  - name: buy-a-book
    pathRegex: ".*a-book.*new"
    methods:
    - GET
  - name: update-books-bought
    pathRegex: /update-books-bought
    methods:
    - POST
---
${egressYaml('mysql-upper', 3306, 'TCP-Server-First')}`;
    const r = meshgate(['validate', '-f', '-'], demo);
    expect(r.status, r.stdout + r.stderr).to.equal(0);
    expect(r.stdout).to.equal(
      'httproutegroup.specs.smi-spec.io/bookstore-service-routes (-#1): valid\n' + 'egress.policy.openservicemesh.io/mysql-upper (-#2): valid\n',
    );
    expect(r.stderr).to.contain('Warning: spec.ports[0].protocol: "TCP-Server-First" is read as "tcp-server-first"; write it in lower case\n');

    const files = meshgate(['validate', '-o', 'json', '-f', 'examples/policies/from-osm/', '--state', 'examples/state']);
    expect(files.status, files.stdout + files.stderr).to.equal(0);
    const results = JSON.parse(files.stdout) as Array<{ name: string; result: string; warnings: string[] }>;
    expect(results.map((x) => `${x.name}:${x.result}`)).to.have.members([
      'bookstore-service-routes:valid',
      'the-routes:valid',
      'curl-agent:valid',
      'httpbin-curl-agent:valid',
    ]);
    expect(results.find((x) => x.name === 'httpbin-curl-agent')!.warnings).to.include('spec.ports[0].protocol: "HTTP" is read as "http"; write it in lower case');
  });

  it('denies headers written as a map, saying to write the list form; and an item with two headers', () => {
    const r = meshgate(['validate', '-f', 'examples/invalid/route-group-headers-map.yaml', '-f', 'examples/invalid/route-group-header-item.yaml']);
    expect(r.status).to.equal(1);
    expect(r.stdout).to.equal(
      'httproutegroup.specs.smi-spec.io/android-users (examples/invalid/route-group-headers-map.yaml#1): invalid\n' +
        'The HTTPRouteGroup "android-users" is invalid:\n' +
        `* spec.matches[0].headers: Invalid value: {"user-agent":".*Android.*"}: must be a list of single-key maps, one header each (SMI's form): use [{"user-agent":".*Android.*"}]\n` +
        'httproutegroup.specs.smi-spec.io/android-insiders (examples/invalid/route-group-header-item.yaml#1): invalid\n' +
        'The HTTPRouteGroup "android-insiders" is invalid:\n' +
        '* spec.matches[0].headers[0]: Invalid value: {"user-agent":".*Android.*","cookie":"^(.*?;)?(type=insider)(;.*)?$"}: must have exactly one header name and value (smi-sdk-go: incorrect length of keyval)\n',
    );
  });

  it('puts objects without a namespace in --namespace (default "default")', () => {
    const yaml = egressYaml('x', 443, 'tcp').replace('  namespace: curl\nspec', 'spec');
    const r = meshgate(['validate', '-o', 'json', '-f', '-', '-n', 'team-a'], yaml);
    expect(r.status).to.equal(0);
    expect((JSON.parse(r.stdout) as Array<{ namespace: string }>)[0]!.namespace).to.equal('team-a');
    expect(validateDocuments(OSM, parseDocuments('-', yaml), [], 'default')[0]!.namespace).to.equal('default');
  });

  it('applies the profile: namespace warnings use its label domain', () => {
    const r = meshgate(['--profile', 'fsm', 'validate', '-f', 'examples/policies/fsm/tcp-443.yaml', '--state', 'examples/state']);
    expect(r.status).to.equal(0);
    expect(r.stderr).to.contain('Warning: namespace "curl" is not in mesh "fsm" (no label flomesh.io/monitored-by=fsm)');
  });

  describe('exit 2: usage errors and unreadable input, one line on stderr', () => {
    const cases: [string, string[], RegExp, string?][] = [
      ['no -f', ['validate'], /^meshgate: validate: give at least one input with -f FILE\|DIR\|-\n$/],
      ['a missing file', ['validate', '-f', 'no/such.yaml'], /^meshgate: no\/such.yaml: no such file or directory\n$/],
      ['a missing --state', ['validate', '-f', 'examples/policies/osm', '--state', 'no/such'], /^meshgate: --state: no\/such: no such file or directory\n$/],
      ['invalid YAML', ['validate', '-f', '-'], /^meshgate: -: invalid YAML at line \d+ in document 1: /, 'kind: Egress\n  bad: [\n'],
      ['a document that is not an object', ['validate', '-f', '-'], /^meshgate: -: document 1 is not a Kubernetes object/, '- just\n- a list\n'],
      ['no objects at all', ['validate', '-f', '-'], /^meshgate: validate: no Kubernetes objects found in -\n$/, '# nothing\n'],
      ['an unknown output format', ['validate', '-f', 'examples/policies/osm', '-o', 'yaml'], /argument 'yaml' is invalid/],
      ['an unknown profile', ['--profile', 'istio', 'validate', '-f', 'examples/policies/osm'], /unknown profile "istio"/],
    ];
    for (const [what, args, stderr, stdin] of cases) {
      it(what, () => {
        const r = meshgate(args, stdin);
        expect(r.status, r.stdout + r.stderr).to.equal(2);
        expect(r.stderr).to.match(stderr);
        expect(r.stderr).to.not.match(/\n\s+at /); // no stack trace
      });
    }
  });

  describe('strict, as a CI gate: typos fail instead of passing', () => {
    const docs = (text: string) => parseDocuments('x.yaml', text);
    const causes = (text: string) => validateDocuments(OSM, docs(text), [], 'default').map((r) => [r.result, r.errors.map(renderFieldError)]);
    const egress = (head: string, meta = 'name: p\n  namespace: curl') =>
      `${head}\nmetadata:\n  ${meta}\nspec:\n  sources: [{kind: ServiceAccount, name: curl, namespace: curl}]\n  ports: [{number: 443, protocol: tcp}]\n`;
    const OK = 'apiVersion: policy.openservicemesh.io/v1alpha1\nkind: Egress';

    it('an unknown metadata field is an error naming the path, with the ObjectMeta field one edit away', () => {
      expect(causes(egress(OK, 'name: p\n  namespac: curl'))).to.deep.equal([
        ['invalid', ['metadata.namespac: Forbidden: unknown field; did you mean "namespace"?']],
      ]);
      expect(causes(egress(OK, 'name: p\n  Labels: {a: b}\n  lables: {a: b}\n  colour: red'))).to.deep.equal([
        ['invalid', ['metadata.Labels: Forbidden: unknown field; did you mean "labels"?', 'metadata.lables: Forbidden: unknown field; did you mean "labels"?', 'metadata.colour: Forbidden: unknown field (ObjectMeta has no such field)']],
      ]);
      // Every kind's metadata is ObjectMeta: a ConfigMap with a typo is not skipped either.
      expect(causes('apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespac: curl}\n')).to.deep.equal([
        ['invalid', ['metadata.namespac: Forbidden: unknown field; did you mean "namespace"?']],
      ]);
      // What `kubectl get -o yaml` prints is all ObjectMeta.
      const fromCluster = 'name: p\n  namespace: curl\n  uid: u\n  resourceVersion: "1"\n  generation: 1\n  creationTimestamp: "2026-01-01T00:00:00Z"\n  managedFields: []\n  finalizers: []\n  ownerReferences: []\n  annotations: {a: b}';
      expect(causes(egress(OK, fromCluster))).to.deep.equal([['valid', []]]);
    });

    it('a kind or API group one edit from one meshgate validates is an error with "did you mean"', () => {
      expect(causes(egress('apiVersion: policy.openservicemesh.io/v1alpha1\nkind: Egres'))).to.deep.equal([
        ['invalid', ['kind: Invalid value: "Egres": meshgate validates no kind "Egres" in policy.openservicemesh.io; did you mean "Egress"?']],
      ]);
      expect(causes(egress('apiVersion: policy.openservicemesh.io/v1alpha1\nkind: egress'))[0]![0]).to.equal('invalid');
      expect(causes(egress('apiVersion: policy.openservicemesh.oi/v1alpha1\nkind: Egress'))).to.deep.equal([
        [
          'invalid',
          ['apiVersion: Invalid value: "policy.openservicemesh.oi/v1alpha1": meshgate knows no API group "policy.openservicemesh.oi" for kind Egress; did you mean "policy.openservicemesh.io/v1alpha1"?'],
        ],
      ]);
      // Both wrong at once: both said.
      expect(causes(egress('apiVersion: policy.flomesh.oi/v1alpha1\nkind: Egerss'))[0]![1]).to.have.length(2);
      expect(causes('apiVersion: specs.smi-spec.io/v1alpha4\nkind: HTTPRoutGroup\nmetadata: {name: r}\n')[0]![1]).to.deep.equal([
        'kind: Invalid value: "HTTPRoutGroup": meshgate validates no kind "HTTPRoutGroup" in specs.smi-spec.io; did you mean "HTTPRouteGroup"?',
      ]);
      expect(causes('apiVersion: v1\nkind: Pdo\nmetadata: {name: p}\nspec: {containers: [{name: a}]}\n')[0]![1]).to.deep.equal([
        'kind: Invalid value: "Pdo": meshgate validates no kind "Pdo" in the core group; did you mean "Pod"?',
      ]);
    });

    it('kinds far from meshgate\'s, and its kinds in far-off groups, are still skipped', () => {
      for (const head of ['apiVersion: v1\nkind: ConfigMap', 'apiVersion: v1\nkind: Service', 'apiVersion: apps/v1\nkind: Deployment', 'apiVersion: example.com/v1\nkind: Egress', 'apiVersion: v1\nkind: Egress']) {
        expect(causes(`${head}\nmetadata: {name: x}\n`), head).to.deep.equal([['skipped', []]]);
      }
    });

    it('the built CLI exits 1 on a metadata typo and says where a skipped kind\'s group is', () => {
      const r = meshgate(['validate', '-f', '-'], egress(OK, 'name: p\n  namespac: curl') + '---\napiVersion: example.com/v1\nkind: Egress\nmetadata: {name: x}\n');
      expect(r.status).to.equal(1);
      expect(r.stdout).to.equal(
        'egress.policy.openservicemesh.io/p (-#1): invalid\nThe Egress "p" is invalid:\n* metadata.namespac: Forbidden: unknown field; did you mean "namespace"?\n' +
          'egress.example.com/x (-#2): skipped (meshgate has no rules for Egress in example.com/v1)\n',
      );
    });
  });

  it('has help text naming the inputs, --state and the exit codes', () => {
    const r = meshgate(['validate', '--help']);
    expect(r.status).to.equal(0);
    expect(r.stdout).to.contain('-f, --filename <FILE|DIR|->');
    expect(r.stdout).to.contain('--state <DIR>');
    expect(r.stdout).to.contain('Exit status: 0 all valid');
  });
});
