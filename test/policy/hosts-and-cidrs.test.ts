import { expect } from 'chai';
import fc from 'fast-check';
import { cidrFamily, ipFamily } from '../../src/policy/cidr.js';
import { hostErrors } from '../../src/policy/hosts.js';
import { imageReferenceError } from '../../src/vocabulary/image-reference.js';
import { PROPERTY_SEED } from '../support/property-seed.js';

describe('host, CIDR and image reference parsing (properties)', () => {
  it('accepts every DNS name, with or without a leading wildcard, and suggests it back from a URL', () => {
    fc.assert(
      fc.property(fc.domain(), fc.boolean(), fc.integer({ min: 1, max: 65535 }), (domain, wildcard, port) => {
        const host = wildcard ? `*.${domain}` : domain;
        expect(hostErrors(host)).to.deep.equal([]);
        expect(hostErrors(`https://${host}:${port}/path?q=1`)).to.deep.equal([
          `remove the scheme, remove the path, put the port in spec.ports: use "${host}"`,
        ]);
      }),
      { seed: PROPERTY_SEED },
    );
  });

  it('sends every IP literal to spec.ipAddresses with a CIDR of its family', () => {
    fc.assert(
      fc.property(fc.oneof(fc.ipV4(), fc.ipV6()), (ip) => {
        const width = ip.includes(':') ? 128 : 32;
        expect(hostErrors(ip)).to.deep.equal([`an IP address is not a host name: use spec.ipAddresses with a CIDR such as "${ip}/${width}"`]);
        expect(cidrFamily(`${ip}/${width}`)).to.equal(width === 32 ? 'ipv4' : 'ipv6');
        expect(cidrFamily(`${ip}/${width + 1}`)).to.equal(undefined);
      }),
      { seed: PROPERTY_SEED },
    );
  });

  it("rejects the forms Go's ParseIP rejects that ipaddr.js alone would take", () => {
    for (const v of ['10', '0x0a.0.0.1', '010.0.0.1', '10.1', '1.2.3.4.5', 'fe80::1%eth0', ' 10.0.0.1']) expect(ipFamily(v), v).to.equal(undefined);
    for (const v of ['10.0.0.0/8/8', '10.0.0.0/', '/8', '10.0.0.0/-1', '10.0.0.0/1a']) expect(cidrFamily(v), v).to.equal(undefined);
  });

  it('parses image references by the distribution grammar', () => {
    for (const ok of [
      'envoyproxy/envoy:v1.34.1',
      'envoy',
      'docker.io/library/envoy:latest',
      'localhost:5000/a/b_c__d-e.f:1.0',
      '[::1]:5000/init',
      `openservicemesh/init@sha256:${'0'.repeat(64)}`,
      'Registry.Example.com/init:v1',
    ]) {
      expect(imageReferenceError(ok), ok).to.equal(undefined);
    }
    for (const bad of ['', 'envoy:', ':tag', 'envoy@sha256:abc', 'a//b', 'envoy:-tag', `envoy:${'t'.repeat(129)}`, 'openservicemesh/Init']) {
      expect(imageReferenceError(bad), bad).to.be.a('string');
    }
  });
});
