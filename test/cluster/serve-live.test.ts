import { expect } from 'chai';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AdmissionClient, type CheckedReview } from '../support/admission-client.js';
import { egressObject, egressReview, podObject, podReview } from '../support/admission-fixtures.js';
import { FakeApiServer } from '../support/fake-apiserver.js';
import { eventually } from '../support/fake-apiserver/wait.js';
import { runCli, startServe, type ServeProcess } from '../support/run-cli.js';
import { testCertificates } from '../webhook/server-harness.js';

/**
 * `meshgate serve` as a real process on live cluster state: bin/meshgate, with only a kubeconfig,
 * watches the fake API server over HTTPS and answers kube-apiserver-style AdmissionReviews over
 * HTTPS, while the cluster changes under it — a route group created, a namespace enrolled and
 * egress switched on with the real `meshgate namespace add` and `meshgate egress enable`, watches
 * lost and access revoked. Every answer goes through the verifying admission client.
 *
 * The steps share one server process and build on each other, in order.
 */

/** Seed 002/004: the Egress whose match references an HTTPRouteGroup by name. */
const routedEgress = () =>
  egressObject({
    spec: {
      sources: [{ kind: 'ServiceAccount', name: 'curl', namespace: 'curl' }],
      hosts: ['httpbin.org'],
      ports: [{ number: 80, protocol: 'http' }],
      matches: [{ apiGroup: 'specs.smi-spec.io/v1alpha4', kind: 'HTTPRouteGroup', name: 'egress-http-route' }],
    },
  });

interface Container {
  name: string;
  args?: string[];
}
interface PodShape {
  spec: { containers: Container[]; initContainers?: Container[] };
}
interface Listener {
  name: string;
  address: { socket_address: { port_value: number } };
}

interface Bootstrap {
  static_resources: { listeners: Listener[] };
  dynamic_resources: { ads_config: { grpc_services: Array<{ google_grpc: { target_uri: string; channel_credentials: { ssl_credentials: { root_certs?: { inline_string: string } } } } }> } };
}

/** The Envoy bootstrap the injected sidecar gets with `--config-yaml` (JSON text). */
function bootstrapOf(pod: PodShape): Bootstrap {
  const envoy = pod.spec.containers.find((c) => c.name === 'envoy');
  expect(envoy, 'envoy sidecar').to.not.equal(undefined);
  const args = envoy!.args ?? [];
  const i = args.indexOf('--config-yaml');
  expect(i, '--config-yaml arg').to.be.greaterThan(-1);
  return JSON.parse(args[i + 1]!) as Bootstrap;
}

const listenersOn = (pod: PodShape, port: number) => bootstrapOf(pod).static_resources.listeners.filter((l) => l.address.socket_address.port_value === port);

describe('meshgate serve on live cluster state (bin/meshgate watching the fake API server)', function () {
  let api: FakeApiServer;
  let dir: string;
  let kubeconfig: string;
  let server: ServeProcess | undefined;
  let client: AdmissionClient | undefined;
  let caCert: string;

  /** /readyz's status: 200 or 503, anything else is a broken contract (and fails the wait at once). */
  const readyz = async () => {
    const r = await client!.raw('GET', '/readyz');
    if (r.status !== 200 && r.status !== 503) throw new Error(`/readyz answered ${r.status}, not 200 or 503: ${r.body.slice(0, 300)}`);
    return r.status;
  };
  const meshgate = (...args: string[]) => runCli([...args, '--kubeconfig', kubeconfig], { hermetic: true });
  const mutateCurlPod = () => client!.review('mutate', podReview(podObject()));

  before(async () => {
    api = await FakeApiServer.start();
    api.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'osm-system' } });
    api.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'curl' } }); // kubectl create namespace curl: not enrolled yet
    api.create({
      apiVersion: 'config.openservicemesh.io/v1alpha2',
      kind: 'MeshConfig',
      metadata: { name: 'osm-mesh-config', namespace: 'osm-system' },
      spec: { traffic: { enableEgress: false }, featureFlags: { enableEgressPolicy: true } },
    });
    dir = await mkdtemp(join(tmpdir(), 'meshgate-serve-live-'));
    kubeconfig = await api.kubeconfig({ dir });
    const certs = await testCertificates(0);
    await writeFile(join(dir, 'tls.crt'), certs.cert);
    await writeFile(join(dir, 'tls.key'), certs.key);
    // cert-manager's Secret layout: the CA beside the certificate, which injected sidecars then trust for ADS.
    await writeFile(join(dir, 'ca.crt'), certs.caCert);
    caCert = certs.caCert;
    // hermetic: no inherited KUBECONFIG or ~/.kube/config; the fake is reached only through --kubeconfig.
    server = await startServe(
      // ADS off: this suite is about admission, and a fixed 15128 would collide with another serve on the machine.
      ['--kubeconfig', kubeconfig, '--tls-cert', join(dir, 'tls.crt'), '--tls-key', join(dir, 'tls.key'), '--port', '0', '--host', '127.0.0.1', '--xds-port', '0'],
      { hermetic: true },
    );
    expect(server.stderr()).to.include('state: live cluster');
    client = new AdmissionClient({ baseUrl: server.url, ca: certs.caCert });
    await eventually('/readyz 200 once the informers synced', async () => (await readyz()) === 200, 20_000);
  });

  after(async () => {
    client?.close();
    if (server) await server.stop('SIGKILL');
    await api?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('denies the seed Egress while its HTTPRouteGroup is missing (422, NotFound on spec.matches[0].name), allows it once the group is created', async () => {
    const denied = await client!.review('validate', egressReview(routedEgress()));
    expect(denied.response.allowed).to.equal(false);
    expect(denied.response.status).to.deep.include({ code: 422, reason: 'Invalid' });
    expect(denied.response.status!.details).to.deep.include({ group: 'policy.openservicemesh.io', kind: 'Egress', name: 'httpbin-80' });
    expect(denied.response.status!.details!.causes).to.deep.equal([{ reason: 'FieldValueNotFound', field: 'spec.matches[0].name', message: 'Not found: "egress-http-route"' }]);

    api.create({
      apiVersion: 'specs.smi-spec.io/v1alpha4',
      kind: 'HTTPRouteGroup',
      metadata: { name: 'egress-http-route', namespace: 'curl' },
      spec: { matches: [{ name: 'get', pathRegex: '/get' }] },
    });
    const allowed = await eventually('the same Egress allowed once the watch delivered the route group', async () => {
      const r = await client!.review('validate', egressReview(routedEgress()));
      return r.response.allowed ? r : undefined;
    });
    expect(allowed.response.status).to.equal(undefined);
    // curl is not in the mesh yet: allowed, with the warning that says so.
    expect(allowed.response.warnings?.join('\n')).to.match(/curl/);
  });

  it('leaves a pod in a namespace that is not enrolled untouched', async () => {
    const r = await mutateCurlPod();
    expect(r.response.allowed).to.equal(true);
    expect(r.response.patch).to.equal(undefined);
    expect(r.response.patchType).to.equal(undefined);
  });

  it('injects once `meshgate namespace add curl` enrolled the namespace: osm-init and envoy, and with egress off no listener on 15001', async () => {
    const add = await meshgate('namespace', 'add', 'curl');
    expect(add.code, add.stderr).to.equal(0);
    const injected = await eventually('a patch once the namespace watch delivered the enrollment', async () => {
      const r = await mutateCurlPod();
      return r.patched ? r : undefined;
    });
    expect(injected.response.allowed).to.equal(true);
    const pod = injected.patched as PodShape;
    expect((pod.spec.initContainers ?? []).map((c) => c.name)).to.include('osm-init');
    expect(pod.spec.containers.map((c) => c.name)).to.deep.equal(['curl', 'envoy']);
    // The bootstrap carries no outbound listener: it comes from meshgate over ADS, verified with the CA beside --tls-cert.
    expect(listenersOn(pod, 15001)).to.deep.equal([]);
    const grpc = bootstrapOf(pod).dynamic_resources.ads_config.grpc_services[0]!.google_grpc;
    expect(grpc.target_uri).to.equal('meshgate.osm-system.svc:15128');
    expect(grpc.channel_credentials.ssl_credentials.root_certs?.inline_string.trim()).to.equal(caCert.trim());
  });

  it('sees `meshgate egress enable` switch the MeshConfig (the Egress warning says so); new pods\' bootstraps stay the same, the passthrough comes over ADS', async () => {
    const before = await mutateCurlPod();
    const enable = await meshgate('egress', 'enable');
    expect(enable.code, enable.stderr).to.equal(0);
    await eventually('the MeshConfig change in the Egress warnings', async () => {
      const r = await client!.review('validate', egressReview(routedEgress()));
      return (r.response.warnings ?? []).some((w) => w.includes('traffic.enableEgress is true')) ? r : undefined;
    });
    const after = await mutateCurlPod();
    expect(listenersOn(after.patched as PodShape, 15001)).to.deep.equal([]);
    expect(bootstrapOf(after.patched as PodShape)).to.deep.equal(bootstrapOf(before.patched as PodShape));
  });

  it('is not ready while its watches are down: /readyz 503 and admission answers 503 with the uid; ready again once they are back', async () => {
    api.pauseWatches();
    await eventually('/readyz 503 with the watches down', async () => (await readyz()) === 503);
    const review = egressReview(routedEgress());
    const r = await client!.review('validate', review); // the client checks response.uid === request.uid
    expect(r.response.uid).to.equal(review.request.uid);
    expect(r.response.allowed).to.equal(false);
    expect(r.response.status).to.deep.include({ code: 503, reason: 'ServiceUnavailable' });
    expect(r.response.status!.message).to.match(/^meshgate is not ready: .*watch disconnected; reconnecting/);
    const m = await mutateCurlPod();
    expect(m.response.status).to.deep.include({ code: 503 });
    expect(m.response.status!.message).to.match(/^meshgate is not ready/);

    api.resumeWatches();
    await eventually('/readyz 200 after the watches resumed', async () => (await readyz()) === 200, 20_000);
    expect((await client!.review('validate', egressReview(routedEgress()))).response.allowed).to.equal(true);
  });

  it('is not ready while access to a watched resource is forbidden, naming it; ready again once access is granted', async () => {
    api.forbid({ verb: 'watch', resource: 'egresses', group: 'policy.openservicemesh.io' });
    api.dropWatches({ resource: 'policy.openservicemesh.io/egresses' });
    // Reconnecting first, then the 403: wait until /readyz names the forbidden resource.
    const notReady = await eventually('/readyz 503 naming the forbidden resource', async () => {
      const r = await client!.raw('GET', '/readyz');
      if (r.status !== 200 && r.status !== 503) throw new Error(`/readyz answered ${r.status}, not 200 or 503: ${r.body.slice(0, 300)}`);
      return r.status === 503 && r.body.includes('egresses.policy.openservicemesh.io: forbidden') ? r : undefined;
    });
    expect(notReady.body).to.match(/grant verb "watch" on resource "egresses" in API group "policy.openservicemesh.io"/);
    const review = egressReview(routedEgress());
    const r = await client!.review('validate', review);
    expect(r.response.status).to.deep.include({ code: 503 });
    expect(r.response.status!.message).to.match(/^meshgate is not ready: egresses\.policy\.openservicemesh\.io: forbidden/);

    api.allowAll();
    await eventually('/readyz 200 after access was granted', async () => (await readyz()) === 200, 20_000);
    expect((await mutateCurlPod()).patched).to.not.equal(undefined);
  });

  it('exits 0 on SIGTERM', async () => {
    const exit = await server!.stop('SIGTERM');
    expect(exit).to.deep.equal({ code: 0, signal: null });
    expect(server!.stderr()).to.not.match(/\n\s+at /);
    server = undefined;
  });
});
