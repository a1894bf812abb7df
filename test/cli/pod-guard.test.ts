import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { runCli } from '../support/run-cli.js';
import { XDS_CA_PATH } from '../injector/fixtures.js';

/**
 * The pod guard offline (issues #14 and #15): `meshgate inject` and `meshgate validate` apply the
 * webhook's checks, to Pods and to workload templates alike, and every hint names a flag the
 * command takes. These run the compiled CLI (bin/meshgate → dist/): `npm test` builds first.
 */
type Json = Record<string, any>;

const STATE = resolve('examples/state');

const BYPASS_CONTAINER = `    - name: app
      image: busybox
      command: [sleep, infinity]
      securityContext:
        runAsUser: 1500
        privileged: true
        capabilities: {add: [NET_ADMIN]}`;

const podYaml = (name: string, containers: string, annotations = '') => `apiVersion: v1
kind: Pod
metadata:
  name: ${name}
  namespace: curl
${annotations ? `  annotations:\n${annotations}\n` : ''}spec:
  containers:
${containers.replace(/^ {4}/gm, '  ')}
`;

/** A workload of `kind` whose pod template holds `containers`, in namespace curl. */
function workloadYaml(kind: string, containers: string): string {
  const template = `    metadata:
      labels: {app: x}
    spec:
      restartPolicy: ${kind === 'Job' || kind === 'CronJob' ? 'OnFailure' : 'Always'}
      containers:
${containers.replace(/^ {4}/gm, '      ')}`;
  const apiVersion = kind === 'Job' || kind === 'CronJob' ? 'batch/v1' : 'apps/v1';
  if (kind === 'CronJob') {
    return `apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: x, namespace: curl}\nspec:\n  schedule: "0 3 * * *"\n  jobTemplate:\n    spec:\n      template:\n${template.replace(/^/gm, '    ')}\n`;
  }
  const selector = kind === 'Job' ? '' : '  selector: {matchLabels: {app: x}}\n';
  return `apiVersion: ${apiVersion}\nkind: ${kind}\nmetadata: {name: x, namespace: curl}\nspec:\n${selector}  template:\n${template}\n`;
}

const FORGED = `    meshgate.io/status: '{"version":"0.1.0","containers":["envoy"],"initContainers":["osm-init"],"volumes":["meshgate-token"]}'`;
const LOOKALIKE = `    - name: curl
      image: curlimages/curl
    - name: envoy
      image: busybox
      command: [sleep, infinity]`;
const PLAIN = `    - name: curl
      image: curlimages/curl`;
const OPT_OUT = `    openservicemesh.io/sidecar-injection: disabled`;

describe('pod guard offline: meshgate inject and meshgate validate (issues #14, #15)', function () {
  let dir: string;
  const file = (name: string, text: string) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };
  const inject = (args: string[]) => runCli(['inject', ...args], { cwd: dir, env: { MESHGATE_XDS_CA: XDS_CA_PATH } });
  const validate = (args: string[], env: Record<string, string | undefined> = {}) => runCli(['validate', '--state', STATE, ...args], { cwd: dir, env });
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'meshgate-guard-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  describe('meshgate inject --bypass-guard (issue #14)', () => {
    it('deny (the default): exit 1, one line naming the container and each field, and the flag inject takes', async () => {
      const f = file('bypass.yaml', podYaml('bypass', BYPASS_CONTAINER));
      for (const args of [[], ['--bypass-guard', 'deny']]) {
        const r = await inject(['-f', f, ...args]);
        expect(r.code, r.stderr).to.equal(1);
        expect(r.stdout).to.equal('');
        expect(r.stderr).to.include(`${f}: document 1 (Pod bypass): container "app": securityContext.runAsUser is 1500`);
        expect(r.stderr).to.include('container "app": securityContext.capabilities.add contains NET_ADMIN');
        expect(r.stderr).to.include('container "app": securityContext.privileged is true');
        expect(r.stderr).to.include('(or set --bypass-guard warn)');
      }
    });
    it('warn: injected, exit 0, a warning per finding', async () => {
      const r = await inject(['-f', file('bypass.yaml', podYaml('bypass', BYPASS_CONTAINER)), '--bypass-guard', 'warn']);
      expect(r.code, r.stderr).to.equal(0);
      expect(parseAllDocuments(r.stdout)[0]!.toJS().spec.containers.map((c: Json) => c.name)).to.deep.equal(['app', 'envoy']);
      expect(r.stderr.match(/^Warning: .*bypass guard: container "app"/gm)).to.have.length(3);
    });
    it('off: injected, exit 0, no warning', async () => {
      const r = await inject(['-f', file('bypass.yaml', podYaml('bypass', BYPASS_CONTAINER)), '--bypass-guard', 'off']);
      expect(r.code, r.stderr).to.equal(0);
      expect(r.stderr).to.equal('');
    });
  });

  describe('meshgate inject on pods that carry a sidecar that is not meshgate\'s (issue #15)', () => {
    it('a forged status: exit 1 naming what is missing', async () => {
      const f = file('forged.yaml', podYaml('forged', PLAIN, FORGED));
      const r = await inject(['-f', f]);
      expect(r.code, r.stderr).to.equal(1);
      expect(r.stderr).to.include('container "envoy" is missing').and.include('(or set --bypass-guard warn)');
    });
    it('a look-alike envoy: exit 1 naming the field', async () => {
      const r = await inject(['-f', file('lookalike.yaml', podYaml('lookalike', LOOKALIKE))]);
      expect(r.code, r.stderr).to.equal(1);
      expect(r.stderr).to.include('container "envoy": image is "busybox"');
    });
    it("meshgate inject's own output passes again unchanged", async () => {
      const once = await inject(['-f', file('plain.yaml', podYaml('plain', PLAIN))]);
      expect(once.code, once.stderr).to.equal(0);
      const twice = await inject(['-f', file('once.yaml', once.stdout)]);
      expect(twice.code, twice.stderr).to.equal(0);
      expect(twice.stdout).to.equal(once.stdout);
    });
  });

  describe('meshgate inject --pod-opt-out', () => {
    const optOut = () => file('optout.yaml', podYaml('optout', PLAIN, OPT_OUT));
    it('warn (the default): left alone, exit 0, a warning', async () => {
      const r = await inject(['-f', optOut()]);
      expect(r.code, r.stderr).to.equal(0);
      expect(r.stderr).to.match(/^Warning: .*pod opts out of the sidecar \(openservicemesh\.io\/sidecar-injection: "disabled"\)/m);
    });
    it('allow: a note only', async () => {
      const r = await inject(['-f', optOut(), '--pod-opt-out', 'allow']);
      expect(r.code, r.stderr).to.equal(0);
      expect(r.stderr).to.not.include('Warning');
      expect(r.stderr).to.include('not injected');
    });
    it('deny: exit 1 naming the flag inject takes', async () => {
      const r = await inject(['-f', optOut(), '--pod-opt-out', 'deny']);
      expect(r.code, r.stderr).to.equal(1);
      expect(r.stderr).to.include('remove the annotation (or set --pod-opt-out warn)');
    });
    it('a bad value is a usage error naming the flag', async () => {
      const r = await inject(['-f', optOut(), '--pod-opt-out', 'maybe']);
      expect(r.code).to.equal(2);
      expect(r.stderr).to.include('--pod-opt-out (MESHGATE_POD_OPT_OUT): unknown value "maybe": use one of allow, warn, deny');
    });
  });

  describe('meshgate validate', () => {
    for (const kind of ['Pod', 'Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job', 'CronJob']) {
      it(`checks the guard on a ${kind}, exit 1, with a hint validate accepts`, async () => {
        const f = file(`${kind}.yaml`, kind === 'Pod' ? podYaml('x', BYPASS_CONTAINER) : workloadYaml(kind, BYPASS_CONTAINER));
        const r = await validate(['-f', f]);
        expect(r.code, r.stderr + r.stdout).to.equal(1);
        expect(r.stdout).to.include(': denied: container "app": securityContext.runAsUser is 1500');
        expect(r.stdout).to.include('(or set --bypass-guard warn)');
        // The hint's flag is one validate takes.
        const warned = await validate(['-f', f, '--bypass-guard', 'warn']);
        expect(warned.code, warned.stderr).to.equal(0);
        expect(warned.stderr).to.include('Warning: bypass guard: container "app"');
      });
    }

    it('leaves workloads in namespaces outside the mesh alone', async () => {
      const r = await validate(['-f', file('other.yaml', workloadYaml('Deployment', BYPASS_CONTAINER).replace('namespace: curl', 'namespace: other'))]);
      expect(r.code, r.stdout).to.equal(0);
    });

    it('a forged status or a look-alike envoy: denied (with --xds-ca to render the sidecar)', async () => {
      const r = await validate(['-f', file('forged.yaml', podYaml('forged', PLAIN, FORGED)), '-f', file('lookalike.yaml', podYaml('lookalike', LOOKALIKE)), '--xds-ca', XDS_CA_PATH]);
      expect(r.code, r.stderr).to.equal(1);
      expect(r.stdout).to.include('pod/forged').and.include('container "envoy" is missing');
      expect(r.stdout).to.include('pod/lookalike').and.include('container "envoy": image is "busybox"');
    });

    it('without a CA for a pod that carries a sidecar: exit 2 naming --xds-ca', async () => {
      const r = await validate(['-f', file('forged.yaml', podYaml('forged', PLAIN, FORGED))]);
      expect(r.code).to.equal(2);
      expect(r.stderr).to.include('pass --xds-ca FILE (MESHGATE_XDS_CA)');
    });

    it("meshgate inject's output is valid", async () => {
      const injected = await inject(['-f', file('plain.yaml', podYaml('plain', PLAIN))]);
      expect(injected.code, injected.stderr).to.equal(0);
      const r = await validate(['-f', file('injected.yaml', injected.stdout), '--xds-ca', XDS_CA_PATH]);
      expect(r.code, r.stdout + r.stderr).to.equal(0);
      expect(r.stdout).to.equal(`pod/plain (${join(dir, 'injected.yaml')}#1): valid\n`);
    });

    it('--pod-opt-out: warn by default, deny refuses', async () => {
      const f = file('optout.yaml', podYaml('optout', PLAIN, OPT_OUT));
      const warned = await validate(['-f', f]);
      expect(warned.code).to.equal(0);
      expect(warned.stderr).to.include('Warning: pod opts out of the sidecar');
      const denied = await validate(['-f', f, '--pod-opt-out', 'deny']);
      expect(denied.code).to.equal(1);
      expect(denied.stdout).to.include('remove the annotation (or set --pod-opt-out warn)');
      expect((await validate(['-f', f], { MESHGATE_POD_OPT_OUT: 'deny' })).code).to.equal(1);
    });
  });
});
