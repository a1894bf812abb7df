/**
 * A bounded cache for the injector's pure renderers (the containers it adds, with their script and
 * bootstrap). Same key, same output: it changes no behaviour, it only saves re-rendering kilobytes
 * of text for every pod of the same shape. Least recently used entries go first.
 */
export class RenderCache<V> {
  private readonly entries = new Map<string, V>();

  constructor(private readonly max = 512) {}

  get(key: string, render: () => V): V {
    const hit = this.entries.get(key);
    if (hit !== undefined) {
      this.entries.delete(key);
      this.entries.set(key, hit);
      return hit;
    }
    const value = render();
    this.entries.set(key, value);
    if (this.entries.size > this.max) this.entries.delete(this.entries.keys().next().value!);
    return value;
  }
}
