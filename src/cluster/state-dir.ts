import type { Profile } from '../profile.js';
import { documentsByFile } from '../io/yaml-documents.js';
import type { MeshState, StateSource } from '../state/mesh-state.js';
import { MeshStore } from '../state/store.js';
import type { KubeObject } from '../state/types.js';

/** Fills a store from YAML documents (namespaces, MeshConfig, HTTPRouteGroups, Egresses, ...). */
export function storeFromObjects(profile: Profile, objects: unknown[]): MeshStore {
  const store = new MeshStore(profile);
  for (const o of objects) {
    if (o && typeof o === 'object' && !Array.isArray(o)) store.upsert(o as KubeObject);
  }
  return store;
}

/**
 * Cluster state read once from a directory of YAML files (`meshgate serve --state DIR`,
 * `meshgate validate --state DIR`). Ready as soon as it has been read.
 */
export class DirStateSource implements StateSource {
  private store: MeshStore;
  private loaded = false;

  constructor(
    private readonly profile: Profile,
    private readonly dir: string,
  ) {
    this.store = new MeshStore(profile);
  }

  get state(): MeshState {
    return this.store;
  }

  async start(): Promise<void> {
    // File by file: what the store keeps of each object is small, the parsed files are not.
    const store = new MeshStore(this.profile);
    for await (const docs of documentsByFile([this.dir])) {
      for (const d of docs) if (d.value && typeof d.value === 'object' && !Array.isArray(d.value)) store.upsert(d.value as KubeObject);
    }
    this.store = store;
    this.loaded = true;
  }

  ready(): boolean {
    return this.loaded;
  }

  notReadyReasons(): string[] {
    return this.loaded ? [] : [`state directory ${this.dir} not read yet`];
  }

  async stop(): Promise<void> {}
}
