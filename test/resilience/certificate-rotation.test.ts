import { expect } from 'chai';
import { X509Certificate } from 'node:crypto';
import { rmSync } from 'node:fs';
import tls from 'node:tls';
import { generateBundle, generateServingCert, type CertificateBundle } from '../../src/certs/generate.js';
import { DirStateSource } from '../../src/cluster/state-dir.js';
import { resolveProfile } from '../../src/profile.js';
import { DEFAULT_SETTINGS } from '../../src/settings.js';
import { createWebhookServer, type WebhookServer } from '../../src/webhook/server.js';
import { AdmissionClient } from '../support/admission-client.js';
import { countingLogger, writeStateDir } from '../fuzz/fuzz-support.js';
import { expectCleanLoad, Load } from './resilience-support.js';

/**
 * Certificate rotation under continuous load (in-process server, updateTls): clients that keep
 * their connections and clients that handshake on every request see zero failed requests, both
 * for a new serving certificate from the same CA and for a move to a new CA (with clients that
 * trust both, as the caBundle does during a CA rotation). Each rotation is proven real: a fresh
 * handshake presents the new certificate.
 */

const SANS = { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] };

/** The certificate a fresh handshake gets (its fingerprint). */
async function servedFingerprint(port: number, ca: Array<string | Buffer>): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, ca, servername: 'localhost' }, () => {
      const fp = s.getPeerX509Certificate()?.fingerprint256 ?? '';
      s.destroy();
      resolve(fp);
    });
    s.once('error', reject);
  });
}

const fingerprint = (pem: string) => new X509Certificate(pem).fingerprint256;

describe('resilience: certificate rotation under load (in-process server)', function () {
  this.timeout(60_000);
  let ca0: CertificateBundle;
  let ca1: CertificateBundle;
  let stateDir: string;
  let server: WebhookServer;
  let port: number;
  let logs: ReturnType<typeof countingLogger>;
  const clients: AdmissionClient[] = [];

  before(async () => {
    [ca0, ca1] = await Promise.all([generateBundle('rotation CA 0', SANS), generateBundle('rotation CA 1', SANS)]);
    stateDir = writeStateDir();
  });

  beforeEach(async () => {
    const source = new DirStateSource(resolveProfile('osm'), stateDir);
    await source.start();
    logs = countingLogger();
    server = createWebhookServer({ logger: logs.logger, source, settings: DEFAULT_SETTINGS, tls: { cert: ca0.cert, key: ca0.key } });
    port = (await server.listen(0, '127.0.0.1')).port;
  });

  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await server.close();
  });

  after(() => rmSync(stateDir, { recursive: true, force: true }));

  function client(ca: Array<string | Buffer>, keepAlive: boolean): AdmissionClient {
    const c = new AdmissionClient({ baseUrl: `https://127.0.0.1:${port}`, ca: ca as unknown as string, keepAlive });
    clients.push(c);
    return c;
  }

  it('a new serving certificate from the same CA, five times over: zero failed requests', async () => {
    const trust = [ca0.caCert];
    const load = new Load({ clients: [client(trust, true), client(trust, false)], workersPerClient: 3, maxRequests: 20_000, maxMs: 45_000 });
    await load.answered(50);
    const served = new Set([fingerprint(ca0.cert)]);
    for (let i = 0; i < 5; i++) {
      const leaf = await generateServingCert({ cert: ca0.caCert, key: ca0.caKey }, SANS);
      server.updateTls(leaf);
      // Rotation is real: a fresh handshake now gets the new certificate.
      expect(await servedFingerprint(port, trust)).to.equal(fingerprint(leaf.cert));
      served.add(fingerprint(leaf.cert));
      await load.answered(100);
    }
    const report = await load.stop();
    expect(served.size).to.equal(6);
    expectCleanLoad(report, 'same-CA rotation');
    expect(logs.errors).to.deep.equal([]);
  });

  it('a move to a new CA, with clients trusting both CAs (the caBundle during a CA rotation): zero failed requests', async () => {
    const both = [ca0.caCert, ca1.caCert];
    const load = new Load({ clients: [client(both, true), client(both, false)], workersPerClient: 3, maxRequests: 20_000, maxMs: 45_000 });
    await load.answered(50);
    server.updateTls({ cert: ca1.cert, key: ca1.key });
    expect(await servedFingerprint(port, both)).to.equal(fingerprint(ca1.cert));
    await load.answered(200);
    // And back, as a renewal after a rollback would.
    server.updateTls({ cert: ca0.cert, key: ca0.key });
    expect(await servedFingerprint(port, both)).to.equal(fingerprint(ca0.cert));
    await load.answered(200);
    server.updateTls({ cert: ca1.cert, key: ca1.key });
    await load.answered(100);
    const report = await load.stop();
    expectCleanLoad(report, 'CA rotation');

    // The rotation really changed what new handshakes are verified against: the old CA alone no longer works.
    const oldOnly = client([ca0.caCert], false);
    let refused: unknown;
    await oldOnly.raw('GET', '/healthz').catch((err: unknown) => (refused = err));
    expect(String(refused)).to.match(/certificate|self[- ]signed|verify/i);
    expect(logs.errors).to.deep.equal([]);
  });

  it('a bad pair mid-load is refused and the served certificate stays: zero failed requests', async () => {
    const trust = [ca0.caCert];
    const load = new Load({ clients: [client(trust, true), client(trust, false)], workersPerClient: 2, maxRequests: 20_000, maxMs: 45_000 });
    await load.answered(50);
    // Refused for the reason the test sets up (the key is not the certificate's), not for any error at all.
    expect(() => server.updateTls({ cert: ca1.cert, key: ca0.key }))
      .to.throw(/key values mismatch/)
      .with.property('code', 'ERR_OSSL_X509_KEY_VALUES_MISMATCH');
    expect(await servedFingerprint(port, trust)).to.equal(fingerprint(ca0.cert));
    await load.answered(200);
    expectCleanLoad(await load.stop(), 'refused rotation');
  });
});
