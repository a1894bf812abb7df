import type { IptablesBackend } from '../../settings.js';
import { checkInterceptionOptions, type CheckedInterceptionOptions } from './checked-options.js';
import type { IpFamily } from './cidr-families.js';
import { natRuleLines, outputJumpArgs } from './nat-rules.js';

export { splitByFamily, normalizeCidr, type CidrsByFamily, type IpFamily } from './cidr-families.js';
export { InterceptionOptionError } from './option-error.js';
export { interfaceNameProblem } from './checked-options.js';

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

// Characters that would mean something to the shell inside the unquoted heredoc, or end a line.
const UNSAFE_IN_HEREDOC = /[$`\\'"\n\r\0]/;
const HEREDOC_END = 'MESHGATE_RULES';

/**
 * The init container's POSIX /bin/sh script (dash and busybox sh): applies the nat rules for IPv4,
 * and for IPv6 when the pod has IPv6, atomically with `iptables-restore --noflush`, choosing the
 * backend (nft, legacy, or auto: nft falling back to legacy), safe to run twice. Every value is
 * re-checked here; anything that is not a plain CIDR, port, UID or interface name throws
 * InterceptionOptionError, so the text can never carry shell syntax.
 */
export function renderInterceptionScript(options: InterceptionOptions): string {
  const o = checkInterceptionOptions(options);
  const jump = outputJumpArgs(o);
  return [
    '#!/bin/sh',
    '# meshgate outbound interception (generated; runs as root in the pod network namespace).',
    `# Outbound TCP from every UID but ${o.proxyUid} is redirected to port ${o.outboundPort}, except loopback,`,
    '# in-cluster CIDRs and the configured exclusions (with an inclusion list, only those ranges).',
    'set -eu',
    '',
    `requested_backend='${o.backend}'`,
    '',
    "say() { printf 'meshgate-init: %s\\n' \"$*\"; }",
    "fail() { printf 'meshgate-init: error: %s\\n' \"$*\" >&2; exit 1; }",
    'have() { command -v "$1" >/dev/null 2>&1; }',
    '',
    '# tool FAMILY BACKEND SUFFIX: prints the command for iptables|ip6tables on nft|legacy, e.g.',
    '# iptables-nft-restore; falls back to the plain name when its --version shows that backend.',
    'tool() {',
    '  if have "$1-$2$3"; then echo "$1-$2$3"; return 0; fi',
    '  have "$1$3" && have "$1" || return 1',
    '  case "$("$1" --version 2>/dev/null || true)" in',
    '    *nf_tables*) tool_mode=nft ;;',
    '    *) tool_mode=legacy ;;',
    '  esac',
    '  [ "$tool_mode" = "$2" ] || return 1',
    '  echo "$1$3"',
    '}',
    '',
    "# holds_rules BACKEND: meshgate's chain already exists there (this is a re-run).",
    'holds_rules() {',
    "  holds_ctl=$(tool iptables \"$1\" '') || return 1",
    `  "$holds_ctl" -t nat -S ${o.outboundChain} >/dev/null 2>&1`,
    '}',
    '',
    '# jump_line CTL: the OUTPUT jump when it is missing, a comment when it is already there.',
    'jump_line() {',
    `  if "$1" -t nat -C ${jump} >/dev/null 2>&1; then`,
    `    echo '# OUTPUT already jumps to ${o.outboundChain}'`,
    '  else',
    `    echo '-A ${jump}'`,
    '  fi',
    '}',
    '',
    ...applyFunction(o, 'ipv4'),
    '',
    ...applyFunction(o, 'ipv6'),
    '',
    'case "$requested_backend" in',
    '  nft | legacy) candidates=$requested_backend ;;',
    "  *) if holds_rules legacy && ! holds_rules nft; then candidates='legacy nft'; else candidates='nft legacy'; fi ;;",
    'esac',
    "backend=''",
    'for candidate in $candidates; do',
    '  if apply_ipv4 "$candidate"; then backend=$candidate; break; fi',
    '  say "backend $candidate could not apply the IPv4 rules"',
    'done',
    '[ -n "$backend" ] || fail "no iptables backend could apply the rules (tried: $candidates)"',
    '',
    '# The pod has IPv6 when the kernel lists any IPv6 address in this namespace (::1 included).',
    'if [ -r /proc/net/if_inet6 ] && { read -r first_line </proc/net/if_inet6; } 2>/dev/null; then',
    '  apply_ipv6 "$backend" || fail "the pod has IPv6 but ip6tables ($backend) could not apply the rules; refusing to let IPv6 egress bypass the proxy"',
    'else',
    "  say 'no IPv6 in this pod network namespace: IPv6 rules not needed'",
    'fi',
    'say "interception rules in place: backend $backend (requested $requested_backend)"',
    '',
  ].join('\n');
}

function applyFunction(o: CheckedInterceptionOptions, family: IpFamily): string[] {
  const cmd = family === 'ipv4' ? 'iptables' : 'ip6tables';
  const label = family === 'ipv4' ? 'IPv4' : 'IPv6';
  const rules = ['*nat', ...natRuleLines(o, family), '$jump', 'COMMIT'];
  for (const line of rules) {
    if (line !== '$jump' && (UNSAFE_IN_HEREDOC.test(line) || line === HEREDOC_END)) {
      throw new Error(`interception rule line is not shell-safe: ${JSON.stringify(line)}`);
    }
  }
  return [
    `# apply_${family} BACKEND: one atomic ${cmd}-restore transaction for the nat table.`,
    `apply_${family}() {`,
    `  restore=$(tool ${cmd} "$1" -restore) || { say "${cmd}-restore for backend $1 not found"; return 1; }`,
    `  ctl=$(tool ${cmd} "$1" '') || { say "${cmd} for backend $1 not found"; return 1; }`,
    '  jump=$(jump_line "$ctl")',
    `  "$restore" --noflush <<${HEREDOC_END} || return 1`,
    ...rules,
    HEREDOC_END,
    `  say "${label} rules applied with $restore (backend $1)"`,
    '}',
  ];
}
