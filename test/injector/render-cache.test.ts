import { expect } from 'chai';
import { RenderCache } from '../../src/injector/render-cache.js';

describe('RenderCache (bounded, second-chance eviction)', () => {
  it('renders once per key and returns the same value after', () => {
    const cache = new RenderCache<object>(4);
    let renders = 0;
    const a = cache.get('a', () => ({ n: ++renders }));
    expect(cache.get('a', () => ({ n: ++renders }))).to.equal(a);
    expect(renders).to.equal(1);
  });

  it('never holds more than its bound, and keeps an entry that was used over older unused ones', () => {
    const cache = new RenderCache<string>(3);
    for (const k of ['a', 'b', 'c']) cache.get(k, () => k);
    cache.get('a', () => 'again'); // a is used: it gets a second chance
    cache.get('d', () => 'd'); // evicts b, the oldest unused
    expect(cache.size).to.equal(3);
    let rendered = false;
    expect(cache.get('a', () => ((rendered = true), 'again'))).to.equal('a');
    expect(rendered).to.equal(false);
    expect(cache.get('b', () => 'b2')).to.equal('b2');
    expect(cache.size).to.equal(3);
  });

  it('evicts even when every entry was used (each loses its flag once)', () => {
    const cache = new RenderCache<number>(2);
    cache.get('x', () => 1);
    cache.get('y', () => 2);
    cache.get('x', () => 0);
    cache.get('y', () => 0);
    cache.get('z', () => 3);
    expect(cache.size).to.equal(2);
    expect(cache.get('z', () => 0)).to.equal(3);
  });
});
