import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { watchedResources } from '../../src/cluster/watched-resources.js';
import { resolveProfile } from '../../src/profile.js';
import { AdmissionClient } from '../support/admission-client.js';
import { FakeApiServer } from '../support/fake-apiserver.js';
import { eventually } from '../support/fake-apiserver/wait.js';
import { freePort } from '../support/free-port.js';
import { expectPromptCleanExit } from '../support/serve-exit.js';
import { MESHGATE_BIN, spawnCli, type CliProcess } from '../support/run-cli.js';
import { testCertificates } from '../webhook/server-harness.js';

/**
 * `meshgate serve --kubeconfig` (the built bin/meshgate, ADS on) stopped with SIGTERM at each
 * point of its start-up, against a fake API server that holds the requests of that point open (a
 * slow API server): the process exits 0, promptly, every time — nothing it opened (a list or a
 * watch in flight, the webhook and ADS servers, an idle keep-alive connection, timers) keeps it
 * alive. Each point is reached through the fake API server's hooks, not by waiting.
 *
 * The bound below only stops a hang from hanging the suite: a process that is still alive after
 * it has had ample time is the failure the issue reported (it lived on until its watch ended).
 */

const EXIT_BOUND_MS = 5_000;
const INFORMERS = watchedResources(resolveProfile('osm')).length;

describe('meshgate serve: SIGTERM at any point of start-up exits 0 promptly (process, fake API server)', function () {
  this.timeout(60_000);
  let api: FakeApiServer;
  let dir: string;
  let kubeconfig: string;
  let ca: string;
  let proc: CliProcess | undefined;
  const clients: AdmissionClient[] = [];

  before(async () => {
    if (!existsSync(resolve(MESHGATE_BIN, '../../dist/src/cli/main.js'))) throw new Error('bin/meshgate is not built: run `npm run build` first');
    dir = await mkdtemp(join(tmpdir(), 'meshgate-serve-shutdown-'));
    const certs = await testCertificates(0);
    ca = certs.caCert;
    await writeFile(join(dir, 'tls.crt'), certs.cert);
    await writeFile(join(dir, 'tls.key'), certs.key);
    await writeFile(join(dir, 'ca.crt'), certs.caCert);
  });

  beforeEach(async () => {
    api = await FakeApiServer.start();
    api.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'osm-system' } });
    api.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'curl' } });
    api.create({
      apiVersion: 'config.openservicemesh.io/v1alpha2',
      kind: 'MeshConfig',
      metadata: { name: 'osm-mesh-config', namespace: 'osm-system' },
      spec: { traffic: { enableEgress: true }, featureFlags: { enableEgressPolicy: true } },
    });
    kubeconfig = await api.kubeconfig({ dir });
  });

  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    if (proc) await proc.stop('SIGKILL', 2_000);
    proc = undefined;
    await api.close();
  });

  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function spawnServe(tlsArgs: string[] = ['--tls-cert', join(dir, 'tls.crt'), '--tls-key', join(dir, 'tls.key')]): Promise<CliProcess> {
    const xdsPort = await freePort();
    proc = spawnCli(['serve', '--kubeconfig', kubeconfig, ...tlsArgs, '--port', '0', '--host', '127.0.0.1', '--xds-port', String(xdsPort)], { hermetic: true });
    return proc;
  }

  it('before listening: while the --cert-secret Secret read is held by the API server', async () => {
    api.holdRequests({ verb: 'get', resource: '/secrets' });
    const p = await spawnServe(['--cert-secret', 'meshgate-webhook-tls']);
    await eventually('the Secret read held', () => api.heldRequestCount >= 1, 20_000);
    await expectPromptCleanExit(p, 'Secret read held', { boundMs: EXIT_BOUND_MS });
    expect(p.stderr()).to.not.include('meshgate serving');
  });

  it('while listing: every list held open by the API server', async () => {
    api.holdRequests({ verb: 'list' });
    const p = await spawnServe();
    await p.waitFor(/meshgate serving /);
    await eventually(`all ${INFORMERS} lists held`, () => api.heldRequestCount >= INFORMERS, 20_000);
    await expectPromptCleanExit(p, 'lists held', { boundMs: EXIT_BOUND_MS });
  });

  it('while listing: some informers listed and watching, the others still listing', async () => {
    api.holdRequests({ verb: 'list', resource: 'policy.openservicemesh.io/egresses' });
    const p = await spawnServe();
    await p.waitFor(/meshgate serving /);
    await eventually('the other watches open', () => api.heldRequestCount >= 1 && api.openWatchCount >= INFORMERS - 1, 20_000);
    await expectPromptCleanExit(p, 'one list held', { boundMs: EXIT_BOUND_MS });
  });

  it('after the first lists, while the watches are opening: every watch request held unanswered (no response headers yet)', async () => {
    // The case: the watch requests are out, their responses not yet started.
    api.pauseWatches();
    const p = await spawnServe();
    await p.waitFor(/meshgate serving /);
    await eventually(`all ${INFORMERS} watch requests held`, () => api.heldWatchCount >= INFORMERS, 20_000);
    expect(api.requestsFor('list').length).to.be.at.least(INFORMERS);
    await expectPromptCleanExit(p, 'watches held', { boundMs: EXIT_BOUND_MS });
  });

  it('after sync: watches streaming, an idle keep-alive connection to the webhook, ADS listening', async () => {
    const p = await spawnServe();
    const m = await p.waitFor(/meshgate serving (https:\/\/[^\s]+)/);
    await p.waitFor(/"msg":"cluster state synced"/, { stream: 'stdout', timeoutMs: 20_000 });
    expect(api.openWatchCount).to.equal(INFORMERS);
    const client = new AdmissionClient({ baseUrl: m[1]!, ca, keepAlive: true });
    clients.push(client);
    expect((await client.raw('GET', '/readyz')).status).to.equal(200);
    await expectPromptCleanExit(p, 'synced', { boundMs: EXIT_BOUND_MS });
    expect(p.stdout()).to.include('"msg":"webhook server closed"').and.include('"msg":"ADS server closed"');
  });

  it('a second SIGTERM while the stop waits for --shutdown-delay exits at once, 0', async () => {
    const xdsPort = await freePort();
    const p = (proc = spawnCli(
      ['serve', '--kubeconfig', kubeconfig, '--tls-cert', join(dir, 'tls.crt'), '--tls-key', join(dir, 'tls.key'), '--port', '0', '--host', '127.0.0.1', '--xds-port', String(xdsPort), '--shutdown-delay', '600'],
      { hermetic: true },
    ));
    await p.waitFor(/meshgate serving /);
    p.child.kill('SIGTERM');
    await p.waitFor(/"msg":"draining: readiness is now false"/, { stream: 'stdout' });
    await expectPromptCleanExit(p, 'second SIGTERM', { boundMs: EXIT_BOUND_MS, forced: 'SIGTERM again' });
  });
});
