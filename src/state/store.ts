import { EGRESS_GROUPS, type Profile } from '../profile.js';
import type { MeshState, PortUse } from './mesh-state.js';
import type { EgressPolicy, EgressRef, KubeObject, MeshConfigSpec, NamespaceInfo } from './types.js';

/** The kinds the state holds; informers and the `--state` loader feed objects of these kinds. */
export const STATE_KINDS = ['Namespace', 'MeshConfig', 'HTTPRouteGroup', 'Egress', 'UpstreamTrafficSetting'] as const;
export type StateKind = (typeof STATE_KINDS)[number];

export function groupOf(apiVersion: string | undefined): string {
  // Stored objects come from files and watches as they are: a non-string apiVersion has no group.
  if (typeof apiVersion !== 'string' || !apiVersion) return '';
  const slash = apiVersion.indexOf('/');
  if (slash < 0) return '';
  const group = apiVersion.slice(0, slash);
  // One string per known group, not one per stored object.
  return (EGRESS_GROUPS as readonly string[]).find((g) => g === group) ?? group;
}

/** Which state kind an object belongs to, or undefined when meshgate does not track it. */
export function stateKindOf(obj: KubeObject, profile: Profile): StateKind | undefined {
  const group = groupOf(obj.apiVersion);
  switch (obj.kind) {
    case 'Namespace':
      return group === '' ? 'Namespace' : undefined;
    case 'MeshConfig':
      return group === profile.meshConfig.group ? 'MeshConfig' : undefined;
    case 'HTTPRouteGroup':
      return group === 'specs.smi-spec.io' ? 'HTTPRouteGroup' : undefined;
    case 'Egress':
      return (EGRESS_GROUPS as readonly string[]).includes(group) ? 'Egress' : undefined;
    case 'UpstreamTrafficSetting':
      return (EGRESS_GROUPS as readonly string[]).includes(group) ? 'UpstreamTrafficSetting' : undefined;
    default:
      return undefined;
  }
}

const key = (...parts: string[]) => parts.join('/');

function asRecord(v: unknown): Record<string, unknown> | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}
function asArray(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}
function stringMap(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  const r = asRecord(v);
  if (r) for (const [k, val] of Object.entries(r)) if (typeof val === 'string') out[k] = val;
  return out;
}

/**
 * One change to the state, for listeners (the ADS config cache: which ServiceAccounts to
 * recompile). `before` is the object replaced or removed where the store keeps objects
 * (HTTPRouteGroup, UpstreamTrafficSetting); an Egress is kept only as what it contributes, so its
 * change carries the source ServiceAccounts (`ns/name`) it listed before and lists after instead.
 */
export interface StateChange {
  kind: StateKind;
  namespace: string;
  name: string;
  /** The API group (Egress and UpstreamTrafficSetting have one per policy group). */
  group: string;
  before?: KubeObject;
  /** The object written; undefined for a removal. */
  after?: KubeObject;
  sources?: { before: readonly string[]; after: readonly string[] };
}

export type StateChangeListener = (change: StateChange) => void;

/** What one Egress contributes to the derived indexes; kept so an update or delete can undo it. */
interface EgressContribution {
  portUses: { sourceKey: string; port: number; protocol: string }[];
  refs: string[];
  /** `ns/name` of each source ServiceAccount, once each. */
  sources: string[];
  /** The spec's lists, for the egress compiler. */
  policy: EgressPolicy;
}

/**
 * The in-memory cluster state with its derived indexes (server-first port index, route-group
 * reference index). Every mutation keeps the indexes exact, so reads are map look-ups.
 */
export class MeshStore implements MeshState {
  private readonly namespaces = new Map<string, NamespaceInfo>();
  private meshConfigSpec: MeshConfigSpec | undefined;
  private readonly routeGroups = new Map<string, KubeObject>();
  /** `group/ns/name`: each policy group has its own UpstreamTrafficSetting, read only by its own Egresses. */
  private readonly upstreamSettings = new Map<string, KubeObject>();
  /** Egresses are kept only as what they contribute to the indexes: the rules need nothing else, and 100k policies must fit. */
  private readonly egresses = new Map<string, { ref: EgressRef; contrib: EgressContribution }>();
  /** sourceKey -> port -> egressKey -> protocols (a policy lists a port once or twice: an array, not a Set) */
  private readonly portIndex = new Map<string, Map<number, Map<string, string[]>>>();
  /** `ns/kind/name` -> egress keys */
  private readonly refIndex = new Map<string, Set<string>>();
  /** source `ns/name` -> egress keys of the policies that list it (what its sidecar enforces) */
  private readonly sourceIndex = new Map<string, Set<string>>();
  /** Change listeners; with none, writes do no extra work. */
  private listeners: StateChangeListener[] = [];

  constructor(readonly profile: Profile) {}

  /**
   * Calls `listener` after every change a write makes (upsert, remove, and each object a
   * `replaceAll` drops or writes), synchronously. Returns the function that unsubscribes it. A
   * listener that throws does not stop the write or the other listeners.
   */
  onChange(listener: StateChangeListener): () => void {
    this.listeners = [...this.listeners, listener];
    return () => {
      this.listeners = this.listeners.filter((l) => l !== listener);
    };
  }

  private emit(change: StateChange): void {
    for (const l of this.listeners) {
      try {
        l(change);
      } catch {
        // A listener's failure is its own (it logs); the state stays consistent.
      }
    }
  }

  // ---- reads (MeshState) ----

  namespace(name: string): NamespaceInfo | undefined {
    return this.namespaces.get(name);
  }
  meshConfig(): MeshConfigSpec | undefined {
    return this.meshConfigSpec;
  }
  httpRouteGroup(namespace: string, name: string): KubeObject | undefined {
    return this.routeGroups.get(key(namespace, name));
  }
  upstreamTrafficSetting(namespace: string, name: string, group: string): KubeObject | undefined {
    return this.upstreamSettings.get(key(group, namespace, name));
  }
  egress(ref: EgressRef): EgressRef | undefined {
    return this.egresses.get(key(ref.group, ref.namespace, ref.name))?.ref;
  }
  egressesReferencing(namespace: string, kind: string, name: string): EgressRef[] {
    const keys = this.refIndex.get(key(namespace, kind, name));
    if (!keys) return [];
    return [...keys].map((k) => this.egresses.get(k)!.ref);
  }
  portUses(source: { namespace: string; name: string }, port: number): PortUse[] {
    const byPolicy = this.portIndex.get(key(source.namespace, source.name))?.get(port);
    if (!byPolicy) return [];
    const out: PortUse[] = [];
    for (const [egressKey, protocols] of byPolicy) {
      const ref = this.egresses.get(egressKey)!.ref;
      for (const protocol of protocols) out.push({ policy: ref, protocol });
    }
    return out;
  }
  egressesFor(source: { namespace: string; name: string }): EgressPolicy[] {
    const keys = this.sourceIndex.get(key(source.namespace, source.name));
    if (!keys) return [];
    // Keys are `group/ns/name`: sorted, they give the stable order the compiler's output needs.
    return [...keys].sort().map((k) => this.egresses.get(k)!.contrib.policy);
  }
  counts(): Record<string, number> {
    return {
      Namespace: this.namespaces.size,
      MeshConfig: this.meshConfigSpec ? 1 : 0,
      HTTPRouteGroup: this.routeGroups.size,
      Egress: this.egresses.size,
      UpstreamTrafficSetting: this.upstreamSettings.size,
    };
  }

  // ---- writes (fed by the --state loader and by informers) ----

  /** Adds or replaces an object; objects of kinds meshgate does not track are ignored. */
  upsert(obj: KubeObject): void {
    const kind = stateKindOf(obj, this.profile);
    const name = obj.metadata?.name;
    if (!kind || !name) return;
    const ns = obj.metadata?.namespace ?? '';
    if (this.listeners.length > 0) {
      const change = this.changeOf(kind, obj, ns, name);
      this.write(kind, obj, ns, name);
      if (change) this.emit({ ...change, after: obj, ...(change.sources ? { sources: { before: change.sources.before, after: this.egressSources(change) } } : {}) });
      return;
    }
    this.write(kind, obj, ns, name);
  }

  /** The change about to be made to the object `kind` `ns/name` (undefined when it is not one the state keeps). */
  private changeOf(kind: StateKind, obj: KubeObject, ns: string, name: string): StateChange | undefined {
    const group = groupOf(obj.apiVersion);
    const base = { kind, namespace: ns, name, group };
    switch (kind) {
      case 'Namespace':
        return base;
      case 'MeshConfig':
        return name === this.profile.meshConfig.name && ns === this.profile.controlNamespace ? base : undefined;
      case 'HTTPRouteGroup': {
        const before = this.routeGroups.get(key(ns, name));
        return before ? { ...base, before } : base;
      }
      case 'UpstreamTrafficSetting': {
        const before = this.upstreamSettings.get(key(group, ns, name));
        return before ? { ...base, before } : base;
      }
      case 'Egress':
        return { ...base, sources: { before: this.egresses.get(key(group, ns, name))?.contrib.sources ?? [], after: [] } };
    }
  }

  private egressSources(change: StateChange): readonly string[] {
    return this.egresses.get(key(change.group, change.namespace, change.name))?.contrib.sources ?? [];
  }

  private write(kind: StateKind, obj: KubeObject, ns: string, name: string): void {
    switch (kind) {
      case 'Namespace':
        this.namespaces.set(name, {
          name,
          labels: stringMap(obj.metadata?.labels),
          annotations: stringMap(obj.metadata?.annotations),
        });
        return;
      case 'MeshConfig':
        if (name === this.profile.meshConfig.name && ns === this.profile.controlNamespace) {
          this.meshConfigSpec = (asRecord(obj.spec) ?? {}) as MeshConfigSpec;
        }
        return;
      case 'HTTPRouteGroup':
        this.routeGroups.set(key(ns, name), obj);
        return;
      case 'UpstreamTrafficSetting':
        this.upstreamSettings.set(key(groupOf(obj.apiVersion), ns, name), obj);
        return;
      case 'Egress':
        this.upsertEgress({ group: groupOf(obj.apiVersion), namespace: ns, name }, obj);
        return;
    }
  }

  /** Removes an object (a watch DELETED event); unknown objects are ignored. */
  remove(obj: KubeObject): void {
    const kind = stateKindOf(obj, this.profile);
    const name = obj.metadata?.name;
    if (!kind || !name) return;
    const ns = obj.metadata?.namespace ?? '';
    if (this.listeners.length > 0) {
      const change = this.changeOf(kind, obj, ns, name);
      this.delete(kind, obj, ns, name);
      if (change) this.emit(change);
      return;
    }
    this.delete(kind, obj, ns, name);
  }

  private delete(kind: StateKind, obj: KubeObject, ns: string, name: string): void {
    switch (kind) {
      case 'Namespace':
        this.namespaces.delete(name);
        return;
      case 'MeshConfig':
        if (name === this.profile.meshConfig.name && ns === this.profile.controlNamespace) this.meshConfigSpec = undefined;
        return;
      case 'HTTPRouteGroup':
        this.routeGroups.delete(key(ns, name));
        return;
      case 'UpstreamTrafficSetting':
        this.upstreamSettings.delete(key(groupOf(obj.apiVersion), ns, name));
        return;
      case 'Egress':
        this.removeEgress(key(groupOf(obj.apiVersion), ns, name));
        return;
    }
  }

  /**
   * Replaces every object of one kind (a relist after 410 Gone, or an initial list). For Egress,
   * `group` limits the replacement to one API group, since each group has its own informer.
   */
  replaceAll(kind: StateKind, objects: KubeObject[], group?: string): void {
    if (this.listeners.length > 0) {
      // Listeners see each object dropped and each written, as single removes and upserts.
      for (const obj of this.objectsOf(kind, group)) this.remove(obj);
      for (const o of objects) this.upsert(o);
      return;
    }
    switch (kind) {
      case 'Namespace':
        this.namespaces.clear();
        break;
      case 'MeshConfig':
        this.meshConfigSpec = undefined;
        break;
      case 'HTTPRouteGroup':
        this.routeGroups.clear();
        break;
      case 'UpstreamTrafficSetting':
        for (const [k, o] of this.upstreamSettings) if (!group || groupOf(o.apiVersion) === group) this.upstreamSettings.delete(k);
        break;
      case 'Egress':
        for (const [k, e] of [...this.egresses]) if (!group || e.ref.group === group) this.removeEgress(k);
        break;
    }
    for (const o of objects) this.upsert(o);
  }

  /** Stand-ins for the objects of `kind` held now, enough to remove each (replaceAll with listeners). */
  private objectsOf(kind: StateKind, group?: string): KubeObject[] {
    const named = (apiVersion: string, k: string, namespace: string, name: string): KubeObject => ({ apiVersion, kind: k, metadata: { namespace, name } });
    switch (kind) {
      case 'Namespace':
        return [...this.namespaces.keys()].map((name) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } }));
      case 'MeshConfig':
        return this.meshConfigSpec
          ? [named(`${this.profile.meshConfig.group}/${this.profile.meshConfig.version}`, 'MeshConfig', this.profile.controlNamespace, this.profile.meshConfig.name)]
          : [];
      case 'HTTPRouteGroup':
        return [...this.routeGroups.values()];
      case 'UpstreamTrafficSetting':
        return [...this.upstreamSettings.values()].filter((o) => !group || groupOf(o.apiVersion) === group);
      case 'Egress':
        return [...this.egresses.values()].filter((e) => !group || e.ref.group === group).map((e) => named(`${e.ref.group}/v1alpha1`, 'Egress', e.ref.namespace, e.ref.name));
    }
  }

  private upsertEgress(ref: EgressRef, obj: KubeObject): void {
    const k = key(ref.group, ref.namespace, ref.name);
    this.removeEgress(k);
    const contrib = egressContribution(ref, obj);
    this.egresses.set(k, { ref, contrib });
    for (const use of contrib.portUses) {
      let byPort = this.portIndex.get(use.sourceKey);
      if (!byPort) this.portIndex.set(use.sourceKey, (byPort = new Map()));
      let byPolicy = byPort.get(use.port);
      if (!byPolicy) byPort.set(use.port, (byPolicy = new Map()));
      const protocols = byPolicy.get(k);
      if (!protocols) byPolicy.set(k, [use.protocol]);
      else if (!protocols.includes(use.protocol)) protocols.push(use.protocol);
    }
    for (const r of contrib.refs) addTo(this.refIndex, r, k);
    for (const source of contrib.sources) addTo(this.sourceIndex, source, k);
  }

  private removeEgress(k: string): void {
    const entry = this.egresses.get(k);
    if (!entry) return;
    for (const use of entry.contrib.portUses) {
      const byPort = this.portIndex.get(use.sourceKey);
      const byPolicy = byPort?.get(use.port);
      byPolicy?.delete(k);
      if (byPolicy && byPolicy.size === 0) byPort!.delete(use.port);
      if (byPort && byPort.size === 0) this.portIndex.delete(use.sourceKey);
    }
    for (const r of entry.contrib.refs) deleteFrom(this.refIndex, r, k);
    for (const source of entry.contrib.sources) deleteFrom(this.sourceIndex, source, k);
    this.egresses.delete(k);
  }
}

function addTo(index: Map<string, Set<string>>, at: string, k: string): void {
  let set = index.get(at);
  if (!set) index.set(at, (set = new Set()));
  set.add(k);
}
function deleteFrom(index: Map<string, Set<string>>, at: string, k: string): void {
  const set = index.get(at);
  set?.delete(k);
  if (set && set.size === 0) index.delete(at);
}
const strings = (v: unknown): string[] => asArray(v).filter((x): x is string => typeof x === 'string');

/** Reads what an Egress contributes to the indexes, leniently (stored objects may be malformed). */
function egressContribution(ref: EgressRef, obj: KubeObject): EgressContribution {
  const namespace = ref.namespace;
  const spec = asRecord(obj.spec) ?? {};
  const portUses: EgressContribution['portUses'] = [];
  const sources = asArray(spec.sources)
    .map(asRecord)
    .filter((s): s is Record<string, unknown> => !!s && (s.kind === undefined || s.kind === 'ServiceAccount'))
    .filter((s) => typeof s.name === 'string' && typeof s.namespace === 'string')
    .map((s) => key(s.namespace as string, s.name as string));
  const ports = asArray(spec.ports)
    .map(asRecord)
    .filter((p): p is Record<string, unknown> => !!p && Number.isInteger(p.number) && typeof p.protocol === 'string');
  for (const sourceKey of new Set(sources)) {
    // Lower case, as the rules and OSM read protocols (`TCP` is tcp), so server-first conflicts see any case.
    for (const p of ports) portUses.push({ sourceKey, port: p.number as number, protocol: (p.protocol as string).toLowerCase() });
  }
  const matches = asArray(spec.matches)
    .map(asRecord)
    .filter((m): m is Record<string, unknown> => !!m && typeof m.kind === 'string' && typeof m.name === 'string');
  const refs = matches.map((m) => key(namespace, m.kind as string, m.name as string));
  const policy: EgressPolicy = {
    ref,
    hosts: strings(spec.hosts),
    ipAddresses: strings(spec.ipAddresses),
    ports: ports.map((p) => ({ number: p.number as number, protocol: p.protocol as string })),
    matches: matches.map((m) => ({ apiGroup: typeof m.apiGroup === 'string' ? m.apiGroup : '', kind: m.kind as string, name: m.name as string })),
  };
  return { portUses, refs: [...new Set(refs)], sources: [...new Set(sources)], policy };
}
