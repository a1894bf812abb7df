import { expect } from 'chai';
import { EGRESS_PROTOCOLS, normalizeProtocol } from '../../src/vocabulary/egress-protocol.js';
import { ENROLLED_CURL, egress, rendered, routeGroup, storeWith, validate } from './helpers.js';

const SMI = { apiGroup: 'specs.smi-spec.io/v1alpha4', kind: 'HTTPRouteGroup', name: 'egress-http-route' };
const sf = (name: string, protocol: string, group = 'policy.openservicemesh.io') =>
  egress({ hosts: undefined, ports: [{ number: 3306, protocol }] }, { name }, group);

/** OSM reads `ports[].protocol` with strings.ToLower (pkg/catalog/egress.go); so does meshgate (SPEC §3). */
describe('Egress protocols in any case', () => {
  describe('normalizeProtocol', () => {
    it('maps every case of a known protocol to its lower-case form', () => {
      expect(normalizeProtocol('HTTP')).to.equal('http');
      expect(normalizeProtocol('Https')).to.equal('https');
      expect(normalizeProtocol('TCP')).to.equal('tcp');
      expect(normalizeProtocol('TCP-Server-First')).to.equal('tcp-server-first');
      for (const p of EGRESS_PROTOCOLS) expect(normalizeProtocol(p)).to.equal(p);
    });

    it('is undefined for unknown protocols and non-strings', () => {
      for (const p of ['udp', 'UDP', '', ' http', 'http ', 'tcp_server_first', 'grpc', undefined, null, 80, {}]) {
        expect(normalizeProtocol(p), String(p)).to.equal(undefined);
      }
    });
  });

  it('accepts HTTP, TCP, Https and TCP-Server-First, each with one warning naming the lower-case form', () => {
    const out = validate(
      egress({
        ports: [
          { number: 80, protocol: 'HTTP' },
          { number: 443, protocol: 'Https' },
          { number: 8443, protocol: 'TCP' },
          { number: 3306, protocol: 'TCP-Server-First' },
        ],
      }),
      storeWith([ENROLLED_CURL]),
    );
    expect(rendered(out)).to.deep.equal([]);
    expect(out.warnings).to.deep.equal([
      'spec.ports[0].protocol: "HTTP" is read as "http"; write it in lower case',
      'spec.ports[1].protocol: "Https" is read as "https"; write it in lower case',
      'spec.ports[2].protocol: "TCP" is read as "tcp"; write it in lower case',
      'spec.ports[3].protocol: "TCP-Server-First" is read as "tcp-server-first"; write it in lower case',
    ]);
    for (const w of out.warnings) expect(w.length, w).to.be.at.most(120);
  });

  it('warns on a denied policy too, so the output says how it was read', () => {
    const out = validate(egress({ hosts: undefined, ports: [{ number: 80, protocol: 'HTTP' }] }));
    expect(rendered(out)).to.deep.equal(['spec.hosts: Required value: an "http" port needs at least one host']);
    expect(out.warnings).to.include('spec.ports[0].protocol: "HTTP" is read as "http"; write it in lower case');
  });

  it('still rejects unknown protocols in any case, without a case warning', () => {
    const out = validate(egress({ hosts: undefined, ports: [{ number: 53, protocol: 'UDP' }] }));
    expect(rendered(out)).to.deep.equal(['spec.ports[0].protocol: Unsupported value: "UDP": supported values: "http", "https", "tcp", "tcp-server-first"']);
    expect(out.warnings.filter((w) => w.includes('lower case'))).to.deep.equal([]);
  });

  it('reads the case-folded protocol in every rule: http hosts, matches, the hosts warnings', () => {
    const state = storeWith([ENROLLED_CURL, routeGroup([{ name: 'get' }])]);
    expect(rendered(validate(egress({ ports: [{ number: 80, protocol: 'HTTP' }], matches: [SMI] }), state))).to.deep.equal([]);
    expect(rendered(validate(egress({ hosts: undefined, ports: [{ number: 80, protocol: 'Http' }] }), state))).to.deep.equal([
      'spec.hosts: Required value: an "http" port needs at least one host',
    ]);
    expect(rendered(validate(egress({ ports: [{ number: 443, protocol: 'TCP' }], matches: [SMI] }), state))).to.include(
      'spec.matches: Forbidden: matches apply only to "http" ports: add an "http" port to spec.ports or remove spec.matches',
    );
    expect(validate(egress({ ports: [{ number: 443, protocol: 'TCP' }] }), state).warnings).to.include('spec.hosts is ignored: no port in spec.ports is "http" or "https"');
    expect(validate(egress({ hosts: undefined, ports: [{ number: 443, protocol: 'HTTPS' }] }), state).warnings).to.include(
      'an "https" port with no spec.hosts matches any TLS server name (SNI)',
    );
  });

  it('finds server-first conflicts inside a policy whatever the case, quoting the value as written', () => {
    const out = validate(egress({ hosts: undefined, ports: [{ number: 3306, protocol: 'TCP-SERVER-FIRST' }, { number: 3306, protocol: 'TCP' }] }));
    expect(rendered(out)).to.deep.equal([
      'spec.ports[1].protocol: Invalid value: "TCP": port 3306 is also "tcp-server-first" in spec.ports[0]; a "tcp-server-first" port cannot share its number with another protocol',
    ]);
  });

  it('finds server-first conflicts across policies whatever the case, in both directions (the store index is lower case)', () => {
    const upperSf = storeWith([sf('mysql-sf', 'TCP-Server-First')]);
    expect(rendered(validate(sf('mysql-tcp', 'tcp', 'policy.flomesh.io'), upperSf))).to.deep.equal([
      'spec.ports[0].protocol: Invalid value: "tcp": conflicts with Egress curl/mysql-sf (policy.openservicemesh.io), which uses port 3306 as "tcp-server-first" ' +
        'for the same ServiceAccount curl/curl; a "tcp-server-first" port cannot share its number with another protocol',
    ]);
    const upperTcp = storeWith([sf('mysql-tcp', 'TCP', 'policy.flomesh.io')]);
    expect(rendered(validate(sf('mysql-sf', 'tcp-server-first'), upperTcp))).to.deep.equal([
      'spec.ports[0].protocol: Invalid value: "tcp-server-first": conflicts with Egress curl/mysql-tcp (policy.flomesh.io), which uses port 3306 as "tcp" ' +
        'for the same ServiceAccount curl/curl; a "tcp-server-first" port cannot share its number with another protocol',
    ]);
    // The same protocol in another case is no conflict.
    expect(validate(sf('also-sf', 'tcp-server-first'), upperSf).errors).to.deep.equal([]);
    expect(upperSf.portUses({ namespace: 'curl', name: 'curl' }, 3306).map((u) => u.protocol)).to.deep.equal(['tcp-server-first']);
  });
});
