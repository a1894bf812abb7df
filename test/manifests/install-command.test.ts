import { expect } from 'chai';
import { parseAllDocuments } from 'yaml';
import { defaultInstallOptions } from '../../src/manifests/defaults.js';
import { renderCrds, renderInstall } from '../../src/manifests/render-install.js';
import { resolveProfile } from '../../src/profile.js';
import { runCli } from '../support/run-cli.js';

const docs = (yaml: string) => parseAllDocuments(yaml).map((d) => d.toJS());
const plain = (o: unknown) => JSON.parse(JSON.stringify(o));

describe('meshgate install (the built CLI)', () => {
  it('prints the default install as multi-document YAML', async () => {
    const r = await runCli(['install']);
    expect(r.stderr).to.equal('');
    expect(r.code).to.equal(0);
    expect(r.stdout.startsWith('---\n')).to.equal(true);
    expect(docs(r.stdout)).to.deep.equal(plain(renderInstall(defaultInstallOptions())));
  });

  it('takes the global profile and mesh options and its own flags', async () => {
    const r = await runCli(['--profile', 'fsm', 'install', '--mesh-name', 'blue', '--namespace', 'blue-system', '--enable-egress', '--cert-manager', '--image', 'example.com/meshgate:dev', '--replicas', '3']);
    expect(r.code, r.stderr).to.equal(0);
    const profile = resolveProfile('fsm', { meshName: 'blue', meshNamespace: 'blue-system' });
    const expected = renderInstall({
      profile,
      namespace: 'blue-system',
      meshName: 'blue',
      image: 'example.com/meshgate:dev',
      enableEgress: true,
      certManager: true,
      replicas: 3,
      bothEgressGroups: false,
    });
    expect(docs(r.stdout)).to.deep.equal(plain(expected));
    const mc = docs(r.stdout).find((o: any) => o.kind === 'MeshConfig');
    expect(mc).to.deep.include({ apiVersion: 'config.flomesh.io/v1alpha3' });
    expect(mc.metadata).to.deep.include({ name: 'fsm-mesh-config', namespace: 'blue-system' });
    expect(mc.spec.traffic.enableEgress).to.equal(true);
  });

  it('passes --init-image to the server as MESHGATE_INIT_IMAGE, and names none by default', async () => {
    const env = (yaml: string) =>
      docs(yaml).find((o: any) => o.kind === 'Deployment').spec.template.spec.containers[0].env as { name: string; value?: string }[];
    const r = await runCli(['install', '--image', 'registry.example/meshgate:0.1.0', '--init-image', 'registry.example/meshgate-init:0.1.0']);
    expect(r.code, r.stderr).to.equal(0);
    expect(env(r.stdout)).to.deep.include({ name: 'MESHGATE_INIT_IMAGE', value: 'registry.example/meshgate-init:0.1.0' });
    const plainRun = await runCli(['install']);
    expect(env(plainRun.stdout).map((e) => e.name)).not.to.include('MESHGATE_INIT_IMAGE');
    const bad = await runCli(['install', '--init-image', 'a b']);
    expect(bad.code).to.equal(2);
    expect(bad.stderr).to.match(/^meshgate: --init-image: "a b" is not an image reference: use e.g. --init-image meshgate\/meshgate-init:/);
  });

  it('refuses a namespace that is not a DNS label, with one line naming the flag', async () => {
    const r = await runCli(['install', '--namespace', 'Bad_NS']);
    expect(r.code).to.equal(2);
    expect(r.stdout).to.equal('');
    expect(r.stderr.trim().split('\n')).to.have.length(1);
    expect(r.stderr).to.match(/^meshgate: --namespace: "Bad_NS" is not a valid DNS-1123 label/);
  });

  it('--crds prints only the CRDs (the profile\'s, both policy groups with --both-egress-groups); the install itself has none', async () => {
    const main = await runCli(['install']);
    expect(docs(main.stdout).map((o: any) => o.kind)).to.not.include('CustomResourceDefinition');
    const crds = await runCli(['install', '--crds']);
    expect(crds.code, crds.stderr).to.equal(0);
    expect(crds.stderr).to.equal('');
    expect(docs(crds.stdout)).to.deep.equal(plain(renderCrds(defaultInstallOptions())));
    expect(new Set(docs(crds.stdout).map((o: any) => o.kind))).to.deep.equal(new Set(['CustomResourceDefinition']));
    // Every CRD carries the label the documented `kubectl wait ... -l meshgate.io/component=crds` selects.
    for (const o of docs(crds.stdout)) expect(o.metadata.labels['meshgate.io/component'], o.metadata.name).to.equal('crds');
    const fsm = await runCli(['--profile', 'fsm', 'install', '--crds', '--both-egress-groups']);
    expect(fsm.code, fsm.stderr).to.equal(0);
    expect(docs(fsm.stdout)).to.deep.equal(plain(renderCrds({ profile: resolveProfile('fsm'), bothEgressGroups: true })));
  });

  it('refuses flags that would be ignored: main-install flags with --crds, --both-egress-groups without it', async () => {
    const r = await runCli(['install', '--crds', '--image', 'example.com/m:1', '--namespace', 'x']);
    expect(r.code).to.equal(2);
    expect(r.stdout).to.equal('');
    expect(r.stderr).to.equal('meshgate: --crds prints only the CRDs, which --namespace, --image do not change: give them to `meshgate install` without --crds\n');
    const both = await runCli(['install', '--both-egress-groups']);
    expect(both.code).to.equal(2);
    expect(both.stderr).to.equal('meshgate: --both-egress-groups changes only the CRDs: use it with --crds (meshgate install --crds --both-egress-groups)\n');
  });

  it('--namespace and the global --mesh-namespace are one setting: either works, the same value twice too, two different values are an error naming both', async () => {
    const expected = (ns: string) => plain(renderInstall({ ...defaultInstallOptions(), profile: resolveProfile('osm', { meshNamespace: ns }), namespace: ns }));
    for (const args of [['install', '--namespace', 'foo'], ['--mesh-namespace', 'foo', 'install'], ['--mesh-namespace', 'foo', 'install', '--namespace', 'foo']]) {
      const r = await runCli(args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).to.equal(0);
      expect(docs(r.stdout), args.join(' ')).to.deep.equal(expected('foo'));
    }
    const r = await runCli(['--mesh-namespace', 'bar', 'install', '--namespace', 'foo']);
    expect(r.code).to.equal(2);
    expect(r.stdout).to.equal('');
    expect(r.stderr).to.equal('meshgate: --namespace "foo" and --mesh-namespace "bar" name different control namespaces: they are the same setting, give one\n');
    // The environment's MESHGATE_MESH_NAMESPACE is a default: the flag wins over it.
    const env = await runCli(['install', '--namespace', 'foo'], { env: { MESHGATE_MESH_NAMESPACE: 'bar' } });
    expect(env.code, env.stderr).to.equal(0);
    expect(docs(env.stdout)).to.deep.equal(expected('foo'));
    const bad = await runCli(['--mesh-namespace', 'Bad_NS', 'install']);
    expect(bad.stderr).to.match(/^meshgate: --mesh-namespace: "Bad_NS" is not a valid DNS-1123 label/);
  });

  it('refuses an unknown profile', async () => {
    const r = await runCli(['--profile', 'istio', 'install']);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.match(/--profile: unknown profile "istio"/);
  });
});
