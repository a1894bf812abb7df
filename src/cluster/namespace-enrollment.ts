import { z } from 'zod';
import { meshKeys, type Profile } from '../profile.js';
import { describeApiFailure, isNotFound, type ApiAction } from './api-errors.js';
import { isFatalForAll, mergePatchOptions, retryOnConflict, type KubeApi } from './kube-api.js';

/**
 * Namespace enrollment (SPEC §2), with OSM's `osm namespace add|remove|ignore|list` messages and
 * its defects fixed: a namespace of another mesh or an ignored one is refused (OSM overwrote it),
 * a missing namespace is named, and the write is guarded by the resourceVersion that was checked
 * (a concurrent change is re-read and re-checked on 409 Conflict).
 */

/** The outcome for one namespace: a line for stdout, or a failure line for stderr. */
export type NamespaceResult = { ok: true; lines: string[] } | { ok: false; message: string };

/** A failure that ends the whole command (the API server unreachable, credentials refused, a list that failed). */
export class ClusterRequestError extends Error {
  override name = 'ClusterRequestError';
}

const NamespaceMeta = z.object({
  metadata: z
    .object({
      name: z.string(),
      resourceVersion: z.string().optional(),
      labels: z.record(z.string(), z.string()).nullish(),
      annotations: z.record(z.string(), z.string()).nullish(),
    })
    .loose(),
});
type NamespaceMeta = { name: string; resourceVersion: string | undefined; labels: Record<string, string>; annotations: Record<string, string> };

const SYSTEM_NAMESPACES = ['kube-system', 'kube-public'];

const action = (verb: ApiAction['verb'], name?: string): ApiAction => ({ verb, group: '', resource: 'namespaces', ...(name ? { name } : {}) });

async function readNamespace(api: KubeApi, name: string): Promise<NamespaceMeta | undefined> {
  try {
    const raw = await api.core.readNamespace({ name });
    const m = NamespaceMeta.parse(raw).metadata;
    return { name: m.name, resourceVersion: m.resourceVersion, labels: m.labels ?? {}, annotations: m.annotations ?? {} };
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

async function patchNamespace(api: KubeApi, name: string, patch: object): Promise<void> {
  await api.core.patchNamespace({ name, body: patch }, mergePatchOptions());
}

/** Runs one namespace's read-check-write, retried on 409, with errors turned into a result line. */
async function perNamespace(api: KubeApi, name: string, verb: ApiAction['verb'], run: () => Promise<NamespaceResult>): Promise<NamespaceResult> {
  try {
    return await retryOnConflict(run);
  } catch (err) {
    const message = describeApiFailure(err, action(verb, name), api.server);
    if (isFatalForAll(err)) throw new ClusterRequestError(message);
    return { ok: false, message };
  }
}

const notFoundResult = (name: string): NamespaceResult => ({
  ok: false,
  message: `Namespace [${name}] not found; create it first: kubectl create namespace ${name}`,
});

export async function addNamespace(api: KubeApi, profile: Profile, name: string, opts: { disableSidecarInjection: boolean }): Promise<NamespaceResult> {
  const keys = meshKeys(profile);
  const mesh = profile.meshName;
  const injection = opts.disableSidecarInjection ? 'disabled' : 'enabled';
  if (name === profile.controlNamespace) {
    return { ok: false, message: `Namespace [${name}] is the control plane namespace of mesh [${mesh}] and cannot be added to the mesh` };
  }
  if (SYSTEM_NAMESPACES.includes(name)) {
    return { ok: false, message: `Namespace [${name}] is a Kubernetes system namespace and cannot be added to mesh [${mesh}]` };
  }
  return perNamespace(api, name, 'patch', async () => {
    const ns = await readNamespace(api, name);
    if (!ns) return notFoundResult(name);
    const owner = ns.labels[keys.monitoredBy];
    if (owner !== undefined && owner !== mesh) {
      return {
        ok: false,
        message: `Namespace [${name}] already has label [${keys.monitoredBy}=${owner}]; remove it from mesh [${owner}] first: meshgate namespace remove ${name} --mesh-name ${owner}`,
      };
    }
    if (keys.ignore in ns.labels) {
      return {
        ok: false,
        message: `Namespace [${name}] has label [${keys.ignore}=${ns.labels[keys.ignore]}] and is ignored by the mesh; remove the label first: kubectl label namespace ${name} ${keys.ignore}-`,
      };
    }
    const restartHint = `existing pods get the sidecar only when re-created; restart them to inject it: kubectl rollout restart deployment -n ${name}`;
    if (owner === mesh && ns.annotations[keys.sidecarInjection] === injection) {
      return { ok: true, lines: [`Namespace [${name}] is already part of mesh [${mesh}] (sidecar injection ${injection})`] };
    }
    // The resourceVersion makes the patch conditional on what was checked above (409 → re-check).
    await patchNamespace(api, name, {
      metadata: { resourceVersion: ns.resourceVersion, labels: { [keys.monitoredBy]: mesh }, annotations: { [keys.sidecarInjection]: injection } },
    });
    const lines = [`Namespace [${name}] successfully added to mesh [${mesh}]${opts.disableSidecarInjection ? ' with sidecar injection disabled' : ''}`];
    if (!opts.disableSidecarInjection) lines.push(`  ${restartHint}`);
    return { ok: true, lines };
  });
}

export async function removeNamespace(api: KubeApi, profile: Profile, name: string): Promise<NamespaceResult> {
  const keys = meshKeys(profile);
  const mesh = profile.meshName;
  return perNamespace(api, name, 'patch', async () => {
    const ns = await readNamespace(api, name);
    if (!ns) return notFoundResult(name);
    const owner = ns.labels[keys.monitoredBy];
    if (owner === undefined) {
      return { ok: false, message: `Namespace [${name}] is not part of any mesh (no label [${keys.monitoredBy}]); nothing to remove` };
    }
    if (owner !== mesh) {
      return {
        ok: false,
        message: `Namespace [${name}] belongs to mesh [${owner}], not mesh [${mesh}]; to remove it from its mesh: meshgate namespace remove ${name} --mesh-name ${owner}`,
      };
    }
    await patchNamespace(api, name, {
      metadata: { resourceVersion: ns.resourceVersion, labels: { [keys.monitoredBy]: null }, annotations: { [keys.sidecarInjection]: null } },
    });
    return {
      ok: true,
      lines: [
        `Namespace [${name}] successfully removed from mesh [${mesh}]`,
        `  running pods keep their sidecar until re-created: kubectl rollout restart deployment -n ${name}`,
      ],
    };
  });
}

export async function ignoreNamespace(api: KubeApi, profile: Profile, name: string): Promise<NamespaceResult> {
  const keys = meshKeys(profile);
  return perNamespace(api, name, 'patch', async () => {
    const ns = await readNamespace(api, name);
    if (!ns) return notFoundResult(name);
    if (ns.labels[keys.ignore] === 'true') return { ok: true, lines: [`Namespace [${name}] is already ignored`] };
    await patchNamespace(api, name, { metadata: { resourceVersion: ns.resourceVersion, labels: { [keys.ignore]: 'true' } } });
    const lines = [`Successfully configured namespace [${name}] to be ignored`];
    const owner = ns.labels[keys.monitoredBy];
    if (owner !== undefined) {
      lines.push(`  it keeps label [${keys.monitoredBy}=${owner}]; the ignore label wins: no sidecar is injected there; running pods keep theirs until re-created`);
    }
    return { ok: true, lines };
  });
}

export interface EnrolledNamespace {
  name: string;
  mesh: string;
  sidecarInjection: string;
}

/** Namespaces carrying the monitored-by label, optionally only those of one mesh. */
export async function listEnrolledNamespaces(api: KubeApi, profile: Profile, meshName?: string): Promise<EnrolledNamespace[]> {
  const keys = meshKeys(profile);
  const labelSelector = meshName ? `${keys.monitoredBy}=${meshName}` : keys.monitoredBy;
  let list: { items?: unknown[] };
  try {
    list = await api.core.listNamespace({ labelSelector });
  } catch (err) {
    throw new ClusterRequestError(describeApiFailure(err, action('list'), api.server));
  }
  return (list.items ?? []).map((item) => {
    const m = NamespaceMeta.parse(item).metadata;
    return { name: m.name, mesh: m.labels?.[keys.monitoredBy] ?? '', sidecarInjection: m.annotations?.[keys.sidecarInjection] ?? '-' };
  });
}
