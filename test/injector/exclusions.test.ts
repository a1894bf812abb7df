import { expect } from 'chai';
import { mergeExclusions, parseCidr } from '../../src/injector/exclusions.js';
import { profileOf } from './fixtures.js';

describe('injector: exclusions and inclusions (SPEC §5)', () => {
  it('parses CIDRs strictly, canonicalises them and splits them by family', () => {
    expect(parseCidr('10.1.2.3/16')).to.deep.equal({ ok: true, value: { family: 'ipv4', cidr: '10.1.0.0/16' } });
    expect(parseCidr('2001:DB8:0:0::1/32')).to.deep.equal({ ok: true, value: { family: 'ipv6', cidr: '2001:db8::/32' } });
    expect(parseCidr('::ffff:1.2.3.4/128').ok).to.equal(true);
    for (const bad of ['10.1/16', '0x0a.0.0.0/8', '10.0.0.0/33', '10.0.0.0/', 'example.com/24', '::/129', '1.2.3.4']) {
      expect(parseCidr(bad).ok, bad).to.equal(false);
    }
  });

  it('merges MeshConfig and pod lists, removing duplicates; ports sorted; interfaces from the MeshConfig', () => {
    const r = mergeExclusions(
      profileOf('fsm'),
      {
        traffic: {
          outboundIPRangeExclusionList: ['10.0.0.0/8', 'fd00::/8'],
          outboundIPRangeInclusionList: ['198.51.100.0/24'],
          outboundPortExclusionList: [8080, 25],
          networkInterfaceExclusionList: ['eth1', 'eth1'],
        },
      },
      {
        'flomesh.io/outbound-ip-range-exclusion-list': ' 10.0.0.0/8 ,192.168.0.0/16,,',
        'flomesh.io/outbound-ip-range-inclusion-list': '2001:db8::/32',
        'flomesh.io/outbound-port-exclusion-list': '25, 443',
        // The other profile's keys are not read.
        'openservicemesh.io/outbound-port-exclusion-list': '9999',
      },
    );
    expect(r).to.deep.equal({
      ok: true,
      value: {
        excludeCIDRs: { ipv4: ['10.0.0.0/8', '192.168.0.0/16'], ipv6: ['fd00::/8'] },
        includeCIDRs: { ipv4: ['198.51.100.0/24'], ipv6: ['2001:db8::/32'] },
        excludePorts: [25, 443, 8080],
        excludeInterfaces: ['eth1'],
      },
    });
  });

  it('reports every bad entry at once, each naming where it came from', () => {
    const r = mergeExclusions(profileOf('osm'), { traffic: { outboundPortExclusionList: [0] } }, {
      'openservicemesh.io/outbound-ip-range-exclusion-list': 'x',
      'openservicemesh.io/outbound-port-exclusion-list': 'http',
    });
    expect(r.ok).to.equal(false);
    if (!r.ok) {
      expect(r.message).to.include('MeshConfig osm-mesh-config spec.traffic.outboundPortExclusionList: invalid entry 0');
      expect(r.message).to.include('pod annotation openservicemesh.io/outbound-ip-range-exclusion-list: invalid entry "x"');
      expect(r.message).to.include('pod annotation openservicemesh.io/outbound-port-exclusion-list: invalid entry "http"');
    }
  });
});
