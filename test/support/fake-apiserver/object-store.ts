import { randomUUID } from 'node:crypto';
import { apiVersionOf, typeKey, type ResourceType } from './resources.js';
import { alreadyExists, conflict, gone, namespaceNotFound, notFound } from './statuses.js';

export type KubeObj = Record<string, any>;

export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

/** One change, as watches replay it: the object after the change (before, for DELETED). */
export interface StoredEvent {
  rv: number;
  type: EventType;
  typeKey: string;
  namespace: string;
  object: KubeObj;
  /** The object before a MODIFIED (label-selector watches turn transitions into ADDED/DELETED). */
  previous?: KubeObj;
}

const objectKey = (t: ResourceType, namespace: string, name: string) => `${typeKey(t.group, t.version, t.plural)}/${namespace}/${name}`;

/**
 * The fake's etcd: objects keyed by group/version/resource/namespace/name, one global, monotonically
 * increasing resourceVersion, and a bounded event history that watches replay from. A watch from a
 * resourceVersion older than the history answers 410 Gone.
 */
export class ObjectStore {
  private readonly objects = new Map<string, KubeObj>();
  private history: StoredEvent[] = [];
  private rv = 1;
  /** Watches from a resourceVersion below this get 410 Gone. */
  private oldestValidRv = 1;
  private readonly listeners = new Set<(e: StoredEvent) => void>();

  constructor(public historyWindow = 10_000) {}

  get resourceVersion(): number {
    return this.rv;
  }

  onEvent(listener: (e: StoredEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get(t: ResourceType, namespace: string, name: string): KubeObj | undefined {
    const o = this.objects.get(objectKey(t, namespace, name));
    return o ? structuredClone(o) : undefined;
  }

  /** Objects of a type, optionally in one namespace, sorted by namespace/name like etcd keys. */
  list(t: ResourceType, namespace?: string): KubeObj[] {
    const prefix = `${typeKey(t.group, t.version, t.plural)}/${namespace !== undefined ? `${namespace}/` : ''}`;
    return [...this.objects.entries()]
      .filter(([k]) => k.startsWith(prefix))
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([, o]) => structuredClone(o));
  }

  create(t: ResourceType, namespace: string, obj: KubeObj): KubeObj {
    const name = obj.metadata?.name as string;
    if (t.namespaced && !this.objects.has(objectKey(NAMESPACES, '', namespace))) throw namespaceNotFound(namespace);
    const k = objectKey(t, namespace, name);
    if (this.objects.has(k)) throw alreadyExists(t, name);
    const rv = this.next();
    const stored = normalize(t, namespace, obj, {
      uid: randomUUID(),
      creationTimestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
      resourceVersion: String(rv),
      generation: 1,
    });
    this.objects.set(k, stored);
    this.record({ rv, type: 'ADDED', typeKey: typeKey(t.group, t.version, t.plural), namespace, object: stored });
    return structuredClone(stored);
  }

  /**
   * Replaces an object. With `metadata.resourceVersion` set, it must match the stored one
   * (optimistic concurrency → 409 Conflict), as for PUT and for patches that carry it.
   */
  update(t: ResourceType, namespace: string, name: string, obj: KubeObj): KubeObj {
    const k = objectKey(t, namespace, name);
    const current = this.objects.get(k);
    if (!current) throw notFound(t, name);
    const wanted = obj.metadata?.resourceVersion;
    if (wanted !== undefined && wanted !== '' && wanted !== current.metadata.resourceVersion) throw conflict(t, name);
    const rv = this.next();
    const specChanged = JSON.stringify(obj.spec) !== JSON.stringify(current.spec);
    const stored = normalize(t, namespace, { ...obj, metadata: { ...obj.metadata, name } }, {
      uid: current.metadata.uid,
      creationTimestamp: current.metadata.creationTimestamp,
      resourceVersion: String(rv),
      generation: (current.metadata.generation ?? 1) + (specChanged ? 1 : 0),
    });
    this.objects.set(k, stored);
    this.record({ rv, type: 'MODIFIED', typeKey: typeKey(t.group, t.version, t.plural), namespace, object: stored, previous: current });
    return structuredClone(stored);
  }

  delete(t: ResourceType, namespace: string, name: string): KubeObj {
    const k = objectKey(t, namespace, name);
    const current = this.objects.get(k);
    if (!current) throw notFound(t, name);
    this.objects.delete(k);
    const rv = this.next();
    // The DELETED event carries the object at the deletion's resourceVersion, like etcd's.
    const last = { ...current, metadata: { ...current.metadata, resourceVersion: String(rv) } };
    this.record({ rv, type: 'DELETED', typeKey: typeKey(t.group, t.version, t.plural), namespace, object: last });
    if (t === NAMESPACES || (t.group === '' && t.plural === 'namespaces')) this.deleteNamespaceContents(name);
    return structuredClone(last);
  }

  /** Drops every object of a type without events (a CRD deleted with its objects). */
  dropType(t: ResourceType): void {
    const prefix = `${typeKey(t.group, t.version, t.plural)}/`;
    for (const k of [...this.objects.keys()]) if (k.startsWith(prefix)) this.objects.delete(k);
  }

  /** Events after `fromRv` for a type; throws 410 Gone when `fromRv` predates the history. */
  eventsSince(fromRv: number, tKey: string): StoredEvent[] {
    if (fromRv < this.oldestValidRv) throw gone(String(fromRv), this.oldestValidRv);
    return this.history.filter((e) => e.rv > fromRv && e.typeKey === tKey);
  }

  /** Forgets all history: every watch from an older resourceVersion now gets 410 Gone. */
  compact(): void {
    this.history = [];
    this.oldestValidRv = this.rv;
  }

  private deleteNamespaceContents(ns: string): void {
    for (const [k, o] of [...this.objects]) {
      if (o.metadata?.namespace === ns) {
        this.objects.delete(k);
        const rv = this.next();
        const tKey = k.split('/').slice(0, 3).join('/');
        this.record({ rv, type: 'DELETED', typeKey: tKey, namespace: ns, object: { ...o, metadata: { ...o.metadata, resourceVersion: String(rv) } } });
      }
    }
  }

  private next(): number {
    return ++this.rv;
  }

  private record(e: StoredEvent): void {
    this.history.push(e);
    while (this.history.length > this.historyWindow) {
      const dropped = this.history.shift()!;
      this.oldestValidRv = dropped.rv;
    }
    for (const l of this.listeners) l(e);
  }
}

const NAMESPACES: ResourceType = { group: '', version: 'v1', plural: 'namespaces', singular: 'namespace', kind: 'Namespace', namespaced: false, builtIn: true };

/** What the API server enforces on every write: kind, apiVersion, server-owned metadata. */
function normalize(t: ResourceType, namespace: string, obj: KubeObj, server: { uid: string; creationTimestamp: string; resourceVersion: string; generation: number }): KubeObj {
  const out = structuredClone(obj);
  out.apiVersion = apiVersionOf(t);
  out.kind = t.kind;
  out.metadata = { ...(out.metadata ?? {}), ...server };
  if (t.namespaced) out.metadata.namespace = namespace;
  else delete out.metadata.namespace;
  if (t.group === '' && t.plural === 'namespaces') {
    // kube-apiserver ≥ 1.21 labels every namespace with its name.
    out.metadata.labels = { ...(out.metadata.labels ?? {}), 'kubernetes.io/metadata.name': out.metadata.name };
    out.spec = out.spec ?? { finalizers: ['kubernetes'] };
    out.status = { phase: 'Active' };
  }
  return out;
}
