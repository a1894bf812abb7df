import { expect } from 'chai';
import fc from 'fast-check';
import { applyPatch, type Operation } from 'rfc6902';
import { diffPatch, encodePatch, serializePatch, shared } from '../../src/injector/patch.js';
import type { JsonPatchOperation } from '../../src/vocabulary/admission.js';

/** Applies with `rfc6902`, an implementation independent of meshgate's, to a deep copy. */
function apply(doc: unknown, ops: JsonPatchOperation[]): unknown {
  const copy = structuredClone(doc);
  const results = applyPatch(copy, ops as Operation[]);
  for (const r of results) if (r) throw r;
  return copy;
}

/** A random edit of `doc` made copy-on-write, the way injection edits a pod: what is not changed is shared. */
function edit(doc: unknown, choice: number[], depth = 0): unknown {
  const c = choice[depth % choice.length]!;
  if (typeof doc !== 'object' || doc === null) return c % 3 === 0 ? { new: c } : doc;
  if (Array.isArray(doc)) {
    if (c % 4 === 0) return [...doc, { appended: c }];
    if (c % 4 === 1) return [{ prepended: c }, { prepended: c + 1 }, ...doc];
    if (c % 4 === 2 && doc.length > 0) return doc.slice(0, -1);
    return doc.map((v, i) => (i === c % Math.max(doc.length, 1) ? edit(v, choice, depth + 1) : v));
  }
  const out: Record<string, unknown> = { ...(doc as Record<string, unknown>) };
  const keys = Object.keys(out);
  if (c % 5 === 0) out[`k/~${c}`] = { added: [c] };
  else if (c % 5 === 1 && keys.length > 0) delete out[keys[c % keys.length]!];
  else if (keys.length > 0) out[keys[c % keys.length]!] = edit(out[keys[c % keys.length]!], choice, depth + 1);
  return out;
}

describe('injection patch (identity-aware diff)', () => {
  it('turns any document into any copy-on-write edit of it (checked by applying with rfc6902)', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), fc.array(fc.nat(1000), { minLength: 1, maxLength: 6 }), (doc, choice) => {
        const root = { spec: doc, metadata: { name: 'p' } };
        const edited = edit(root, choice);
        const ops = diffPatch(root, edited);
        expect(apply(root, ops)).to.deep.equal(JSON.parse(JSON.stringify(edited)));
        expect(serializePatch(ops)).to.equal(JSON.stringify(ops));
      }),
      { numRuns: 500, seed: 4242 },
    );
  });

  it('adds entries at the front or back of a list without repeating the existing ones', () => {
    const own = { name: 'app' };
    const init = { name: 'osm-init' };
    expect(diffPatch({ c: [own] }, { c: [own, init] })).to.deep.equal([{ op: 'add', path: '/c/1', value: init }]);
    expect(diffPatch({ c: [own] }, { c: [init, init, own] })).to.deep.equal([
      { op: 'add', path: '/c/0', value: init },
      { op: 'add', path: '/c/1', value: init },
    ]);
  });

  it('escapes / and ~ in keys (RFC 6901), as in meshgate.io/status', () => {
    expect(diffPatch({ a: {} }, { a: { 'meshgate.io/status': 'x', 'a~b': 1 } })).to.deep.equal([
      { op: 'add', path: '/a/meshgate.io~1status', value: 'x' },
      { op: 'add', path: '/a/a~0b', value: 1 },
    ]);
  });

  it('treats undefined like JSON does (absent), and replaces a value whose type changes', () => {
    expect(diffPatch({ a: 1, b: undefined }, { a: 1, c: undefined })).to.deep.equal([]);
    expect(diffPatch({ a: [1] }, { a: { 0: 1 } })).to.deep.equal([{ op: 'replace', path: '/a', value: { 0: 1 } }]);
  });

  it('shared values are frozen, and their serialized text is what JSON.stringify gives', () => {
    const container = shared({ name: 'envoy', args: ['--config-yaml', '{"a":"b\\n"}'] });
    expect(Object.isFrozen(container.args)).to.equal(true);
    const ops: JsonPatchOperation[] = [
      { op: 'add', path: '/spec/containers/1', value: container },
      { op: 'add', path: '/spec/initContainers', value: [container, { name: 'own' }] },
    ];
    expect(serializePatch(ops)).to.equal(JSON.stringify(ops));
  });

  it('encodes the same patch to the same base64, and a different annotation to a different one', () => {
    const container = shared({ name: 'osm-init' });
    const ops = (status: string): JsonPatchOperation[] => [
      { op: 'add', path: '/spec/initContainers', value: [container] },
      { op: 'add', path: '/metadata/annotations', value: { 'meshgate.io/status': status } },
    ];
    const decode = (b64: string) => JSON.parse(Buffer.from(b64, 'base64').toString('utf8'));
    expect(encodePatch(ops('a'))).to.equal(encodePatch(ops('a')));
    expect(decode(encodePatch(ops('a')))).to.deep.equal(JSON.parse(JSON.stringify(ops('a'))));
    expect(decode(encodePatch(ops('b')))).to.deep.equal(JSON.parse(JSON.stringify(ops('b'))));
  });
});
