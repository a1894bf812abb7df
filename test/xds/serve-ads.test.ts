import { expect } from 'chai';
import { status } from '@grpc/grpc-js';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { runCli, startServe, type ServeProcess } from '../support/run-cli.js';
import { AdsClient, CDS, LDS, RDS, resourceNames } from './ads-client.js';
import { ensureDescriptors } from './descriptors.js';
import { freePort } from '../support/free-port.js';

/**
 * `meshgate serve` as a process (the compiled CLI: build first) with ADS on, spoken to by the test
 * ADS client; `meshgate proxy status` against it. With --state there are no changes: pushes are
 * proved in-process (ads-server.test.ts).
 */

const EXAMPLES = resolve('examples/state');
/** The seeds' HTTP egress with route matches, for curl/curl. */
const EGRESS = `apiVersion: policy.openservicemesh.io/v1alpha1
kind: Egress
metadata:
  name: httpbin-80
  namespace: curl
spec:
  sources:
  - kind: ServiceAccount
    name: curl
    namespace: curl
  hosts:
  - httpbin.org
  ports:
  - number: 80
    protocol: http
  matches:
  - apiGroup: specs.smi-spec.io/v1alpha4
    kind: HTTPRouteGroup
    name: egress-http-route
`;
const NODE = { id: 'curl-5f7.curl', cluster: 'curl.curl' };


describe('meshgate serve: ADS (process)', function () {
  this.timeout(30_000);
  let dir: string;
  let STATE: string;
  const procs: ServeProcess[] = [];
  const clients: AdsClient[] = [];

  before(async () => {
    ensureDescriptors();
    dir = await mkdtemp(join(tmpdir(), 'meshgate-ads-'));
    STATE = join(dir, 'state');
    await cp(EXAMPLES, STATE, { recursive: true });
    await writeFile(join(STATE, 'egress-httpbin.yaml'), EGRESS);
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.cancel();
    for (const p of procs.splice(0)) await p.stop();
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function serve(args: string[]) {
    const p = await startServe(['--dev', '--state', STATE, '--port', '0', '--host', '127.0.0.1', ...args], { cwd: dir });
    procs.push(p);
    return p;
  }

  it('--xds-allow-unauthenticated: serves ADS with a warning; a proxy gets CDS, LDS, RDS; proxy status lists it', async () => {
    const xdsPort = await freePort();
    const p = await serve(['--xds-port', String(xdsPort), '--xds-allow-unauthenticated']);
    expect(p.stderr()).to.include(`meshgate ADS serving 127.0.0.1:${xdsPort} (unauthenticated: development only)`);
    // The warning is a JSON log line on stdout, a pipe of its own: wait for it, not for stderr.
    await p.waitFor(/"level":40,[^\n]*WITHOUT authentication/, { stream: 'stdout' });
    const ca = await readFile(join(dir, p.caPath!), 'utf8');

    const c = new AdsClient({ port: xdsPort, ca });
    clients.push(c);
    c.send({ typeUrl: CDS, node: NODE });
    const cds = await c.nextOf(CDS);
    c.ack(cds);
    c.send({ typeUrl: LDS });
    const lds = await c.nextOf(LDS);
    expect(resourceNames(lds)).to.deep.equal(['outbound-listener']);
    c.ack(lds);
    c.send({ typeUrl: RDS, resourceNames: ['egress-http-80'] });
    const rds = await c.nextOf(RDS);
    expect(resourceNames(rds)).to.deep.equal(['egress-http-80']);
    c.nack(rds, '', 'route config rejected for the test');
    // A reconnect with the versions held: nothing is sent.
    const again = new AdsClient({ port: xdsPort, ca });
    clients.push(again);
    again.send({ typeUrl: CDS, node: { ...NODE, id: 'curl-5f7-b.curl' }, versionInfo: cds.versionInfo });
    again.send({ typeUrl: LDS, versionInfo: lds.versionInfo });
    await again.none(300);

    const json = await runCli(['proxy', 'status', '--url', p.url, '--cacert', join(dir, p.caPath!), '-o', 'json']);
    expect(json.code, json.stderr).to.equal(0);
    const report = JSON.parse(json.stdout) as { proxies: { node: string; identity: string; types: Record<string, { ackedVersion?: string }>; lastRejection?: { message: string } }[] };
    expect(report.proxies.map((x) => [x.node, x.identity])).to.deep.equal([
      ['curl-5f7-b.curl', 'curl/curl'],
      ['curl-5f7.curl', 'curl/curl'],
    ]);
    const first = report.proxies.find((x) => x.node === NODE.id)!;
    expect(first.types.CDS!.ackedVersion).to.equal(cds.versionInfo);
    expect(first.types.LDS!.ackedVersion).to.equal(lds.versionInfo);
    expect(first.lastRejection!.message).to.equal('route config rejected for the test');

    const text = await runCli(['proxy', 'status', '--url', p.url, '--cacert', join(dir, p.caPath!)]);
    expect(text.code, text.stderr).to.equal(0);
    expect(text.stdout).to.match(/^NODE\s+IDENTITY\s+SINCE\s+LDS\s+RDS\s+CDS\s+REJECTED/);
    expect(text.stdout).to.include('curl-5f7.curl (curl/curl): RDS version').and.include('route config rejected for the test');

    // Metrics on the webhook server's /metrics.
    const https = await import('node:https');
    const metrics = await new Promise<string>((res, rej) => {
      https.get(`${p.url}/metrics`, { ca }, (r) => {
        let b = '';
        r.setEncoding('utf8').on('data', (d: string) => (b += d)).on('end', () => res(b));
      }).on('error', rej);
    });
    expect(metrics).to.match(/meshgate_xds_connected_proxies 2/).and.match(/meshgate_xds_rejections_total\{type="RDS"\} 1/);

    // Graceful stop: the streams end UNAVAILABLE (Envoy reconnects), the process exits 0.
    const stopped = await p.stop();
    procs.splice(procs.indexOf(p), 1);
    expect(stopped.code).to.equal(0);
    expect((await c.ended).code).to.equal(status.UNAVAILABLE);
  });

  it('with --state and without the flag, ADS is off (info log) and /debug/proxies says so', async () => {
    const xdsPort = await freePort();
    const p = await serve(['--xds-port', String(xdsPort)]);
    expect(p.stderr()).to.not.include('ADS serving');
    await p.waitFor(/ADS off: with --state/, { stream: 'stdout' });
    const r = await runCli(['proxy', 'status', '--url', p.url, '--cacert', join(dir, p.caPath!)]);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.match(/HTTP 404: the ADS server is not running/);
  });

  it('refuses --xds-allow-unauthenticated without --state, and a bad --xds-port', async () => {
    const a = await runCli(['serve', '--dev', '--port', '0', '--xds-allow-unauthenticated', '--kubeconfig', '/nonexistent'], { cwd: dir, hermetic: true });
    expect(a.code).to.not.equal(0);
    const b = await runCli(['serve', '--dev', '--state', STATE, '--port', '0', '--xds-port', 'x'], { cwd: dir });
    expect(b.code).to.equal(2);
    expect(b.stderr).to.include('--xds-port: "x" is not a port');
  });
});
