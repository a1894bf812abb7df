/**
 * Where the pod spec sits in the objects `meshgate inject` rewrites: a Pod is one; Deployments,
 * StatefulSets, DaemonSets, ReplicaSets, ReplicationControllers and Jobs hold one at
 * `spec.template`; CronJobs at `spec.jobTemplate.spec.template`.
 */
const TEMPLATE_PATHS: Record<string, { groups: string[]; path: string[] }> = {
  Pod: { groups: [''], path: [] },
  Deployment: { groups: ['apps', 'extensions'], path: ['spec', 'template'] },
  StatefulSet: { groups: ['apps'], path: ['spec', 'template'] },
  DaemonSet: { groups: ['apps', 'extensions'], path: ['spec', 'template'] },
  ReplicaSet: { groups: ['apps', 'extensions'], path: ['spec', 'template'] },
  ReplicationController: { groups: [''], path: ['spec', 'template'] },
  Job: { groups: ['batch'], path: ['spec', 'template'] },
  CronJob: { groups: ['batch'], path: ['spec', 'jobTemplate', 'spec', 'template'] },
};

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

export interface PodSlot {
  kind: string;
  /** The object's name, for messages. */
  name: string;
  /** The object's own namespace, if it names one. */
  namespace: string | undefined;
  /** The pod (or pod template: metadata + spec). */
  pod: unknown;
  /** Returns a copy of the document with the pod replaced. */
  replace(pod: unknown): Record<string, unknown>;
}

/** The pod inside a document, or undefined when the document holds none (left untouched). */
export function podSlotOf(doc: unknown): PodSlot | undefined {
  if (!isRecord(doc) || typeof doc.kind !== 'string' || typeof doc.apiVersion !== 'string') return undefined;
  const entry = TEMPLATE_PATHS[doc.kind];
  if (!entry) return undefined;
  const slash = doc.apiVersion.indexOf('/');
  const group = slash < 0 ? '' : doc.apiVersion.slice(0, slash);
  if (!entry.groups.includes(group)) return undefined;
  let pod: unknown = doc;
  for (const key of entry.path) pod = isRecord(pod) ? pod[key] : undefined;
  const meta = isRecord(doc.metadata) ? doc.metadata : {};
  const kind = doc.kind;
  return {
    kind,
    name: typeof meta.name === 'string' ? meta.name : typeof meta.generateName === 'string' ? `${meta.generateName}*` : '<unnamed>',
    namespace: typeof meta.namespace === 'string' && meta.namespace ? meta.namespace : undefined,
    pod,
    replace(newPod: unknown): Record<string, unknown> {
      if (entry.path.length === 0) return newPod as Record<string, unknown>;
      const copy = structuredClone(doc);
      let at: Record<string, unknown> = copy;
      for (const key of entry.path.slice(0, -1)) at = at[key] as Record<string, unknown>;
      at[entry.path[entry.path.length - 1]!] = newPod;
      return copy;
    },
  };
}
