import { expect } from 'chai';
import { fieldError } from '../../src/vocabulary/field-errors.js';
import { decodeAdmissionReview } from '../../src/webhook/admission-request.js';
import fc from 'fast-check';
import { encodePatch } from '../../src/injector/patch.js';
import { forMutation, invalid, oneLine, sanitizeWarnings, serializeReview } from '../../src/webhook/admission-response.js';
import { admissionReview, KINDS, podObject } from '../support/admission-fixtures.js';

describe('admission envelope builders and request decoding', () => {
  it('cuts long warnings on code points, never splitting a character', () => {
    const [w] = sanitizeWarnings(['é'.repeat(10) + '😀'.repeat(300)]);
    expect(Array.from(w!)).to.have.length(256);
    expect(w!.endsWith('😀...')).to.equal(true);
    expect(w).to.not.match(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])/);
  });

  it('words a core-group kind without a group, and merges duplicate messages like utilerrors.Aggregate', () => {
    const e = fieldError.required('spec.containers');
    const r = invalid('u', { group: '', kind: 'Pod', name: 'p' }, [e, e]);
    expect(r.response.status?.message).to.equal('Pod "p" is invalid: spec.containers: Required value');
    expect(r.response.status?.details?.causes).to.have.length(2);
  });

  it('never returns patchType without a patch', () => {
    expect(forMutation('u', { action: 'patch', patch: [], warnings: [] }).response).to.deep.equal({ uid: 'u', allowed: true });
    const withPatch = forMutation('u', { action: 'patch', patch: [{ op: 'remove', path: '/a' }], warnings: [] }).response;
    expect(withPatch.patch).to.equal(encodePatch([{ op: 'remove', path: '/a' }]));
    expect(JSON.parse(Buffer.from(withPatch.patch!, 'base64').toString())).to.deep.equal([{ op: 'remove', path: '/a' }]);
  });

  it('oneLine: one clean line, the same as replacing every control character and whitespace run', () => {
    // eslint-disable-next-line no-control-regex
    const reference = (m: string) => m.replace(/[\p{Cc}\u2028\u2029]+/gu, ' ').replace(/\s+/g, ' ').trim();
    const text = fc.string({ unit: fc.constantFrom('a', ' ', '  ', '\t', '\n', '\r', '\u0085', '\u2028', '\u00a0', '\ufeff', '\u1680', '\u2000', '\u200a', '\u202f', '\u205f', '\u3000', '\u180e', '\u000b', '\u0000', '\u007f', 'é', '😀') });
    fc.assert(fc.property(fc.oneof(text, fc.string({ unit: 'grapheme' })), (m) => {
      expect(oneLine(m)).to.equal(reference(m));
    }), { numRuns: 2000, seed: 7 });
  });

  it('serializes a review with a patch to the same JSON as JSON.stringify', () => {
    const patched = forMutation('u"\\', { action: 'patch', patch: [{ op: 'add', path: '/a', value: 'x' }], warnings: ['w "1"'] });
    expect(JSON.parse(serializeReview(patched))).to.deep.equal(JSON.parse(JSON.stringify(patched)));
    expect(serializeReview(patched)).to.equal(JSON.stringify(patched));
    const skipped = forMutation('u', { action: 'skip', reason: 'r', warnings: [] });
    expect(serializeReview(skipped)).to.equal(JSON.stringify(skipped));
  });

  it('decodes a real review into the core input, falling back to the object for name and namespace', () => {
    const review = admissionReview(KINDS.pod, { object: podObject({ name: 'n', namespace: 'ns' }), name: '', namespace: '', dryRun: true });
    const d = decodeAdmissionReview(review);
    expect(d.ok).to.equal(true);
    if (!d.ok) return;
    expect(d.input).to.deep.include({ uid: review.request.uid, name: 'n', namespace: 'ns', operation: 'CREATE', dryRun: true, oldObject: undefined });
  });

  it('separates "not an AdmissionReview" (no uid to answer) from "malformed request" (uid echoed)', () => {
    expect(decodeAdmissionReview(null)).to.include({ ok: false, uid: undefined });
    expect(decodeAdmissionReview({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: 7 } })).to.include({ ok: false, uid: undefined });
    const r = decodeAdmissionReview({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: 'abc', object: 'x' } });
    expect(r).to.include({ ok: false, uid: 'abc' });
    expect(r.ok ? '' : r.reason).to.match(/request\.kind: expected object.*request\.operation: .*request\.object: expected an object/);
  });
});
