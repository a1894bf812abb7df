import ipaddr from 'ipaddr.js';
import { InterceptionOptionError } from './option-error.js';

export type IpFamily = 'ipv4' | 'ipv6';

export interface CidrsByFamily {
  ipv4: string[];
  ipv6: string[];
}

export interface NormalizedCidr {
  family: IpFamily;
  /** Network address and prefix length, e.g. `10.96.0.0/12`, `fd00:10::/64`. */
  cidr: string;
}

const PREFIX = /^(0|[1-9][0-9]{0,2})$/;

/**
 * Parses one CIDR (or a bare address, taken as a host route) strictly and returns it in canonical
 * form with the host bits cleared. Strict on purpose: ipaddr.js alone also accepts `0x7f.1` and
 * zone ids, which iptables reads differently or not at all. Throws InterceptionOptionError.
 */
export function normalizeCidr(value: string, field = 'cidr'): NormalizedCidr {
  if (typeof value !== 'string') throw new InterceptionOptionError(field, value, 'is not a string');
  const slash = value.indexOf('/');
  const address = slash === -1 ? value : value.slice(0, slash);
  const prefixText = slash === -1 ? undefined : value.slice(slash + 1);
  if (address.includes(':')) {
    if (address.includes('%') || !ipaddr.IPv6.isValid(address)) {
      throw new InterceptionOptionError(field, value, 'is not an IPv6 CIDR');
    }
    const prefix = prefixText === undefined ? 128 : parsePrefix(prefixText, 128, field, value);
    const network = ipaddr.IPv6.networkAddressFromCIDR(`${address}/${prefix}`);
    return { family: 'ipv6', cidr: `${network.toRFC5952String()}/${prefix}` };
  }
  if (!ipaddr.IPv4.isValidFourPartDecimal(address)) {
    throw new InterceptionOptionError(field, value, 'is not an IPv4 or IPv6 CIDR');
  }
  const prefix = prefixText === undefined ? 32 : parsePrefix(prefixText, 32, field, value);
  const network = ipaddr.IPv4.networkAddressFromCIDR(`${address}/${prefix}`);
  return { family: 'ipv4', cidr: `${network.toString()}/${prefix}` };
}

function parsePrefix(text: string, max: number, field: string, value: string): number {
  if (!PREFIX.test(text) || Number(text) > max) {
    throw new InterceptionOptionError(field, value, `has a prefix length outside 0-${max}`);
  }
  return Number(text);
}

/**
 * Splits CIDRs by IP family (iptables takes the IPv4 ones, ip6tables the IPv6 ones), canonical and
 * de-duplicated, order kept. Throws InterceptionOptionError on the first invalid entry.
 */
export function splitByFamily(cidrs: readonly string[], field = 'cidrs'): CidrsByFamily {
  const out: CidrsByFamily = { ipv4: [], ipv6: [] };
  cidrs.forEach((value, i) => {
    const { family, cidr } = normalizeCidr(value, `${field}[${i}]`);
    if (!out[family].includes(cidr)) out[family].push(cidr);
  });
  return out;
}
