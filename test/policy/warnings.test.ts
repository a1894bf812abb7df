import { expect } from 'chai';
import { ENROLLED_CURL, egress, meshConfig, namespace, routeGroup, storeWith, validate } from './helpers.js';

const SMI = { apiGroup: 'specs.smi-spec.io/v1alpha4', kind: 'HTTPRouteGroup', name: 'egress-http-route' };
const CLOSED_MESH = meshConfig({ traffic: { enableEgress: false }, featureFlags: { enableEgressPolicy: true } });

describe('warnings', () => {
  it('a valid policy in an enrolled namespace of a closed mesh gets no warning', () => {
    expect(validate(egress(), storeWith([ENROLLED_CURL, CLOSED_MESH])).warnings).to.deep.equal([]);
  });

  it('hosts on a port list with no http/https port are ignored', () => {
    const w = validate(egress({ ports: [{ number: 443, protocol: 'tcp' }] }), storeWith([ENROLLED_CURL])).warnings;
    expect(w).to.include('spec.hosts is ignored: no port in spec.ports is "http" or "https"');
  });

  it('an https port without hosts matches any SNI', () => {
    const w = validate(egress({ hosts: undefined, ports: [{ number: 443, protocol: 'https' }] }), storeWith([ENROLLED_CURL])).warnings;
    expect(w).to.include('an "https" port with no spec.hosts matches any TLS server name (SNI)');
    expect(validate(egress({ ports: [{ number: 443, protocol: 'https' }] }), storeWith([ENROLLED_CURL])).warnings).to.deep.equal([]);
  });

  it('a namespace not in this mesh, in another mesh, or ignored', () => {
    expect(validate(egress(), storeWith([namespace('curl')])).warnings).to.include(
      'namespace "curl" is not in mesh "osm" (no label openservicemesh.io/monitored-by=osm); run: meshgate namespace add curl',
    );
    expect(validate(egress(), storeWith([namespace('curl', { 'openservicemesh.io/monitored-by': 'other' })])).warnings[0]).to.match(/not in mesh "osm"/);
    expect(validate(egress(), storeWith([namespace('curl', { 'openservicemesh.io/monitored-by': 'osm', 'openservicemesh.io/ignore': '' })])).warnings).to.include(
      'namespace "curl" is ignored by the mesh (label openservicemesh.io/ignore), so Egress policies have no effect there',
    );
    // The fsm profile reads flomesh.io labels.
    const fsm = storeWith([namespace('curl', { 'openservicemesh.io/monitored-by': 'osm' })], 'fsm');
    expect(validate(egress(), fsm).warnings[0]).to.equal('namespace "curl" is not in mesh "fsm" (no label flomesh.io/monitored-by=fsm); run: meshgate namespace add curl');
  });

  it("checks the sources' namespaces as well as the policy's", () => {
    const obj = egress({ sources: [{ kind: 'ServiceAccount', name: 'web', namespace: 'web' }] });
    const w = validate(obj, storeWith([ENROLLED_CURL, namespace('web')])).warnings;
    expect(w.filter((x) => x.startsWith('namespace'))).to.deep.equal([
      'namespace "web" is not in mesh "osm" (no label openservicemesh.io/monitored-by=osm); run: meshgate namespace add web',
    ]);
  });

  it('a policy or a source in the control namespace: no `namespace add` hint (that command refuses it), but what is true and what to do', () => {
    const inControl = egress({}, { namespace: 'osm-system' });
    const w = validate(inControl, storeWith([ENROLLED_CURL, namespace('osm-system'), CLOSED_MESH])).warnings;
    expect(w).to.deep.equal([
      'Egress in namespace "osm-system", the control namespace of mesh "osm", which never joins the mesh; it still applies to its sources, ' +
        'but move it beside the workloads it allows, to an application namespace (e.g. "curl")',
    ]);
    expect(w.join('\n')).to.not.include('namespace add osm-system');
    const fromControl = egress({ sources: [{ kind: 'ServiceAccount', name: 'meshgate', namespace: 'osm-system' }] });
    expect(validate(fromControl, storeWith([ENROLLED_CURL, namespace('osm-system'), CLOSED_MESH])).warnings).to.deep.equal([
      'a source is in namespace "osm-system", the control namespace of mesh "osm": pods there never get a sidecar, so the policy allows them nothing; ' +
        'name ServiceAccounts of an application namespace in the mesh (meshgate namespace add NAMESPACE)',
    ]);
    // The fsm profile's control namespace; osm-system is an ordinary namespace there.
    const fsm = validate(egress({}, { namespace: 'fsm-system' }), storeWith([namespace('curl', { 'flomesh.io/monitored-by': 'fsm' }), namespace('fsm-system')], 'fsm')).warnings;
    expect(fsm.filter((x) => x.includes('control namespace'))).to.have.length(1);
    expect(fsm.join('\n')).to.not.include('namespace add fsm-system');
    for (const x of [...w, ...fsm]) expect(x.length).to.be.at.most(256);
  });

  it('says nothing about a namespace the state does not know', () => {
    expect(validate(egress(), storeWith([])).warnings).to.deep.equal([]);
  });

  it('MeshConfig enableEgress true makes the policy restrict nothing (osm#5335); enableEgressPolicy false ignores it', () => {
    const open = storeWith([ENROLLED_CURL, meshConfig({ traffic: { enableEgress: true } })]);
    expect(validate(egress(), open).warnings).to.include(
      'MeshConfig traffic.enableEgress is true: all egress is allowed, so this policy restricts nothing (osm#5335)',
    );
    const off = storeWith([ENROLLED_CURL, meshConfig({ featureFlags: { enableEgressPolicy: false } })]);
    expect(validate(egress(), off).warnings).to.include('MeshConfig featureFlags.enableEgressPolicy is false: Egress policies are ignored until it is true');
    // Unset is false to OSM and FSM (a Go bool; their CRDs give it no default), as `meshgate egress status` says.
    const unset = storeWith([ENROLLED_CURL, meshConfig({ traffic: { enableEgress: false } })]);
    expect(validate(egress(), unset).warnings).to.include(
      'MeshConfig featureFlags.enableEgressPolicy is not set (false): Egress policies are ignored until it is true',
    );
    // Another mesh's MeshConfig (or another name) is not this mesh's.
    const other = storeWith([ENROLLED_CURL, meshConfig({ traffic: { enableEgress: true } }, 'osm-mesh-config', 'elsewhere')]);
    expect(validate(egress(), other).warnings).to.deep.equal([]);
  });

  it('keeps every warning on one line of at most 120 characters', () => {
    const state = storeWith([
      namespace('curl', { 'openservicemesh.io/monitored-by': 'osm', 'openservicemesh.io/ignore': 'true' }),
      meshConfig({ traffic: { enableEgress: true }, featureFlags: { enableEgressPolicy: false } }),
    ]);
    const all = [
      ...validate(egress({ ports: [{ number: 443, protocol: 'tcp' }] }), state).warnings,
      ...validate(egress({ hosts: undefined, ports: [{ number: 443, protocol: 'https' }] }), storeWith([namespace('curl')])).warnings,
    ];
    expect(all.length).to.be.greaterThan(5);
    for (const w of all) {
      expect(w, w).to.not.match(/[\u0000-\u001f]/);
      expect(w.length, w).to.be.at.most(120);
    }
  });

  describe('HTTPRouteGroup DELETE', () => {
    it('is allowed with a warning naming the Egress policies that still reference it', () => {
      const rg = routeGroup([{ name: 'get', pathRegex: '/get' }]);
      const state = storeWith([rg, egress({ matches: [SMI] }), egress({ matches: [SMI] }, { name: 'web-80' }, 'policy.flomesh.io')]);
      const out = validate(rg, state, 'DELETE');
      expect(out.errors).to.deep.equal([]);
      expect(out.warnings).to.deep.equal([
        'HTTPRouteGroup curl/egress-http-route is still referenced by Egress httpbin-80, web-80; their spec.matches now name a missing route group',
      ]);
    });

    it('is allowed silently when nothing references it', () => {
      const rg = routeGroup([{ name: 'get' }]);
      const state = storeWith([rg, egress({ matches: [{ ...SMI, name: 'other' }] })]);
      expect(validate(rg, state, 'DELETE')).to.deep.equal({ errors: [], warnings: [] });
    });

    it('shortens a long list of referencing policies', () => {
      const rg = routeGroup([{ name: 'get' }]);
      const state = storeWith([rg, ...['a', 'b', 'c', 'd', 'e'].map((n) => egress({ matches: [SMI] }, { name: n }))]);
      expect(validate(rg, state, 'DELETE').warnings[0]).to.contain('Egress a, b, c and 2 more;');
    });
  });

  describe('MeshConfig', () => {
    it('warns when the MeshConfig is not the one this mesh reads', () => {
      expect(validate(meshConfig({}, 'other'), storeWith([])).warnings).to.deep.equal([
        'this mesh reads only MeshConfig osm-system/osm-mesh-config (config.openservicemesh.io); this one has no effect',
      ]);
      expect(validate(meshConfig({}), storeWith([])).warnings).to.deep.equal([]);
    });

    it('warns that enableEgress true opens egress to everything', () => {
      expect(validate(meshConfig({ traffic: { enableEgress: true } }), storeWith([])).warnings[0]).to.match(/^traffic.enableEgress is true/);
    });
  });
});
