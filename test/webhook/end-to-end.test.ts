import { expect } from 'chai';
import { storeFromObjects } from '../../src/cluster/state-dir.js';
import { mutatePod } from '../../src/injector/index.js';
import { validateAdmission } from '../../src/validate-admission.js';
import { resolveProfile } from '../../src/profile.js';
import { renderKubectlError } from '../support/admission-client.js';
import { egressObject, egressReview, podObject, podReview } from '../support/admission-fixtures.js';
import { FakeSource, startTestServer, type TestServer } from './server-harness.js';

/**
 * The server with the real rules (policy/) and the real injector (injector/) behind it, over real
 * HTTPS. Every answer is also checked by the verifying client the way kube-apiserver checks it
 * (uid, no patch on validate, patch applies with RFC 6902 to request.object, warnings).
 */
describe('webhook server end to end: real rules and injector', () => {
  let t: TestServer;

  before(async () => {
    const profile = resolveProfile('osm');
    const store = storeFromObjects(profile, [
      {
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: {
          name: 'curl',
          labels: { 'openservicemesh.io/monitored-by': 'osm' },
          annotations: { 'openservicemesh.io/sidecar-injection': 'enabled' },
        },
      },
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'plain' } },
    ]);
    t = await startTestServer({ source: new FakeSource(store), validate: validateAdmission, mutate: mutatePod });
  });
  after(async () => t.close());

  it('allows a valid Egress', async () => {
    const { response } = await t.client.review('validate', egressReview(egressObject({ name: 'httpbin-80', namespace: 'curl' })));
    expect(response.allowed).to.equal(true);
  });

  it('denies an invalid Egress with 422 Invalid listing every field error, as kubectl shows it', async () => {
    const bad = egressObject({
      name: 'bad',
      namespace: 'curl',
      spec: {
        sources: [{ kind: 'ServiceAccount', name: 'curl', namespace: 'curl' }],
        hosts: ['httpbin.org'],
        ports: [
          { number: 80, protocol: 'udp' },
          { number: 70000, protocol: 'tcp' },
        ],
      },
    });
    const { response, review } = await t.client.review('validate', egressReview(bad));
    expect(response.allowed).to.equal(false);
    expect(response.status).to.include({ code: 422, reason: 'Invalid' });
    expect(response.status?.details).to.include({ group: 'policy.openservicemesh.io', kind: 'Egress', name: 'bad' });
    const fields = (response.status?.details?.causes ?? []).map((c) => c.field);
    expect(fields).to.include.members(['spec.ports[0].protocol', 'spec.ports[1].number']);
    expect(response.status?.message).to.match(/^Egress\.policy\.openservicemesh\.io "bad" is invalid: \[/);
    const printed = renderKubectlError(review);
    expect(printed).to.match(/^The Egress "bad" is invalid: \n\* spec\.ports\[0\]\.protocol: Unsupported value: "udp"/);
  });

  it('answers a dryRun Egress exactly like a real one', async () => {
    const bad = egressObject({ name: 'dry', namespace: 'curl', spec: { ports: [{ number: 80, protocol: 'http' }], hosts: ['a.example'] } });
    const wet = await t.client.review('validate', egressReview(bad));
    const dry = await t.client.review('validate', egressReview(bad, { dryRun: true }));
    expect({ ...dry.response, uid: 'x' }).to.deep.equal({ ...wet.response, uid: 'x' });
    expect(wet.response.allowed).to.equal(false);
  });

  it('injects a pod in an enrolled namespace with a patch that applies to the pod as sent', async () => {
    const pod = podObject({ name: 'curl-1', namespace: 'curl' });
    const { response, patched } = await t.client.review('mutate', podReview(pod));
    expect(response.allowed).to.equal(true);
    expect(response.patchType).to.equal('JSONPatch');
    const p = patched as { spec: { containers: Array<{ name: string }>; initContainers?: Array<{ name: string }> } };
    const names = [...(p.spec.initContainers ?? []), ...p.spec.containers].map((c) => c.name);
    expect(names).to.include.members(['osm-init', 'envoy', 'curl']);
  });

  it('gives a dryRun pod the same patch as a real one (injection has no side effects)', async () => {
    const pod = podObject({ name: 'curl-dry', namespace: 'curl' });
    const wet = await t.client.review('mutate', podReview(pod));
    const dry = await t.client.review('mutate', podReview(pod, { dryRun: true }));
    expect(dry.response.patch).to.be.a('string').and.equal(wet.response.patch);
    expect({ ...dry.response, uid: 'x' }).to.deep.equal({ ...wet.response, uid: 'x' });
  });

  it('does not patch a pod in a namespace outside the mesh', async () => {
    const { response } = await t.client.review('mutate', podReview(podObject({ namespace: 'plain' })));
    expect(response.allowed).to.equal(true);
    expect(response).to.not.have.any.keys('patch', 'patchType');
  });

  it('denies a pod with a bad sidecar-injection annotation with 403 Forbidden naming it', async () => {
    const pod = podObject({ namespace: 'curl', annotations: { 'openservicemesh.io/sidecar-injection': 'maybe' } });
    const { response } = await t.client.review('mutate', podReview(pod));
    expect(response.allowed).to.equal(false);
    expect(response.status).to.include({ code: 403, reason: 'Forbidden' });
    expect(response.status?.message).to.include('openservicemesh.io/sidecar-injection').and.include('maybe');
  });

  it('the bypass guard forbids an app container running as the proxy UID (validating webhook)', async () => {
    const pod = podObject({
      namespace: 'curl',
      spec: { containers: [{ name: 'app', image: 'busybox', securityContext: { runAsUser: 1500 } }] },
    });
    const { response } = await t.client.review('validate', podReview(pod));
    expect(response.allowed).to.equal(false);
    expect(response.status).to.include({ code: 403, reason: 'Forbidden' });
    expect(response.status?.message).to.include('1500');
  });
});
