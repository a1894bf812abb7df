import { expect } from 'chai';
import { DEFAULT_SETTINGS } from '../../src/settings.js';
import type { StateChange } from '../../src/state/store.js';
import { ConfigCache, type SnapshotUpdate } from '../../src/xds/config-cache.js';
import { egress, meshConfig, routeGroup, storeWith } from '../policy/helpers.js';

/** The config cache on a MeshStore that the tests change: who is recompiled, who hears of it. */

const CURL = { namespace: 'curl', name: 'curl' };
const OTHER = { namespace: 'curl', name: 'other' };
const otherSource = { sources: [{ kind: 'ServiceAccount', name: 'other', namespace: 'curl' }] };
const http80 = (host: string, more: Record<string, unknown> = {}) => ({ hosts: [host], ports: [{ number: 80, protocol: 'http' }], ...more });

function setup() {
  const store = storeWith([
    meshConfig({ traffic: { enableEgress: false }, featureFlags: { enableEgressPolicy: true } }),
    egress(http80('httpbin.org'), { name: 'curl-httpbin' }),
    egress({ ...http80('example.com'), ...otherSource }, { name: 'other-example' }),
    routeGroup([{ name: 'get', pathRegex: '/get' }], 'rg'),
  ]);
  const cache = new ConfigCache<string>({ state: store, changes: store, settings: DEFAULT_SETTINGS, encode: (r) => JSON.stringify(r), debounceMs: 5 });
  const heard: Record<string, SnapshotUpdate<string>[]> = { curl: [], other: [] };
  const curl = cache.watch(CURL, (u) => heard.curl!.push(u));
  const other = cache.watch(OTHER, (u) => heard.other!.push(u));
  return { store, cache, heard, curl, other };
}

describe('xds: MeshStore change listener', () => {
  it('reports upserts and removals with the Egress sources before and after', () => {
    const store = storeWith([egress(http80('a.org'), { name: 'p' })]);
    const changes: StateChange[] = [];
    const off = store.onChange((c) => changes.push(c));
    store.upsert(egress({ ...http80('a.org'), ...otherSource }, { name: 'p' }));
    store.remove(egress({}, { name: 'p' }));
    store.upsert(routeGroup([], 'rg'));
    store.upsert(routeGroup([{ name: 'x' }], 'rg'));
    store.upsert({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'ignored' } });
    off();
    store.upsert(egress(http80('b.org'), { name: 'q' }));
    expect(changes.map((c) => [c.kind, c.name, c.sources])).to.deep.equal([
      ['Egress', 'p', { before: ['curl/curl'], after: ['curl/other'] }],
      ['Egress', 'p', { before: ['curl/other'] , after: [] }],
      ['HTTPRouteGroup', 'rg', undefined],
      ['HTTPRouteGroup', 'rg', undefined],
    ]);
    expect(changes[3]!.before).to.deep.include({ kind: 'HTTPRouteGroup' });
    expect(store.counts().Egress).to.equal(1);
  });

  it('reports what a replaceAll drops and writes, and leaves the same state as without a listener', () => {
    const objects = [egress(http80('a.org'), { name: 'p' }), egress(http80('b.org'), { name: 'q' })];
    const withListener = storeWith(objects);
    const without = storeWith(objects);
    const changes: StateChange[] = [];
    withListener.onChange((c) => changes.push(c));
    const next = [egress({ ...http80('c.org'), ...otherSource }, { name: 'r' })];
    withListener.replaceAll('Egress', next);
    without.replaceAll('Egress', next);
    expect(changes.filter((c) => !c.after).map((c) => c.name).sort()).to.deep.equal(['p', 'q']);
    expect(changes.filter((c) => c.after).map((c) => c.name)).to.deep.equal(['r']);
    expect(withListener.egressesFor(OTHER)).to.deep.equal(without.egressesFor(OTHER));
    expect(withListener.egressesFor(CURL)).to.deep.equal([]);
  });
});

describe('xds: the config cache', () => {
  it('a change to one ServiceAccount\'s policy reaches its watchers only', () => {
    const { store, cache, heard, curl } = setup();
    const before = curl.snapshot.listeners.version;
    store.upsert(egress(http80('httpbin.org', { ports: [{ number: 80, protocol: 'http' }, { number: 8080, protocol: 'http' }] }), { name: 'curl-httpbin' }));
    cache.flush();
    expect(heard.curl).to.have.length(1);
    expect(heard.other).to.have.length(0);
    expect(heard.curl![0]!.snapshot.listeners.version).to.not.equal(before);
    expect(heard.curl![0]!.snapshot.routes.resources.has('egress-http-8080')).to.equal(true);
  });

  it('debounces a burst of changes into one recompile', async () => {
    const { store, cache, heard } = setup();
    const compiles = cache.compiles;
    for (const host of ['a.org', 'b.org', 'c.org']) store.upsert(egress(http80(host), { name: 'curl-httpbin' }));
    await new Promise((r) => setTimeout(r, 40));
    expect(cache.compiles - compiles).to.equal(1);
    expect(heard.curl).to.have.length(1);
  });

  it('a change that compiles to the same config is not pushed', () => {
    const { store, cache, heard } = setup();
    store.upsert(egress(http80('httpbin.org'), { name: 'curl-httpbin', labels: { touched: 'yes' } }));
    cache.flush();
    expect(heard.curl).to.have.length(0);
  });

  it('a MeshConfig change reaches everyone whose config changed', () => {
    const { store, cache, heard } = setup();
    store.upsert(meshConfig({ traffic: { enableEgress: true }, featureFlags: { enableEgressPolicy: true } }));
    cache.flush();
    expect(heard.curl).to.have.length(1);
    expect(heard.other).to.have.length(1);
    expect(heard.curl![0]!.snapshot.clusters.resources.has('passthrough-outbound')).to.equal(true);
  });

  it('a route group change reaches the ServiceAccounts whose policies reference it', () => {
    const { store, cache, heard } = setup();
    store.upsert(egress({ ...http80('httpbin.org'), matches: [{ apiGroup: 'specs.smi-spec.io/v1alpha4', kind: 'HTTPRouteGroup', name: 'rg' }] }, { name: 'curl-httpbin' }));
    cache.flush();
    expect(heard.curl).to.have.length(1);
    expect(cache.affected({ kind: 'HTTPRouteGroup', namespace: 'curl', name: 'rg', group: 'specs.smi-spec.io' })).to.deep.equal(['curl/curl']);
    store.upsert(routeGroup([{ name: 'get', pathRegex: '/status' }], 'rg'));
    cache.flush();
    expect(heard.curl).to.have.length(2);
    expect(heard.other).to.have.length(0);
  });

  it('forgets a ServiceAccount when its last watcher goes, and recompiles nothing for it', () => {
    const { store, cache, other } = setup();
    other.cancel();
    expect(cache.size).to.equal(1);
    expect(cache.affected({ kind: 'Egress', namespace: 'curl', name: 'x', group: 'policy.openservicemesh.io', sources: { before: ['curl/other'], after: [] } })).to.deep.equal([]);
    const n = cache.compiles;
    store.upsert(egress({ ...http80('x.org'), ...otherSource }, { name: 'other-example' }));
    cache.flush();
    expect(cache.compiles).to.equal(n);
  });

  it('two caches on the same state serve identical versions', () => {
    const a = setup();
    const b = new ConfigCache<string>({ state: a.store, settings: DEFAULT_SETTINGS, encode: (r) => JSON.stringify(r) });
    const x = a.curl.snapshot;
    const y = b.watch(CURL, () => {}).snapshot;
    expect([y.listeners.version, y.routes.version, y.clusters.version]).to.deep.equal([x.listeners.version, x.routes.version, x.clusters.version]);
  });
});
