import { expect } from 'chai';
import { resolveProfile } from '../../src/profile.js';
import { MeshStore } from '../../src/state/store.js';

const egress = (name: string, ports: [number, string][], sa = 'curl', group = 'policy.openservicemesh.io') => ({
  apiVersion: `${group}/v1alpha1`,
  kind: 'Egress',
  metadata: { name, namespace: 'curl' },
  spec: {
    sources: [{ kind: 'ServiceAccount', name: sa, namespace: 'curl' }],
    ports: ports.map(([number, protocol]) => ({ number, protocol })),
    matches: [{ apiGroup: 'specs.smi-spec.io/v1alpha4', kind: 'HTTPRouteGroup', name: 'rg' }],
  },
});

describe('MeshStore indexes', () => {
  it('tracks port uses per source ServiceAccount through add, update and delete', () => {
    const s = new MeshStore(resolveProfile('osm'));
    s.upsert(egress('a', [[3306, 'tcp-server-first']]));
    s.upsert(egress('b', [[3306, 'tcp'], [80, 'http']], 'curl', 'policy.flomesh.io'));
    expect(s.portUses({ namespace: 'curl', name: 'curl' }, 3306).map((u) => `${u.policy.group}/${u.policy.name}:${u.protocol}`)).to.have.members([
      'policy.openservicemesh.io/a:tcp-server-first',
      'policy.flomesh.io/b:tcp',
    ]);
    s.upsert(egress('b', [[80, 'http']], 'curl', 'policy.flomesh.io'));
    expect(s.portUses({ namespace: 'curl', name: 'curl' }, 3306)).to.have.length(1);
    expect(s.portUses({ namespace: 'curl', name: 'other' }, 3306)).to.have.length(0);
    expect(s.egressesReferencing('curl', 'HTTPRouteGroup', 'rg').map((r) => r.name)).to.have.members(['a', 'b']);
    s.remove(egress('a', []));
    expect(s.portUses({ namespace: 'curl', name: 'curl' }, 3306)).to.have.length(0);
    expect(s.egressesReferencing('curl', 'HTTPRouteGroup', 'rg').map((r) => r.name)).to.deep.equal(['b']);
    s.replaceAll('Egress', [], 'policy.flomesh.io');
    expect(s.counts().Egress).to.equal(0);
  });

  it('keeps only the profile MeshConfig from the control namespace', () => {
    const s = new MeshStore(resolveProfile('fsm'));
    s.upsert({ apiVersion: 'config.flomesh.io/v1alpha3', kind: 'MeshConfig', metadata: { name: 'fsm-mesh-config', namespace: 'other' }, spec: {} });
    expect(s.meshConfig()).to.equal(undefined);
    s.upsert({ apiVersion: 'config.flomesh.io/v1alpha3', kind: 'MeshConfig', metadata: { name: 'fsm-mesh-config', namespace: 'fsm-system' }, spec: { traffic: { enableEgress: true } } });
    expect(s.meshConfig()?.traffic?.enableEgress).to.equal(true);
  });
});
