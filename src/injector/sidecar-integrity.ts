import { quote } from '../vocabulary/field-errors.js';
import type { Profile } from '../profile.js';
import { MESHGATE_ANNOTATIONS } from './annotations.js';
import type { Container, Pod } from './pod.js';
import { SIDECAR_NAME } from './sidecar.js';
import { TOKEN_VOLUME_NAME } from './token-volume.js';

/**
 * Fields of meshgate's containers that may differ from what it renders, because a later mutating
 * admission plugin legitimately sets them: `resources` (LimitRanger, VPA-style webhooks) and
 * `imagePullPolicy` (registry-mirror and pull-policy webhooks). docs/injection.md lists them.
 */
export const MAY_DIFFER = ['resources', 'imagePullPolicy'] as const;

/**
 * The API server's defaults for fields meshgate leaves unset (it defaults the object again after
 * each mutating webhook, so the validating webhook sees them). A field that is absent on one side
 * equals its default on the other. Nested objects hold the defaults of their own fields.
 */
type Defaults = { [key: string]: string | number | Defaults };
const PROBE_DEFAULTS: Defaults = { successThreshold: 1, httpGet: { scheme: 'HTTP' } };
const CONTAINER_DEFAULTS: Defaults = {
  terminationMessagePath: '/dev/termination-log',
  terminationMessagePolicy: 'File',
  readinessProbe: PROBE_DEFAULTS,
  startupProbe: PROBE_DEFAULTS,
};
const VOLUME_DEFAULTS: Defaults = { projected: { defaultMode: 420 } };

/**
 * The mount the ServiceAccount admission plugin adds to every container that lacks it when the
 * admission chain is re-run (a later webhook with `reinvocationPolicy: IfNeeded`): the API token,
 * read-only. It cannot shadow anything the proxy runs, so the proxy may carry it.
 */
const SERVICE_ACCOUNT_MOUNT_PATH = '/var/run/secrets/kubernetes.io/serviceaccount';

/** The names of meshgate's containers for the profile. */
export function meshgateContainerNames(profile: Profile): string[] {
  return [profile.initContainerName, SIDECAR_NAME];
}

/** Whether the pod carries any part of an injection: the status annotation, a container named like meshgate's, or its token volume. */
export function carriesInjection(pod: Pod, profile: Profile): boolean {
  const names = meshgateContainerNames(profile);
  return (
    pod.metadata?.annotations?.[MESHGATE_ANNOTATIONS.status] !== undefined ||
    [...pod.spec.containers, ...(pod.spec.initContainers ?? [])].some((c) => names.includes(c.name)) ||
    (pod.spec.volumes ?? []).some((v) => v.name === TOKEN_VOLUME_NAME)
  );
}

/**
 * The pod as its author wrote it, before meshgate's mutating webhook: without the containers named
 * like meshgate's, its token volume and its status annotation. What injection renders from this is
 * what the pod must carry. A copy; the input is not modified.
 */
export function stripInjection(pod: Pod, profile: Profile): Pod {
  const names = meshgateContainerNames(profile);
  const spec = { ...pod.spec, containers: pod.spec.containers.filter((c) => !names.includes(c.name)) };
  if (spec.initContainers) spec.initContainers = spec.initContainers.filter((c) => !names.includes(c.name));
  if (spec.volumes) spec.volumes = spec.volumes.filter((v) => v.name !== TOKEN_VOLUME_NAME);
  const out: Pod = { ...pod, spec };
  const annotations = pod.metadata?.annotations;
  if (annotations && MESHGATE_ANNOTATIONS.status in annotations) {
    const { [MESHGATE_ANNOTATIONS.status]: _status, ...rest } = annotations;
    out.metadata = { ...pod.metadata, annotations: rest };
  }
  return out;
}

/** Differences listed per container before the rest are counted. */
const MAX_DIFFS = 4;

type ListName = 'containers' | 'initContainers';
interface Located {
  container: Container;
  list: ListName;
  index: number;
}

function locate(pod: Pod, name: string): Located[] {
  const found: Located[] = [];
  for (const list of ['initContainers', 'containers'] as const) {
    (pod.spec[list] ?? []).forEach((container, index) => {
      if (container.name === name) found.push({ container, list, index });
    });
  }
  return found;
}

function label(list: ListName): string {
  return list === 'containers' ? 'container' : 'init container';
}

export interface IntegrityResult {
  /** Each difference, `<container or part>: <field> ...`; empty when the pod carries exactly what meshgate renders. */
  findings: string[];
  /** meshgate's containers found exactly as rendered, in the right place: they keep the powers meshgate gives them. */
  verified: Set<Container>;
}

/**
 * Compares the pod as admitted with what meshgate renders for it (`expected`: injectPod of the
 * stripped pod): its init container, its proxy (each field, in the right list, and in native
 * mode in the first two init-container slots, ahead of everything the interception must cover),
 * the token volume and the status annotation.
 */
export function compareInjection(actual: Pod, expected: Pod, profile: Profile, mode: 'classic' | 'native'): IntegrityResult {
  const findings: string[] = [];
  const verified = new Set<Container>();
  for (const name of meshgateContainerNames(profile)) {
    const want = locate(expected, name)[0];
    if (!want) continue;
    const have = locate(actual, name);
    const what = `${label(want.list)} ${quote(name)}`;
    if (have.length === 0) {
      findings.push(`${what} is missing: meshgate injects it into every pod it meshes`);
      continue;
    }
    if (have.length > 1) {
      findings.push(`${quote(name)} appears ${have.length} times among the pod's containers`);
      continue;
    }
    const got = have[0]!;
    const diffs: string[] = [];
    if (got.list !== want.list) {
      diffs.push(`is ${got.list === 'containers' ? 'a container' : 'an init container'}, meshgate renders ${want.list === 'containers' ? 'a container' : 'an init container'} (${mode} sidecar mode)`);
    } else if (mode === 'native' && got.index !== want.index) {
      diffs.push(`is initContainers[${got.index}], meshgate renders initContainers[${want.index}]`);
    }
    diffs.push(...containerDiffs(want.container, got.container));
    if (diffs.length === 0) verified.add(got.container);
    // A look-alike differs everywhere: the first few fields say enough.
    const shownDiffs = diffs.length > MAX_DIFFS ? [...diffs.slice(0, MAX_DIFFS - 1), `and ${diffs.length - MAX_DIFFS + 1} more fields differ`] : diffs;
    for (const d of shownDiffs) findings.push(`${label(got.list)} ${quote(name)}: ${d}`);
  }

  const wantVolume = (expected.spec.volumes ?? []).find((v) => v.name === TOKEN_VOLUME_NAME);
  if (wantVolume) {
    const haveVolume = (actual.spec.volumes ?? []).filter((v) => v.name === TOKEN_VOLUME_NAME);
    if (haveVolume.length === 0) findings.push(`volume ${quote(TOKEN_VOLUME_NAME)} (the proxy's ADS token) is missing`);
    else {
      const d = firstDiff(wantVolume, haveVolume[0], VOLUME_DEFAULTS, '');
      if (d) findings.push(`volume ${quote(TOKEN_VOLUME_NAME)}: ${describe(d)}`);
    }
  }

  const key = MESHGATE_ANNOTATIONS.status;
  const wantStatus = expected.metadata?.annotations?.[key];
  const haveStatus = actual.metadata?.annotations?.[key];
  if (wantStatus !== undefined && haveStatus !== wantStatus) {
    if (haveStatus === undefined) findings.push(`annotation ${key} is missing`);
    else {
      let parsed: unknown;
      try {
        parsed = JSON.parse(haveStatus);
      } catch {
        parsed = undefined;
      }
      const d = parsed === undefined ? undefined : firstDiff(JSON.parse(wantStatus), parsed, undefined, '');
      findings.push(d ? `annotation ${key}: ${describe(d)}` : `annotation ${key} is ${shown(haveStatus)}, meshgate renders ${shown(wantStatus)}`);
    }
  }
  return { findings, verified };
}

/** Every differing field of one of meshgate's containers (a field on the MAY_DIFFER list aside). */
function containerDiffs(want: Container, got: Container): string[] {
  const out: string[] = [];
  const keys = new Set([...Object.keys(want), ...Object.keys(got)]);
  for (const key of keys) {
    if ((MAY_DIFFER as readonly string[]).includes(key)) continue;
    let have = got[key];
    if (key === 'volumeMounts' && Array.isArray(have)) have = have.filter((m) => !isServiceAccountMount(m));
    const dflt = CONTAINER_DEFAULTS[key];
    let w = want[key];
    if (dflt !== undefined && !isRecord(dflt)) {
      w ??= dflt;
      have ??= dflt;
    }
    const d = firstDiff(w, have, isRecord(dflt) ? (dflt as Defaults) : undefined, key);
    if (d) out.push(describe(d));
  }
  return out;
}

function isServiceAccountMount(m: unknown): boolean {
  const r = m as { mountPath?: unknown; readOnly?: unknown; subPath?: unknown } | null;
  return typeof r === 'object' && r !== null && r.mountPath === SERVICE_ACCOUNT_MOUNT_PATH && r.readOnly === true && r.subPath === undefined;
}

const MAX_DEPTH = 32;

export interface Difference {
  path: string;
  want: unknown;
  have: unknown;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * The first place where `have` differs from `want`, by path (`securityContext.runAsUser`,
 * `args[1]`); undefined when equal. `defaults` (under `key`) fill absent fields on either side.
 */
export function firstDiff(want: unknown, have: unknown, defaults: Defaults | undefined, path: string, depth = 0): Difference | undefined {
  // Nothing meshgate renders is nested this deep: deeper is a difference, found without recursing on.
  if (depth > MAX_DEPTH) return { path, want, have };
  if (isRecord(want) && isRecord(have)) {
    for (const k of new Set([...Object.keys(want), ...Object.keys(have)])) {
      const d = defaults?.[k];
      let w = want[k];
      let h = have[k];
      if (d !== undefined && !isRecord(d)) {
        w ??= d;
        h ??= d;
      }
      const diff = firstDiff(w, h, isRecord(d) ? (d as Defaults) : undefined, path ? `${path}.${k}` : k, depth + 1);
      if (diff) return diff;
    }
    return undefined;
  }
  if (Array.isArray(want) && Array.isArray(have)) {
    if (want.length !== have.length) return { path, want, have };
    for (let i = 0; i < want.length; i++) {
      const diff = firstDiff(want[i], have[i], undefined, `${path}[${i}]`, depth + 1);
      if (diff) return diff;
    }
    return undefined;
  }
  return Object.is(want, have) ? undefined : { path, want, have };
}

const SHOWN_MAX = 60;

/** A value in a message: strings quoted, the rest as JSON (one line, C1 controls escaped), cut to SHOWN_MAX. */
function safeJson(v: unknown): string {
  try {
    return JSON.stringify(v) ?? 'null';
  } catch {
    return '(too deep to show)';
  }
}

function shown(v: unknown): string {
  if (v === undefined) return 'unset';
  const cut = (t: string) => (t.length > SHOWN_MAX ? `${t.slice(0, SHOWN_MAX - 3)}...` : t);
  if (typeof v === 'string') return quote(cut(v));
  return cut(safeJson(v)).replace(/[\u007f-\u009f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** `<path> is <have>, meshgate renders <want>`, or `<path> differs ...` when either is long. */
export function describe(d: Difference): string {
  const long = (v: unknown) => (typeof v === 'string' ? v.length : safeJson(v).length) > SHOWN_MAX;
  if (d.have !== undefined && d.want !== undefined && (long(d.have) || long(d.want))) return `${d.path} differs from what meshgate renders`;
  return `${d.path} is ${shown(d.have)}, meshgate renders ${shown(d.want)}`;
}
