import { expect } from 'chai';
import { storeFromObjects } from '../../src/cluster/state-dir.js';
import { mutatePod } from '../../src/injector/index.js';
import { resolveProfile } from '../../src/profile.js';
import { validateAdmission } from '../../src/validate-admission.js';
import { renderKubectlError, renderKubectlWarnings } from '../support/admission-client.js';
import { admissionReview, egressObject, egressReview, KINDS } from '../support/admission-fixtures.js';
import { FakeSource, startTestServer, type TestServer } from './server-harness.js';

/** OSM v1.2.4's demo route group (demo/deploy-traffic-specs.sh, docs/identity.md): headers in SMI's list form. */
const osmDemoRouteGroup = (headers: unknown = [{ 'user-agent': '.*-http-client/*.*' }, { 'client-app': 'bookbuyer' }]) => ({
  apiVersion: 'specs.smi-spec.io/v1alpha4',
  kind: 'HTTPRouteGroup',
  metadata: { name: 'bookstore-service-routes', namespace: 'bookstore' },
  spec: {
    matches: [
      { name: 'books-bought', pathRegex: '/books-bought', methods: ['GET'], headers },
      { name: 'buy-a-book', pathRegex: '.*a-book.*new', methods: ['GET'] },
      { name: 'update-books-bought', pathRegex: '/update-books-bought', methods: ['POST'] },
    ],
  },
});

/**
 * Objects written for OSM through the real HTTPS webhook, as `kubectl apply` sends them: the answer
 * is checked by the verifying client the way kube-apiserver checks it, and printed as kubectl would.
 */
describe('webhook: policies written for OSM (SMI header lists, protocols in any case)', () => {
  let t: TestServer;

  before(async () => {
    const store = storeFromObjects(resolveProfile('osm'), [
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'curl', labels: { 'openservicemesh.io/monitored-by': 'osm' } } },
    ]);
    t = await startTestServer({ source: new FakeSource(store), validate: validateAdmission, mutate: mutatePod });
  });
  after(async () => t.close());

  it("allows OSM's demo route group with headers, on CREATE and on UPDATE", async () => {
    const obj = osmDemoRouteGroup();
    const created = await t.client.review('validate', admissionReview(KINDS.httpRouteGroup, { object: obj }));
    expect(created.response.allowed, renderKubectlError(created.review)).to.equal(true);
    expect(created.response.warnings ?? []).to.deep.equal([]);
    const updated = await t.client.review('validate', admissionReview(KINDS.httpRouteGroup, { operation: 'UPDATE', object: obj, oldObject: obj }));
    expect(updated.response.allowed).to.equal(true);
  });

  it('denies headers written as a map with 422 Invalid, saying to write the list form', async () => {
    const { response, review } = await t.client.review(
      'validate',
      admissionReview(KINDS.httpRouteGroup, { object: osmDemoRouteGroup({ 'user-agent': '.*-http-client/*.*', 'client-app': 'bookbuyer' }) }),
    );
    expect(response.allowed).to.equal(false);
    expect(response.status).to.include({ code: 422, reason: 'Invalid' });
    expect(renderKubectlError(review)).to.equal(
      'The HTTPRouteGroup "bookstore-service-routes" is invalid: spec.matches[0].headers: Invalid value: {"user-agent":".*-http-client/*.*","client-app":"bookbuyer"}: ' +
        `must be a list of single-key maps, one header each (SMI's form): use [{"user-agent":".*-http-client/*.*"},{"client-app":"bookbuyer"}]`,
    );
  });

  it('denies an item with two headers (smi-sdk-go: incorrect length of keyval) and a header value that is not RE2, all at once', async () => {
    const { response, review } = await t.client.review(
      'validate',
      admissionReview(KINDS.httpRouteGroup, { object: osmDemoRouteGroup([{ 'user-agent': '.*', 'client-app': 'bookbuyer' }, { 'x-user': '(?=admin)' }]) }),
    );
    expect(response.allowed).to.equal(false);
    expect((response.status?.details?.causes ?? []).map((c) => c.field)).to.deep.equal(['spec.matches[0].headers[0]', 'spec.matches[0].headers[1].x-user']);
    expect(renderKubectlError(review)).to.contain(
      '* spec.matches[0].headers[0]: Invalid value: {"user-agent":".*","client-app":"bookbuyer"}: must have exactly one header name and value (smi-sdk-go: incorrect length of keyval)',
    );
  });

  it('allows an Egress with HTTP and TCP ports, each with a warning naming the lower-case form', async () => {
    const obj = egressObject({
      name: 'httpbin-upper',
      namespace: 'curl',
      spec: {
        sources: [{ kind: 'ServiceAccount', name: 'curl', namespace: 'curl' }],
        hosts: ['httpbin.org'],
        ports: [
          { number: 80, protocol: 'HTTP' },
          { number: 3306, protocol: 'TCP' },
        ],
      },
    });
    const { response, review } = await t.client.review('validate', egressReview(obj));
    expect(response.allowed, renderKubectlError(review)).to.equal(true);
    expect(renderKubectlWarnings(review)).to.include.members([
      'Warning: spec.ports[0].protocol: "HTTP" is read as "http"; write it in lower case',
      'Warning: spec.ports[1].protocol: "TCP" is read as "tcp"; write it in lower case',
    ]);
  });

  it('still denies an unknown protocol in upper case', async () => {
    const obj = egressObject({ name: 'dns', namespace: 'curl', spec: { sources: [{ kind: 'ServiceAccount', name: 'curl', namespace: 'curl' }], ports: [{ number: 53, protocol: 'UDP' }] } });
    const { response, review } = await t.client.review('validate', egressReview(obj));
    expect(response.allowed).to.equal(false);
    expect(renderKubectlError(review)).to.equal(
      'The Egress "dns" is invalid: spec.ports[0].protocol: Unsupported value: "UDP": supported values: "http", "https", "tcp", "tcp-server-first"',
    );
  });
});
