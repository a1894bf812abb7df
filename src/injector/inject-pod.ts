import { quote } from '../vocabulary/field-errors.js';
import type { Profile } from '../profile.js';
import type { MeshgateSettings } from '../settings.js';
import type { MeshConfigSpec } from '../state/types.js';
import { MESHGATE_ANNOTATIONS, parseIptablesBackend, parseSidecarImage, parseSidecarMode } from './annotations.js';
import { renderBootstrap, type BootstrapOptions } from './bootstrap.js';
import { TOKEN_PATH, TOKEN_VOLUME_NAME, tokenVolume, type Volume } from './token-volume.js';
import { RenderCache } from './render-cache.js';
import { mergeExclusions } from './exclusions.js';
import { buildInitContainer, interceptionOptions, type InitContainerOptions } from './init-container.js';
import { InterceptionOptionError, type InterceptionOptions } from './iptables/script.js';
import type { Container, Pod } from './pod.js';
import { DEFAULT_LOG_LEVEL, ENVOY_LOG_LEVELS, SIDECAR_NAME, buildSidecar, type SidecarOptions } from './sidecar.js';
import { shared } from './patch.js';
import { renderStatus } from './status.js';

export interface InjectContext {
  profile: Profile;
  meshConfig: MeshConfigSpec | undefined;
  settings: MeshgateSettings;
  /** The pod's namespace (from the request, or the CLI's --namespace). */
  namespace: string;
  /**
   * Offline (`meshgate inject`): the kind of the workload whose pod template this is (`Job`,
   * `CronJob`, `Deployment`...). The webhook leaves it unset and reads the pod's ownerReferences.
   */
  templateOf?: string;
}

export type InjectResult = { kind: 'injected'; pod: Pod; warnings: string[] } | { kind: 'deny'; message: string };

/** Everything injection derives from the pod, the MeshConfig and the settings, before building. */
export interface InjectionPlan {
  mode: 'classic' | 'native';
  /** What the init container's script was rendered from. */
  interception: InterceptionOptions;
  initContainer: Container;
  sidecar: Container;
  /** The sidecar's projected ServiceAccount token. */
  volume: Volume;
  warnings: string[];
}

function nonEmpty(s: unknown): s is string {
  return typeof s === 'string' && s.trim().length > 0;
}

/** Reads the pod's annotations and the MeshConfig into the containers to add (no pod change yet). */
export function planInjection(pod: Pod, ctx: InjectContext): { ok: true; plan: InjectionPlan } | { ok: false; message: string } {
  const { profile, meshConfig, settings } = ctx;
  const annotations = pod.metadata?.annotations;
  const warnings: string[] = [];

  const mode = parseSidecarMode(annotations, settings.sidecarMode);
  if (!mode.ok) return { ok: false, message: mode.message };
  const backend = parseIptablesBackend(annotations, settings.iptablesBackend);
  if (!backend.ok) return { ok: false, message: backend.message };
  const exclusions = mergeExclusions(profile, meshConfig, annotations);
  if (!exclusions.ok) return { ok: false, message: exclusions.message };
  const imageOverride = parseSidecarImage(annotations);
  if (!imageOverride.ok) return { ok: false, message: imageOverride.message };

  const taken = new Set([...pod.spec.containers, ...(pod.spec.initContainers ?? [])].map((c) => c.name));
  for (const name of [profile.initContainerName, SIDECAR_NAME]) {
    if (taken.has(name)) {
      return { ok: false, message: `pod already has a container named "${name}", which the mesh injects: rename the container` };
    }
  }
  if ((pod.spec.volumes ?? []).some((v) => v.name === TOKEN_VOLUME_NAME)) {
    return { ok: false, message: `pod already has a volume named "${TOKEN_VOLUME_NAME}", which the mesh injects: rename the volume` };
  }

  const sidecarCfg = meshConfig?.sidecar ?? {};
  let logLevel = DEFAULT_LOG_LEVEL;
  if (sidecarCfg.logLevel !== undefined) {
    const lvl = String(sidecarCfg.logLevel).toLowerCase();
    if ((ENVOY_LOG_LEVELS as readonly string[]).includes(lvl)) logLevel = lvl;
    else warnings.push(`MeshConfig sidecar.logLevel ${quotedForWarning(sidecarCfg.logLevel)} is not an Envoy log level; using "${DEFAULT_LOG_LEVEL}"`);
  }

  const interception = interceptionOptions(profile, settings.clusterCIDRs, exclusions.value, backend.value);
  let initContainer: Container;
  try {
    initContainer = initContainerFor({
      name: profile.initContainerName,
      image: nonEmpty(sidecarCfg.initContainerImage) ? sidecarCfg.initContainerImage : settings.defaultInitImage,
      interception,
      privileged: sidecarCfg.enablePrivilegedInitContainer === true,
    });
  } catch (err) {
    // Every value was validated above; the renderer re-checks and refuses anything unsafe, which
    // must deny the pod (an uninjected pod would escape egress control), never crash admission.
    if (err instanceof InterceptionOptionError) return { ok: false, message: `cannot render the interception rules: ${err.message}` };
    throw err;
  }
  const serviceAccount = pod.spec.serviceAccountName ?? 'default';
  const sidecar = sidecarFor({
    image: imageOverride.value ?? (nonEmpty(sidecarCfg.sidecarImage) ? sidecarCfg.sidecarImage : settings.defaultSidecarImage),
    bootstrap: {
      // An IPv6 pod or service range means pods have IPv6: the proxy listens there too.
      ipv6: interception.clusterCIDRs.some((c) => c.includes(':')),
      nodeName: `${serviceAccount}.${ctx.namespace}`,
      xds: {
        targetUri: `${settings.xds.serviceName}.${settings.xds.namespace ?? profile.controlNamespace}.svc:${settings.xds.port}`,
        caPem: settings.xds.caPem,
        tokenPath: TOKEN_PATH,
      },
    },
    logLevel,
    resources: sidecarCfg.resources,
    native: mode.value === 'native',
  });

  const own = pod.spec.initContainers ?? [];
  if (mode.value === 'classic' && own.length > 0) {
    const names = own.map((c) => c.name).join(', ');
    const shown = names.length > 60 ? `${names.slice(0, 57)}...` : names;
    warnings.push(
      `classic sidecar mode: init containers (${shown}) run before ${profile.initContainerName} intercepts traffic, so their egress bypasses the proxy; set ${MESHGATE_ANNOTATIONS.sidecarMode}: native (Kubernetes >= 1.29)`,
    );
  }
  const job = batchWorkloadOf(pod, ctx.templateOf);
  if (mode.value === 'classic' && job) {
    warnings.push(
      `classic sidecar mode: the ${SIDECAR_NAME} sidecar never exits, so this ${job}'s pods never complete; use native sidecar mode (Kubernetes >= 1.29): ` +
        `annotate the pod template ${MESHGATE_ANNOTATIONS.sidecarMode}: native, or use ${ctx.templateOf === undefined ? 'meshgate serve --sidecar-mode native' : 'meshgate inject --sidecar-mode native'}`,
    );
  }
  return { ok: true, plan: { mode: mode.value, interception, initContainer, sidecar, volume: TOKEN_VOLUME, warnings } };
}

/**
 * `Job` or `CronJob` when the pod runs to completion for one: offline, the kind whose template it
 * is; at admission, a batch Job among its owners (the Job controller sets it; a CronJob's pods are
 * owned by the Jobs it creates). A classic sidecar keeps such a pod running after its own
 * containers are done, so the Job never completes; a native sidecar is stopped by the kubelet.
 */
function batchWorkloadOf(pod: Pod, templateOf: string | undefined): 'Job' | 'CronJob' | undefined {
  if (templateOf === 'Job' || templateOf === 'CronJob') return templateOf;
  if (templateOf !== undefined) return undefined;
  const owners = pod.metadata?.ownerReferences;
  if (!Array.isArray(owners)) return undefined;
  const ownedByJob = owners.some((o: unknown) => {
    const r = o !== null && typeof o === 'object' ? (o as Record<string, unknown>) : undefined;
    return r?.kind === 'Job' && typeof r.apiVersion === 'string' && r.apiVersion.startsWith('batch/');
  });
  return ownedByJob ? 'Job' : undefined;
}

/**
 * The containers to add are rendered once per distinct inputs and shared, frozen, by every pod that
 * gets them: most pods of a mesh get the same ones, and their JSON text (the script and the
 * bootstrap are most of every patch) is then serialized once too (see `shared` in patch.ts).
 */
const initContainers = new RenderCache<Container>();
const sidecars = new RenderCache<Container>();
const TOKEN_VOLUME = shared(tokenVolume());

function initContainerFor(o: InitContainerOptions): Container {
  return initContainers.get(JSON.stringify(o), () => shared(buildInitContainer(o)));
}

function sidecarFor(o: Omit<SidecarOptions, 'bootstrapJson'> & { bootstrap: BootstrapOptions }): Container {
  const { bootstrap, ...rest } = o;
  // The CA (a kilobyte or two of PEM) enters the key as a number standing for its text.
  const key = JSON.stringify({ ...o, bootstrap: { ...bootstrap, xds: { ...bootstrap.xds, caPem: caKey(bootstrap.xds.caPem) } } });
  return sidecars.get(key, () => shared(buildSidecar({ ...rest, bootstrapJson: JSON.stringify(renderBootstrap(bootstrap)) })));
}

/**
 * A number per distinct CA text, so cache keys stay short. The CA is the same string object for
 * every pod (it comes from the settings), whose hash V8 keeps, so the lookup does not rehash it.
 * Numbers are never reused, so clearing the map cannot make a new CA hit an old CA's entry.
 */
const caIds = new Map<string, number>();
let nextCaId = 0;

function caKey(pem: string): number {
  let id = caIds.get(pem);
  if (id === undefined) {
    if (caIds.size >= 16) caIds.clear();
    caIds.set(pem, (id = nextCaId++));
  }
  return id;
}

/**
 * A user's value inside a warning: quoted, cut to 40 characters, and with the line separators and
 * C1 controls JSON.stringify leaves alone escaped too, so the warning stays one line (found by fuzzing).
 */
function quotedForWarning(value: unknown): string {
  const s = String(value);
  const cut = s.length > 40 ? `${s.slice(0, 37)}...` : s;
  return quote(cut);
}

/**
 * pod → pod' (SPEC §5). Returns a new object and never modifies the input: what changes is copied
 * (spec, the container lists, metadata and annotations), everything else is shared with the input.
 * Sharing keeps admission cheap and lets the diff skip unchanged subtrees by identity, so a pod
 * nested as deep as the API server allows is patched without recursing through it. Classic: iptables init
 * container appended after the pod's own, Envoy appended to containers. Native: iptables init
 * container, then Envoy (restartPolicy Always), then the pod's own init containers. Both: the
 * proxy's token volume appended to the pod's volumes.
 */
export function injectPod(pod: Pod, ctx: InjectContext): InjectResult {
  const planned = planInjection(pod, ctx);
  if (!planned.ok) return { kind: 'deny', message: planned.message };
  const { plan } = planned;
  const out: Pod = { ...pod, spec: { ...pod.spec } };
  const own = out.spec.initContainers ?? [];
  out.spec.volumes = [...(out.spec.volumes ?? []), plan.volume];
  if (plan.mode === 'native') {
    out.spec.initContainers = [plan.initContainer, plan.sidecar, ...own];
  } else {
    out.spec.initContainers = [...own, plan.initContainer];
    out.spec.containers = [...out.spec.containers, plan.sidecar];
  }
  const status = renderStatus({
    version: ctx.settings.version,
    containers: plan.mode === 'classic' ? [SIDECAR_NAME] : [],
    initContainers: plan.mode === 'classic' ? [plan.initContainer.name] : [plan.initContainer.name, SIDECAR_NAME],
    volumes: [plan.volume.name],
  });
  out.metadata = { ...(out.metadata ?? {}), annotations: { ...(out.metadata?.annotations ?? {}), [MESHGATE_ANNOTATIONS.status]: status } };
  return { kind: 'injected', pod: out, warnings: plan.warnings };
}
