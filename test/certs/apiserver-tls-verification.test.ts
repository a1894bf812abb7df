import { expect } from 'chai';
import https from 'node:https';
import { generate } from 'selfsigned';
import { generateCA, generateServingCert, serviceDnsNames } from '../../src/certs/generate.js';
import { apiserverRequest, closeServer, SERVICE_HOST, startSwappingServer } from './helpers.js';

/**
 * kube-apiserver (Go crypto/x509) refuses SHA-1 signatures and CN-only certificates. These tests
 * check that a client verifying the same way accepts the certificates meshgate issues and refuses
 * the bad kinds, so the refusal is proven, not assumed.
 */
describe('serving certificates, verified the way kube-apiserver verifies a webhook', () => {
  let ca: { cert: string; key: string };
  const servers: https.Server[] = [];

  before(async () => {
    ca = await generateCA({ commonName: 'test-ca' });
  });
  after(async () => {
    for (const s of servers) await closeServer(s);
  });

  async function serve(material: { cert: string; key: string }) {
    const s = await startSwappingServer(material);
    servers.push(s.server);
    return s;
  }

  /** A leaf signed by `ca` with selfsigned's options (to make the bad kinds). */
  async function leaf(opts: { algorithm: 'sha1' | 'sha256'; sans: boolean }) {
    const extensions: object[] = [
      { name: 'basicConstraints', cA: false },
      { name: 'extKeyUsage', serverAuth: true },
    ];
    if (opts.sans) extensions.push({ name: 'subjectAltName', altNames: [{ type: 2, value: SERVICE_HOST }] });
    const pems = await generate([{ name: 'commonName', value: SERVICE_HOST }], {
      algorithm: opts.algorithm,
      keyType: 'ec',
      curve: 'P-256',
      ca,
      extensions: extensions as never,
    });
    return { cert: pems.cert, key: pems.private };
  }

  it('accepts meshgate\'s certificate: SHA-256, SANs for the Service, TLS ≥ 1.2', async () => {
    const s = await serve(await generateServingCert(ca, { dnsNames: serviceDnsNames('meshgate', 'osm-system') }));
    const r = await apiserverRequest({ port: s.port, caBundle: ca.cert });
    expect(r.status).to.equal(200);
  });

  it('refuses a name the certificate does not carry (the check is real)', async () => {
    const s = await serve(await generateServingCert(ca, { dnsNames: serviceDnsNames('meshgate', 'osm-system') }));
    const err = await apiserverRequest({ port: s.port, caBundle: ca.cert, servername: 'meshgate.other-ns.svc' }).then(
      () => undefined,
      (e: Error & { code?: string }) => e,
    );
    expect(err?.code).to.equal('ERR_TLS_CERT_ALTNAME_INVALID');
  });

  it('refuses a SHA-1 signed certificate (Node\'s OpenSSL refuses it itself at its default security level)', async () => {
    const s = await serve(await leaf({ algorithm: 'sha1', sans: true }));
    const err = await apiserverRequest({ port: s.port, caBundle: ca.cert }).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(err?.message).to.match(/digest algorithm too weak/);
  });

  it('refuses a CN-only certificate, which Node alone would accept', async () => {
    const cnOnly = await leaf({ algorithm: 'sha256', sans: false });
    const s = await serve(cnOnly);
    // Node's default identity check falls back to the CN: this is why the verifying client checks SANs itself.
    const nodeDefault = await new Promise<number>((resolve, reject) => {
      https
        .request({ host: '127.0.0.1', port: s.port, servername: SERVICE_HOST, ca: ca.cert, agent: false }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        })
        .on('error', reject)
        .end();
    });
    expect(nodeDefault).to.equal(200);
    const err = await apiserverRequest({ port: s.port, caBundle: ca.cert }).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(err?.message).to.equal('x509: certificate relies on legacy Common Name field, use SANs instead');
  });

  it('refuses a server that only offers TLS 1.1', async () => {
    const material = await generateServingCert(ca, { dnsNames: serviceDnsNames('meshgate', 'osm-system') });
    const server = https.createServer({ ...material, minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' }, (_q, r) => r.end());
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const err = await apiserverRequest({ port: (server.address() as { port: number }).port, caBundle: ca.cert }).then(
      () => undefined,
      (e: Error & { code?: string }) => e,
    );
    // The client offers TLS 1.2 and later only: the server, capped at 1.1, answers with a protocol_version alert.
    expect(err?.code, String(err)).to.equal('EPROTO');
    expect(err?.message).to.match(/alert protocol version/);
  });
});
