import { expect } from 'chai';
import { rmSync } from 'node:fs';
import { generateBundle, type CertificateBundle } from '../../src/certs/generate.js';
import { DirStateSource } from '../../src/cluster/state-dir.js';
import { mutatePod } from '../../src/injector/index.js';
import { validateAdmission } from '../../src/validate-admission.js';
import { resolveProfile } from '../../src/profile.js';
import { DEFAULT_SETTINGS } from '../../src/settings.js';
import { createWebhookServer, type WebhookServer } from '../../src/webhook/server.js';
import { AdmissionClient } from '../support/admission-client.js';
import { egressObject, egressReview, podObject, podReview } from '../support/admission-fixtures.js';
import { countingLogger, writeStateDir } from '../fuzz/fuzz-support.js';
import { expectCleanLoad, holdRequest, Load } from './resilience-support.js';

/**
 * Graceful shutdown under load, in process (the sequence `meshgate serve` runs on SIGTERM):
 * readiness turns false first while admission is still answered; then close() stops accepting,
 * lets the requests in flight finish (decided by the real rules, seen through wrappers), and only
 * then resolves.
 */

describe('resilience: graceful shutdown under load (in-process server)', function () {
  this.timeout(60_000);
  let certs: CertificateBundle;
  let stateDir: string;

  before(async () => {
    certs = await generateBundle('shutdown CA', { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
    stateDir = writeStateDir();
  });
  after(() => rmSync(stateDir, { recursive: true, force: true }));

  it('readiness false first, in-flight requests finish with right answers, then close() resolves', async () => {
    const decided = new Set<string>();
    const source = new DirStateSource(resolveProfile('osm'), stateDir);
    await source.start();
    const logs = countingLogger();
    const server: WebhookServer = createWebhookServer({
      logger: logs.logger,
      source,
      settings: DEFAULT_SETTINGS,
      tls: { cert: certs.cert, key: certs.key },
      // The real rules, wrapped to see which requests were decided.
      validate: (input, state, settings) => (decided.add(input.uid), validateAdmission(input, state, settings)),
      mutate: (input, state, settings) => (decided.add(input.uid), mutatePod(input, state, settings)),
    });
    const { port } = await server.listen(0, '127.0.0.1');
    const url = `https://127.0.0.1:${port}`;
    const clients = [0, 1].map(() => new AdmissionClient({ baseUrl: url, ca: certs.caCert, keepAlive: true }));
    const probe = new AdmissionClient({ baseUrl: url, ca: certs.caCert, keepAlive: false });
    try {
      const load = new Load({ clients, workersPerClient: 3, maxMs: 40_000 });
      await load.answered(50);

      // Requests in flight: the server has their headers (100 Continue), not yet their bodies.
      const held = await Promise.all([
        holdRequest(port, certs.caCert, 'validate', egressReview(egressObject({ name: 'held-valid' }))),
        holdRequest(port, certs.caCert, 'validate', egressReview(egressObject({ name: 'held-bad', spec: { sources: [], ports: [] } }))),
        holdRequest(port, certs.caCert, 'mutate', podReview(podObject({ namespace: 'curl' }))),
        holdRequest(port, certs.caCert, 'mutate', podReview(podObject({ namespace: 'outside' }))),
      ]);

      expect((await probe.raw('GET', '/readyz')).status).to.equal(200);
      server.setDraining();
      const notReady = await probe.raw('GET', '/readyz');
      expect(notReady.status).to.equal(503);
      expect(notReady.body).to.match(/shutting down/);
      // Still answering while endpoints are withdrawn.
      await load.answered(100);
      // The endpoint is gone: no new requests; those in flight finish.
      const report = await load.stop();

      let closeResolved = false;
      const closing = server.close().then(() => (closeResolved = true));
      // The listener is closed: new connections are refused...
      const refused = await probe.raw('GET', '/healthz').then(
        () => 'answered',
        (err: NodeJS.ErrnoException) => err.code,
      );
      expect(refused).to.equal('ECONNREFUSED');
      // ...but close() waits for the requests in flight.
      expect(closeResolved).to.equal(false);

      const answers = await Promise.all(held.map((h) => h.finish()));
      answers.forEach((a, i) => {
        expect(a.status).to.equal(200);
        expect(a.json.response?.uid).to.equal(held[i]!.uid);
        expect(decided.has(held[i]!.uid), 'decided by the rules').to.equal(true);
      });
      expect(answers.map((a) => a.json.response?.allowed)).to.deep.equal([true, false, true, true]);
      expect(answers[1]!.json.response?.status?.code).to.equal(422);
      expect(answers[2]!.json.response?.patch, 'the held pod was injected').to.be.a('string');
      expect(answers[3]!.json.response?.patch).to.equal(undefined);

      await closing;
      expect(closeResolved).to.equal(true);
      // And the server, not the client, closed those connections once they were answered.
      for (const h of held) expect((await h.socket.closed).byUs).to.equal(false);
      expectCleanLoad(report, 'shutdown');
      expect(logs.errors).to.deep.equal([]);
    } finally {
      for (const c of [...clients, probe]) c.close();
      await server.close();
    }
  });
});
