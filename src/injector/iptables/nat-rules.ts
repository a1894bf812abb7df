import type { IpFamily } from './cidr-families.js';
import type { CheckedInterceptionOptions } from './checked-options.js';

// iptables' multiport match takes at most 15 ports per rule.
const MULTIPORT_MAX = 15;
const LOOPBACK: Record<IpFamily, string> = { ipv4: '127.0.0.0/8', ipv6: '::1/128' };

/**
 * The nat-table lines meshgate restores for one IP family, between `*nat` and `COMMIT`, without
 * the OUTPUT jump (the script adds that only when it is missing, so a re-run never stacks it).
 * `:CHAIN - [0:0]` creates the chain, or flushes it under `--noflush`, so every run rewrites it.
 * Order: what must never be intercepted returns first; redirection is the last rule.
 */
export function natRuleLines(o: CheckedInterceptionOptions, family: IpFamily): string[] {
  const out = o.outboundChain;
  const lines = [
    `:${out} - [0:0]`,
    `:${o.redirectChain} - [0:0]`,
    `-A ${o.redirectChain} -p tcp -j REDIRECT --to-ports ${o.outboundPort}`,
    '# loopback and the proxy itself are never intercepted',
    `-A ${out} -o lo -j RETURN`,
    `-A ${out} -d ${LOOPBACK[family]} -j RETURN`,
    `-A ${out} -m owner --uid-owner ${o.proxyUid} -j RETURN`,
  ];
  if (o.excludeInterfaces.length > 0) lines.push('# excluded interfaces');
  for (const name of o.excludeInterfaces) lines.push(`-A ${out} -o ${name} -j RETURN`);
  if (o.clusterCIDRs[family].length > 0) lines.push('# in-cluster CIDRs (pod and service ranges)');
  for (const cidr of o.clusterCIDRs[family]) lines.push(`-A ${out} -d ${cidr} -j RETURN`);
  if (o.excludeCIDRs[family].length > 0) lines.push('# excluded CIDRs');
  for (const cidr of o.excludeCIDRs[family]) lines.push(`-A ${out} -d ${cidr} -j RETURN`);
  if (o.excludePorts.length > 0) lines.push('# excluded destination ports');
  for (let i = 0; i < o.excludePorts.length; i += MULTIPORT_MAX) {
    const chunk = o.excludePorts.slice(i, i + MULTIPORT_MAX);
    lines.push(
      chunk.length === 1
        ? `-A ${out} -p tcp --dport ${chunk[0]} -j RETURN`
        : `-A ${out} -p tcp -m multiport --dports ${chunk.join(',')} -j RETURN`,
    );
  }
  if (o.hasInclusionList) {
    lines.push('# inclusion list: only these ranges are redirected, everything else returns');
    for (const cidr of o.includeCIDRs[family]) lines.push(`-A ${out} -d ${cidr} -j ${o.redirectChain}`);
  } else {
    lines.push('# everything else goes to the proxy');
    lines.push(`-A ${out} -j ${o.redirectChain}`);
  }
  return lines;
}

/** The rule that sends outbound TCP into meshgate's chain. */
export function outputJumpArgs(o: CheckedInterceptionOptions): string {
  return `OUTPUT -p tcp -j ${o.outboundChain}`;
}
