import { expect } from 'chai';
import tls from 'node:tls';
import { AdmissionClient } from '../support/admission-client.js';
import { egressReview } from '../support/admission-fixtures.js';
import { startTestServer, testCertificates, type TestServer } from './server-harness.js';

function connect(port: number, opts: tls.ConnectionOptions): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, ...opts }, () => resolve(s));
    s.once('error', reject);
  });
}

function closed(s: tls.TLSSocket): Promise<string> {
  return new Promise((resolve) => {
    let data = '';
    s.setEncoding('utf8');
    s.on('data', (d: string) => (data += d));
    s.on('error', () => {});
    s.once('close', () => resolve(data));
  });
}

describe('webhook server: TLS and connections', () => {
  describe('protocol', () => {
    let t: TestServer;
    before(async () => (t = await startTestServer()));
    after(async () => t.close());

    it('speaks TLS 1.2 and 1.3, HTTP/1.1, and verifies against the CA with the IP SAN', async () => {
      for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
        const s = await connect(t.port, { ca: t.ca, minVersion: version, maxVersion: version });
        expect(s.authorized).to.equal(true);
        expect(s.getProtocol()).to.equal(version);
        s.destroy();
      }
      const r = await t.client.raw('GET', '/healthz');
      expect(r.status).to.equal(200);
    });

    it('refuses TLS 1.1 and older', async () => {
      const err = await connect(t.port, { ca: t.ca, minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' }).then(
        (s) => {
          s.destroy();
          return undefined;
        },
        (e: Error) => e,
      );
      expect((err as NodeJS.ErrnoException | undefined)?.code, `a TLS 1.1 handshake must fail: ${String(err)}`).to.equal('ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION');
    });

    it('rejects a client that does not trust the CA (the certificate really is verified)', async () => {
      const other = await testCertificates(1);
      const err = await connect(t.port, { ca: other.caCert }).then(
        (s) => {
          s.destroy();
          return undefined;
        },
        (e: Error) => e,
      );
      // The server sends only its leaf, signed by a CA this client does not hold.
      expect((err as NodeJS.ErrnoException | undefined)?.code, String(err)).to.equal('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
    });

    it('keeps connections alive between requests, like the API server\'s pooled client', async () => {
      const a = await t.client.review('validate', egressReview());
      const b = await t.client.review('validate', egressReview());
      expect(a.response.allowed && b.response.allowed).to.equal(true);
      expect(b.http.reusedSocket).to.equal(true);
    });
  });

  describe('updateTls', () => {
    let t: TestServer;
    before(async () => (t = await startTestServer()));
    after(async () => t.close());

    it('swaps the certificate for new handshakes while a keep-alive client keeps working', async () => {
      const next = await testCertificates(1);
      const first = await t.client.review('validate', egressReview());
      expect(first.response.allowed).to.equal(true);

      t.server.updateTls({ cert: next.cert, key: next.key });

      // The pooled connection made under the old certificate keeps working.
      const again = await t.client.review('validate', egressReview());
      expect(again.response.allowed).to.equal(true);
      expect(again.http.reusedSocket).to.equal(true);

      // New connections get the new certificate: trusted by the new CA only.
      const fresh = new AdmissionClient({ baseUrl: t.url, ca: next.caCert, keepAlive: false });
      try {
        expect((await fresh.review('validate', egressReview())).response.allowed).to.equal(true);
      } finally {
        fresh.close();
      }
      const stale = new AdmissionClient({ baseUrl: t.url, ca: t.ca, keepAlive: false });
      try {
        const err = await stale.raw('GET', '/healthz').then(
          () => undefined,
          (e: Error) => e,
        );
        expect((err as NodeJS.ErrnoException | undefined)?.code, `the old CA must no longer verify new connections: ${String(err)}`).to.equal('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
      } finally {
        stale.close();
      }
    });

    it('refuses a certificate and key that do not match, keeping the current one', async () => {
      const a = await testCertificates(0);
      const b = await testCertificates(1);
      expect(() => t.server.updateTls({ cert: b.cert, key: a.key })).to.throw(/key values mismatch/);
      const c = new AdmissionClient({ baseUrl: t.url, ca: b.caCert, keepAlive: false });
      try {
        expect((await c.raw('GET', '/healthz')).status).to.equal(200);
      } finally {
        c.close();
      }
    });
  });

  describe('slow clients', () => {
    let t: TestServer;
    before(async () => (t = await startTestServer({ timeouts: { headersMs: 300, requestMs: 600, checkIntervalMs: 100 } })));
    after(async () => t.close());

    it('slow-loris connections do not starve others, and are cut after the header timeout', async () => {
      const slow = await Promise.all(Array.from({ length: 20 }, () => connect(t.port, { ca: t.ca })));
      const ends = slow.map(closed);
      for (const s of slow) s.write('POST /validate?timeout=10s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n');
      // Meanwhile real requests are answered.
      const answers = await Promise.all(Array.from({ length: 5 }, () => t.client.review('validate', egressReview())));
      expect(answers.every((a) => a.response.allowed)).to.equal(true);
      const replies = await Promise.all(ends);
      for (const r of replies) expect(r === '' || r.startsWith('HTTP/1.1 408')).to.equal(true);
    });

    it('a body that never finishes is cut after the request timeout', async () => {
      const s = await connect(t.port, { ca: t.ca });
      const end = closed(s);
      s.write('POST /validate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"apiVersion":');
      const reply = await end;
      expect(reply === '' || reply.startsWith('HTTP/1.1 408')).to.equal(true);
      expect((await t.client.review('validate', egressReview())).response.allowed).to.equal(true);
    });
  });
});
