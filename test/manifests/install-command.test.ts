import { expect } from 'chai';
import { parseAllDocuments } from 'yaml';
import { defaultInstallOptions } from '../../src/manifests/defaults.js';
import { renderInstall } from '../../src/manifests/render-install.js';
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

  it('refuses an unknown profile', async () => {
    const r = await runCli(['--profile', 'istio', 'install']);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.match(/--profile: unknown profile "istio"/);
  });
});
