/**
 * A bounded cache for the injector's pure renderers (the containers it adds, with their script and
 * bootstrap, and the encoded patch). Same key, same output: it changes no behaviour, it only saves
 * re-rendering kilobytes of text for every pod of the same shape.
 *
 * Eviction is CLOCK (second chance), an approximation of least-recently-used in which a hit only
 * sets a flag. A hit never writes to the Map: moving an entry to the back on every hit, as a
 * Map-ordered LRU does, rebuilt the Map's table every few requests, and those short-lived tables
 * and key strings were promoted to the old generation, whose mark-compacts stalled a loaded server
 * every second or two (README, Benchmarks).
 */
export class RenderCache<V> {
  private readonly entries = new Map<string, { value: V; used: boolean }>();

  constructor(private readonly max = 512) {}

  get(key: string, render: () => V): V {
    const hit = this.entries.get(key);
    if (hit !== undefined) {
      hit.used = true;
      return hit.value;
    }
    const value = render();
    if (this.entries.size >= this.max) this.evictOne();
    this.entries.set(key, { value, used: false });
    return value;
  }

  /** Drops the oldest entry not used since it was last passed over; used ones get a second chance. */
  private evictOne(): void {
    for (const [key, entry] of this.entries) {
      this.entries.delete(key);
      if (!entry.used) return;
      entry.used = false;
      this.entries.set(key, entry);
    }
  }

  get size(): number {
    return this.entries.size;
  }
}
