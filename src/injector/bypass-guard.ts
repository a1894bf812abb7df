import { meshKeys, PROXY_UID } from '../profile.js';
import type { MeshState } from '../state/mesh-state.js';
import type { NamespaceInfo } from '../state/types.js';
import { GUARD_SETTING_FLAGS, type MeshgateSettings } from '../settings.js';
import type { AdmissionInput, ValidationOutcome } from '../vocabulary/admission.js';
import { quote } from '../vocabulary/field-errors.js';
import { parseSidecarInjection } from './annotations.js';
import { decideInjection, isEnrolled } from './decision.js';
import { injectPod, planInjection, type InjectContext } from './inject-pod.js';
import { parsePod, type Container, type Pod } from './pod.js';
import { carriesInjection, compareInjection, firstDiff, meshgateContainerNames, stripInjection } from './sidecar-integrity.js';
import { readStatus } from './status.js';

/** Capabilities that let a container rewrite the pod's netfilter rules or craft raw packets. */
const BYPASS_CAPABILITIES = ['NET_ADMIN', 'NET_RAW', 'ALL'];

function normalizeCap(cap: string): string {
  const c = cap.trim().toUpperCase();
  return c.startsWith('CAP_') ? c.slice(4) : c;
}

/**
 * The problems of one container that is not one of meshgate's own, each `<field> ..., which <why>`:
 * it runs as the proxy UID (its own or the pod's `runAsUser`), adds NET_ADMIN/NET_RAW/ALL, or is
 * privileged. meshgate's containers are checked by comparison with what it renders instead.
 */
export function containerProblems(c: Container, pod: Pod): string[] {
  const problems: string[] = [];
  const own = c.securityContext?.runAsUser;
  const uid = own ?? pod.spec.securityContext?.runAsUser;
  if (uid === PROXY_UID) {
    const field = own !== undefined ? 'securityContext.runAsUser' : 'pod securityContext.runAsUser';
    problems.push(`${field} is ${PROXY_UID}, the proxy's UID, whose traffic is never intercepted`);
  }
  const added = (c.securityContext?.capabilities?.add ?? []).map(normalizeCap);
  for (const cap of BYPASS_CAPABILITIES) {
    if (added.includes(cap)) {
      problems.push(`securityContext.capabilities.add contains ${cap}, which lets it rewrite the pod's iptables and bypass the egress proxy`);
    }
  }
  if (c.securityContext?.privileged === true) {
    problems.push(`securityContext.privileged is true, which lets it rewrite the pod's iptables and bypass the egress proxy`);
  }
  return problems;
}

/** What the guard found in one pod, before the modes decide between denial and warning. */
export interface GuardFindings {
  /** App containers that could step around the proxy (`<container>: <field> ...`). */
  bypass: string[];
  /** meshgate's containers, volume or status not as meshgate renders them (or missing). */
  integrity: string[];
  /** Set when the pod opts out of the sidecar although meshgate would otherwise inject it. */
  optOut?: string;
  /** Always warnings (hostNetwork). */
  notes: string[];
}

export interface GuardContext extends InjectContext {
  namespaceInfo: NamespaceInfo | undefined;
  /** `meshgate inject`: decide as offline injection does (every namespace counts as injecting). */
  offline?: boolean;
}

/**
 * The pod guard on a pod as admitted, after every mutating webhook ran (SPEC §3). A pod meshgate
 * would inject must carry exactly what meshgate renders for it now (`compareInjection`), so a
 * forged status annotation, a look-alike `envoy` or `<prefix>-init`, or an injected container a
 * later webhook or the author edited, is a finding. meshgate's containers that match keep the
 * powers meshgate gives them; every other container (init and ephemeral ones too) must not be
 * able to step around the proxy. A pod that opts out with `D/sidecar-injection: disabled`, where
 * meshgate would otherwise inject it, is reported for the opt-out setting to judge.
 */
export function guardPod(pod: Pod, ctx: GuardContext): GuardFindings {
  const found: GuardFindings = { bypass: [], integrity: [], notes: [] };
  if (pod.spec.hostNetwork === true) {
    found.notes.push(`pod uses hostNetwork: no sidecar is injected and its egress bypasses the mesh's egress control`);
  }
  const { profile } = ctx;
  const stripped = stripInjection(pod, profile);
  const decide = (p: Pod) => decideInjection({ profile, pod: p, namespace: ctx.namespace, namespaceInfo: ctx.namespaceInfo, offline: ctx.offline });
  const decision = decide(stripped);
  let verified = new Set<Container>();
  let meshgateOwned = false;
  if (decision.kind === 'deny') {
    found.integrity.push(decision.message);
  } else if (decision.kind === 'inject' || carriesInjection(pod, profile)) {
    // Rendered whenever the pod carries any part of an injection, so a pod meshgate would not
    // inject (opted out, hostNetwork) may still keep a proxy that is exactly meshgate's.
    const expected = injectPod(stripped, ctx);
    if (expected.kind === 'deny') {
      if (decision.kind === 'inject') found.integrity.push(expected.message);
    } else {
      const planned = planInjection(stripped, ctx);
      const mode = planned.ok ? planned.plan.mode : ctx.settings.sidecarMode;
      const result = compareInjection(pod, expected.pod, profile, mode);
      verified = result.verified;
      if (decision.kind === 'inject') {
        found.integrity.push(...result.findings);
        meshgateOwned = true;
      }
    }
  }
  // An opt-out counts only where meshgate would inject the pod without it.
  const says = parseSidecarInjection(profile, pod.metadata?.annotations, 'pod');
  if (decision.kind === 'skip' && says.ok && says.value === false) {
    const key = meshKeys(profile).sidecarInjection;
    const { [key]: _optOut, ...rest } = stripped.metadata?.annotations ?? {};
    const without: Pod = { ...stripped, metadata: { ...stripped.metadata, annotations: rest } };
    if (decide(without).kind === 'inject') {
      found.optOut = `pod opts out of the sidecar (${key}: ${quote(pod.metadata?.annotations?.[key] ?? '')})`;
    }
  }

  const names = meshgateContainerNames(profile);
  for (const [list, kind] of [
    [pod.spec.initContainers ?? [], 'init container'],
    [pod.spec.containers, 'container'],
    [pod.spec.ephemeralContainers ?? [], 'ephemeral container'],
  ] as const) {
    for (const c of list) {
      if (verified.has(c)) continue;
      // A pod meshgate meshes already has a finding for a container named like its own that differs.
      if (meshgateOwned && kind !== 'ephemeral container' && names.includes(c.name)) continue;
      for (const p of containerProblems(c, pod)) found.bypass.push(`${kind} ${quote(c.name)}: ${p}`);
    }
  }
  return found;
}

const BYPASS_FLAG = GUARD_SETTING_FLAGS.bypassGuard.flag;
const OPT_OUT_FLAG = GUARD_SETTING_FLAGS.podOptOut.flag;

/**
 * The findings under the mesh's settings: `bypassGuard` deny (403) / warn / off for bypass and
 * integrity findings, `podOptOut` allow / warn / deny for an opt-out. Messages name the fix and
 * the setting, by the flag `meshgate serve`, `inject` and `validate` all take.
 */
export function guardOutcome(found: GuardFindings, settings: MeshgateSettings, namespace: string): ValidationOutcome {
  const outcome: ValidationOutcome = { errors: [], warnings: [...found.notes] };
  const denials: string[] = [];
  if (settings.bypassGuard !== 'off') {
    const all = [...found.integrity, ...found.bypass];
    if (settings.bypassGuard === 'warn') {
      for (const f of all) outcome.warnings.push(truncate(`bypass guard: ${f}`, 256));
    } else if (all.length > 0) {
      const fixes: string[] = [];
      if (found.integrity.length > 0) {
        fixes.push(`create the pod without meshgate's containers, volume and status annotation and let meshgate inject them`);
      }
      if (found.bypass.length > 0) fixes.push('remove what lets a container bypass the proxy');
      denials.push(`${all.join('; ')}: ${fixes.join(', and ')} (or set ${BYPASS_FLAG} warn)`);
    }
  }
  if (found.optOut && settings.podOptOut !== 'allow') {
    if (settings.podOptOut === 'warn') {
      outcome.warnings.push(truncate(`${found.optOut}: its egress bypasses the mesh's egress control (${OPT_OUT_FLAG} deny refuses such pods)`, 256));
    } else {
      denials.push(`${found.optOut} in namespace ${quote(namespace)}, where the mesh controls egress: remove the annotation (or set ${OPT_OUT_FLAG} warn)`);
    }
  }
  if (denials.length > 0) outcome.forbidden = denials.join('; ');
  return outcome;
}

/**
 * Pod UPDATE: the containers meshgate injected (listed in the status annotation the pod was
 * admitted with, or named like meshgate's) must stay exactly as they were; the API server lets
 * an UPDATE change a container's image, which would swap the proxy or the iptables container.
 */
function updateFindings(pod: Pod, old: Pod, ctx: GuardContext): GuardFindings {
  const found: GuardFindings = { bypass: [], integrity: [], notes: [] };
  const status = readStatus(old);
  if (!status.ok || status.value === undefined) return found;
  const names = new Set([...meshgateContainerNames(ctx.profile), ...status.value.containers, ...status.value.initContainers]);
  for (const list of ['initContainers', 'containers'] as const) {
    for (const before of old.spec[list] ?? []) {
      if (!names.has(before.name)) continue;
      const what = `${list === 'containers' ? 'container' : 'init container'} ${quote(before.name)}`;
      const after = (pod.spec[list] ?? []).find((c) => c.name === before.name);
      if (!after) {
        found.integrity.push(`${what}: removed after admission`);
        continue;
      }
      for (const key of new Set([...Object.keys(before), ...Object.keys(after)])) {
        const d = firstDiff(before[key], after[key], undefined, key);
        if (d) found.integrity.push(`${what}: ${key} changed after admission (meshgate injected ${short(before[key])}, now ${short(after[key])})`);
      }
    }
  }
  return found;
}

function short(v: unknown): string {
  let t: string;
  try {
    t = v === undefined ? 'unset' : (JSON.stringify(v) ?? 'null');
  } catch {
    t = '(too deep to show)';
  }
  return t.length > 60 ? `${t.slice(0, 57)}...` : t;
}

/**
 * `pods/ephemeralcontainers` (kubectl debug): the ephemeral containers the update adds must not
 * be able to step around the proxy, with the same messages as app containers.
 */
function ephemeralFindings(pod: Pod, old: Pod | undefined): GuardFindings {
  const found: GuardFindings = { bypass: [], integrity: [], notes: [] };
  const existing = new Set((old?.spec.ephemeralContainers ?? []).map((c) => c.name));
  for (const c of pod.spec.ephemeralContainers ?? []) {
    if (existing.has(c.name)) continue;
    for (const p of containerProblems(c, pod)) found.bypass.push(`ephemeral container ${quote(c.name)}: ${p}`);
  }
  return found;
}

/**
 * The pod guard of the validating webhook (and of `meshgate validate`): Pod CREATE and UPDATE and
 * `pods/ephemeralcontainers` in enrolled namespaces. Mode `off` of the bypass guard checks
 * nothing but the opt-out.
 */
export function checkPodBypass(input: AdmissionInput, state: MeshState, settings: MeshgateSettings): ValidationOutcome {
  const none: ValidationOutcome = { errors: [], warnings: [] };
  if (input.operation !== 'CREATE' && input.operation !== 'UPDATE') return none;
  const pod = parsePod(input.object);
  if (!pod) return none;
  const namespace = input.namespace || pod.metadata?.namespace || 'default';
  const namespaceInfo = state.namespace(namespace);
  if (!isEnrolled(state.profile, namespaceInfo)) return none;
  const ctx: GuardContext = { profile: state.profile, meshConfig: state.meshConfig(), settings, namespace, namespaceInfo };
  const old = input.oldObject === undefined ? undefined : parsePod(input.oldObject);
  if (input.subResource === 'ephemeralcontainers') return guardOutcome(ephemeralFindings(pod, old), settings, namespace);
  if (input.subResource !== undefined && input.subResource !== '') return none;
  if (input.operation === 'UPDATE') return old ? guardOutcome(updateFindings(pod, old, ctx), settings, namespace) : none;
  return guardOutcome(guardPod(pod, ctx), settings, namespace);
}

function truncate(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max - 3)}...`;
}
