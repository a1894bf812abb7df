import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { Deployment } from 'kubernetes-models/apps/v1';
import { CronJob } from 'kubernetes-models/batch/v1';
import { runCli } from '../support/run-cli.js';
import { CURL_YAML } from '../injector/fixtures.js';

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

describe('meshgate inject / uninject (CLI)', function () {
  let dir: string;
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
    const r = await runCli(['inject', '-f', join(dir, 'curl.yaml'), '--cluster-cidrs', '10.96.0.0/12']);
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
    // Without --state: the defaults, egress closed (no 15001 listener).
    const bootstrap = JSON.parse(spec.containers[1].args[1]);
    expect(bootstrap.static_resources.listeners.map((l: Json) => l.address.socket_address.port_value)).to.deep.equal([15010]);
  });

  it('reads the MeshConfig from --state and honours settings flags (native mode, fsm profile names)', async () => {
    const r = await runCli(['inject', '-f', join(dir, 'curl.yaml'), '--state', join(dir, 'state.yaml'), '--sidecar-mode', 'native']);
    expect(r.code, r.stderr).to.equal(0);
    const spec = docs(r.stdout)[2]!.spec.template.spec;
    expect(spec.initContainers.map((c: Json) => c.name)).to.deep.equal(['osm-init', 'envoy']);
    expect(spec.initContainers[1].image).to.equal('registry.example/envoy:v9');
    expect(spec.initContainers[1].args).to.include('debug');
    expect(JSON.parse(spec.initContainers[1].args[1]).static_resources.listeners.map((l: Json) => l.name)).to.include('outbound-listener');
    const fsm = await runCli(['--profile', 'fsm', 'inject', '-f', join(dir, 'curl.yaml')]);
    expect(fsm.code, fsm.stderr).to.equal(0);
    expect(docs(fsm.stdout)[2]!.spec.template.spec.initContainers[0].name).to.equal('fsm-init');
  });

  it('injects Pods and CronJob templates, skips opted-out templates with a note, passes other kinds through', async () => {
    const r = await runCli(['inject', '-f', '-'], { input: WORKLOADS });
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
  });

  it('uninject undoes inject exactly, and inject of injected output changes nothing', async () => {
    const injected = await runCli(['inject', '-f', '-'], { input: WORKLOADS });
    const again = await runCli(['inject', '-f', '-'], { input: injected.stdout });
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
      const r = await runCli([command, '-f', '-'], { input: pod });
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
    const r = await runCli(['inject', '-f', '-'], { input: bad });
    expect(r.code).to.equal(1);
    expect(r.stdout).to.equal('');
    expect(r.stderr.trim().split('\n')).to.have.length(1);
    expect(r.stderr).to.include('StatefulSet db').and.include('openservicemesh.io/sidecar-injection').and.include('"maybe"');
    expect(r.stderr).to.not.include('    at ');
  });

  it('usage errors: no input (2), unreadable file (2), bad setting (2)', async () => {
    expect((await runCli(['inject'])).code).to.equal(2);
    const missing = await runCli(['inject', '-f', join(dir, 'nope.yaml')]);
    expect(missing.code).to.equal(2);
    expect(missing.stderr).to.include('nope.yaml: no such file or directory');
    const badMode = await runCli(['inject', '-f', join(dir, 'curl.yaml'), '--sidecar-mode', 'sidecar']);
    expect(badMode.code).to.equal(2);
    expect(badMode.stderr).to.include('--sidecar-mode');
    expect((await runCli(['uninject'])).code).to.equal(2);
  });

  it('uninject reports a malformed status annotation (exit 1)', async () => {
    const r = await runCli(['uninject', '-f', '-'], {
      input: 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  annotations:\n    meshgate.io/status: "{"\nspec:\n  containers: [{name: a, image: b}]\n',
    });
    expect(r.code).to.equal(1);
    expect(r.stderr).to.include('meshgate.io/status');
  });
});
