import type { IptablesBackend } from '../../settings.js';
import { checkInterceptionOptions, type CheckedInterceptionOptions } from './checked-options.js';
import { natRuleLines, outputJumpArgs } from './nat-rules.js';

export { splitByFamily, normalizeCidr, type CidrsByFamily, type IpFamily } from './cidr-families.js';
export { InterceptionOptionError } from './option-error.js';

/** Everything the interception script depends on (SPEC §5). */
export interface InterceptionOptions {
  /** Chain prefix, `OSM_` or `FSM_`. */
  chainPrefix: string;
  proxyUid: number;
  outboundPort: number;
  /** In-cluster CIDRs (pod and service ranges): return before redirection. */
  clusterCIDRs: string[];
  /** Merged from MeshConfig and pod annotations; already validated. */
  excludeCIDRs: string[];
  /** When non-empty, only these ranges are redirected. */
  includeCIDRs: string[];
  excludePorts: number[];
  /** Interfaces whose outbound traffic is not intercepted. */
  excludeInterfaces: string[];
  backend: IptablesBackend;
}

// Rule lines travel inside single-quoted shell words, one per line, and are printed with
// printf '%s\n': a quote would end the word, a line break would split a rule, and NUL cannot
// pass at all. The rest is refused too, so the rules stay inert in any quoting.
const UNSAFE_IN_QUOTES = /[$`\\'"\n\r\0]/;

/** `'lines'` for the script, after proving that no character can end the quoting (throws). */
export function quoteRuleLines(lines: readonly string[]): string {
  for (const line of lines) {
    if (UNSAFE_IN_QUOTES.test(line)) throw new Error(`interception rule line is not shell-safe: ${JSON.stringify(line)}`);
  }
  return `'${lines.join('\n')}'`;
}

/**
 * The init container's POSIX /bin/sh script (dash and busybox sh; builtins plus the iptables
 * tools only). It travels inside every admission response, so it is kept small: no comments in
 * the rules, the lines both families share carried once, one `a` function for both families,
 * short names. What it does (SPEC §5, docs/injection.md):
 *
 * - `t CMD BACKEND SUFFIX` prints the path of the tool for CMD (iptables|ip6tables) on BACKEND
 *   (nft|legacy): `CMD-BACKEND-SUFFIX` (e.g. iptables-nft-restore), or the plain `CMD-SUFFIX` when
 *   `CMD --version` shows that backend (`nf_tables` means nft, anything else legacy);
 * - `a CMD BACKEND RULES` applies the shared head, the family's RULES ($R4 or $R6) and the shared
 *   tail as one atomic `CMD-restore --noflush` nat transaction; `:CHAIN - [0:0]` re-creates/flushes
 *   the chains, and the OUTPUT jump ($J) is added only when `CMD -C` says it is missing (else a `#`
 *   line, which restore skips), so a re-run never stacks rules;
 * - `k BACKEND` (auto only): meshgate's chain already exists there, so a re-run on a host where
 *   legacy holds the rules and nft does not stays on legacy; otherwise nft is tried first;
 * - IPv4 picks the backend; IPv6 follows on the same backend when /proc/net/if_inet6 has a line,
 *   and its failure is fatal (IPv6 egress must never bypass the proxy).
 *
 * Every value is re-checked; anything that is not a plain CIDR, port, UID or interface name throws
 * InterceptionOptionError, and the rule lines are checked again for shell syntax.
 */
export function renderInterceptionScript(options: InterceptionOptions): string {
  const o = checkInterceptionOptions(options);
  const rules = splitShared(natRuleLines(o, 'ipv4'), natRuleLines(o, 'ipv6'));
  // printf's arguments, one line or block each: the shared head, the family's own lines ($3), the
  // shared tail (absent with an inclusion list, whose redirections are per family), the jump line.
  const restoreInput = [
    quoteRuleLines(['*nat', ...rules.head]),
    '"$3"',
    ...(rules.tail.length > 0 ? [quoteRuleLines(rules.tail)] : []),
    '"$j"',
    'COMMIT',
  ].join(' ');
  return [
    '#!/bin/sh',
    '# meshgate-init: outbound TCP to the proxy via one iptables-restore per IP',
    '# family; nft|legacy|auto; re-runnable. See docs/injection.md',
    'set -eu',
    `J=${quoteRuleLines([outputJumpArgs(o)])}`,
    `R4=${quoteRuleLines(rules.ipv4)}`,
    `R6=${quoteRuleLines(rules.ipv6)}`,
    "s(){ printf 'meshgate-init: %s\\n' \"$*\";}",
    'f(){ s "error: $*" >&2;exit 1;}',
    't(){ command -v $1-$2$3&&return;command -v $1 >/dev/null||return;m=legacy',
    'case $($1 --version 2>/dev/null) in *nf_tables*)m=nft;esac;[ $m = $2 ]&&command -v $1$3;}',
    'a(){ r=$(t $1 $2 -restore)&&c=$(t $1 $2 \'\')||{ s "no $1 tools for $2";return 1;}',
    "j='#';$c -t nat -C $J 2>/dev/null||j=\"-A $J\"",
    `printf '%s\\n' ${restoreInput}|$r --noflush&&s "$r: ok";}`,
    ...candidates(o),
    'for b in $L;do a iptables $b "$R4"&&break;s "backend $b could not apply the IPv4 rules";b=;done',
    '[ "$b" ]||f "no iptables backend could apply the rules"',
    'read l 2>/dev/null </proc/net/if_inet6&&{ a ip6tables $b "$R6"||',
    'f "the pod has IPv6 but ip6tables ($b) could not apply the rules";}||s \'no IPv6 in this pod network namespace\'',
    `s "done: backend $b (requested ${o.backend})"`,
    '',
  ].join('\n');
}

/** Sets L, the backends to try in order; only auto needs to look at what a previous run left. */
function candidates(o: CheckedInterceptionOptions): string[] {
  if (o.backend !== 'auto') return [`L=${o.backend}`];
  return [
    `k(){ c=$(t iptables $1 '')&&$c -t nat -S ${o.outboundChain} >/dev/null 2>&1;}`,
    "L='nft legacy';k legacy&&! k nft&&L='legacy nft'",
  ];
}

interface SharedRules {
  head: string[];
  ipv4: string[];
  ipv6: string[];
  tail: string[];
}

/**
 * The two families' rule lists as the lines they share at the start and at the end, and what
 * each has of its own in between: `head + ipv4 + tail` is exactly the IPv4 list (same for IPv6).
 */
export function splitShared(ipv4: readonly string[], ipv6: readonly string[]): SharedRules {
  const max = Math.min(ipv4.length, ipv6.length);
  let h = 0;
  while (h < max && ipv4[h] === ipv6[h]) h++;
  let t = 0;
  while (t < max - h && ipv4[ipv4.length - 1 - t] === ipv6[ipv6.length - 1 - t]) t++;
  return {
    head: ipv4.slice(0, h),
    ipv4: ipv4.slice(h, ipv4.length - t),
    ipv6: ipv6.slice(h, ipv6.length - t),
    tail: ipv4.slice(ipv4.length - t),
  };
}
