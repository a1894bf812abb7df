/**
 * parseDocuments reads plain YAML with js-yaml (fast) and everything else with `yaml` (the
 * reference: its values, alias limits and error messages). Held here to the reference on the same
 * text: the same documents, values and indexes, or the same error, for generated YAML in every
 * scalar and collection style, for scalars that the core schema could resolve differently, and for
 * mutated text (the error cases).
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { InputError, parseDocuments, parseDocumentsWithYaml, type SourcedDocument } from '../../src/io/yaml-documents.js';
import { fuzzParameters } from '../fuzz/fuzz-support.js';

function outcome(parse: (s: string, t: string) => SourcedDocument[], text: string): { docs: SourcedDocument[] } | { error: string } {
  try {
    return { docs: parse('state.yaml', text) };
  } catch (err) {
    expect(err).to.be.instanceOf(InputError);
    return { error: (err as Error).message };
  }
}

function expectSameAsReference(text: string): void {
  expect(outcome(parseDocuments, text), text.length > 2000 ? `${text.slice(0, 2000)}…` : text).to.deep.equal(outcome(parseDocumentsWithYaml, text));
}

/** Plain scalars the YAML 1.2 core schema resolves to null, booleans, numbers, or leaves strings. */
const TRICKY_SCALARS = [
  '', '~', 'null', 'Null', 'NULL', 'nULL', 'true', 'True', 'TRUE', 'tRUE', 'false', 'yes', 'no', 'on', 'off', 'y', 'n',
  '0', '-0', '+0', '007', '1_000', '0b101', '0o17', '0O17', '0o8', '0x1F', '0X1F', '-0x1F', '+12', '-12', '12345678901234567890',
  '1.', '.5', '-.5', '+.5', '1.5e3', '1e3', '1E-3', '1.e3', '.inf', '-.Inf', '+.INF', '.NaN', '.nan', '.NAN', 'inf', 'nan',
  '1:30', '2024-01-01', '2024-01-01T00:00:00Z', '<<', '=', '__proto__', 'constructor', 'toString', 'hasOwnProperty',
  'a b', 'a #b', 'a# b', 'x: y', '- x', '-x', '?x', ':x', '@x', '`x', '%x', '!x', '&x', '*x', '|', '>', '"x', "'x", '#x',
  '---', '...', '--- x', 'é', '日本', '\u00a0x', 'x\u2028y', 'tab\there',
];

const scalar = fc.oneof(
  fc.constantFrom(...TRICKY_SCALARS),
  fc.string({ maxLength: 12 }),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
);
const value = fc.letrec((tie) => ({
  node: fc.oneof({ depthSize: 'small', withCrossShrink: true }, scalar, tie('array'), tie('object')),
  array: fc.array(tie('node'), { maxLength: 4 }),
  object: fc.dictionary(fc.oneof(fc.constantFrom(...TRICKY_SCALARS), fc.string({ maxLength: 8 })), tie('node'), { maxKeys: 4 }),
})).node;

const style = fc.record({
  collectionStyle: fc.constantFrom('any', 'block', 'flow') as fc.Arbitrary<'any' | 'block' | 'flow'>,
  defaultStringType: fc.constantFrom('PLAIN', 'QUOTE_DOUBLE', 'QUOTE_SINGLE', 'BLOCK_LITERAL', 'BLOCK_FOLDED') as fc.Arbitrary<'PLAIN'>,
  indent: fc.integer({ min: 1, max: 4 }),
});

/** A flat block mapping with every value written as a plain scalar, whatever it resolves to. */
const rawPlainDocument = fc.array(fc.tuple(fc.constantFrom(...TRICKY_SCALARS.filter((s) => /^[\w.~<_-]/.test(s) && !/[:#\n\u2028\t]/.test(s) && !s.startsWith('---'))), fc.constantFrom(...TRICKY_SCALARS.filter((s) => !/[\n\u2028]/.test(s)))), { minLength: 1, maxLength: 8 }).map((pairs) =>
  pairs.map(([k, v]) => `${k === '' ? 'k' : k}: ${v}`).join('\n'),
);

/** Document separators as people write them. */
const separator = fc.constantFrom('---\n', '--- \n', '---\t\n', '\n---\n', '...\n---\n', '---\n# a comment\n', '# c\n---\n', '---\r\n');

const stream = fc
  .tuple(fc.array(fc.oneof(fc.tuple(value, style).map(([v, o]) => stringify(v, o)), rawPlainDocument), { minLength: 1, maxLength: 6 }), separator, fc.boolean())
  .map(([docs, sep, lead]) => (lead ? sep : '') + docs.join(sep));

describe('io: parseDocuments (js-yaml for plain YAML) against the yaml reference', () => {
  it('the same documents for generated YAML in every style', () => {
    fc.assert(fc.property(stream, (text) => expectSameAsReference(text)), fuzzParameters(500));
  });

  it('the same documents when a long stream is parsed in runs of documents', () => {
    // Over the run length, with markers the runs may be cut at and text that only looks like one.
    fc.assert(
      fc.property(fc.array(stream, { minLength: 40, maxLength: 60 }), separator, (parts, sep) => {
        let text = parts.join(sep);
        while (text.length < 100_000) text += sep + text;
        expectSameAsReference(text);
      }),
      fuzzParameters(4),
    );
  });

  it('the same errors (or the same values) for mutated text', () => {
    const mutation = fc.tuple(fc.nat(), fc.nat({ max: 3 }), fc.constantFrom(':', '-', ' ', '\t', '\n', '[', ']', '{', '}', '"', "'", '#', '&a ', '*a', '!', '|', '>', '? ', ',', '---\n', '...\n', '%YAML 1.1\n', '\u2028', 'x'));
    fc.assert(
      fc.property(stream, fc.array(mutation, { minLength: 1, maxLength: 4 }), (text, edits) => {
        let t = text;
        for (const [at, cut, insert] of edits) {
          const i = at % (t.length + 1);
          t = t.slice(0, i) + insert + t.slice(i + cut);
        }
        expectSameAsReference(t);
      }),
      fuzzParameters(1500),
    );
  });

  it('anchors, aliases, tags and directives go to the reference: the same values and the same alias limits', () => {
    for (const text of [
      'a: &x 1\nb: *x\n',
      'a: &x [1, 2]\nb: *x\n',
      '*alias\n',
      'a: !!str 1\n',
      'a: !!binary aGVsbG8=\n',
      'a: !custom x\n',
      '%YAML 1.1\n---\na: yes\nb: 0b11\nc: 2024-01-01\n',
      '%TAG !e! tag:example.com,2000:\n---\na: !e!x 1\n',
      'base: &b {x: 1}\nderived:\n  <<: *b\n  y: 2\n',
      `a: &a [x,x,x,x,x,x,x,x,x,x]\n${Array.from({ length: 6 }, (_, i) => `a${i + 1}: &a${i + 1} [${Array(10).fill(i === 0 ? '*a' : `*a${i}`).join(',')}]`).join('\n')}\n`,
    ]) {
      expectSameAsReference(text);
    }
  });

  it('keys as `yaml` makes them: null is "", numbers and booleans their text, collections as YAML text, __proto__ an own key', () => {
    for (const text of ['~: a\n', ': a\n', '? \n: a\n', '1: a\n1.0: b\n0x10: c\n.inf: d\ntrue: e\n', '? [a, b]\n: c\n', '{[a]: b}\n', '__proto__: {polluted: true}\nconstructor: x\n', 'a: 1\na: 2\n', '<<: {a: 1}\n']) {
      expectSameAsReference(text);
    }
    const [doc] = parseDocuments('x.yaml', '__proto__: {polluted: true}\n');
    expect(Object.getPrototypeOf(doc!.value)).to.equal(Object.prototype);
    expect(Object.hasOwn(doc!.value as object, '__proto__')).to.equal(true);
  });

  it('names the file, the line and the document of a YAML error, as before', () => {
    expect(() => parseDocuments('state.yaml', 'a: 1\n---\nkind: Egress\n  bad: [\n')).to.throw(InputError, /^state\.yaml: invalid YAML at line 3 in document 2: /);
    const big = Array.from({ length: 2000 }, (_, i) => `kind: Egress\nmetadata: {name: e-${i}}\n`).join('---\n') + '---\nkind: [\n';
    expect(() => parseDocuments('state.yaml', big)).to.throw(InputError, /^state\.yaml: invalid YAML at line \d+ in document 2001: /);
  });

  it('carriage returns go to the reference (a fuzz find: js-yaml split `---\\r` where yaml reports an error)', () => {
    expectSameAsReference(':null\n---\r:\n~: ');
    expectSameAsReference('kind: Egress\r\nmetadata:\r\n  name: a\r\n---\r\nkind: Egress\r\n');
  });

  it('plain block YAML (the start-up fast path) gives the reference values: scalars of every kind, nesting, quoting', () => {
    for (const text of [
      'a: 1\nb: 1.5\nc: true\nd: null\ne: ~\nf: "x\\ty"\ng: \'it\'\'s\'\nh: 0x1F\ni: 1e3\nj: .inf\nk: -.Inf\nl: 012\nm: 0o17\n',
      'list:\n- a\n- b: 1\n  c: [ ]\n- {}\n- - nested\n  - 2\n',
      'x: yes\ny: on\nz: "true"\nw: \'\'\nv: \n# comment\nu: a # trailing\nt: a#b\n',
      'spec:\n  hosts:\n  - httpbin.org\n  ports:\n  - number: 80\n    protocol: http\n---\nkind: Namespace\n',
    ]) expectSameAsReference(text);
  });
});
