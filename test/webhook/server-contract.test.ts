import { expect } from 'chai';
import { fieldError } from '../../src/vocabulary/field-errors.js';
import type { AdmissionInput, MutationOutcome, ValidationOutcome } from '../../src/vocabulary/admission.js';
import { AdmissionContractError, checkAdmissionResponse, renderKubectlError, renderKubectlWarnings } from '../support/admission-client.js';
import { admissionReview, egressObject, egressReview, KINDS, podObject, podReview } from '../support/admission-fixtures.js';
import { startTestServer, type TestServer } from './server-harness.js';

describe('webhook server: admission contract (injected decisions, real HTTPS)', () => {
  let t: TestServer;
  let nextValidation: (input: AdmissionInput) => ValidationOutcome;
  let nextMutation: (input: AdmissionInput) => MutationOutcome;
  const seen: AdmissionInput[] = [];

  before(async () => {
    t = await startTestServer({
      validate: (input) => {
        seen.push(input);
        return nextValidation(input);
      },
      mutate: (input) => {
        seen.push(input);
        return nextMutation(input);
      },
    });
  });
  after(async () => t.close());
  beforeEach(() => {
    seen.length = 0;
    t.source.isReady = true;
    nextValidation = () => ({ errors: [], warnings: [] });
    nextMutation = () => ({ action: 'skip', reason: 'not enrolled', warnings: [] });
  });

  it('allows, echoing the uid, and hands the decoded request to the rules', async () => {
    const review = egressReview(egressObject({ name: 'httpbin-80', namespace: 'curl' }), { operation: 'CREATE' });
    const { response } = await t.client.review('validate', review);
    expect(response).to.deep.equal({ uid: review.request.uid, allowed: true });
    expect(seen).to.have.length(1);
    expect(seen[0]).to.deep.include({
      uid: review.request.uid,
      operation: 'CREATE',
      namespace: 'curl',
      name: 'httpbin-80',
      dryRun: false,
      kind: { group: 'policy.openservicemesh.io', version: 'v1alpha1', kind: 'Egress' },
    });
    expect(seen[0]!.object).to.deep.equal(review.request.object);
  });

  it('denies field errors with 422 Invalid worded as apimachinery, and kubectl renders every cause', async () => {
    nextValidation = () => ({
      errors: [
        fieldError.notSupported('spec.ports[0].protocol', 'udp', ['http', 'https', 'tcp', 'tcp-server-first']),
        fieldError.invalid('spec.ports[1].number', 70000, 'must be between 1 and 65535, inclusive'),
      ],
      warnings: [],
    });
    const review = egressReview(egressObject({ name: 'x' }));
    const { response, review: answer } = await t.client.review('validate', review);
    expect(response.allowed).to.equal(false);
    expect(response.status).to.deep.equal({
      status: 'Failure',
      code: 422,
      reason: 'Invalid',
      message:
        'Egress.policy.openservicemesh.io "x" is invalid: [spec.ports[0].protocol: Unsupported value: "udp": supported values: "http", "https", "tcp", "tcp-server-first", spec.ports[1].number: Invalid value: 70000: must be between 1 and 65535, inclusive]',
      details: {
        group: 'policy.openservicemesh.io',
        kind: 'Egress',
        name: 'x',
        causes: [
          {
            reason: 'FieldValueNotSupported',
            field: 'spec.ports[0].protocol',
            message: 'Unsupported value: "udp": supported values: "http", "https", "tcp", "tcp-server-first"',
          },
          { reason: 'FieldValueInvalid', field: 'spec.ports[1].number', message: 'Invalid value: 70000: must be between 1 and 65535, inclusive' },
        ],
      },
    });
    expect(renderKubectlError(answer)).to.equal(
      'The Egress "x" is invalid: \n' +
        '* spec.ports[0].protocol: Unsupported value: "udp": supported values: "http", "https", "tcp", "tcp-server-first"\n' +
        '* spec.ports[1].number: Invalid value: 70000: must be between 1 and 65535, inclusive',
    );
  });

  it('words a single field error without brackets, as utilerrors.Aggregate does', async () => {
    nextValidation = () => ({ errors: [fieldError.required('spec.sources')], warnings: [] });
    const { response, review } = await t.client.review('validate', egressReview(egressObject({ name: 'y' })));
    expect(response.status?.message).to.equal('Egress.policy.openservicemesh.io "y" is invalid: spec.sources: Required value');
    expect(renderKubectlError(review)).to.equal('The Egress "y" is invalid: spec.sources: Required value');
  });

  it('denies a policy decision with 403 Forbidden and a one-line message', async () => {
    nextValidation = () => ({ errors: [], forbidden: 'container "app" runs as the proxy UID 1500:\nit could bypass the proxy', warnings: [] });
    const { response, review } = await t.client.review('validate', podReview());
    expect(response.allowed).to.equal(false);
    expect(response.status).to.deep.equal({
      status: 'Failure',
      code: 403,
      reason: 'Forbidden',
      message: 'container "app" runs as the proxy UID 1500: it could bypass the proxy',
    });
    expect(renderKubectlError(review, { webhookName: 'pods.meshgate.io' })).to.equal(
      'Error from server (Forbidden): admission webhook "pods.meshgate.io" denied the request: container "app" runs as the proxy UID 1500: it could bypass the proxy',
    );
  });

  it('sanitizes warnings: one line, no control characters, at most 256 characters, no duplicates', async () => {
    const long = 'w'.repeat(400);
    nextValidation = () => ({
      errors: [],
      warnings: ['hosts are ignored\r\nwithout an http port', 'bell\u0007here', 'dup', 'dup', '   ', long],
    });
    const { response, review } = await t.client.review('validate', egressReview());
    expect(response.allowed).to.equal(true);
    expect(response.warnings).to.deep.equal(['hosts are ignored without an http port', 'bell here', 'dup', `${'w'.repeat(253)}...`]);
    expect(renderKubectlWarnings(review)[0]).to.equal('Warning: hosts are ignored without an http port');
  });

  it('keeps warnings on a denial', async () => {
    nextValidation = () => ({ errors: [fieldError.required('spec.ports')], warnings: ['namespace "curl" is not in the mesh'] });
    const { response } = await t.client.review('validate', egressReview());
    expect(response.allowed).to.equal(false);
    expect(response.warnings).to.deep.equal(['namespace "curl" is not in the mesh']);
  });

  it('mutating: a patch comes base64-encoded with patchType JSONPatch and applies to request.object', async () => {
    nextMutation = () => ({
      action: 'patch',
      patch: [
        { op: 'add', path: '/metadata/annotations', value: { 'meshgate.io/status': '{}' } },
        { op: 'add', path: '/spec/containers/-', value: { name: 'envoy', image: 'envoyproxy/envoy' } },
      ],
      warnings: ['classic sidecar mode: init containers run before interception'],
    });
    const review = podReview(podObject({ name: 'curl-1' }));
    const { response, patched } = await t.client.review('mutate', review);
    expect(response.allowed).to.equal(true);
    expect(response.patchType).to.equal('JSONPatch');
    expect(response.warnings).to.deep.equal(['classic sidecar mode: init containers run before interception']);
    const p = patched as { metadata: { annotations: Record<string, string> }; spec: { containers: Array<{ name: string }> } };
    expect(p.metadata.annotations).to.deep.equal({ 'meshgate.io/status': '{}' });
    expect(p.spec.containers.map((c) => c.name)).to.deep.equal(['curl', 'envoy']);
  });

  it('mutating: skip and an empty patch carry neither patch nor patchType', async () => {
    const skipped = await t.client.review('mutate', podReview());
    expect(skipped.response).to.deep.equal({ uid: skipped.response.uid, allowed: true });
    nextMutation = () => ({ action: 'patch', patch: [], warnings: [] });
    const empty = await t.client.review('mutate', podReview());
    expect(empty.response).to.not.have.any.keys('patch', 'patchType');
    expect(empty.response.allowed).to.equal(true);
  });

  it('mutating: a deny is 403 Forbidden without a patch', async () => {
    nextMutation = () => ({ action: 'deny', message: 'annotation openservicemesh.io/sidecar-injection: unknown value "maybe"', warnings: [] });
    const { response } = await t.client.review('mutate', podReview());
    expect(response.allowed).to.equal(false);
    expect(response.status?.code).to.equal(403);
    expect(response.status?.reason).to.equal('Forbidden');
    expect(response).to.not.have.any.keys('patch', 'patchType');
  });

  it('the verifying client catches a patch that does not apply (an add under a missing map)', async () => {
    nextMutation = () => ({ action: 'patch', patch: [{ op: 'add', path: '/metadata/annotations/a', value: 'b' }], warnings: [] });
    const review = podReview();
    const http = await t.client.post('mutate', JSON.stringify(review));
    expect(() => checkAdmissionResponse('mutate', review, http)).to.throw(AdmissionContractError, /does not apply/);
  });

  it('the verifying client catches a wrong uid and a patch on a validating answer', () => {
    const req = { request: { uid: 'a' } };
    const http = (body: unknown) => ({ status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), reusedSocket: false });
    const envelope = { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' };
    expect(() => checkAdmissionResponse('validate', req, http({ ...envelope, response: { uid: 'b', allowed: true } }))).to.throw(/response.uid/);
    expect(() =>
      checkAdmissionResponse('validate', req, http({ ...envelope, response: { uid: 'a', allowed: true, patch: 'W10=', patchType: 'JSONPatch' } })),
    ).to.throw(/may not return/);
    expect(() => checkAdmissionResponse('mutate', req, http({ ...envelope, response: { uid: 'a', allowed: true, patch: 'W10=' } }))).to.throw(/together/);
  });

  it('answers dryRun requests the same way', async () => {
    nextValidation = () => ({ errors: [fieldError.required('spec.sources')], warnings: [] });
    const wet = await t.client.review('validate', egressReview(egressObject({ name: 'z' })));
    const dry = await t.client.review('validate', egressReview(egressObject({ name: 'z' }), { dryRun: true }));
    expect(seen.map((s) => s.dryRun)).to.deep.equal([false, true]);
    expect({ ...dry.response, uid: '' }).to.deep.equal({ ...wet.response, uid: '' });
  });

  it('turns an exception in the rules into a 500 naming the uid, logged once, and keeps serving', async () => {
    nextValidation = () => {
      throw new TypeError('boom');
    };
    const review = egressReview();
    const before = t.logs.lines().length;
    const { response } = await t.client.review('validate', review);
    expect(response.allowed).to.equal(false);
    expect(response.status?.code).to.equal(500);
    expect(response.status?.message).to.include(review.request.uid);
    const errors = t.logs.lines().slice(before).filter((l) => l.level === 50);
    expect(errors).to.have.length(1);
    expect(errors[0]).to.include({ uid: review.request.uid, kind: 'Egress' });
    expect(JSON.stringify(errors[0]!.err)).to.include('boom');

    nextMutation = () => {
      throw new RangeError('Maximum call stack size exceeded');
    };
    const pod = await t.client.review('mutate', podReview());
    expect(pod.response.status?.code).to.equal(500);

    nextValidation = () => ({ errors: [], warnings: [] });
    expect((await t.client.review('validate', egressReview())).response.allowed).to.equal(true);
  });

  it('does not answer from an unsynced source: 503 with the reasons, and /readyz says why', async () => {
    t.source.isReady = false;
    const review = egressReview();
    const { response } = await t.client.review('validate', review);
    expect(response.allowed).to.equal(false);
    expect(response.status?.code).to.equal(503);
    expect(response.status?.message).to.equal('meshgate is not ready: Egress informer has not synced');
    expect(seen).to.have.length(0);
    const mutate = await t.client.review('mutate', podReview());
    expect(mutate.response.status?.code).to.equal(503);

    const ready = await t.client.raw('GET', '/readyz');
    expect(ready.status).to.equal(503);
    expect(ready.body).to.include('Egress informer has not synced');
    expect((await t.client.raw('GET', '/healthz')).status).to.equal(200);

    t.source.isReady = true;
    expect((await t.client.raw('GET', '/readyz')).status).to.equal(200);
    expect((await t.client.review('validate', egressReview())).response.allowed).to.equal(true);
  });

  it('logs one debug line per request with the request metadata, denials at info', async () => {
    const review = egressReview(egressObject({ name: 'logged', namespace: 'curl' }));
    const before = t.logs.lines().length;
    await t.client.review('validate', review);
    nextValidation = () => ({ errors: [fieldError.required('spec.sources')], warnings: [] });
    const denied = egressReview(egressObject({ name: 'denied', namespace: 'curl' }));
    await t.client.review('validate', denied);
    const lines = t.logs.lines().slice(before);
    expect(lines).to.have.length(2);
    expect(lines[0]).to.include({ level: 20, uid: review.request.uid, kind: 'Egress', namespace: 'curl', name: 'logged', operation: 'CREATE', result: 'allowed' });
    expect(lines[1]).to.include({ level: 30, uid: denied.request.uid, name: 'denied', result: 'denied', code: 422 });
  });

  it('takes name and namespace from the object when the request leaves them empty (generateName pods)', async () => {
    const review = admissionReview(KINDS.pod, { object: podObject({ name: 'curl-abc', namespace: 'apps' }), name: '', namespace: '' });
    await t.client.review('mutate', review);
    expect(seen[0]).to.include({ name: 'curl-abc', namespace: 'apps' });
  });

  it('passes DELETE requests with only an oldObject', async () => {
    const review = admissionReview(KINDS.httpRouteGroup, {
      operation: 'DELETE',
      oldObject: { apiVersion: 'specs.smi-spec.io/v1alpha4', kind: 'HTTPRouteGroup', metadata: { name: 'routes', namespace: 'curl' } },
    });
    const { response } = await t.client.review('validate', review);
    expect(response.allowed).to.equal(true);
    expect(seen[0]).to.include({ operation: 'DELETE', name: 'routes', namespace: 'curl', object: undefined });
  });

  it('counts requests by webhook, kind, operation and result in /metrics', async () => {
    await t.client.review('validate', egressReview());
    nextMutation = () => ({ action: 'patch', patch: [{ op: 'add', path: '/metadata/labels/x', value: 'y' }], warnings: [] });
    await t.client.review('mutate', podReview());
    const m = await t.client.raw('GET', '/metrics');
    expect(m.status).to.equal(200);
    expect(m.body).to.match(/meshgate_admission_requests_total\{webhook="validate",kind="Egress",operation="CREATE",result="allowed"\} \d+/);
    expect(m.body).to.match(/meshgate_admission_requests_total\{webhook="mutate",kind="Pod",operation="CREATE",result="patched"\} \d+/);
    expect(m.body).to.match(/meshgate_admission_duration_seconds_bucket\{le="0.0005",webhook="validate",kind="Egress"\} \d+/);
    expect(m.body).to.match(/meshgate_ready 1/);
    expect(m.body).to.match(/meshgate_tls_certificate_expiry_timestamp_seconds \d+/);
    expect(m.body).to.include('meshgate_process_cpu_user_seconds_total');
  });

  it('counts kinds the webhooks are not configured for as "other" (a client cannot grow the label set)', async () => {
    for (let i = 0; i < 3; i++) {
      const kind = { gvk: { group: 'example.com', version: 'v1', kind: `Bogus${i}` }, gvr: { group: 'example.com', version: 'v1', resource: `bogus${i}` } };
      const { response } = await t.client.review('validate', admissionReview(kind, { object: { metadata: { name: 'x', namespace: 'y' } } }));
      expect(response.allowed).to.equal(true);
    }
    const m = await t.client.raw('GET', '/metrics');
    expect(m.body).to.not.include('Bogus');
    expect(m.body).to.match(/meshgate_admission_requests_total\{webhook="validate",kind="other",operation="CREATE",result="allowed"\} 3\n/);
  });
});
