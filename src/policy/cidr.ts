import ipaddr from 'ipaddr.js';

/**
 * Strict IP and CIDR parsing, as Go's net.ParseIP / net.ParseCIDR accept them: dotted-quad IPv4
 * without leading zeros (ipaddr.js alone also takes "10", "0x0a.1" and octal forms), IPv6 without
 * a zone, prefix within the family's width. Host bits may be set ("10.0.0.1/8"), as ParseCIDR allows.
 */
export type IpFamily = 'ipv4' | 'ipv6';

// Cheap shape checks first: ipaddr.js answers "not an address" by throwing, which is slow, and
// host names (the common input) are never addresses.
const IPV4_SHAPE = /^[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}$/;
const IPV6_SHAPE = /^[0-9a-fA-F:.]+$/;

export function ipFamily(value: string): IpFamily | undefined {
  if (IPV4_SHAPE.test(value)) return ipaddr.IPv4.isValidFourPartDecimal(value) ? 'ipv4' : undefined;
  if (value.includes(':') && IPV6_SHAPE.test(value) && ipaddr.IPv6.isValid(value)) return 'ipv6';
  return undefined;
}

const PREFIX_RE = /^[0-9]{1,3}$/;

export function cidrFamily(value: string): IpFamily | undefined {
  const slash = value.indexOf('/');
  if (slash < 0 || slash !== value.lastIndexOf('/')) return undefined;
  const family = ipFamily(value.slice(0, slash));
  const prefix = value.slice(slash + 1);
  if (!family || !PREFIX_RE.test(prefix)) return undefined;
  return Number(prefix) <= (family === 'ipv4' ? 32 : 128) ? family : undefined;
}

/** The detail of an Invalid error for a value that is not a CIDR, with the fix. */
export function cidrErrorDetail(value: string): string {
  const family = ipFamily(value);
  if (family) return `must be a CIDR, not a single address: use "${value}/${family === 'ipv4' ? 32 : 128}"`;
  return 'must be an IPv4 or IPv6 CIDR such as "10.0.0.0/8" or "2001:db8::/32"';
}
