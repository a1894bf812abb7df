/**
 * The renderer's own guard rails (no kernel needed): family splitting, canonical CIDRs, and that no
 * option value can carry shell or iptables-restore syntax into the init container's script.
 * What the rules do is proven with real traffic in interception.test.ts.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import {
  InterceptionOptionError,
  interfaceNameProblem,
  normalizeCidr,
  renderInterceptionScript,
  splitByFamily,
  type InterceptionOptions,
} from '../../src/injector/iptables/script.js';

const base: InterceptionOptions = {
  chainPrefix: 'OSM_',
  proxyUid: 1500,
  outboundPort: 15001,
  clusterCIDRs: ['10.96.0.0/12'],
  excludeCIDRs: [],
  includeCIDRs: [],
  excludePorts: [],
  excludeInterfaces: [],
  backend: 'auto',
};

describe('interception script renderer', () => {
  it('splits CIDRs by family in canonical form, de-duplicated, order kept', () => {
    expect(splitByFamily(['10.1.2.3/8', 'FD00:0:0::1/64', '192.0.2.1', '10.0.0.0/8', '::1', '::ffff:10.0.0.1/128'])).to.deep.equal({
      ipv4: ['10.0.0.0/8', '192.0.2.1/32'],
      ipv6: ['fd00::/64', '::1/128', '::ffff:a00:1/128'],
    });
    expect(normalizeCidr('2001:db8::5/48')).to.deep.equal({ family: 'ipv6', cidr: '2001:db8::/48' });
  });

  it('rejects what ipaddr.js alone would accept but iptables reads differently', () => {
    for (const bad of ['0x7f.1/8', '127.1', '010.0.0.0/8', 'fe80::1%eth0/64', '10.0.0.0/33', '10.0.0.0/08', '::/129', '10.0.0.0/', '', ' 10.0.0.0/8']) {
      expect(() => normalizeCidr(bad), bad).to.throw(InterceptionOptionError);
    }
  });

  it('names the option and the value it refuses', () => {
    expect(() => renderInterceptionScript({ ...base, excludeCIDRs: ['10.0.0.0/8', '$(reboot)'] })).to.throw(
      InterceptionOptionError,
      'interception option excludeCIDRs[1]: "$(reboot)" is not an IPv4 or IPv6 CIDR',
    );
  });

  it('refuses every option value that is not a plain CIDR, port, UID, interface, prefix or backend', () => {
    const bad: Partial<InterceptionOptions>[] = [
      { clusterCIDRs: ['$(reboot)'] },
      { includeCIDRs: ['10.0.0.0/8`id`'] },
      { excludeInterfaces: ['eth0 -j ACCEPT'] },
      { excludeInterfaces: ['eth$IFS'] },
      { excludeInterfaces: ['a-very-long-interface'] },
      { excludeInterfaces: ['..'] },
      { excludeInterfaces: ['!eth0'] },
      { chainPrefix: "OSM_'; reboot; '" },
      { chainPrefix: 'osm_' },
      { chainPrefix: 'ABCDEFGHIJK_' },
      { excludePorts: [0] },
      { excludePorts: [65536] },
      { excludePorts: [80.5] },
      { excludePorts: ['80' as unknown as number] },
      { outboundPort: -1 },
      { proxyUid: -1 },
      { proxyUid: 1.5 },
      { backend: 'iptables' as unknown as InterceptionOptions['backend'] },
    ];
    for (const o of bad) expect(() => renderInterceptionScript({ ...base, ...o }), JSON.stringify(o)).to.throw(InterceptionOptionError);
  });

  it('accepts kernel interface names, including iptables\' trailing + wildcard', () => {
    for (const name of ['eth0', 'eth0+', 'veth@1', 'br-1a2b.100', 'cali_x']) expect(interfaceNameProblem(name), name).to.equal(undefined);
    for (const name of ['-j', '+eth', 'eth0 x', 'a/b', 'a:b', '', 'x'.repeat(16)]) expect(interfaceNameProblem(name), name).to.be.a('string');
  });

  it('either refuses an arbitrary string or emits only inert characters (property)', () => {
    const unsafe = /[$`\\'"]/;
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), fc.string({ maxLength: 20 }), (cidr, iface) => {
        let script: string;
        try {
          script = renderInterceptionScript({ ...base, excludeCIDRs: [cidr], excludeInterfaces: [iface] });
        } catch (err) {
          return err instanceof InterceptionOptionError;
        }
        // Accepted values only ever appear inside rule lines, which must stay free of shell syntax.
        const ruleLines = script.split('\n').filter((l) => l.startsWith('-A '));
        return ruleLines.every((l) => !unsafe.test(l)) && !unsafe.test(iface) && !/\s/.test(iface);
      }),
      { numRuns: 500 },
    );
  });

  it('uses REDIRECT --to-ports (plural) and splits long port lists into multiport rules of 15', () => {
    const ports = Array.from({ length: 20 }, (_, i) => 9000 + i);
    const script = renderInterceptionScript({ ...base, excludePorts: [...ports, 9000] });
    expect(script).to.include('-j REDIRECT --to-ports 15001');
    expect(script).not.to.match(/--to-port /);
    const multiport = script.split('\n').filter((l) => l.includes('--dports') && l.startsWith('-A OSM_PROXY_OUTBOUND'));
    // one IPv4 and one IPv6 copy of each chunk
    expect(multiport).to.have.length(4);
    expect(multiport[0]).to.equal(`-A OSM_PROXY_OUTBOUND -p tcp -m multiport --dports ${ports.slice(0, 15).join(',')} -j RETURN`);
    expect(multiport[1]).to.equal(`-A OSM_PROXY_OUTBOUND -p tcp -m multiport --dports ${ports.slice(15).join(',')} -j RETURN`);
  });

  it('renders a script that dash parses', async () => {
    const { execFileSync } = await import('node:child_process');
    const script = renderInterceptionScript({
      ...base,
      excludeCIDRs: ['192.0.2.0/24', '2001:db8::/32'],
      includeCIDRs: ['203.0.113.0/24'],
      excludePorts: [5432],
      excludeInterfaces: ['eth1'],
    });
    expect(() => execFileSync('/bin/sh', ['-n', '-c', script])).not.to.throw();
  });
});
