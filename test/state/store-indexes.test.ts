import { expect } from 'chai';
import fc from 'fast-check';
import { EGRESS_GROUPS, resolveProfile } from '../../src/profile.js';
import { MeshStore } from '../../src/state/store.js';
import type { KubeObject } from '../../src/state/types.js';

/**
 * The MeshStore's derived indexes (server-first port index, match reference index, the
 * UpstreamTrafficSetting map) against a brute-force scan of the objects a model says are stored,
 * after random sequences of upserts, updates, deletes and relists (replaceAll per group, as the
 * informers do). Small name spaces make collisions (same name in both groups, same source in many
 * policies, re-adds after deletes) frequent.
 */

const GROUPS = EGRESS_GROUPS as readonly string[];
const NAMESPACES = ['curl', 'web'];
const NAMES = ['a', 'b', 'c'];
const SOURCES = [
  { namespace: 'curl', name: 'curl' },
  { namespace: 'curl', name: 'sa2' },
  { namespace: 'web', name: 'curl' },
];
const PORTS = [80, 443, 3306];
const PROTOCOLS = ['http', 'https', 'tcp', 'tcp-server-first'];
const MATCH_KINDS = ['HTTPRouteGroup', 'UpstreamTrafficSetting'];
const MATCH_NAMES = ['rg1', 'rg2'];

const egressArb = fc.record({
  group: fc.constantFrom(...GROUPS),
  namespace: fc.constantFrom(...NAMESPACES),
  name: fc.constantFrom(...NAMES),
  sources: fc.array(
    fc.record({
      source: fc.constantFrom(...SOURCES),
      // Stored objects are read leniently: kind missing counts as a ServiceAccount, another kind does not.
      kind: fc.constantFrom<string | undefined>('ServiceAccount', 'ServiceAccount', undefined, 'Group'),
    }),
    { maxLength: 3 },
  ),
  ports: fc.array(fc.record({ number: fc.constantFrom(...PORTS), protocol: fc.constantFrom(...PROTOCOLS) }), { maxLength: 4 }),
  matches: fc.array(fc.record({ kind: fc.constantFrom(...MATCH_KINDS), name: fc.constantFrom(...MATCH_NAMES) }), { maxLength: 3 }),
});
type EgressCase = typeof egressArb extends fc.Arbitrary<infer T> ? T : never;

const utsArb = fc.record({ group: fc.constantFrom(...GROUPS), namespace: fc.constantFrom(...NAMESPACES), name: fc.constantFrom(...MATCH_NAMES) });
type UtsCase = typeof utsArb extends fc.Arbitrary<infer T> ? T : never;

type Op =
  | { op: 'upsert'; e: EgressCase }
  | { op: 'remove'; e: EgressCase }
  | { op: 'relist'; group: string; items: EgressCase[] }
  | { op: 'upsertUts'; u: UtsCase }
  | { op: 'removeUts'; u: UtsCase }
  | { op: 'relistUts'; group: string; items: UtsCase[] };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: egressArb.map((e): Op => ({ op: 'upsert', e })) },
  { weight: 2, arbitrary: egressArb.map((e): Op => ({ op: 'remove', e })) },
  {
    weight: 1,
    arbitrary: fc
      .record({ group: fc.constantFrom(...GROUPS), items: fc.array(egressArb, { maxLength: 4 }) })
      .map(({ group, items }): Op => ({ op: 'relist', group, items: items.map((e) => ({ ...e, group })) })),
  },
  { weight: 2, arbitrary: utsArb.map((u): Op => ({ op: 'upsertUts', u })) },
  { weight: 1, arbitrary: utsArb.map((u): Op => ({ op: 'removeUts', u })) },
  {
    weight: 1,
    arbitrary: fc
      .record({ group: fc.constantFrom(...GROUPS), items: fc.array(utsArb, { maxLength: 3 }) })
      .map(({ group, items }): Op => ({ op: 'relistUts', group, items: items.map((u) => ({ ...u, group })) })),
  },
);

const egressObject = (e: EgressCase): KubeObject => ({
  apiVersion: `${e.group}/v1alpha1`,
  kind: 'Egress',
  metadata: { name: e.name, namespace: e.namespace },
  spec: {
    sources: e.sources.map((s) => ({ ...(s.kind !== undefined ? { kind: s.kind } : {}), ...s.source })),
    ports: e.ports,
    matches: e.matches.map((m) => ({ apiGroup: 'x', ...m })),
  },
});
const utsObject = (u: UtsCase): KubeObject => ({
  apiVersion: `${u.group}/v1alpha1`,
  kind: 'UpstreamTrafficSetting',
  metadata: { name: u.name, namespace: u.namespace },
  spec: {},
});
const egressKey = (e: { group: string; namespace: string; name: string }) => `${e.group}/${e.namespace}/${e.name}`;

describe('MeshStore indexes agree with a brute-force scan (property)', () => {
  it('after any sequence of adds, updates, deletes and relists', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 40 }), (ops) => {
        const store = new MeshStore(resolveProfile('osm'));
        const egresses = new Map<string, EgressCase>();
        const settings = new Map<string, UtsCase>();
        for (const o of ops) {
          switch (o.op) {
            case 'upsert':
              store.upsert(egressObject(o.e));
              egresses.set(egressKey(o.e), o.e);
              break;
            case 'remove':
              // A DELETED event carries the last state of the object, whatever its spec.
              store.remove(egressObject(o.e));
              egresses.delete(egressKey(o.e));
              break;
            case 'relist':
              store.replaceAll('Egress', o.items.map(egressObject), o.group);
              for (const [k, e] of egresses) if (e.group === o.group) egresses.delete(k);
              for (const e of o.items) egresses.set(egressKey(e), e);
              break;
            case 'upsertUts':
              store.upsert(utsObject(o.u));
              settings.set(egressKey(o.u), o.u);
              break;
            case 'removeUts':
              store.remove(utsObject(o.u));
              settings.delete(egressKey(o.u));
              break;
            case 'relistUts':
              store.replaceAll('UpstreamTrafficSetting', o.items.map(utsObject), o.group);
              for (const [k, u] of settings) if (u.group === o.group) settings.delete(k);
              for (const u of o.items) settings.set(egressKey(u), u);
              break;
          }
        }

        expect(store.counts().Egress).to.equal(egresses.size);
        expect(store.counts().UpstreamTrafficSetting).to.equal(settings.size);
        for (const group of GROUPS) {
          for (const namespace of NAMESPACES) {
            for (const name of NAMES) {
              const held = store.egress({ group, namespace, name });
              expect(held && egressKey(held), `egress ${group}/${namespace}/${name}`).to.equal(egresses.has(egressKey({ group, namespace, name })) ? egressKey({ group, namespace, name }) : undefined);
            }
            for (const name of MATCH_NAMES) {
              const want = settings.has(egressKey({ group, namespace, name }));
              expect(store.upstreamTrafficSetting(namespace, name, group) !== undefined, `UpstreamTrafficSetting ${group}/${namespace}/${name}`).to.equal(want);
            }
          }
        }
        for (const source of SOURCES) {
          for (const port of PORTS) {
            const want = new Set<string>();
            for (const e of egresses.values()) {
              if (!e.sources.some((s) => (s.kind === undefined || s.kind === 'ServiceAccount') && s.source.namespace === source.namespace && s.source.name === source.name)) continue;
              for (const p of e.ports) if (p.number === port) want.add(`${egressKey(e)}:${p.protocol}`);
            }
            const got = store.portUses(source, port).map((u) => `${egressKey(u.policy)}:${u.protocol}`);
            expect(got.length, `portUses ${source.namespace}/${source.name}:${port} has no duplicates`).to.equal(new Set(got).size);
            expect(new Set(got), `portUses ${source.namespace}/${source.name}:${port}`).to.deep.equal(want);
          }
        }
        for (const namespace of NAMESPACES) {
          for (const kind of MATCH_KINDS) {
            for (const name of MATCH_NAMES) {
              const want = [...egresses.values()]
                .filter((e) => e.namespace === namespace && e.matches.some((m) => m.kind === kind && m.name === name))
                .map(egressKey)
                .sort();
              const got = store.egressesReferencing(namespace, kind, name).map(egressKey).sort();
              expect(got, `egressesReferencing ${namespace} ${kind}/${name}`).to.deep.equal(want);
            }
          }
        }
      }),
      { numRuns: 300, seed: 20240611 },
    );
  });
});
