import { contentVersion } from '../egress/canonical.js';
import { compileProxyConfig, type ServiceAccountRef } from '../egress/compile.js';
import type { Json } from '../egress/proxy-config.js';
import type { MeshgateSettings } from '../settings.js';
import type { MeshState } from '../state/mesh-state.js';
import type { StateChange, StateChangeListener } from '../state/store.js';
import type { Snapshot, TypeSnapshot } from './stream-protocol.js';

/**
 * The compiled config of every ServiceAccount that has a connected stream, kept current: a state
 * change recompiles only the ServiceAccounts whose inputs it touched (debounced, so a burst of
 * writes is one recompile), and only the watchers of those whose per-type versions changed hear of
 * it. Inputs of one ServiceAccount: the Egresses that list it, the HTTPRouteGroups and
 * UpstreamTrafficSettings those reference, and the MeshConfig (which touches everyone).
 */

export interface ChangeFeed {
  onChange(listener: StateChangeListener): () => void;
}

export interface SnapshotUpdate<R> {
  snapshot: Snapshot<R>;
  /** When the first state change behind this update happened (ms since the epoch). */
  changedAt: number;
}

export interface ConfigCacheOptions<R> {
  state: MeshState;
  /** State changes; without one the config never changes (a `--state` directory). */
  changes?: ChangeFeed;
  settings: MeshgateSettings;
  /** A compiled resource as sent (the server's: encoded `Any`, cached by content so equal resources are `===`). */
  encode: (resource: Json) => R;
  debounceMs?: number;
  now?: () => number;
  /** Called when a ServiceAccount cannot be compiled (its previous config stays). */
  onError?: (account: ServiceAccountRef, err: unknown) => void;
  /** Compiler warnings of a ServiceAccount, when they change. */
  onWarnings?: (account: ServiceAccountRef, warnings: string[]) => void;
}

interface Entry<R> {
  account: ServiceAccountRef;
  snapshot: Snapshot<R>;
  /** `ns/kind/name` of every object its policies reference (route groups, upstream settings). */
  refs: Set<string>;
  watchers: Set<(update: SnapshotUpdate<R>) => void>;
  warnings: string;
}

export interface CacheWatch<R> {
  snapshot: Snapshot<R>;
  cancel(): void;
}

const keyOf = (a: ServiceAccountRef) => `${a.namespace}/${a.name}`;

export class ConfigCache<R> {
  private readonly entries = new Map<string, Entry<R>>();
  private readonly pending = new Set<string>();
  private pendingSince: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly unsubscribe: (() => void) | undefined;
  private readonly debounceMs: number;
  private readonly now: () => number;
  /** Recompiles done (for tests and metrics). */
  compiles = 0;

  constructor(private readonly opts: ConfigCacheOptions<R>) {
    this.debounceMs = opts.debounceMs ?? 50;
    this.now = opts.now ?? Date.now;
    this.unsubscribe = opts.changes?.onChange((c) => this.onStateChange(c));
  }

  /** ServiceAccounts with a compiled config (those with watchers). */
  get size(): number {
    return this.entries.size;
  }

  /**
   * The current config of `account` (compiled now if nobody watches it yet) and a subscription to
   * its changes. Throws when the account cannot be compiled (a compiler bug).
   */
  watch(account: ServiceAccountRef, listener: (update: SnapshotUpdate<R>) => void): CacheWatch<R> {
    const k = keyOf(account);
    let entry = this.entries.get(k);
    if (!entry) {
      entry = { account: { namespace: account.namespace, name: account.name }, ...this.compile(account), watchers: new Set() };
      this.entries.set(k, entry);
    }
    entry.watchers.add(listener);
    const e = entry;
    return {
      snapshot: entry.snapshot,
      cancel: () => {
        e.watchers.delete(listener);
        if (e.watchers.size === 0 && this.entries.get(k) === e) this.entries.delete(k);
      },
    };
  }

  /** The current snapshot of a watched account, if any. */
  current(account: ServiceAccountRef): Snapshot<R> | undefined {
    return this.entries.get(keyOf(account))?.snapshot;
  }

  /** Recompiles what pending changes touched now, instead of after the debounce. */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const changedAt = this.pendingSince ?? this.now();
    this.pendingSince = undefined;
    const keys = [...this.pending];
    this.pending.clear();
    for (const k of keys) {
      const entry = this.entries.get(k);
      if (!entry) continue;
      let next: { snapshot: Snapshot<R>; refs: Set<string>; warnings: string };
      try {
        next = this.compile(entry.account);
      } catch (err) {
        this.opts.onError?.(entry.account, err);
        continue;
      }
      entry.refs = next.refs;
      if (next.warnings !== entry.warnings) {
        entry.warnings = next.warnings;
        if (next.warnings) this.opts.onWarnings?.(entry.account, next.warnings.split('\n'));
      }
      if (sameVersions(entry.snapshot, next.snapshot)) continue;
      entry.snapshot = next.snapshot;
      for (const w of [...entry.watchers]) w({ snapshot: next.snapshot, changedAt });
    }
  }

  close(): void {
    this.unsubscribe?.();
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.pending.clear();
  }

  /** Which watched ServiceAccounts a change may touch. */
  affected(change: StateChange): string[] {
    if (this.entries.size === 0) return [];
    switch (change.kind) {
      case 'Namespace':
        return [];
      case 'MeshConfig':
        return [...this.entries.keys()];
      case 'Egress': {
        const s = change.sources;
        return [...new Set([...(s?.before ?? []), ...(s?.after ?? [])])].filter((k) => this.entries.has(k));
      }
      case 'HTTPRouteGroup':
      case 'UpstreamTrafficSetting': {
        const ref = `${change.namespace}/${change.kind}/${change.name}`;
        return [...this.entries].filter(([, e]) => e.refs.has(ref)).map(([k]) => k);
      }
    }
  }

  private onStateChange(change: StateChange): void {
    const keys = this.affected(change);
    if (keys.length === 0) return;
    for (const k of keys) this.pending.add(k);
    this.pendingSince ??= this.now();
    this.timer ??= setTimeout(() => this.flush(), this.debounceMs);
  }

  private compile(account: ServiceAccountRef): { snapshot: Snapshot<R>; refs: Set<string>; warnings: string } {
    const { state, settings } = this.opts;
    this.compiles++;
    const { config, warnings } = compileProxyConfig(account, state, settings);
    const refs = new Set<string>();
    for (const p of state.egressesFor(account)) for (const m of p.matches) refs.add(`${p.ref.namespace}/${m.kind}/${m.name}`);
    const snapshot: Snapshot<R> = {
      listeners: this.typeSnapshot(config.listeners),
      routes: this.typeSnapshot(config.routeConfigurations),
      clusters: this.typeSnapshot(config.clusters),
    };
    return { snapshot, refs, warnings: [...new Set(warnings)].join('\n') };
  }

  private typeSnapshot(resources: Json[]): TypeSnapshot<R> {
    const map = new Map<string, R>();
    for (const r of resources) map.set((r as { name: string }).name, this.opts.encode(r));
    return { version: contentVersion(resources), resources: map };
  }
}

function sameVersions<R>(a: Snapshot<R>, b: Snapshot<R>): boolean {
  return a.listeners.version === b.listeners.version && a.routes.version === b.routes.version && a.clusters.version === b.clusters.version;
}
