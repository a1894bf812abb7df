import { expect } from 'chai';
import { request } from 'node:https';
import { FakeApiServer, type KubeObj } from '../support/fake-apiserver.js';
import { runCli } from '../support/run-cli.js';

const OSM_MC = 'config.openservicemesh.io/v1alpha2';
const INITIAL_SPEC = {
  sidecar: { logLevel: 'error', enablePrivilegedInitContainer: false },
  traffic: { enableEgress: false, enablePermissiveTrafficPolicyMode: true, outboundPortExclusionList: [] },
  featureFlags: { enableEgressPolicy: true, enableWASMStats: true },
};

/** What `kubectl patch meshconfig NAME -n NS -p PATCH --type=merge` sends: a raw merge-patch PATCH. */
function kubectlMergePatch(api: FakeApiServer, path: string, patch: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${api.url}${path}`,
      { method: 'PATCH', ca: api.caCert, headers: { Authorization: `Bearer ${api.token}`, 'Content-Type': 'application/merge-patch+json' } },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(patch);
  });
}

describe('meshgate egress (bin/meshgate against the fake API server)', () => {
  let api: FakeApiServer;
  let env: Record<string, string>;
  const meshgate = (...args: string[]) => runCli(args, { env, hermetic: true });
  const spec = (ns = 'osm-system', name = 'osm-mesh-config', apiVersion = OSM_MC): KubeObj => api.get(apiVersion, 'MeshConfig', name, ns)!.spec;

  beforeEach(async () => {
    api = await FakeApiServer.start();
    for (const name of ['osm-system', 'kubectl-system']) {
      api.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
      api.create({ apiVersion: OSM_MC, kind: 'MeshConfig', metadata: { name: 'osm-mesh-config', namespace: name }, spec: structuredClone(INITIAL_SPEC) });
    }
    env = { KUBECONFIG: await api.kubeconfig() };
  });
  afterEach(async () => {
    await api.close();
  });

  it("reproduces the seeds: namespace add curl, then egress enable = kubectl patch ... '{\"spec\":{\"traffic\":{\"enableEgress\":true}}}' --type=merge", async () => {
    api.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'curl' } }); // kubectl create namespace curl
    expect((await meshgate('namespace', 'add', 'curl')).code).to.equal(0);
    const r = await meshgate('egress', 'enable');
    expect(r.code).to.equal(0);
    expect(r.stdout).to.equal(
      'MeshConfig [osm-system/osm-mesh-config]: egress passthrough enabled\n' +
        'passthrough is on: pods in the mesh reach any external destination, so Egress policies restrict nothing (they only add routing rules)\n',
    );
    // The same patch kubectl sends, the same MeshConfig after it.
    const [patch] = api.requestsFor('patch', 'config.openservicemesh.io/meshconfigs');
    expect(patch!.contentType).to.equal('application/merge-patch+json');
    expect(patch!.body).to.deep.equal({ spec: { traffic: { enableEgress: true } } });
    expect(patch!.path).to.equal('/apis/config.openservicemesh.io/v1alpha2/namespaces/osm-system/meshconfigs/osm-mesh-config');
    const status = await kubectlMergePatch(api, '/apis/config.openservicemesh.io/v1alpha2/namespaces/kubectl-system/meshconfigs/osm-mesh-config', '{"spec":{"traffic":{"enableEgress":true}}}');
    expect(status).to.equal(200);
    expect(spec()).to.deep.equal(spec('kubectl-system'));
    expect(spec().traffic.enableEgress).to.equal(true);
  });

  it('disable = kubectl patch ... enableEgress:false, and --policy on|off sets featureFlags.enableEgressPolicy', async () => {
    await meshgate('egress', 'enable');
    const off = await meshgate('egress', 'disable', '--policy', 'off');
    expect(off.code).to.equal(0);
    expect(off.stdout).to.equal(
      'MeshConfig [osm-system/osm-mesh-config]: egress passthrough disabled, Egress policies turned off\n' +
        'passthrough and Egress policies are both off: pods in the mesh cannot reach any external destination (turn policies on with --policy on)\n',
    );
    expect(spec().traffic).to.deep.equal({ ...INITIAL_SPEC.traffic, enableEgress: false });
    expect(spec().featureFlags).to.deep.equal({ ...INITIAL_SPEC.featureFlags, enableEgressPolicy: false });
    await kubectlMergePatch(api, '/apis/config.openservicemesh.io/v1alpha2/namespaces/kubectl-system/meshconfigs/osm-mesh-config', '{"spec":{"featureFlags":{"enableEgressPolicy":false},"traffic":{"enableEgress":false}}}');
    expect(spec()).to.deep.equal(spec('kubectl-system'));

    const on = await meshgate('egress', 'disable', '--policy', 'on');
    expect(on.stdout).to.equal(
      'MeshConfig [osm-system/osm-mesh-config]: egress passthrough disabled, Egress policies turned on\n' +
        'passthrough is off: pods in the mesh reach external destinations only as Egress policies allow\n',
    );
    expect(spec().featureFlags.enableEgressPolicy).to.equal(true);
  });

  it('status prints both switches and what they mean together', async () => {
    const before = await meshgate('egress', 'status');
    expect(before).to.deep.equal({
      code: 0,
      signal: null,
      stdout:
        'MeshConfig:          osm-system/osm-mesh-config\n' +
        'enableEgress:        false   (spec.traffic.enableEgress)\n' +
        'enableEgressPolicy:  true   (spec.featureFlags.enableEgressPolicy)\n' +
        'Effect:              passthrough is off: pods in the mesh reach external destinations only as Egress policies allow\n',
      stderr: '',
    });
    await meshgate('egress', 'enable', '--policy', 'off');
    expect((await meshgate('egress', 'status')).stdout).to.contain(
      'enableEgress:        true   (spec.traffic.enableEgress)\n' +
        'enableEgressPolicy:  false   (spec.featureFlags.enableEgressPolicy)\n' +
        'Effect:              passthrough is on and Egress policies are off: pods in the mesh reach any external destination\n',
    );
    expect(api.requestsFor('patch')).to.have.length(1); // status only reads
  });

  it('uses the fsm profile MeshConfig (config.flomesh.io/v1alpha3 fsm-mesh-config in fsm-system)', async () => {
    api.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'fsm-system' } });
    api.create({ apiVersion: 'config.flomesh.io/v1alpha3', kind: 'MeshConfig', metadata: { name: 'fsm-mesh-config', namespace: 'fsm-system' }, spec: { traffic: { enableEgress: true } } });
    const r = await meshgate('--profile', 'fsm', 'egress', 'disable', '--policy', 'on');
    expect(r.code).to.equal(0);
    expect(r.stdout).to.contain('MeshConfig [fsm-system/fsm-mesh-config]: egress passthrough disabled, Egress policies turned on');
    expect(spec('fsm-system', 'fsm-mesh-config', 'config.flomesh.io/v1alpha3')).to.deep.equal({ traffic: { enableEgress: false }, featureFlags: { enableEgressPolicy: true } });
  });

  it('retries a patch answered with 409 Conflict', async () => {
    api.injectConflicts(3);
    const r = await meshgate('egress', 'enable');
    expect(r.code).to.equal(0);
    expect(api.requestsFor('patch').map((p) => p.status)).to.deep.equal([409, 409, 409, 200]);
    expect(spec().traffic.enableEgress).to.equal(true);
  });

  it('names a missing MeshConfig, a missing CRD, RBAC denial and a bad --policy', async () => {
    const missing = await meshgate('--mesh-namespace', 'elsewhere', 'egress', 'status');
    expect(missing.code).to.equal(1);
    expect(missing.stderr).to.equal(
      'meshgate: MeshConfig [osm-mesh-config] not found in namespace [elsewhere]: is the mesh installed there? If it is installed in another namespace, pass --mesh-namespace NS\n',
    );

    api.forbid({ verb: 'patch', resource: 'meshconfigs' });
    const denied = await meshgate('egress', 'enable');
    expect(denied.code).to.equal(1);
    expect(denied.stderr).to.equal(
      'meshgate: forbidden: meshconfigs.config.openservicemesh.io "osm-mesh-config" is forbidden: User "system:serviceaccount:osm-system:meshgate" cannot patch resource "meshconfigs" in API group "config.openservicemesh.io" in the namespace "osm-system"; ' +
        'grant verb "patch" on resource "meshconfigs" in API group "config.openservicemesh.io" to this user (a Role or ClusterRole and its binding)\n',
    );

    const bad = await meshgate('egress', 'enable', '--policy', 'maybe');
    expect(bad).to.deep.equal({ code: 2, signal: null, stdout: '', stderr: 'meshgate: --policy: unknown value "maybe": use "on" or "off"\n' });

    api.uninstall('config.openservicemesh.io', 'meshconfigs');
    const noCrd = await meshgate('egress', 'disable');
    expect(noCrd.code).to.equal(1);
    expect(noCrd.stderr).to.equal(`meshgate: the MeshConfig CRD meshconfigs.config.openservicemesh.io is not installed in the cluster at ${api.url}: install the mesh first (for FSM use --profile fsm)\n`);
  });

  it('names the server URL when the cluster is unreachable', async () => {
    const url = api.url;
    await api.close();
    const r = await meshgate('egress', 'status');
    expect(r.code).to.equal(1);
    expect(r.stderr).to.equal(
      `meshgate: cannot reach the Kubernetes API server at ${url}: connection refused (ECONNREFUSED); check that the cluster is up and that KUBECONFIG or --kubeconfig points at it\n`,
    );
    api = await FakeApiServer.start();
  });
});
