import { expect } from 'chai';
import { readFile, writeFile } from 'node:fs/promises';
import { FakeApiServer, type KubeObj } from '../support/fake-apiserver.js';
import { runCli } from '../support/run-cli.js';

const MONITORED = 'openservicemesh.io/monitored-by';
const INJECTION = 'openservicemesh.io/sidecar-injection';
const IGNORE = 'openservicemesh.io/ignore';

describe('meshgate namespace (bin/meshgate against the fake API server)', () => {
  let api: FakeApiServer;
  let env: Record<string, string>;

  const createNs = (name: string, labels: Record<string, string> = {}, annotations: Record<string, string> = {}) =>
    api.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels, annotations } });
  const nsOf = (name: string): KubeObj => api.get('v1', 'Namespace', name)!;
  const meshgate = (...args: string[]) => runCli(args, { env, hermetic: true });

  beforeEach(async () => {
    api = await FakeApiServer.start();
    createNs('osm-system');
    env = { KUBECONFIG: await api.kubeconfig() };
  });
  afterEach(async () => {
    await api.close();
  });

  describe('add', () => {
    it('enrolls a namespace as in the seeds (kubectl create namespace curl; osm namespace add curl)', async () => {
      createNs('curl');
      const r = await meshgate('namespace', 'add', 'curl');
      expect(r.code).to.equal(0);
      expect(r.stdout).to.equal(
        'Namespace [curl] successfully added to mesh [osm]\n' +
          '  existing pods get the sidecar only when re-created; restart them to inject it: kubectl rollout restart deployment -n curl\n',
      );
      expect(r.stderr).to.equal('');
      const ns = nsOf('curl');
      expect(ns.metadata.labels).to.include({ [MONITORED]: 'osm' });
      expect(ns.metadata.annotations).to.deep.equal({ [INJECTION]: 'enabled' });
      const [patch] = api.requestsFor('patch', '/namespaces');
      expect(patch!.contentType).to.equal('application/merge-patch+json');
    });

    it('says a namespace added twice is already part of the mesh, exit 0, without writing', async () => {
      createNs('curl');
      await meshgate('namespace', 'add', 'curl');
      const patches = api.requestsFor('patch').length;
      const r = await meshgate('namespace', 'add', 'curl');
      expect(r).to.deep.equal({ code: 0, signal: null, stdout: 'Namespace [curl] is already part of mesh [osm] (sidecar injection enabled)\n', stderr: '' });
      expect(api.requestsFor('patch').length).to.equal(patches);
    });

    it('--disable-sidecar-injection sets the annotation to disabled (also on an enrolled namespace)', async () => {
      createNs('curl');
      await meshgate('namespace', 'add', 'curl');
      const r = await meshgate('namespace', 'add', 'curl', '--disable-sidecar-injection');
      expect(r.code).to.equal(0);
      expect(r.stdout).to.equal('Namespace [curl] successfully added to mesh [osm] with sidecar injection disabled\n');
      expect(nsOf('curl').metadata.annotations[INJECTION]).to.equal('disabled');
    });

    it("refuses a namespace of another mesh and leaves it alone (OSM silently took it over)", async () => {
      createNs('shop', { [MONITORED]: 'other' });
      const r = await meshgate('namespace', 'add', 'shop');
      expect(r.code).to.equal(1);
      expect(r.stdout).to.equal('');
      expect(r.stderr).to.equal(
        'meshgate: Namespace [shop] already has label [openservicemesh.io/monitored-by=other]; remove it from mesh [other] first: meshgate namespace remove shop --mesh-name other\n',
      );
      expect(nsOf('shop').metadata.labels[MONITORED]).to.equal('other');
      expect(api.requestsFor('patch')).to.have.length(0);
    });

    it('refuses an ignored namespace', async () => {
      createNs('legacy', { [IGNORE]: 'true' });
      const r = await meshgate('namespace', 'add', 'legacy');
      expect(r.code).to.equal(1);
      expect(r.stderr).to.equal(
        'meshgate: Namespace [legacy] has label [openservicemesh.io/ignore=true] and is ignored by the mesh; remove the label first: kubectl label namespace legacy openservicemesh.io/ignore-\n',
      );
      expect(nsOf('legacy').metadata.labels[MONITORED]).to.equal(undefined);
    });

    it('refuses the control namespace and kube-system', async () => {
      createNs('kube-system');
      const r = await meshgate('namespace', 'add', 'osm-system', 'kube-system');
      expect(r.code).to.equal(1);
      expect(r.stderr).to.equal(
        'meshgate: Namespace [osm-system] is the control plane namespace of mesh [osm] and cannot be added to the mesh\n' +
          'meshgate: Namespace [kube-system] is a Kubernetes system namespace and cannot be added to mesh [osm]\n',
      );
    });

    it('adds several namespaces with a result line each; one missing makes the exit code non-zero', async () => {
      createNs('bookstore');
      createNs('bookbuyer');
      const r = await meshgate('namespace', 'add', 'bookstore', 'nope', 'bookbuyer', '--disable-sidecar-injection');
      expect(r.code).to.equal(1);
      expect(r.stdout).to.equal(
        'Namespace [bookstore] successfully added to mesh [osm] with sidecar injection disabled\n' +
          'Namespace [bookbuyer] successfully added to mesh [osm] with sidecar injection disabled\n',
      );
      expect(r.stderr).to.equal('meshgate: Namespace [nope] not found; create it first: kubectl create namespace nope\n');
      expect(nsOf('bookbuyer').metadata.labels[MONITORED]).to.equal('osm');
    });

    it('uses --mesh-name and the fsm profile for the names', async () => {
      createNs('curl');
      createNs('web');
      expect((await meshgate('namespace', 'add', 'curl', '--mesh-name', 'blue')).stdout).to.contain('Namespace [curl] successfully added to mesh [blue]');
      expect(nsOf('curl').metadata.labels[MONITORED]).to.equal('blue');
      const r = await meshgate('--profile', 'fsm', 'namespace', 'add', 'web');
      expect(r.stdout).to.contain('Namespace [web] successfully added to mesh [fsm]');
      expect(nsOf('web').metadata.labels).to.include({ 'flomesh.io/monitored-by': 'fsm' });
      expect(nsOf('web').metadata.annotations).to.deep.equal({ 'flomesh.io/sidecar-injection': 'enabled' });
    });

    it('retries on 409 Conflict: the write is guarded by the checked resourceVersion and re-checked', async () => {
      createNs('curl');
      api.injectConflicts(2);
      const r = await meshgate('namespace', 'add', 'curl');
      expect(r.code).to.equal(0);
      expect(r.stdout).to.contain('Namespace [curl] successfully added to mesh [osm]');
      const patches = api.requestsFor('patch', '/namespaces');
      expect(patches.map((p) => p.status)).to.deep.equal([409, 409, 200]);
      expect(api.requestsFor('get', '/namespaces')).to.have.length(3);
      for (const p of patches) expect((p.body as KubeObj).metadata.resourceVersion).to.be.a('string');
    });

    it('gives up after repeated conflicts with one line', async () => {
      createNs('curl');
      api.injectConflicts(50);
      const r = await meshgate('namespace', 'add', 'curl');
      expect(r.code).to.equal(1);
      expect(r.stderr).to.match(/^meshgate: conflict: namespaces "curl" kept changing while meshgate updated it \(Operation cannot be fulfilled on namespaces "curl": .*\); try again\n$/);
    });

    it('names the verb, resource and permission when RBAC forbids it', async () => {
      createNs('curl');
      api.forbid({ verb: 'patch', resource: 'namespaces' });
      const r = await meshgate('namespace', 'add', 'curl');
      expect(r.code).to.equal(1);
      expect(r.stderr).to.equal(
        'meshgate: forbidden: namespaces "curl" is forbidden: User "system:serviceaccount:osm-system:meshgate" cannot patch resource "namespaces" in API group "" at the cluster scope; ' +
          'grant verb "patch" on resource "namespaces" in API group "" to this user (a Role or ClusterRole and its binding)\n',
      );
    });
  });

  describe('remove', () => {
    it('removes the label and annotation and keeps everything else', async () => {
      createNs('curl', { [MONITORED]: 'osm', team: 'a' }, { [INJECTION]: 'enabled', note: 'x' });
      const r = await meshgate('namespace', 'remove', 'curl');
      expect(r.code).to.equal(0);
      expect(r.stdout).to.equal(
        'Namespace [curl] successfully removed from mesh [osm]\n  running pods keep their sidecar until re-created: kubectl rollout restart deployment -n curl\n',
      );
      const ns = nsOf('curl');
      expect(ns.metadata.labels).to.deep.equal({ team: 'a', 'kubernetes.io/metadata.name': 'curl' });
      expect(ns.metadata.annotations).to.deep.equal({ note: 'x' });
    });

    it('refuses a namespace of another mesh', async () => {
      createNs('shop', { [MONITORED]: 'other' }, { [INJECTION]: 'enabled' });
      const r = await meshgate('namespace', 'remove', 'shop');
      expect(r.code).to.equal(1);
      expect(r.stderr).to.equal(
        'meshgate: Namespace [shop] belongs to mesh [other], not mesh [osm]; to remove it from its mesh: meshgate namespace remove shop --mesh-name other\n',
      );
      expect(nsOf('shop').metadata.labels[MONITORED]).to.equal('other');
      expect((await meshgate('namespace', 'remove', 'shop', '--mesh-name', 'other')).code).to.equal(0);
      expect(nsOf('shop').metadata.labels[MONITORED]).to.equal(undefined);
    });

    it('says a namespace in no mesh has nothing to remove (non-zero), and names a missing one', async () => {
      createNs('plain');
      const r = await meshgate('namespace', 'remove', 'plain', 'ghost');
      expect(r.code).to.equal(1);
      expect(r.stderr).to.equal(
        'meshgate: Namespace [plain] is not part of any mesh (no label [openservicemesh.io/monitored-by]); nothing to remove\n' +
          'meshgate: Namespace [ghost] not found; create it first: kubectl create namespace ghost\n',
      );
    });
  });

  describe('ignore', () => {
    it('labels namespaces <domain>/ignore=true, as OSM does, and notes a still-enrolled one', async () => {
      createNs('legacy');
      createNs('curl', { [MONITORED]: 'osm' });
      const r = await meshgate('namespace', 'ignore', 'legacy', 'curl');
      expect(r.code).to.equal(0);
      expect(r.stdout).to.equal(
        'Successfully configured namespace [legacy] to be ignored\n' +
          'Successfully configured namespace [curl] to be ignored\n' +
          '  it keeps label [openservicemesh.io/monitored-by=osm]; the ignore label wins: no sidecar is injected there; running pods keep theirs until re-created\n',
      );
      expect(nsOf('legacy').metadata.labels[IGNORE]).to.equal('true');
      expect((await meshgate('namespace', 'ignore', 'legacy')).stdout).to.equal('Namespace [legacy] is already ignored\n');
    });
  });

  describe('list', () => {
    beforeEach(() => {
      createNs('curl', { [MONITORED]: 'osm' }, { [INJECTION]: 'enabled' });
      createNs('bookstore', { [MONITORED]: 'osm' });
      createNs('shop', { [MONITORED]: 'other' }, { [INJECTION]: 'disabled' });
      createNs('plain');
    });

    it('lists every enrolled namespace with its mesh and injection (- when unset)', async () => {
      const r = await meshgate('namespace', 'list');
      expect(r.code).to.equal(0);
      expect(r.stdout).to.equal(
        'NAMESPACE   MESH    SIDECAR-INJECTION\n' + 'bookstore   osm     -\n' + 'curl        osm     enabled\n' + 'shop        other   disabled\n',
      );
      expect(api.requestsFor('list', '/namespaces')[0]!.query.labelSelector).to.equal(MONITORED);
    });

    it('filters by mesh, positionally or with --mesh-name', async () => {
      const expected = 'NAMESPACE   MESH    SIDECAR-INJECTION\nshop        other   disabled\n';
      expect((await meshgate('namespace', 'list', 'other')).stdout).to.equal(expected);
      expect((await meshgate('namespace', 'list', '--mesh-name', 'other')).stdout).to.equal(expected);
    });

    it("prints OSM's messages when nothing matches", async () => {
      expect(await meshgate('namespace', 'list', 'nomesh')).to.deep.equal({ code: 0, signal: null, stdout: 'No namespaces in mesh [nomesh]\n', stderr: '' });
      for (const n of ['curl', 'bookstore', 'shop']) api.remove('v1', 'Namespace', n);
      expect((await meshgate('namespace', 'list')).stdout).to.equal('No namespaces in any mesh\n');
    });
  });

  describe('cluster access errors', () => {
    it('names the server URL when nothing listens there', async () => {
      const url = api.url;
      await api.close();
      const r = await meshgate('namespace', 'add', 'a', 'b');
      expect(r.code).to.equal(1);
      expect(r.stderr).to.equal(
        `meshgate: cannot reach the Kubernetes API server at ${url}: connection refused (ECONNREFUSED); check that the cluster is up and that KUBECONFIG or --kubeconfig points at it\n`,
      );
      api = await FakeApiServer.start();
    });

    it('takes --kubeconfig over KUBECONFIG, and names an unreadable one', async () => {
      createNs('curl');
      const path = env.KUBECONFIG!;
      const ok = await runCli(['namespace', 'add', 'curl', '--kubeconfig', path], { env: { KUBECONFIG: '/nonexistent/kubeconfig' }, hermetic: true });
      expect(ok.code).to.equal(0);
      const bad = await runCli(['namespace', 'list', '--kubeconfig', '/nonexistent/kubeconfig'], { hermetic: true });
      expect(bad.code).to.equal(1);
      expect(bad.stderr).to.equal("meshgate: cannot read kubeconfig /nonexistent/kubeconfig: ENOENT: no such file or directory, open '/nonexistent/kubeconfig'\n");
    });

    it('says how to configure access when there is no kubeconfig at all', async () => {
      const r = await runCli(['namespace', 'list'], { hermetic: true });
      expect(r.code).to.equal(1);
      expect(r.stderr).to.equal(
        'meshgate: no Kubernetes cluster configured: set KUBECONFIG or --kubeconfig, create ~/.kube/config, or run in a pod with a service account\n',
      );
    });

    it('refuses a server whose certificate the kubeconfig CA did not sign', async () => {
      const other = await FakeApiServer.start();
      try {
        // The other fake's CA, this fake's URL: TLS verification fails before any token is sent.
        const kc = await other.kubeconfig({ server: api.url });
        const r = await runCli(['namespace', 'list'], { env: { KUBECONFIG: kc }, hermetic: true });
        expect(r.code).to.equal(1);
        expect(r.stderr).to.equal(
          `meshgate: TLS verification of the Kubernetes API server at ${api.url} failed: the server certificate is not signed by the kubeconfig's certificate authority (CERT_SIGNATURE_FAILURE); check the certificate-authority of this cluster in the kubeconfig\n`,
        );
      } finally {
        await other.close();
      }
    });

    it('says the credentials were rejected on 401', async () => {
      const path = env.KUBECONFIG!;
      const text = (await readFile(path, 'utf8')).replace(api.token, 'wrong-token');
      await writeFile(path, text);
      const r = await meshgate('namespace', 'list');
      expect(r.code).to.equal(1);
      expect(r.stderr).to.equal(`meshgate: the Kubernetes API server at ${api.url} rejected the credentials (401 Unauthorized); refresh the token or certificate in the kubeconfig\n`);
    });
  });
});
