import { expect } from 'chai';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { installNames } from '../../src/manifests/names.js';
import { service } from '../../src/manifests/workload.js';
import { FakeApiServer } from '../support/fake-apiserver.js';
import { runCli, startServe, type ServeProcess } from '../support/run-cli.js';
import { AdsClient, CDS, LDS } from '../xds/ads-client.js';
import { ensureDescriptors } from '../xds/descriptors.js';
import { freePort } from '../support/free-port.js';

/**
 * `meshgate proxy status` through the API server's service proxy (--kubeconfig, or KUBECONFIG by
 * default): the fake API server forwards `/api/v1/namespaces/osm-system/services/https:meshgate:443/proxy/...`
 * to a real `meshgate serve` (ADS on, unauthenticated) to which the test ADS client is connected.
 */

const NS = 'osm-system';
const PROXY_PATH = `/api/v1/namespaces/${NS}/services/https:meshgate:443/proxy/debug/proxies`;
const NODE = { id: 'curl-5f7.curl', cluster: 'curl.curl' };


describe('meshgate proxy status through the API server (--kubeconfig)', function () {
  this.timeout(60_000);
  let dir: string;
  let api: FakeApiServer;
  let kubeconfig: string;
  let serve: ServeProcess;
  let ads: AdsClient;
  const meshgateService = service(installNames({ namespace: NS, meshName: 'osm' }), 'osm');

  before(async () => {
    ensureDescriptors();
    dir = await mkdtemp(join(tmpdir(), 'meshgate-proxy-status-'));
    const state = join(dir, 'state');
    await cp(resolve('examples/state'), state, { recursive: true });
    const xdsPort = await freePort();
    serve = await startServe(['--dev', '--state', state, '--port', '0', '--host', '127.0.0.1', '--xds-port', String(xdsPort), '--xds-allow-unauthenticated'], { cwd: dir });
    const { readFile } = await import('node:fs/promises');
    ads = new AdsClient({ port: xdsPort, ca: await readFile(join(dir, serve.caPath!), 'utf8') });
    ads.send({ typeUrl: CDS, node: NODE });
    ads.ack(await ads.nextOf(CDS));
    ads.send({ typeUrl: LDS });
    ads.ack(await ads.nextOf(LDS));
    api = await FakeApiServer.start();
    kubeconfig = await api.kubeconfig({ dir });
  });
  beforeEach(() => {
    api.allowAll();
    api.clearRequests();
    api.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
    api.apply(meshgateService as never);
    api.proxyService(NS, 'meshgate', 'https-webhook', serve.url);
  });
  after(async () => {
    ads?.cancel();
    await serve?.stop();
    await api?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('lists the connected proxies with --kubeconfig (-o json and text), and from KUBECONFIG by default', async () => {
    const json = await runCli(['proxy', 'status', '--kubeconfig', kubeconfig, '-o', 'json'], { hermetic: true });
    expect(json.code, json.stderr).to.equal(0);
    const report = JSON.parse(json.stdout) as { proxies: { node: string; identity: string; types: Record<string, { ackedVersion?: string }> }[] };
    expect(report.proxies.map((p) => [p.node, p.identity])).to.deep.equal([[NODE.id, 'curl/curl']]);
    expect(report.proxies[0]!.types.CDS!.ackedVersion).to.be.a('string').and.not.empty;
    expect(api.requests.map((r) => [r.method, r.path, r.status])).to.deep.include(['GET', PROXY_PATH, 200]);

    const text = await runCli(['proxy', 'status'], { hermetic: true, env: { KUBECONFIG: kubeconfig } });
    expect(text.code, text.stderr).to.equal(0);
    expect(text.stdout).to.match(/^NODE\s+IDENTITY\s+SINCE\s+LDS\s+RDS\s+CDS\s+REJECTED\n/);
    expect(text.stdout).to.match(new RegExp(`^${NODE.id.replace(/\./g, '\\.')}\\s+curl/curl\\s`, 'm'));
  });

  it('Service missing: exit 2 saying meshgate is not installed there', async () => {
    api.remove('v1', 'Service', 'meshgate', NS);
    const r = await runCli(['proxy', 'status', '--kubeconfig', kubeconfig], { hermetic: true });
    expect(r.code).to.equal(2);
    expect(r.stderr.trim().split('\n')).to.have.length(1);
    expect(r.stderr).to.include(`Service ${NS}/meshgate not found`).and.include('is meshgate installed in osm-system?');
  });

  it('no ready endpoint: exit 2 naming the missing pod', async () => {
    api.proxyService(NS, 'meshgate', 'https-webhook', undefined);
    const r = await runCli(['proxy', 'status', '--kubeconfig', kubeconfig], { hermetic: true });
    expect(r.code).to.equal(2);
    expect(r.stderr.trim().split('\n')).to.have.length(1);
    expect(r.stderr).to.include('no endpoints available for service "meshgate"').and.include('no ready meshgate pod');
  });

  it('RBAC denies services/proxy: exit 2 naming the permission', async () => {
    api.forbid({ verb: 'get', resource: 'services/proxy' });
    const r = await runCli(['proxy', 'status', '--kubeconfig', kubeconfig], { hermetic: true });
    expect(r.code).to.equal(2);
    expect(r.stderr.trim().split('\n')).to.have.length(1);
    expect(r.stderr).to.include('cannot get resource "services/proxy"').and.include(`kubectl auth can-i get services/proxy -n ${NS}`);
  });

  it('API server unreachable, or no cluster configured: exit 2', async () => {
    const down = await api.kubeconfig({ dir: await mkdtemp(join(dir, 'down-')), server: `https://127.0.0.1:${await freePort()}` });
    const r = await runCli(['proxy', 'status', '--kubeconfig', down], { hermetic: true });
    expect(r.code).to.equal(2);
    expect(r.stderr).to.match(/API server https:\/\/127\.0\.0\.1:\d+ unreachable: .*ECONNREFUSED/);
    const none = await runCli(['proxy', 'status'], { hermetic: true });
    expect(none.code).to.equal(2);
    expect(none.stderr).to.include('no Kubernetes cluster configured').and.include('--url');
  });
});
