import { expect } from 'chai';
import { KubeConfig } from '@kubernetes/client-node';
import { createClusterStateSource, type ClusterStateSource } from '../../src/cluster/informer-state.js';
import { resolveProfile } from '../../src/profile.js';
import { FakeApiServer } from '../support/fake-apiserver.js';
import { capturingLogger, eventually } from '../support/fake-apiserver/wait.js';

const FAST = { baseRetryMs: 20, maxRetryMs: 100, notInstalledRetryMs: 50, watchIdleTimeoutMs: 30_000, watchSettleMs: 20 };
const profile = resolveProfile('osm');

const ns = (name: string, labels: Record<string, string> = {}) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } });
const meshConfig = (spec: Record<string, unknown> = {}) => ({
  apiVersion: 'config.openservicemesh.io/v1alpha2',
  kind: 'MeshConfig',
  metadata: { name: 'osm-mesh-config', namespace: 'osm-system' },
  spec,
});
const routeGroup = (name: string, namespace = 'curl') => ({
  apiVersion: 'specs.smi-spec.io/v1alpha4',
  kind: 'HTTPRouteGroup',
  metadata: { name, namespace },
  spec: { matches: [{ name: 'get', pathRegex: '/get' }] },
});
const egress = (name: string, ports: { number: number; protocol: string }[], extra: Record<string, unknown> = {}, group = 'policy.openservicemesh.io') => ({
  apiVersion: `${group}/v1alpha1`,
  kind: 'Egress',
  metadata: { name, namespace: 'curl' },
  spec: { sources: [{ kind: 'ServiceAccount', name: 'curl', namespace: 'curl' }], ports, ...extra },
});

describe('cluster state from informers (real client-node against the fake API server over HTTPS)', () => {
  let api: FakeApiServer;
  let source: ClusterStateSource | undefined;
  let kc: KubeConfig;
  let log: ReturnType<typeof capturingLogger>;

  async function startSource(): Promise<ClusterStateSource> {
    source = createClusterStateSource({ profile, logger: log.logger, kubeConfig: kc, timing: FAST });
    await source.start();
    await eventually('cluster state ready', () => source!.ready());
    return source;
  }

  beforeEach(async () => {
    api = await FakeApiServer.start();
    api.create(ns('osm-system'));
    api.create(ns('curl'));
    api.create(meshConfig({ traffic: { enableEgress: false } }));
    kc = new KubeConfig();
    kc.loadFromFile(await api.kubeconfig());
    log = capturingLogger();
  });

  afterEach(async () => {
    await source?.stop();
    source = undefined;
    await api.close();
  });

  it('is not ready before start, then lists everything and is ready', async () => {
    source = createClusterStateSource({ profile, logger: log.logger, kubeConfig: kc, timing: FAST });
    expect(source.ready()).to.equal(false);
    expect(source.notReadyReasons()).to.deep.equal(['cluster state not started']);
    await source.start();
    await eventually('ready', () => source!.ready());
    expect(source.notReadyReasons()).to.deep.equal([]);
    expect(source.state.namespace('curl')?.labels).to.include({ 'kubernetes.io/metadata.name': 'curl' });
    expect(source.state.meshConfig()?.traffic?.enableEgress).to.equal(false);
    expect(source.informers().map((i) => i.resource)).to.have.members([
      'namespaces',
      'meshconfigs.config.openservicemesh.io',
      'httproutegroups.specs.smi-spec.io',
      'egresses.policy.openservicemesh.io',
      'egresses.policy.flomesh.io',
      'upstreamtrafficsettings.policy.openservicemesh.io',
      'upstreamtrafficsettings.policy.flomesh.io',
    ]);
    // Watches ask for bookmarks and resume from the list's resourceVersion.
    const watches = api.requestsFor('watch');
    expect(watches).to.have.length(7);
    for (const w of watches) {
      expect(w.query.allowWatchBookmarks).to.equal('true');
      expect(Number(w.query.resourceVersion)).to.be.greaterThan(0);
    }
    expect(api.requestsFor('watch', 'config.openservicemesh.io/meshconfigs')[0]!.namespace).to.equal('osm-system');
  });

  it('follows adds, updates and deletes, including the server-first and route-group indexes', async () => {
    const { state } = await startSource();
    api.create(routeGroup('egress-http-route'));
    api.create(egress('mysql', [{ number: 3306, protocol: 'tcp-server-first' }], { matches: [{ apiGroup: 'specs.smi-spec.io/v1alpha4', kind: 'HTTPRouteGroup', name: 'egress-http-route' }] }));
    api.create(egress('fsm-http', [{ number: 80, protocol: 'http' }], { hosts: ['httpbin.org'] }, 'policy.flomesh.io'));
    await eventually('objects seen', () => state.counts().Egress === 2 && state.httpRouteGroup('curl', 'egress-http-route'));
    expect(state.portUses({ namespace: 'curl', name: 'curl' }, 3306)).to.deep.equal([
      { policy: { group: 'policy.openservicemesh.io', namespace: 'curl', name: 'mysql' }, protocol: 'tcp-server-first' },
    ]);
    expect(state.egressesReferencing('curl', 'HTTPRouteGroup', 'egress-http-route')).to.deep.equal([{ group: 'policy.openservicemesh.io', namespace: 'curl', name: 'mysql' }]);
    expect(state.egress({ group: 'policy.flomesh.io', namespace: 'curl', name: 'fsm-http' })).to.not.equal(undefined);

    // Update: the port moves, the reference goes; the indexes follow.
    api.update({ ...egress('mysql', [{ number: 3307, protocol: 'tcp' }]) });
    await eventually('update seen', () => state.portUses({ namespace: 'curl', name: 'curl' }, 3307).length === 1);
    expect(state.portUses({ namespace: 'curl', name: 'curl' }, 3306)).to.deep.equal([]);
    expect(state.egressesReferencing('curl', 'HTTPRouteGroup', 'egress-http-route')).to.deep.equal([]);

    // Namespace label change and MeshConfig patch.
    api.mergePatch('v1', 'Namespace', 'curl', '', { metadata: { labels: { 'openservicemesh.io/monitored-by': 'osm' } } });
    api.mergePatch('config.openservicemesh.io/v1alpha2', 'MeshConfig', 'osm-mesh-config', 'osm-system', { spec: { traffic: { enableEgress: true } } });
    await eventually('label and meshconfig seen', () => state.namespace('curl')?.labels['openservicemesh.io/monitored-by'] === 'osm' && state.meshConfig()?.traffic?.enableEgress === true);

    // Deletes.
    api.remove('policy.openservicemesh.io/v1alpha1', 'Egress', 'mysql', 'curl');
    api.remove('specs.smi-spec.io/v1alpha4', 'HTTPRouteGroup', 'egress-http-route', 'curl');
    await eventually('deletes seen', () => state.counts().Egress === 1 && !state.httpRouteGroup('curl', 'egress-http-route'));
    expect(state.portUses({ namespace: 'curl', name: 'curl' }, 3307)).to.deep.equal([]);
  });

  it('ignores MeshConfigs outside the control namespace (the informer watches only osm-system)', async () => {
    api.create(ns('other'));
    api.create({ ...meshConfig({ traffic: { enableEgress: true } }), metadata: { name: 'osm-mesh-config', namespace: 'other' } });
    const { state } = await startSource();
    expect(state.meshConfig()?.traffic?.enableEgress).to.equal(false);
  });

  it('a dropped watch reconnects from its resourceVersion without losing an event made while it was down', async () => {
    const src = await startSource();
    const listsBefore = api.requestsFor('list').length;
    api.pauseWatches();
    await eventually('not ready while watches are down', () => !src.ready());
    expect(src.notReadyReasons().join('\n')).to.contain('watch disconnected; reconnecting');
    api.create(routeGroup('made-while-down'));
    expect(src.state.httpRouteGroup('curl', 'made-while-down')).to.equal(undefined);
    api.resumeWatches();
    await eventually('event replayed after reconnect', () => src.state.httpRouteGroup('curl', 'made-while-down'));
    await eventually('ready again', () => src.ready());
    // Reconnected by resuming the watch, not by relisting.
    expect(api.requestsFor('list').length).to.equal(listsBefore);
  });

  it('an abruptly reset watch is restarted (client-node gives up on such errors) and misses nothing', async () => {
    const src = await startSource();
    api.pauseWatches({ abrupt: true });
    await eventually('not ready', () => !src.ready());
    api.create(egress('while-reset', [{ number: 443, protocol: 'https' }]));
    api.resumeWatches();
    await eventually('event seen after restart', () => src.state.egress({ group: 'policy.openservicemesh.io', namespace: 'curl', name: 'while-reset' }));
    await eventually('ready again', () => src.ready());
  });

  for (const goneAs of ['event', 'http'] as const) {
    it(`410 Gone (${goneAs === 'event' ? 'an ERROR event, as kube-apiserver sends' : 'HTTP 410'}) relists, applying a delete missed while disconnected`, async () => {
      await api.close();
      api = await FakeApiServer.start({ goneAs });
      api.create(ns('osm-system'));
      api.create(ns('curl'));
      api.create(meshConfig());
      kc = new KubeConfig();
      kc.loadFromFile(await api.kubeconfig());
      api.create(egress('doomed', [{ number: 3306, protocol: 'tcp-server-first' }]));
      api.create(egress('kept', [{ number: 443, protocol: 'https' }]));
      const src = await startSource();
      expect(src.state.counts().Egress).to.equal(2);
      const egressLists = () => api.requestsFor('list', 'policy.openservicemesh.io/egresses').length;
      expect(egressLists()).to.equal(1);
      // Only the egress watch goes down, so readiness hangs on it alone.
      api.pauseWatches({ resource: 'policy.openservicemesh.io/egresses' });
      await eventually('not ready', () => !src.ready());
      api.remove('policy.openservicemesh.io/v1alpha1', 'Egress', 'doomed', 'curl');
      api.compact();
      const readyLogsBefore = log.messages().filter((m) => m === 'cluster state ready').length;
      api.resumeWatches();
      await eventually('delete applied by the relist', () => src.state.counts().Egress === 1 && src.ready());
      // The stream that carried only "410 Gone" never counted as synced: ready rose once, after the relist.
      expect(log.messages().filter((m) => m === 'cluster state ready').length).to.equal(readyLogsBefore + 1);
      expect(src.state.egress({ group: 'policy.openservicemesh.io', namespace: 'curl', name: 'kept' })).to.not.equal(undefined);
      expect(src.state.portUses({ namespace: 'curl', name: 'curl' }, 3306)).to.deep.equal([]);
      expect(egressLists()).to.equal(2);
    });
  }

  it('a watch the API server ends cleanly (its routine timeout) resumes without readiness ever falling', async () => {
    const src = await startSource();
    const watchesBefore = api.requestsFor('watch', 'policy.openservicemesh.io/egresses').length;
    let dipped = false;
    const sampler = setInterval(() => {
      if (!src.ready()) dipped = true;
    }, 1);
    try {
      api.dropWatches();
      api.create(egress('after-close', [{ number: 443, protocol: 'https' }]));
      await eventually('event after the routine close seen', () => src.state.egress({ group: 'policy.openservicemesh.io', namespace: 'curl', name: 'after-close' }));
      await eventually('watch resumed', () => api.requestsFor('watch', 'policy.openservicemesh.io/egresses').length > watchesBefore);
      await new Promise((r) => setTimeout(r, 100));
    } finally {
      clearInterval(sampler);
    }
    // With failurePolicy Fail, a not-ready dip on every routine close would refuse admissions cluster-wide.
    expect(dipped, 'readiness fell during a routine watch close').to.equal(false);
  });

  it('bookmarks keep a quiet watch current, so compaction does not force a relist', async () => {
    const src = await startSource();
    const rvOf = (resource: string) => src.informers().find((i) => i.resource === resource)!.resourceVersion;
    // Activity elsewhere moves the global resourceVersion past the quiet egress watch's.
    for (let i = 0; i < 5; i++) api.create(ns(`busy-${i}`));
    await eventually('namespaces seen', () => src.state.namespace('busy-4'));
    const current = String(api.store.resourceVersion);
    expect(rvOf('egresses.policy.flomesh.io')).to.not.equal(current);
    api.sendBookmarks();
    await eventually('bookmark received', () => rvOf('egresses.policy.flomesh.io') === current);
    const lists = api.requestsFor('list', 'policy.flomesh.io/egresses').length;
    api.compact();
    api.dropWatches();
    api.create(egress('after', [{ number: 8443, protocol: 'https' }], {}, 'policy.flomesh.io'));
    await eventually('later event seen', () => src.state.egress({ group: 'policy.flomesh.io', namespace: 'curl', name: 'after' }));
    // Resumed from the bookmark's resourceVersion: no 410, no relist.
    expect(api.requestsFor('list', 'policy.flomesh.io/egresses').length).to.equal(lists);
    expect(api.requestsFor('watch', 'policy.flomesh.io/egresses').at(-1)!.query.resourceVersion).to.equal(current);
  });

  it('a CRD that is not installed is a synced empty state, reported, and picked up once installed', async () => {
    api.uninstall('policy.flomesh.io', 'egresses');
    const src = await startSource();
    expect(src.informers().find((i) => i.resource === 'egresses.policy.flomesh.io')?.phase).to.equal('not-installed');
    expect(log.messages()).to.include('egresses.policy.flomesh.io is not installed; retrying');
    api.install('policy.flomesh.io', 'egresses');
    api.create(egress('late', [{ number: 80, protocol: 'http' }], { hosts: ['httpbin.org'] }, 'policy.flomesh.io'));
    await eventually('object of the late CRD seen', () => src.state.egress({ group: 'policy.flomesh.io', namespace: 'curl', name: 'late' }));
    await eventually('synced', () => src.informers().find((i) => i.resource === 'egresses.policy.flomesh.io')?.phase === 'synced');
    expect(log.messages()).to.include('egresses.policy.flomesh.io is installed now; watching it');
    expect(src.ready()).to.equal(true);
  });

  it('a CRD removed while watched empties its objects and stays ready', async () => {
    api.create(routeGroup('rg'));
    const src = await startSource();
    expect(src.state.httpRouteGroup('curl', 'rg')).to.not.equal(undefined);
    api.uninstall('specs.smi-spec.io', 'httproutegroups');
    await eventually('route groups gone', () => src.state.counts().HTTPRouteGroup === 0 && src.informers().find((i) => i.resource === 'httproutegroups.specs.smi-spec.io')?.phase === 'not-installed');
    await eventually('ready', () => src.ready());
  });

  it('forbidden (403) keeps it not ready with the RBAC fix named, until access is granted', async () => {
    api.forbid({ verb: 'list', resource: 'httproutegroups' });
    source = createClusterStateSource({ profile, logger: log.logger, kubeConfig: kc, timing: FAST });
    await source.start();
    const reason = await eventually('forbidden reported', () => source!.notReadyReasons().find((r) => r.includes('forbidden')));
    expect(reason).to.equal(
      'httproutegroups.specs.smi-spec.io: forbidden: httproutegroups.specs.smi-spec.io is forbidden: User "system:serviceaccount:osm-system:meshgate" cannot list resource "httproutegroups" in API group "specs.smi-spec.io" at the cluster scope; ' +
        'grant verb "list" on resource "httproutegroups" in API group "specs.smi-spec.io" to this user (a Role or ClusterRole and its binding); retrying in 1s',
    );
    expect(source.ready()).to.equal(false);
    api.allowAll();
    await eventually('ready after access granted', () => source!.ready());
  });

  it('an unreachable API server is reported by URL and the state is not ready', async () => {
    const server = api.url;
    await api.close();
    source = createClusterStateSource({ profile, logger: log.logger, kubeConfig: kc, timing: FAST });
    await source.start();
    const reason = await eventually('unreachable reported', () => source!.notReadyReasons().find((r) => r.includes('cannot reach')));
    expect(reason).to.contain(`cannot reach the Kubernetes API server at ${server}: connection refused (ECONNREFUSED)`);
    expect(source.ready()).to.equal(false);
    await source.stop();
    source = undefined;
    api = await FakeApiServer.start(); // for afterEach
  });

  it('the fsm profile watches its own MeshConfig group and name', async () => {
    api.create(ns('fsm-system'));
    api.create({ apiVersion: 'config.flomesh.io/v1alpha3', kind: 'MeshConfig', metadata: { name: 'fsm-mesh-config', namespace: 'fsm-system' }, spec: { traffic: { enableEgress: true } } });
    source = createClusterStateSource({ profile: resolveProfile('fsm'), logger: log.logger, kubeConfig: kc, timing: FAST });
    await source.start();
    await eventually('ready', () => source!.ready());
    expect(source.state.meshConfig()?.traffic?.enableEgress).to.equal(true);
  });
});
