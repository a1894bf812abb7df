import { expect } from 'chai';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { Deployment } from 'kubernetes-models/apps/v1';
import { CronJob } from 'kubernetes-models/batch/v1';
import { runCli, type CliRunOptions } from '../support/run-cli.js';
import { CURL_YAML, XDS_CA_PATH, XDS_CA_PEM } from '../injector/fixtures.js';

/** These run the compiled CLI (bin/meshgate → dist/): `npm test` builds first. */
type Json = Record<string, any>;

function docs(yaml: string): Json[] {
  return parseAllDocuments(yaml).map((d) => {
    expect(d.errors, String(d.errors)).to.deep.equal([]);
    return d.toJS() as Json;
  });
}

const WORKLOADS = `apiVersion: v1
kind: Pod
metadata:
  name: lone
  namespace: apps
spec:
  containers:
  - name: app
    image: nginx
---
apiVersion: batch/v1
kind: CronJob
metadata:
  name: nightly
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers:
          - name: job
            image: busybox
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: db
spec:
  serviceName: db
  selector: {matchLabels: {app: db}}
  template:
    metadata:
      labels: {app: db}
      annotations:
        openservicemesh.io/sidecar-injection: disabled
    spec:
      containers:
      - name: db
        image: postgres
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: untouched
data:
  key: value
`;

/** meshgate's CA for the sidecar's bootstrap, as the environment variable of --xds-ca. */
const CA_ENV = { MESHGATE_XDS_CA: XDS_CA_PATH };

describe('meshgate inject / uninject (CLI)', function () {
  let dir: string;
  /** `meshgate inject ARGS` with the CA, in a directory without .dev-certs. */
  const inject = (args: string[], opts: CliRunOptions = {}) => runCli(['inject', ...args], { cwd: dir, ...opts, env: { ...CA_ENV, ...opts.env } });
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'meshgate-inject-'));
    writeFileSync(join(dir, 'curl.yaml'), CURL_YAML);
    writeFileSync(join(dir, 'workloads.yaml'), WORKLOADS);
    writeFileSync(
      join(dir, 'state.yaml'),
      `apiVersion: config.openservicemesh.io/v1alpha2
kind: MeshConfig
metadata: {name: osm-mesh-config, namespace: osm-system}
spec:
  sidecar: {sidecarImage: registry.example/envoy:v9, logLevel: debug}
  traffic: {enableEgress: true}
`,
    );
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('injects the seeds\' curl Deployment template and leaves the ServiceAccount and Service as they were', async () => {
    const r = await inject(['-f', join(dir, 'curl.yaml'), '--cluster-cidrs', '10.96.0.0/12']);
    expect(r.code, r.stderr).to.equal(0);
    const [sa, svc, deploy] = docs(r.stdout);
    const original = docs(CURL_YAML);
    expect(sa).to.deep.equal(original[0]);
    expect(svc).to.deep.equal(original[1]);
    const spec = deploy!.spec.template.spec;
    expect(spec.containers.map((c: Json) => c.name)).to.deep.equal(['curl', 'envoy']);
    expect(spec.initContainers.map((c: Json) => c.name)).to.deep.equal(['osm-init']);
    expect(deploy!.spec.template.metadata.annotations).to.have.property('meshgate.io/status');
    new Deployment(deploy as ConstructorParameters<typeof Deployment>[0]).validate();
    // The bootstrap: only the health listener; the rest over ADS from meshgate, verified with the CA given.
    const bootstrap = JSON.parse(spec.containers[1].args[1]);
    expect(bootstrap.static_resources.listeners.map((l: Json) => l.address.socket_address.port_value)).to.deep.equal([15010]);
    const grpc = bootstrap.dynamic_resources.ads_config.grpc_services[0].google_grpc;
    expect(grpc.target_uri).to.equal('meshgate.osm-system.svc:15128');
    expect(grpc.channel_credentials.ssl_credentials.root_certs.inline_string).to.equal(XDS_CA_PEM);
    expect(spec.volumes.map((v: Json) => v.name)).to.deep.equal(['meshgate-token']);
  });

  it('reads the MeshConfig from --state and honours settings flags (native mode, fsm profile names)', async () => {
    const r = await inject(['-f', join(dir, 'curl.yaml'), '--state', join(dir, 'state.yaml'), '--sidecar-mode', 'native']);
    expect(r.code, r.stderr).to.equal(0);
    const spec = docs(r.stdout)[2]!.spec.template.spec;
    expect(spec.initContainers.map((c: Json) => c.name)).to.deep.equal(['osm-init', 'envoy']);
    expect(spec.initContainers[1].image).to.equal('registry.example/envoy:v9');
    expect(spec.initContainers[1].args).to.include('debug');
    expect(spec.initContainers[1].volumeMounts.map((m: Json) => m.name)).to.deep.equal(['meshgate-token']);
    const fsm = await runCli(['--profile', 'fsm', 'inject', '-f', join(dir, 'curl.yaml')], { env: CA_ENV });
    expect(fsm.code, fsm.stderr).to.equal(0);
    expect(docs(fsm.stdout)[2]!.spec.template.spec.initContainers[0].name).to.equal('fsm-init');
  });

  it('injects Pods and CronJob templates, skips opted-out templates with a note, passes other kinds through', async () => {
    const r = await inject(['-f', '-'], { input: WORKLOADS });
    expect(r.code, r.stderr).to.equal(0);
    const [pod, cron, sts, cm] = docs(r.stdout);
    expect(pod!.spec.containers.map((c: Json) => c.name)).to.deep.equal(['app', 'envoy']);
    expect(JSON.parse(pod!.spec.containers[1].args[1]).node.id).to.equal('default.apps');
    expect(cron!.spec.jobTemplate.spec.template.spec.containers.map((c: Json) => c.name)).to.deep.equal(['job', 'envoy']);
    new CronJob(cron as ConstructorParameters<typeof CronJob>[0]).validate();
    const original = docs(WORKLOADS);
    expect(sts).to.deep.equal(original[2]);
    expect(cm).to.deep.equal(original[3]);
    expect(r.stderr).to.include('StatefulSet db').and.include('not injected');
    // Classic mode: the CronJob's pods would never complete, and stderr says what to use instead.
    expect(r.stderr).to.include(
      "Warning: -: document 2 (CronJob nightly): classic sidecar mode: the envoy sidecar never exits, so this CronJob's pods never complete; " +
        'use native sidecar mode (Kubernetes >= 1.29): annotate the pod template meshgate.io/sidecar-mode: native, or use meshgate inject --sidecar-mode native\n',
    );
    const native = await inject(['-f', '-', '--sidecar-mode', 'native'], { input: WORKLOADS });
    expect(native.code, native.stderr).to.equal(0);
    expect(native.stderr).to.not.include('never complete');
    // The opted-out StatefulSet is still warned about (the pod guard's default --pod-opt-out warn).
    expect(native.stderr).to.match(/Warning: -: document 3 \(StatefulSet db\): .*opt/);
  });

  it('refuses an unknown metadata field (exit 1), as kubectl\'s strict field validation would, with the field meant', async () => {
    const typo = WORKLOADS.replace('  name: lone\n  namespace: apps', '  name: lone\n  namespac: apps');
    const r = await inject(['-f', '-'], { input: typo });
    expect(r.code).to.equal(1);
    expect(r.stdout).to.equal('');
    expect(r.stderr).to.equal('meshgate: -: document 1 (Pod lone): metadata.namespac: Forbidden: unknown field; did you mean "namespace"?\n');
    const un = await runCli(['uninject', '-f', '-'], { input: typo });
    expect(un.code).to.equal(1);
    expect(un.stderr).to.include('metadata.namespac');
  });

  it('uninject undoes inject exactly, and inject of injected output changes nothing', async () => {
    const injected = await inject(['-f', '-'], { input: WORKLOADS });
    const again = await inject(['-f', '-'], { input: injected.stdout });
    expect(again.code, again.stderr).to.equal(0);
    expect(docs(again.stdout)).to.deep.equal(docs(injected.stdout));
    const back = await runCli(['uninject', '-f', '-'], { input: injected.stdout });
    expect(back.code, back.stderr).to.equal(0);
    expect(docs(back.stdout)).to.deep.equal(docs(WORKLOADS));
  });

  it('prints strings kubectl (a YAML 1.1 reader) still reads as strings: "yes", "on", "y" stay quoted', async () => {
    const pod = `apiVersion: v1
kind: Pod
metadata:
  name: flags
  namespace: apps
  annotations: {feature: "yes", legacy: "off"}
spec:
  containers:
  - name: app
    image: nginx
    env: [{name: A, value: "on"}, {name: B, value: "y"}, {name: C, value: "0755"}]
`;
    for (const command of ['inject', 'uninject']) {
      const r = await runCli([command, '-f', '-'], { input: pod, env: CA_ENV });
      expect(r.code, r.stderr).to.equal(0);
      const [out] = parseAllDocuments(r.stdout, { version: '1.1' }).map((d) => d.toJS() as Json);
      expect(out!.metadata.annotations, command).to.include({ feature: 'yes', legacy: 'off' });
      expect(out!.spec.containers[0].env, command).to.deep.equal([
        { name: 'A', value: 'on' },
        { name: 'B', value: 'y' },
        { name: 'C', value: '0755' },
      ]);
    }
  });

  it('refuses a bad annotation with exit 1 and one line naming the document, the annotation and the value', async () => {
    const bad = WORKLOADS.replace('openservicemesh.io/sidecar-injection: disabled', 'openservicemesh.io/sidecar-injection: maybe');
    const r = await inject(['-f', '-'], { input: bad });
    expect(r.code).to.equal(1);
    expect(r.stdout).to.equal('');
    expect(r.stderr.trim().split('\n')).to.have.length(1);
    expect(r.stderr).to.include('StatefulSet db').and.include('openservicemesh.io/sidecar-injection').and.include('"maybe"');
    expect(r.stderr).to.not.include('    at ');
  });

  it('usage errors: no input (2), unreadable file (2), bad setting (2)', async () => {
    expect((await inject([])).code).to.equal(2);
    const missing = await inject(['-f', join(dir, 'nope.yaml')]);
    expect(missing.code).to.equal(2);
    expect(missing.stderr).to.include('nope.yaml: no such file or directory');
    const badMode = await inject(['-f', join(dir, 'curl.yaml'), '--sidecar-mode', 'sidecar']);
    expect(badMode.code).to.equal(2);
    expect(badMode.stderr).to.include('--sidecar-mode');
    expect((await runCli(['uninject'])).code).to.equal(2);
  });

  it('uninject removes the token volume too, and only it: the pod\'s own volumes stay', async () => {
    const withVolume = CURL_YAML.replace('      containers:\n', '      volumes: [{name: data, emptyDir: {}}]\n      containers:\n');
    const injected = await inject(['-f', '-'], { input: withVolume });
    expect(injected.code, injected.stderr).to.equal(0);
    expect(docs(injected.stdout)[2]!.spec.template.spec.volumes.map((v: Json) => v.name)).to.deep.equal(['data', 'meshgate-token']);
    const back = await runCli(['uninject', '-f', '-'], { input: injected.stdout });
    expect(docs(back.stdout)).to.deep.equal(docs(withVolume));
  });

  describe('the CA the sidecar trusts for meshgate\'s xDS server', () => {
    const rootsOf = (stdout: string) =>
      JSON.parse(docs(stdout)[2]!.spec.template.spec.containers[1].args[1]).dynamic_resources.ads_config.grpc_services[0].google_grpc.channel_credentials
        .ssl_credentials.root_certs.inline_string;

    it('--xds-ca FILE (the flag wins over MESHGATE_XDS_CA)', async () => {
      const r = await inject(['-f', join(dir, 'curl.yaml'), '--xds-ca', XDS_CA_PATH], { env: { MESHGATE_XDS_CA: join(dir, 'nope.crt') } });
      expect(r.code, r.stderr).to.equal(0);
      expect(rootsOf(r.stdout)).to.equal(XDS_CA_PEM);
    });

    it('neither flag nor variable: .dev-certs/ca.crt (what `meshgate serve --dev` writes) in the current directory', async () => {
      const cwd = mkdtempSync(join(tmpdir(), 'meshgate-inject-dev-'));
      try {
        mkdirSync(join(cwd, '.dev-certs'));
        copyFileSync(XDS_CA_PATH, join(cwd, '.dev-certs', 'ca.crt'));
        const r = await runCli(['inject', '-f', join(dir, 'curl.yaml')], { cwd, env: { MESHGATE_XDS_CA: undefined } });
        expect(r.code, r.stderr).to.equal(0);
        expect(rootsOf(r.stdout)).to.equal(XDS_CA_PEM);
      } finally {
        rmSync(cwd, { recursive: true, force: true });
      }
    });

    it('no CA at all: exit 2, one line naming --xds-ca, nothing on stdout; documents with no pod to inject need none', async () => {
      const r = await runCli(['inject', '-f', join(dir, 'curl.yaml')], { cwd: dir, env: { MESHGATE_XDS_CA: undefined } });
      expect(r.code).to.equal(2);
      expect(r.stdout).to.equal('');
      expect(r.stderr).to.match(/^meshgate: inject: no CA for the sidecar to verify meshgate's xDS server: pass --xds-ca FILE \(MESHGATE_XDS_CA\), .*\n$/);
      const passThrough = await runCli(['inject', '-f', '-'], { cwd: dir, env: { MESHGATE_XDS_CA: undefined }, input: 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n' });
      expect(passThrough.code, passThrough.stderr).to.equal(0);
    });

    it('a file that is not a PEM certificate, or is missing: exit 2 naming it', async () => {
      const notPem = await inject(['-f', join(dir, 'curl.yaml'), '--xds-ca', join(dir, 'state.yaml')]);
      expect(notPem.code).to.equal(2);
      expect(notPem.stderr).to.match(/^meshgate: --xds-ca .*state\.yaml: not a PEM CA certificate/);
      const missing = await inject(['-f', join(dir, 'curl.yaml'), '--xds-ca', join(dir, 'nope.crt')]);
      expect(missing.code).to.equal(2);
      expect(missing.stderr).to.match(/^meshgate: --xds-ca .*nope\.crt: cannot read: ENOENT\n$/);
    });
  });

  it('uninject reports a malformed status annotation (exit 1)', async () => {
    const r = await runCli(['uninject', '-f', '-'], {
      input: 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  annotations:\n    meshgate.io/status: "{"\nspec:\n  containers: [{name: a, image: b}]\n',
    });
    expect(r.code).to.equal(1);
    expect(r.stderr).to.include('meshgate.io/status');
  });
});
