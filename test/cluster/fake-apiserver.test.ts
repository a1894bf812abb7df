import { expect } from 'chai';
import {
  AdmissionregistrationV1Api,
  ApiException,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  Watch,
} from '@kubernetes/client-node';
import { FakeApiServer } from '../support/fake-apiserver.js';
import { eventually } from '../support/fake-apiserver/wait.js';

/** The fake must behave like kube-apiserver where clients can tell; these pin that down. */
describe('fake API server (driven by the real client-node over HTTPS)', () => {
  let api: FakeApiServer;
  let kc: KubeConfig;
  let core: CoreV1Api;
  let custom: CustomObjectsApi;

  const statusOf = async (p: Promise<unknown>) => {
    try {
      await p;
    } catch (err) {
      expect(err).to.be.instanceOf(ApiException);
      const e = err as ApiException<string>;
      return { code: e.code, ...(JSON.parse(e.body) as { reason: string; message: string; kind: string }) };
    }
    throw new Error('expected the request to fail');
  };

  beforeEach(async () => {
    api = await FakeApiServer.start();
    kc = new KubeConfig();
    kc.loadFromFile(await api.kubeconfig());
    core = kc.makeApiClient(CoreV1Api);
    custom = kc.makeApiClient(CustomObjectsApi);
  });
  afterEach(async () => {
    await api.close();
  });

  it('creates, reads and lists with a global resourceVersion; 409 AlreadyExists and 404 NotFound are Status objects', async () => {
    const created = await core.createNamespace({ body: { metadata: { name: 'curl' } } });
    expect(created.metadata?.labels).to.deep.equal({ 'kubernetes.io/metadata.name': 'curl' });
    const rv1 = Number(created.metadata?.resourceVersion);
    await core.createNamespacedSecret({ namespace: 'curl', body: { metadata: { name: 's' }, data: { a: 'Yg==' } } });
    const secret = await core.readNamespacedSecret({ namespace: 'curl', name: 's' });
    expect(Number(secret.metadata?.resourceVersion)).to.be.greaterThan(rv1);
    const list = await core.listNamespace();
    expect(list.metadata?.resourceVersion).to.equal(secret.metadata?.resourceVersion);

    expect(await statusOf(core.createNamespace({ body: { metadata: { name: 'curl' } } }))).to.include({ code: 409, reason: 'AlreadyExists', message: 'namespaces "curl" already exists', kind: 'Status' });
    expect(await statusOf(core.readNamespace({ name: 'ghost' }))).to.include({ code: 404, reason: 'NotFound', message: 'namespaces "ghost" not found' });
    expect(await statusOf(core.createNamespacedSecret({ namespace: 'ghost', body: { metadata: { name: 's' } } }))).to.include({ code: 404, message: 'namespaces "ghost" not found' });
  });

  it('PUT honours the resourceVersion precondition (409 Conflict); patches in all three types', async () => {
    await core.createNamespace({ body: { metadata: { name: 'curl' } } });
    const body = { apiVersion: 'specs.smi-spec.io/v1alpha4', kind: 'HTTPRouteGroup', metadata: { name: 'rg', namespace: 'curl' }, spec: { matches: [{ name: 'a' }] } };
    const ref = { group: 'specs.smi-spec.io', version: 'v1alpha4', namespace: 'curl', plural: 'httproutegroups', name: 'rg' };
    const created = (await custom.createNamespacedCustomObject({ ...ref, body })) as typeof body & { metadata: { resourceVersion: string } };
    await custom.patchNamespacedCustomObject({ ...ref, body: { metadata: { labels: { x: 'y' } } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
    const stale = await statusOf(custom.replaceNamespacedCustomObject({ ...ref, body: created }));
    expect(stale).to.include({ code: 409, reason: 'Conflict', message: 'Operation cannot be fulfilled on httproutegroups.specs.smi-spec.io "rg": the object has been modified; please apply your changes to the latest version and try again' });

    await custom.patchNamespacedCustomObject({ ...ref, body: [{ op: 'add', path: '/spec/matches/-', value: { name: 'b' } }] }, setHeaderOptions('Content-Type', PatchStrategy.JsonPatch));
    await custom.patchNamespacedCustomObject({ ...ref, body: { metadata: { labels: { x: null, z: '1' } } } }, setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch));
    const now = api.get('specs.smi-spec.io/v1alpha4', 'HTTPRouteGroup', 'rg', 'curl')!;
    expect(now.spec.matches).to.deep.equal([{ name: 'a' }, { name: 'b' }]);
    expect(now.metadata.labels).to.deep.equal({ z: '1' });
    expect(now.metadata.generation).to.equal(2);

    const failedTest = await statusOf(custom.patchNamespacedCustomObject({ ...ref, body: [{ op: 'test', path: '/spec/matches/0/name', value: 'nope' }] }, setHeaderOptions('Content-Type', PatchStrategy.JsonPatch)));
    expect(failedTest.code).to.equal(422);
  });

  it('serves webhook configurations, forbids on request, and 404s an uninstalled CRD until installed', async () => {
    const adm = kc.makeApiClient(AdmissionregistrationV1Api);
    await adm.createValidatingWebhookConfiguration({ body: { metadata: { name: 'meshgate' }, webhooks: [] } });
    expect((await adm.listValidatingWebhookConfiguration()).items.map((w) => w.metadata?.name)).to.deep.equal(['meshgate']);
    api.forbid({ verb: 'get', resource: 'secrets' });
    expect(await statusOf(core.readNamespacedSecret({ namespace: 'default', name: 'x' }))).to.include({
      code: 403,
      reason: 'Forbidden',
      message: 'secrets "x" is forbidden: User "system:serviceaccount:osm-system:meshgate" cannot get resource "secrets" in API group "" in the namespace "default"',
    });
    api.uninstall('policy.flomesh.io', 'egresses');
    const gone = await statusOf(custom.listClusterCustomObject({ group: 'policy.flomesh.io', version: 'v1alpha1', plural: 'egresses' }));
    expect(gone).to.include({ code: 404, message: 'the server could not find the requested resource' });
    api.install('policy.flomesh.io', 'egresses');
    expect(await custom.listClusterCustomObject({ group: 'policy.flomesh.io', version: 'v1alpha1', plural: 'egresses' })).to.include({ kind: 'EgressList' });
  });

  it('watches replay history after a resourceVersion, turn label transitions into ADDED/DELETED, and send 410 for compacted history', async () => {
    api.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'a' } });
    const from = String(api.store.resourceVersion);
    api.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'b' } });
    api.mergePatch('v1', 'Namespace', 'b', '', { metadata: { labels: { mesh: 'osm' } } });
    api.mergePatch('v1', 'Namespace', 'a', '', { metadata: { labels: { mesh: 'osm' } } });
    api.mergePatch('v1', 'Namespace', 'b', '', { metadata: { labels: { mesh: null } } });
    const events: string[] = [];
    const w = await new Watch(kc).watch('/api/v1/namespaces', { resourceVersion: from, labelSelector: 'mesh' }, (type, obj) => events.push(`${type} ${obj.metadata.name}`), () => {});
    await eventually('replayed', () => events.length === 3);
    expect(events).to.deep.equal(['ADDED b', 'ADDED a', 'DELETED b']);
    w.abort();

    api.compact();
    const errors: unknown[] = [];
    const w2 = await new Watch(kc).watch('/api/v1/namespaces', { resourceVersion: from }, (type, obj) => type === 'ERROR' && errors.push(obj), () => {});
    await eventually('410', () => errors.length === 1);
    expect(errors[0]).to.include({ kind: 'Status', code: 410, reason: 'Expired' });
    w2.abort();
  });
});
