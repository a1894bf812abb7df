import type { IpFamily } from './cidr-families.js';
import type { CheckedInterceptionOptions } from './checked-options.js';

// iptables' multiport match takes at most 15 ports per rule.
const MULTIPORT_MAX = 15;
const LOOPBACK: Record<IpFamily, string> = { ipv4: '127.0.0.0/8', ipv6: '::1/128' };

/**
 * The nat-table lines meshgate restores for one IP family, between `*nat` and `COMMIT`, without
 * the OUTPUT jump (the script adds that only when it is missing, so a re-run never stacks it).
 * `:CHAIN - [0:0]` creates the chain, or flushes it under `--noflush`, so every run rewrites it.
 * Order: every RETURN comes before any redirection (so among RETURNs order does not matter), and
 * the lines both families share come first, so the script can carry them once. No comment lines:
 * the script travels in every admission response, so the explanations live here.
 */
export function natRuleLines(o: CheckedInterceptionOptions, family: IpFamily): string[] {
  const out = o.outboundChain;
  const ret = (match: string) => `-A ${out} ${match} -j RETURN`;
  const lines = [
    `:${out} - [0:0]`,
    `:${o.redirectChain} - [0:0]`,
    `-A ${o.redirectChain} -p tcp -j REDIRECT --to-ports ${o.outboundPort}`,
    // loopback and the proxy itself are never intercepted, nor excluded interfaces
    ret('-o lo'),
    ret(`-m owner --uid-owner ${o.proxyUid}`),
    ...o.excludeInterfaces.map((name) => ret(`-o ${name}`)),
  ];
  // excluded destination ports (they win over the inclusion list)
  for (let i = 0; i < o.excludePorts.length; i += MULTIPORT_MAX) {
    const chunk = o.excludePorts.slice(i, i + MULTIPORT_MAX);
    lines.push(ret(chunk.length === 1 ? `-p tcp --dport ${chunk[0]}` : `-p tcp -m multiport --dports ${chunk.join(',')}`));
  }
  // the family's loopback range, in-cluster CIDRs (pod and service ranges), excluded CIDRs
  for (const cidr of [LOOPBACK[family], ...o.clusterCIDRs[family], ...o.excludeCIDRs[family]]) lines.push(ret(`-d ${cidr}`));
  if (o.hasInclusionList) {
    // inclusion list: only these ranges are redirected, everything else returns
    for (const cidr of o.includeCIDRs[family]) lines.push(`-A ${out} -d ${cidr} -j ${o.redirectChain}`);
  } else {
    // everything else goes to the proxy
    lines.push(`-A ${out} -j ${o.redirectChain}`);
  }
  return lines;
}

/** The rule that sends outbound TCP into meshgate's chain. */
export function outputJumpArgs(o: CheckedInterceptionOptions): string {
  return `OUTPUT -p tcp -j ${o.outboundChain}`;
}
