import { expect } from 'chai';
import type { MeshState } from '../../src/state/mesh-state.js';
import type { KubeObject } from '../../src/state/types.js';
import { egress, rendered, storeWith, validate } from './helpers.js';

const mysql = (name: string, protocol: string, sa = 'curl', group = 'policy.openservicemesh.io', extraPorts: object[] = []): KubeObject =>
  egress(
    { hosts: undefined, sources: [{ kind: 'ServiceAccount', name: sa, namespace: 'curl' }], ports: [{ number: 3306, protocol }, ...extraPorts] },
    { name },
    group,
  );

describe('server-first conflicts across policies (through the MeshStore index)', () => {
  it('denies a tcp use of a port another policy of the same ServiceAccount uses as tcp-server-first, naming it', () => {
    const state = storeWith([mysql('mysql-sf', 'tcp-server-first')]);
    expect(rendered(validate(mysql('mysql-tcp', 'tcp', 'curl', 'policy.flomesh.io'), state))).to.deep.equal([
      'spec.ports[0].protocol: Invalid value: "tcp": conflicts with Egress curl/mysql-sf (policy.openservicemesh.io), which uses port 3306 as "tcp-server-first" ' +
        'for the same ServiceAccount curl/curl; a "tcp-server-first" port cannot share its number with another protocol',
    ]);
  });

  it('denies the reverse direction too, across both API groups', () => {
    const state = storeWith([mysql('mysql-tcp', 'http', 'curl', 'policy.flomesh.io')]);
    const lines = rendered(validate(mysql('mysql-sf', 'tcp-server-first'), state));
    expect(lines).to.have.length(1);
    expect(lines[0]).to.contain('conflicts with Egress curl/mysql-tcp (policy.flomesh.io), which uses port 3306 as "http"');
  });

  it('allows the same port for a different ServiceAccount, or with the same protocol', () => {
    const state = storeWith([mysql('mysql-sf', 'tcp-server-first')]);
    expect(validate(mysql('other-sa', 'tcp', 'web'), state).errors).to.deep.equal([]);
    expect(validate(mysql('also-sf', 'tcp-server-first'), state).errors).to.deep.equal([]);
  });

  it('on UPDATE the policy does not conflict with its own old version', () => {
    const old = mysql('mysql', 'tcp-server-first');
    const state = storeWith([old]);
    const updated = mysql('mysql', 'tcp');
    expect(validate(updated, state, 'UPDATE', old).errors).to.deep.equal([]);
    // The same name in the other API group is another object, so it does conflict.
    expect(validate(mysql('mysql', 'tcp', 'curl', 'policy.flomesh.io'), state, 'UPDATE').errors).to.have.length(1);
  });

  it('names each conflicting policy once, even when several sources share it', () => {
    const two = (name: string, protocol: string) =>
      egress(
        {
          hosts: undefined,
          sources: [
            { kind: 'ServiceAccount', name: 'a', namespace: 'curl' },
            { kind: 'ServiceAccount', name: 'b', namespace: 'curl' },
          ],
          ports: [{ number: 5432, protocol }],
        },
        { name },
      );
    const state = storeWith([two('pg-sf', 'tcp-server-first'), mysql('unrelated', 'tcp', 'a')]);
    expect(validate(two('pg-tcp', 'tcp'), state).errors).to.have.length(1);
  });

  it('asks the index for exactly the (source, port) pairs of the policy, never scanning', () => {
    const calls: string[] = [];
    const base = storeWith([]);
    const spy: MeshState = Object.create(base, {
      portUses: {
        value: (source: { namespace: string; name: string }, port: number) => {
          calls.push(`${source.namespace}/${source.name}:${port}`);
          return base.portUses(source, port);
        },
      },
    });
    validate(mysql('m', 'tcp-server-first', 'curl', 'policy.openservicemesh.io', [{ number: 8080, protocol: 'tcp' }]), spy);
    expect(calls).to.have.members(['curl/curl:3306', 'curl/curl:8080']);
  });
});
