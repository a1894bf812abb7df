import { INTERFACE_NAME_RULE, interfaceNameProblem } from '../vocabulary/interface-name.js';
import ipaddr from 'ipaddr.js';
import { meshKeys, type Profile } from '../profile.js';
import type { MeshConfigSpec } from '../state/types.js';
import { splitList, type Parsed } from './annotations.js';
import type { CidrsByFamily } from './iptables/cidr-families.js';

/** Interception exclusions and inclusions, merged from the MeshConfig and the pod (SPEC §5). */
export interface Exclusions {
  excludeCIDRs: CidrsByFamily;
  includeCIDRs: CidrsByFamily;
  excludePorts: number[];
  excludeInterfaces: string[];
}

/**
 * Parses one CIDR strictly: IPv4 must be four-part decimal (iptables rejects the exotic forms
 * inet_aton accepts), and a prefix is required. Returns the network in canonical form.
 */
export function parseCidr(entry: string): Parsed<{ family: 'ipv4' | 'ipv6'; cidr: string }> {
  const slash = entry.indexOf('/');
  if (slash < 0) {
    const hint = ipaddr.IPv4.isValidFourPartDecimal(entry) ? `${entry}/32` : ipaddr.IPv6.isValid(entry) ? `${entry}/128` : undefined;
    return { ok: false, message: hint ? `not a CIDR (write ${hint})` : 'not an IPv4 or IPv6 CIDR' };
  }
  const addr = entry.slice(0, slash);
  if (ipaddr.IPv4.isValidCIDRFourPartDecimal(entry)) {
    const [, prefix] = ipaddr.IPv4.parseCIDR(entry);
    return { ok: true, value: { family: 'ipv4', cidr: `${ipaddr.IPv4.networkAddressFromCIDR(entry).toString()}/${prefix}` } };
  }
  if (!addr.includes('.') || addr.includes(':')) {
    if (ipaddr.IPv6.isValidCIDR(entry)) {
      const [, prefix] = ipaddr.IPv6.parseCIDR(entry);
      return { ok: true, value: { family: 'ipv6', cidr: `${ipaddr.IPv6.networkAddressFromCIDR(entry).toString()}/${prefix}` } };
    }
  }
  return { ok: false, message: 'not an IPv4 or IPv6 CIDR' };
}

export function parsePort(entry: string | number): Parsed<number> {
  const s = String(entry).trim();
  if (!/^[0-9]{1,5}$/.test(s)) return { ok: false, message: 'not a port number' };
  const n = Number(s);
  if (n < 1 || n > 65535) return { ok: false, message: 'must be between 1 and 65535, inclusive' };
  return { ok: true, value: n };
}

/** Interface names the interception script can use (the renderer's own rule, so the two never disagree). */
export function parseInterfaceName(entry: string): Parsed<string> {
  if (interfaceNameProblem(entry)) return { ok: false, message: `not a network interface name (${INTERFACE_NAME_RULE})` };
  return { ok: true, value: entry };
}

function uniq<T>(xs: T[]): T[] {
  return [...new Set(xs)];
}

interface Source {
  /** How to name the source in a message, e.g. `pod annotation openservicemesh.io/...`. */
  where: string;
  entries: unknown[];
}

function mergeCidrs(sources: Source[], errors: string[]): CidrsByFamily {
  const out: CidrsByFamily = { ipv4: [], ipv6: [] };
  for (const s of sources) {
    for (const e of s.entries) {
      const r = typeof e === 'string' ? parseCidr(e.trim()) : ({ ok: false, message: 'not a string' } as const);
      if (r.ok) out[r.value.family].push(r.value.cidr);
      else errors.push(`${s.where}: invalid entry ${JSON.stringify(e)}: ${r.message}`);
    }
  }
  return { ipv4: uniq(out.ipv4), ipv6: uniq(out.ipv6) };
}

/**
 * Merges the MeshConfig `traffic.*` lists with the pod's annotations. Every bad entry is reported
 * (the pod is denied with them), naming where it came from; a bad MeshConfig entry denies too,
 * since skipping interception would let the pod's egress escape.
 */
export function mergeExclusions(
  profile: Profile,
  meshConfig: MeshConfigSpec | undefined,
  podAnnotations: Record<string, string> | undefined,
): Parsed<Exclusions> {
  const keys = meshKeys(profile);
  const traffic = meshConfig?.traffic ?? {};
  const mc = (field: string) => `MeshConfig ${profile.meshConfig.name} spec.traffic.${field}`;
  const ann = (key: string) => `pod annotation ${key}`;
  const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
  const errors: string[] = [];

  const excludeCIDRs = mergeCidrs(
    [
      { where: mc('outboundIPRangeExclusionList'), entries: list(traffic.outboundIPRangeExclusionList) },
      { where: ann(keys.outboundIPRangeExclusionList), entries: splitList(podAnnotations?.[keys.outboundIPRangeExclusionList]) },
    ],
    errors,
  );
  const includeCIDRs = mergeCidrs(
    [
      { where: mc('outboundIPRangeInclusionList'), entries: list(traffic.outboundIPRangeInclusionList) },
      { where: ann(keys.outboundIPRangeInclusionList), entries: splitList(podAnnotations?.[keys.outboundIPRangeInclusionList]) },
    ],
    errors,
  );

  const excludePorts: number[] = [];
  const portSources: Source[] = [
    { where: mc('outboundPortExclusionList'), entries: list(traffic.outboundPortExclusionList) },
    { where: ann(keys.outboundPortExclusionList), entries: splitList(podAnnotations?.[keys.outboundPortExclusionList]) },
  ];
  for (const s of portSources) {
    for (const e of s.entries) {
      const r = typeof e === 'string' || typeof e === 'number' ? parsePort(e) : ({ ok: false, message: 'not a port number' } as const);
      if (r.ok) excludePorts.push(r.value);
      else errors.push(`${s.where}: invalid entry ${JSON.stringify(e)}: ${r.message}`);
    }
  }

  const excludeInterfaces: string[] = [];
  for (const e of list(traffic.networkInterfaceExclusionList)) {
    const r = typeof e === 'string' ? parseInterfaceName(e) : ({ ok: false, message: 'not a string' } as const);
    if (r.ok) excludeInterfaces.push(r.value);
    else errors.push(`${mc('networkInterfaceExclusionList')}: invalid entry ${JSON.stringify(e)}: ${r.message}`);
  }

  if (errors.length > 0) return { ok: false, message: errors.join('; ') };
  return {
    ok: true,
    value: { excludeCIDRs, includeCIDRs, excludePorts: uniq(excludePorts).sort((a, b) => a - b), excludeInterfaces: uniq(excludeInterfaces) },
  };
}
