import { expect } from 'chai';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { objectsIn, rendered, storeWith, validate } from './helpers.js';

const yamlIn = (dir: string) =>
  readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .map((f) => join(dir, f));
const stateObjects = yamlIn('examples/state').flatMap(objectsIn);

describe('examples', () => {
  for (const flavor of ['osm', 'fsm'] as const) {
    describe(`seed policies (${flavor})`, () => {
      const files = yamlIn(`examples/policies/${flavor}`);
      it('holds every Egress and HTTPRouteGroup of the seed', () => {
        const names = files.flatMap(objectsIn).map((o) => `${o.kind}/${o.metadata?.name}`);
        expect(new Set(names)).to.deep.equal(
          new Set(['Egress/httpbin-80', 'Egress/httpbin-443', 'Egress/tcp-443', 'HTTPRouteGroup/egress-http-route']),
        );
        const group = flavor === 'osm' ? 'policy.openservicemesh.io/v1alpha1' : 'policy.flomesh.io/v1alpha1';
        for (const o of files.flatMap(objectsIn)) if (o.kind === 'Egress') expect(o.apiVersion).to.equal(group);
      });
      for (const file of files) {
        it(`${file} validates clean against examples/state`, () => {
          for (const obj of objectsIn(file)) {
            const out = validate(obj, storeWith(stateObjects));
            expect(rendered(out), file).to.deep.equal([]);
            expect(out.warnings, file).to.deep.equal([]);
          }
        });
      }
    });
  }

  describe('policies written for OSM (examples/policies/from-osm)', () => {
    const files = yamlIn('examples/policies/from-osm');
    const objects = files.flatMap(objectsIn);
    const state = storeWith([...stateObjects, ...objects]);

    it("holds OSM's demo route group with headers, SMI's header examples and an upper-case protocol Egress", () => {
      expect(objects.map((o) => `${o.kind}/${o.metadata?.namespace}/${o.metadata?.name}`)).to.have.members([
        'HTTPRouteGroup/bookstore/bookstore-service-routes',
        'HTTPRouteGroup/curl/the-routes',
        'HTTPRouteGroup/curl/curl-agent',
        'Egress/curl/httpbin-curl-agent',
      ]);
      const demo = objects.find((o) => o.metadata?.name === 'bookstore-service-routes') as { spec: { matches: { headers?: unknown }[] } };
      expect(demo.spec.matches[0]!.headers).to.deep.equal([{ 'user-agent': '.*-http-client/*.*' }, { 'client-app': 'bookbuyer' }]);
    });

    for (const file of files) {
      it(`${file} is valid; the only warnings name the lower-case protocol`, () => {
        for (const obj of objectsIn(file)) {
          const out = validate(obj, state);
          expect(rendered(out), file).to.deep.equal([]);
          const warnings = out.warnings;
          if (obj.kind === 'Egress') {
            expect(warnings).to.deep.equal([
              'spec.ports[0].protocol: "HTTP" is read as "http"; write it in lower case',
              'spec.ports[1].protocol: "HTTPS" is read as "https"; write it in lower case',
            ]);
          } else expect(warnings, file).to.deep.equal([]);
        }
      });
    }
  });

  it('examples/state holds the enrolled curl namespace, the closed OSM MeshConfig and the route group', () => {
    const state = storeWith(stateObjects);
    expect(state.namespace('curl')?.labels['openservicemesh.io/monitored-by']).to.equal('osm');
    expect(state.namespace('curl')?.annotations['openservicemesh.io/sidecar-injection']).to.equal('enabled');
    expect(state.meshConfig()?.traffic?.enableEgress).to.equal(false);
    expect(state.meshConfig()?.featureFlags?.enableEgressPolicy).to.equal(true);
    expect(state.httpRouteGroup('curl', 'egress-http-route')).to.not.equal(undefined);
    expect(stateObjects.some((o) => o.kind === 'ServiceAccount')).to.equal(false);
    for (const obj of stateObjects) expect(rendered(validate(obj, state))).to.deep.equal([]);
  });

  describe('invalid examples', () => {
    for (const file of yamlIn('examples/invalid')) {
      const expected = readFileSync(file, 'utf8')
        .split('\n')
        .filter((l) => l.startsWith('# expect: '))
        .map((l) => l.slice('# expect: '.length));
      it(`${file} is rejected with ${expected.map((e) => e.split(':')[0]).join(', ')}`, () => {
        expect(expected, 'each invalid example names its expected error').to.not.be.empty;
        const objects = objectsIn(file);
        // Objects of the same file see each other, as `meshgate validate` does.
        const state = storeWith([...stateObjects, ...objects]);
        const lines = objects.flatMap((o) => rendered(validate(o, state)));
        for (const e of expected) expect(lines.some((l) => l.startsWith(e)), `${e}\nnot among:\n${lines.join('\n')}`).to.equal(true);
      });
    }
  });
});
