import { PROXY_UID } from '../profile.js';
import type { MeshState } from '../state/mesh-state.js';
import type { MeshgateSettings } from '../settings.js';
import type { AdmissionInput, ValidationOutcome } from '../vocabulary/admission.js';
import { isEnrolled } from './decision.js';
import { parsePod, type Container, type Pod } from './pod.js';
import { SIDECAR_NAME } from './sidecar.js';
import { readStatus } from './status.js';

/** Capabilities that let a container rewrite the pod's netfilter rules or craft raw packets. */
const BYPASS_CAPABILITIES = ['NET_ADMIN', 'NET_RAW', 'ALL'];

function normalizeCap(cap: string): string {
  const c = cap.trim().toUpperCase();
  return c.startsWith('CAP_') ? c.slice(4) : c;
}

/** What meshgate itself may grant to the containers its status annotation lists. */
interface Allowance {
  proxyUid: boolean;
  /** Bypass capabilities the container may add: the iptables container gets NET_ADMIN and NET_RAW, never ALL. */
  caps: readonly string[];
  privileged: boolean;
}

const NONE: Allowance = { proxyUid: false, caps: [], privileged: false };
const INIT_CAPS = ['NET_ADMIN', 'NET_RAW'];

/**
 * The problems of one container, each `<field> ..., which <why>`. A container meshgate injected
 * keeps exactly the powers meshgate gives it (the proxy runs as the proxy UID; the iptables init
 * container has NET_ADMIN/NET_RAW and, when the MeshConfig asks, privileged) and no more, so a
 * forged status annotation cannot hide an app container.
 */
function containerProblems(c: Container, pod: Pod, allow: Allowance): string[] {
  const problems: string[] = [];
  const own = c.securityContext?.runAsUser;
  const uid = own ?? pod.spec.securityContext?.runAsUser;
  if (uid === PROXY_UID && !allow.proxyUid) {
    const field = own !== undefined ? 'securityContext.runAsUser' : 'pod securityContext.runAsUser';
    problems.push(`${field} is ${PROXY_UID}, the proxy's UID, whose traffic is never intercepted`);
  }
  const added = (c.securityContext?.capabilities?.add ?? []).map(normalizeCap);
  for (const cap of BYPASS_CAPABILITIES) {
    if (added.includes(cap) && !allow.caps.includes(cap)) {
      problems.push(`securityContext.capabilities.add contains ${cap}, which lets it rewrite the pod's iptables and bypass the egress proxy`);
    }
  }
  if (c.securityContext?.privileged === true && !allow.privileged) {
    problems.push(`securityContext.privileged is true, which lets it rewrite the pod's iptables and bypass the egress proxy`);
  }
  return problems;
}

/**
 * Pod bypass guard (SPEC §3): in enrolled namespaces, app containers (and the pod's own init
 * containers) must not run as the proxy UID, add NET_ADMIN/NET_RAW or be privileged. Mode `deny`
 * forbids (403), `warn` turns each finding into a warning, `off` checks nothing.
 */
export function checkPodBypass(input: AdmissionInput, state: MeshState, settings: MeshgateSettings): ValidationOutcome {
  const outcome: ValidationOutcome = { errors: [], warnings: [] };
  if (settings.bypassGuard === 'off' || input.operation !== 'CREATE') return outcome;
  const pod = parsePod(input.object);
  if (!pod) return outcome;
  const namespace = input.namespace || pod.metadata?.namespace || 'default';
  if (!isEnrolled(state.profile, state.namespace(namespace))) return outcome;

  if (pod.spec.hostNetwork === true) {
    outcome.warnings.push(`pod uses hostNetwork: no sidecar is injected and its egress bypasses the mesh's egress control`);
  }

  const status = readStatus(pod);
  const injected: { containers: string[]; initContainers: string[] } =
    status.ok && status.value ? status.value : { containers: [], initContainers: [] };
  const privilegedInit = state.meshConfig()?.sidecar?.enablePrivilegedInitContainer === true;
  const allowanceOf = (c: Container, init: boolean): Allowance => {
    if (c.name === SIDECAR_NAME && (init ? injected.initContainers : injected.containers).includes(SIDECAR_NAME)) {
      return { ...NONE, proxyUid: true };
    }
    if (init && c.name === state.profile.initContainerName && injected.initContainers.includes(c.name)) {
      return { proxyUid: false, caps: INIT_CAPS, privileged: privilegedInit };
    }
    return NONE;
  };

  const findings: string[] = [];
  for (const [list, init] of [
    [pod.spec.initContainers ?? [], true],
    [pod.spec.containers, false],
  ] as const) {
    for (const c of list) {
      for (const p of containerProblems(c, pod, allowanceOf(c, init))) {
        findings.push(`${init ? 'init container' : 'container'} ${JSON.stringify(c.name)}: ${p}`);
      }
    }
  }
  if (findings.length === 0) return outcome;
  if (settings.bypassGuard === 'warn') {
    for (const f of findings) outcome.warnings.push(truncate(`bypass guard: ${f}`, 256));
    return outcome;
  }
  outcome.forbidden = `${findings.join('; ')}; remove it (or set the bypass guard to warn)`;
  return outcome;
}

function truncate(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max - 3)}...`;
}
