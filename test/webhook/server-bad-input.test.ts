import { expect } from 'chai';
import type { AdmissionInput } from '../../src/vocabulary/admission.js';
import { egressReview, podReview } from '../support/admission-fixtures.js';
import { startTestServer, type TestServer } from './server-harness.js';

/** Nested arrays `depth` levels deep, as a JSON string built without recursion. */
function deepJson(depth: number): string {
  return '['.repeat(depth) + ']'.repeat(depth);
}

describe('webhook server: bad input never crashes or hangs it', () => {
  let t: TestServer;
  const seen: AdmissionInput[] = [];
  let deliveredDepth = 0;

  before(async () => {
    t = await startTestServer({
      validate: (input) => {
        seen.push(input);
        return { errors: [], warnings: [] };
      },
      mutate: (input) => {
        seen.push(input);
        // Measure (without recursion) how deep the object arrived.
        let v: unknown = (input.object?.spec as { deep?: unknown } | undefined)?.deep;
        deliveredDepth = 0;
        while (Array.isArray(v)) {
          deliveredDepth++;
          v = v[0];
        }
        return { action: 'skip', reason: 'test', warnings: [] };
      },
    });
  });
  after(async () => t.close());
  beforeEach(() => {
    seen.length = 0;
  });

  /** After every bad request, a good one must still be answered. */
  afterEach(async () => {
    const { response } = await t.client.review('validate', egressReview());
    expect(response.allowed).to.equal(true);
  });

  it('GET on /validate and /mutate: 405 with Allow: POST', async () => {
    for (const path of ['/validate', '/mutate?timeout=10s']) {
      const r = await t.client.raw('GET', path);
      expect(r.status).to.equal(405);
      expect(r.headers.allow).to.equal('POST');
      expect(r.body).to.match(/use POST/);
    }
    expect((await t.client.raw('PUT', '/validate', '{}', { 'content-type': 'application/json' })).status).to.equal(405);
  });

  it('a wrong or missing content type: 415', async () => {
    const body = JSON.stringify(egressReview());
    for (const ct of ['text/plain', 'application/x-www-form-urlencoded', 'application/json; charset=latin1', 'application/yaml']) {
      const r = await t.client.raw('POST', '/validate?timeout=10s', body, { 'content-type': ct });
      expect(r.status, ct).to.equal(415);
      expect(r.body).to.match(/use application\/json/);
    }
    expect((await t.client.raw('POST', '/validate', body)).status).to.equal(415);
    const ok = await t.client.raw('POST', '/validate', body, { 'content-type': 'application/json; charset=utf-8' });
    expect(ok.status).to.equal(200);
  });

  it('not JSON: 400 with a plain reason', async () => {
    const r = await t.client.post('validate', '{"apiVersion": "admission.k8s.io/v1", ');
    expect(r.status).to.equal(400);
    expect(r.headers['content-type']).to.match(/^text\/plain/);
    expect(r.body).to.match(/^request body is not valid JSON: /);
    const empty = await t.client.post('validate', '');
    expect(empty.status).to.equal(400);
    expect(empty.body).to.match(/empty/);
  });

  it('JSON that is not an AdmissionReview: 400 naming what is wrong', async () => {
    const cases: Array<[unknown, RegExp]> = [
      [[1, 2], /expected a JSON object/],
      ['a string', /expected a JSON object/],
      [{ apiVersion: 'admission.k8s.io/v1beta1', kind: 'AdmissionReview', request: { uid: 'u' } }, /apiVersion: must be "admission.k8s.io\/v1"/],
      [{ apiVersion: 'admission.k8s.io/v1', kind: 'Pod', request: { uid: 'u' } }, /kind: must be "AdmissionReview"/],
      [{ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' }, /request: expected object/],
      [{ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { kind: { kind: 'Pod' } } }, /request.uid: expected string/],
      [{ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: '' } }, /request.uid: must not be empty/],
    ];
    for (const [body, reason] of cases) {
      const r = await t.client.post('mutate', JSON.stringify(body));
      expect(r.status, JSON.stringify(body)).to.equal(400);
      expect(r.body).to.match(reason);
    }
    expect(seen).to.have.length(0);
  });

  it('a well-formed review with a malformed request: an AdmissionReview echoing the uid, denied with code 400', async () => {
    const nonObject = egressReview();
    (nonObject.request as Record<string, unknown>).object = ['not', 'an', 'object'];
    const badOp = podReview();
    (badOp.request as Record<string, unknown>).operation = 'PATCH';
    const noKind = egressReview();
    delete (noKind.request as Record<string, unknown>).kind;
    for (const [review, reason, webhook] of [
      [nonObject, /request.object: expected an object/, 'validate'],
      [badOp, /request.operation: must be "CREATE" or "UPDATE" or "DELETE" or "CONNECT"/, 'mutate'],
      [noKind, /request.kind: expected object/, 'validate'],
    ] as const) {
      const { response } = await t.client.review(webhook, review);
      expect(response.allowed).to.equal(false);
      expect(response.status?.code).to.equal(400);
      expect(response.status?.message).to.match(reason);
    }
    expect(seen).to.have.length(0);
  });

  it('tolerates unknown fields everywhere', async () => {
    const review = egressReview() as unknown as Record<string, unknown> & { request: Record<string, unknown> };
    review.futureField = { a: 1 };
    review.request.futureRequestField = 'x';
    review.request.userInfo = { username: 'u', extra: { 'scopes.example': ['a'] } };
    const { response } = await t.client.review('validate', review as never);
    expect(response.allowed).to.equal(true);
    expect(seen).to.have.length(1);
  });

  it('a body over the limit: 413, and the connection stays usable', async () => {
    const review = egressReview();
    const big = JSON.stringify({ ...review, padding: 'x'.repeat(5 * 1024 * 1024) });
    const r = await t.client.post('validate', big);
    expect(r.status).to.equal(413);
    expect(r.body).to.match(/larger than 4194304 bytes/);
    // The next request on the same keep-alive agent is answered.
    const next = await t.client.review('validate', egressReview());
    expect(next.response.allowed).to.equal(true);
  });

  it('a 3 MiB object (the API server limit) is accepted', async () => {
    const review = egressReview();
    (review.request.object as Record<string, unknown>).data = 'y'.repeat(3 * 1024 * 1024);
    const { response } = await t.client.review('validate', review);
    expect(response.allowed).to.equal(true);
  });

  it('10,000 levels of nesting: as the body it is a 400, inside the object it is decided without a crash', async () => {
    const top = await t.client.post('validate', deepJson(10_000));
    expect(top.status).to.equal(400);
    const review = podReview();
    const body = JSON.stringify(review).replace('"spec":{', `"spec":{"deep":${deepJson(10_000)},`);
    const r = await t.client.post('mutate', body);
    expect(r.status).to.equal(200);
    const answer = JSON.parse(r.body) as { response: { uid: string; allowed: boolean } };
    expect(answer.response.uid).to.equal(review.request.uid);
    expect(answer.response.allowed).to.equal(true);
    expect(seen).to.have.length(1);
    expect(deliveredDepth).to.equal(10_000);
  });

  it('unknown paths: 404', async () => {
    expect((await t.client.raw('GET', '/nope')).status).to.equal(404);
    expect((await t.client.raw('POST', '/validate/extra', '{}', { 'content-type': 'application/json' })).status).to.equal(404);
  });

  it('a compressed body: 415 (the API server never compresses)', async () => {
    const r = await t.client.raw('POST', '/validate', 'xx', { 'content-type': 'application/json', 'content-encoding': 'gzip' });
    expect(r.status).to.equal(415);
  });
});
