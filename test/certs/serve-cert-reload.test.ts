import { expect } from 'chai';
import { X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import tls from 'node:tls';
import { CERT_ANNOTATIONS, SECRET_KEYS } from '../../src/certs/certificate-secret.js';
import { generateCA, generateServingCert, serviceDnsNames } from '../../src/certs/generate.js';
import { splitPemBundle } from '../../src/certs/pem.js';
import { FakeApiServer, type KubeObj } from '../support/fake-apiserver.js';
import { eventually } from '../support/fake-apiserver/wait.js';
import { freePort } from '../support/free-port.js';
import { MESHGATE_BIN, startServe, type ServeProcess } from '../support/run-cli.js';
import { testCertificates } from '../webhook/server-harness.js';
import { apiserverRequest, applyInstall, NAMES, publishedBundles, SERVICE_HOST } from './helpers.js';

/**
 * Certificate reload inside a RUNNING `meshgate serve` (the built bin/meshgate as a process): the
 * certificate both listeners present — the webhook's HTTPS and ADS's gRPC TLS — is read off real
 * TLS handshakes while the certificate changes the two ways it does in a cluster:
 * - cert-manager mode: the kubelet's atomic writer swaps the Secret volume (`..data` symlink to a
 *   new timestamped directory; tls.crt and tls.key are symlinks through `..data`), while a client
 *   loop keeps making requests across the swap;
 * - --cert-secret: serve itself renews the serving certificate and rotates the CA in the Secret
 *   through the (fake) API server, and patches the caBundle of both webhook configurations, while
 *   a client calling the way kube-apiserver does (the CA from the caBundle as published at each
 *   request) keeps making requests.
 * Every request must succeed, and the served certificate must become the new one.
 */

const fingerprint = (pem: string) => new X509Certificate(pem).fingerprint256;

/** The certificate a TLS listener presents (no verification: this only reads it), by SHA-256 fingerprint. */
function presented(port: number, opts: { alpn?: string[]; servername?: string } = {}): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...(opts.servername ? { servername: opts.servername } : {}), ...(opts.alpn ? { ALPNProtocols: opts.alpn } : {}) }, () => {
      const fp = socket.getPeerCertificate().fingerprint256;
      socket.destroy();
      resolvePromise(fp);
    });
    socket.on('error', reject);
  });
}

/** One GET /readyz on a new connection, verifying against `ca`: the served certificate's fingerprint, or the error. */
function verifiedGet(port: number, ca: string[], servername: string): Promise<{ ok: true; fingerprint: string } | { ok: false; error: string }> {
  return new Promise((resolvePromise) => {
    const req = https.get({ host: '127.0.0.1', port, path: '/readyz', servername, ca, agent: false }, (res) => {
      const fp = (res.socket as tls.TLSSocket).getPeerCertificate().fingerprint256;
      res.resume();
      res.on('end', () => resolvePromise(res.statusCode === 200 ? { ok: true, fingerprint: fp } : { ok: false, error: `HTTP ${res.statusCode}` }));
    });
    req.on('error', (err) => resolvePromise({ ok: false, error: err.message }));
  });
}

/**
 * Calls `request` in a loop until `stop()` and keeps every outcome. The loop runs while the test
 * changes the certificate; its outcomes are checked afterwards.
 */
function clientLoop<T>(request: () => Promise<T>): { outcomes: T[]; stop(): Promise<void> } {
  const outcomes: T[] = [];
  let running = true;
  const done = (async () => {
    while (running) outcomes.push(await request());
  })();
  return {
    outcomes,
    async stop() {
      running = false;
      await done;
    },
  };
}

/**
 * The kubelet's atomic writer (what a Secret volume update is): the files go into a new
 * `..<timestamp>` directory, a `..data_tmp` symlink to it is renamed over `..data`, the old
 * directory is removed; the user-visible names are symlinks `tls.crt -> ..data/tls.crt`.
 */
class SecretVolume {
  private version = 0;
  private current: string | undefined;
  constructor(readonly dir: string) {}

  async write(files: Record<string, string>): Promise<void> {
    this.version++;
    const ts = `..2026_12_03_13_00_00.${1000 + this.version}`;
    await mkdir(join(this.dir, ts));
    for (const [name, content] of Object.entries(files)) await writeFile(join(this.dir, ts, name), content, { mode: 0o644 });
    await symlink(ts, join(this.dir, '..data_tmp'));
    await rename(join(this.dir, '..data_tmp'), join(this.dir, '..data'));
    if (this.current === undefined) for (const name of Object.keys(files)) await symlink(join('..data', name), join(this.dir, name));
    else await rm(join(this.dir, this.current), { recursive: true, force: true });
    this.current = ts;
  }
}

describe('meshgate serve reloads its certificate while running (process; webhook and ADS)', function () {
  this.timeout(90_000);
  let dir: string;
  let proc: ServeProcess | undefined;

  before(async () => {
    if (!existsSync(resolve(MESHGATE_BIN, '../../dist/src/cli/main.js'))) throw new Error('bin/meshgate is not built: run `npm run build` first');
    dir = await mkdtemp(join(tmpdir(), 'meshgate-serve-reload-'));
  });

  afterEach(async () => {
    if (proc) await proc.stop('SIGTERM', 10_000);
    proc = undefined;
  });

  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('--tls-cert/--tls-key on a Secret volume: the atomic ..data swap is served on both listeners, with no failed request across it', async () => {
    const ca = await testCertificates(0);
    // cert-manager renewing: a new key and certificate from the same CA.
    const renewed = await generateServingCert({ cert: ca.caCert, key: ca.caKey }, { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1', '::1'] });
    const mount = join(dir, 'webhook-tls');
    await mkdir(mount);
    const volume = new SecretVolume(mount);
    await volume.write({ 'tls.crt': ca.cert, 'tls.key': ca.key, 'ca.crt': ca.caCert });
    const xdsPort = await freePort();
    proc = await startServe(
      ['--state', resolve('examples/state'), '--tls-cert', join(mount, 'tls.crt'), '--tls-key', join(mount, 'tls.key'), '--port', '0', '--host', '127.0.0.1', '--xds-port', String(xdsPort), '--xds-allow-unauthenticated'],
      { hermetic: true },
    );
    const before = fingerprint(ca.cert);
    const after = fingerprint(renewed.cert);
    expect(await presented(proc.port)).to.equal(before);
    expect(await presented(xdsPort, { alpn: ['h2'] })).to.equal(before);

    const loop = clientLoop(() => verifiedGet(proc!.port, [ca.caCert], 'localhost'));
    await eventually('requests on the old certificate', () => loop.outcomes.length >= 5);
    await volume.write({ 'tls.crt': renewed.cert, 'tls.key': renewed.key, 'ca.crt': ca.caCert });
    // Some more requests once the new certificate is served, then stop the loop.
    await eventually('the renewed certificate served to the client loop', () => {
      const i = loop.outcomes.findIndex((o) => o.ok && o.fingerprint === after);
      return i >= 0 && loop.outcomes.length >= i + 5;
    }, 30_000);
    await loop.stop();

    const failed = loop.outcomes.filter((o) => !o.ok);
    expect(failed, 'failed requests across the swap').to.deep.equal([]);
    const served = loop.outcomes.map((o) => (o.ok ? o.fingerprint : ''));
    expect(new Set(served)).to.deep.equal(new Set([before, after]));
    // Old, then new: once the renewed certificate is served, the old one never comes back.
    expect(served.slice(served.indexOf(after))).to.not.include(before);
    await eventually('ADS presents the renewed certificate', async () => (await presented(xdsPort, { alpn: ['h2'] })) === after);
    // The log lines (stdout is a pipe of its own: read when it arrives).
    await eventually('both reloads logged', () => proc!.stdout().includes('"msg":"serving certificate reloaded"') && proc!.stdout().includes('"msg":"ADS serving certificate reloaded"'));
  });

  describe('--cert-secret against the API server', () => {
    let api: FakeApiServer;
    let xdsPort: number;
    /** One process across the cases below, which build on each other. */
    let server: ServeProcess | undefined;
    const secretName = NAMES.tlsSecret;
    const namespace = NAMES.namespace;

    before(async () => {
      api = await FakeApiServer.start();
      applyInstall(api); // the namespace and both webhook configurations, without a caBundle
      const kubeconfig = await api.kubeconfig({ dir: await mkdtemp(join(dir, 'kube-')) });
      xdsPort = await freePort();
      server = await startServe(
        [
          '--kubeconfig', kubeconfig,
          '--cert-secret', secretName,
          '--service-name', NAMES.service,
          '--validating-webhook-config', NAMES.validatingWebhookConfiguration,
          '--mutating-webhook-config', NAMES.mutatingWebhookConfiguration,
          '--port', '0', '--host', '127.0.0.1', '--xds-port', String(xdsPort),
        ],
        // Test-only knob (undocumented): checks every 200 ms; a CA rotation's waits in seconds, not hours.
        { hermetic: true, env: { MESHGATE_TEST_CERT_TIMING: JSON.stringify({ checkIntervalMs: 200, propagationMs: 800, overlapMs: 2_000 }) } },
      );
    });

    after(async () => {
      if (server) await server.stop('SIGTERM', 10_000);
      await api?.close();
    });

    const secret = () => api.get('v1', 'Secret', secretName, namespace) as KubeObj & { data: Record<string, string>; metadata: { annotations: Record<string, string>; resourceVersion: string } };
    const secretPem = (key: string) => Buffer.from(secret().data[key]!, 'base64').toString('utf8');
    /** meshgate's writes of the Secret, through the API (the test's own changes go straight to the store). */
    const secretWrites = () => api.requests.filter((r) => r.resource === '/secrets' && (r.verb === 'update' || r.verb === 'create'));
    const served = () => presented(server!.port, { servername: SERVICE_HOST });
    const servedByAds = () => presented(xdsPort, { alpn: ['h2'], servername: SERVICE_HOST });
    /** The way kube-apiserver calls: the CA from the validating configuration's caBundle as it is now. */
    const apiserverCall = async () => {
      const caBundle = publishedBundles(api)[0]!;
      try {
        const r = await apiserverRequest({ port: server!.port, caBundle });
        return { ok: true as const, fingerprint: r.fingerprint };
      } catch (err) {
        return { ok: false as const, error: (err as Error).message };
      }
    };

    it('renewal: a serving certificate past its renewal time is renewed by serve, written with the resourceVersion, and served by both listeners', async () => {
      await eventually('the Secret created and the caBundle published', () => secret() && publishedBundles(api).every((b) => b.includes('BEGIN CERTIFICATE')));
      const original = secretPem(SECRET_KEYS.cert);
      expect(await served()).to.equal(fingerprint(original));
      expect(await servedByAds()).to.equal(fingerprint(original));
      const caPem = secretPem(SECRET_KEYS.caCert);

      // Another writer (or 300 days) leaves a serving certificate past 2/3 of its life, still valid.
      const aged = await generateServingCert({ cert: caPem, key: secretPem(SECRET_KEYS.caKey) }, { dnsNames: serviceDnsNames(NAMES.service, namespace), validityDays: 365, now: new Date(Date.now() - 300 * 86_400_000) });
      const s = secret();
      api.update({ ...s, data: { ...s.data, [SECRET_KEYS.cert]: Buffer.from(aged.cert).toString('base64'), [SECRET_KEYS.key]: Buffer.from(aged.key).toString('base64') } });
      const agedVersion = secret().metadata.resourceVersion;
      api.clearRequests();

      const loop = clientLoop(apiserverCall);
      const renewed = await eventually('a renewed serving certificate in the Secret', () => {
        const pem = secretPem(SECRET_KEYS.cert);
        return pem !== aged.cert && pem !== original ? pem : undefined;
      }, 20_000);
      await eventually('the renewed certificate served', async () => (await served()) === fingerprint(renewed), 20_000);
      await eventually('... by ADS too', async () => (await servedByAds()) === fingerprint(renewed), 20_000);
      await eventually('a request on the renewed certificate', () => loop.outcomes.some((o) => o.ok && o.fingerprint === fingerprint(renewed)));
      await loop.stop();

      expect(new X509Certificate(renewed).checkIssued(new X509Certificate(caPem)), 'signed by the same CA').to.equal(true);
      const writes = secretWrites();
      expect(writes.map((w) => [w.verb, w.status])).to.deep.equal([['update', 200]]);
      expect((writes[0]!.body as KubeObj).metadata.resourceVersion, 'optimistic concurrency: the version it read').to.equal(agedVersion);
      expect(loop.outcomes.filter((o) => !o.ok)).to.deep.equal([]);
    });

    it('CA rotation: a CA past its renewal time is rotated (new CA in the caBundle first, then signing, then the old one retired), served by both listeners, with no failed call', async () => {
      // A Secret from a long-running install: its CA is 3000 of its 3650 days old.
      const oldCa = await generateCA({ commonName: 'meshgate-ca.old', validityDays: 3650, now: new Date(Date.now() - 3000 * 86_400_000) });
      const oldServing = await generateServingCert(oldCa, { dnsNames: serviceDnsNames(NAMES.service, namespace), validityDays: 365 });
      const s = secret();
      api.clearRequests();
      api.update({
        ...s,
        metadata: { ...s.metadata, annotations: { ...s.metadata.annotations, [CERT_ANNOTATIONS.caBundle]: oldCa.cert } },
        data: {
          [SECRET_KEYS.caCert]: Buffer.from(oldCa.cert).toString('base64'),
          [SECRET_KEYS.caKey]: Buffer.from(oldCa.key).toString('base64'),
          [SECRET_KEYS.cert]: Buffer.from(oldServing.cert).toString('base64'),
          [SECRET_KEYS.key]: Buffer.from(oldServing.key).toString('base64'),
        },
      });
      // serve starts the rotation at once: the next CA joins the bundle, which goes into every caBundle.
      const bundleFingerprints = () => publishedBundles(api).map((b) => splitPemBundle(b).map(fingerprint).join());
      await eventually('the old and the next CA published', () => bundleFingerprints().every((b) => b.startsWith(`${fingerprint(oldCa.cert)},`)), 20_000);

      const loop = clientLoop(apiserverCall);
      const newCa = await eventually('a new CA signing', () => {
        const ca = secretPem(SECRET_KEYS.caCert);
        return fingerprint(ca) !== fingerprint(oldCa.cert) ? ca : undefined;
      }, 30_000);
      const finalServing = await eventually('the new CA\'s serving certificate served', async () => {
        const pem = secretPem(SECRET_KEYS.cert);
        return new X509Certificate(pem).checkIssued(new X509Certificate(newCa)) && (await served()) === fingerprint(pem) ? pem : undefined;
      }, 30_000);
      await eventually('... by ADS too', async () => (await servedByAds()) === fingerprint(finalServing), 20_000);
      await eventually('the old CA retired from every caBundle', () => bundleFingerprints().every((b) => b === fingerprint(newCa)), 30_000);
      await eventually('a call on the new certificate', () => loop.outcomes.some((o) => o.ok && o.fingerprint === fingerprint(finalServing)));
      await loop.stop();

      // The caBundle had both CAs before the new CA signed anything (what kept every call verifying).
      const patchedBundles = api.requests
        .filter((r) => r.verb === 'patch' && r.resource === 'admissionregistration.k8s.io/validatingwebhookconfigurations')
        .flatMap((r) => (r.body as Array<{ path: string; value?: string }>).filter((op) => op.path.endsWith('/caBundle')).map((op) => splitPemBundle(Buffer.from(op.value!, 'base64').toString('utf8')).map(fingerprint)));
      expect(patchedBundles[0], 'first patch: old and new CA').to.deep.equal([fingerprint(oldCa.cert), fingerprint(newCa)]);
      expect(patchedBundles.at(-1), 'last patch: the new CA only').to.deep.equal([fingerprint(newCa)]);
      expect(publishedBundles(api)).to.have.length.greaterThan(1);

      // Every write of the Secret went through the API with the resourceVersion it had read.
      const writes = secretWrites();
      expect(writes.length).to.be.greaterThan(2);
      for (const w of writes) {
        expect(w.verb).to.equal('update');
        expect(w.status, 'no lost write').to.equal(200);
        expect((w.body as KubeObj).metadata.resourceVersion, 'resourceVersion precondition').to.match(/^\d+$/);
      }
      const failed = loop.outcomes.filter((o) => !o.ok);
      expect(failed, 'calls that failed during the rotation').to.deep.equal([]);
      expect(loop.outcomes.length).to.be.greaterThan(0);
      await eventually('the ADS reload logged', () => server!.stdout().includes('"msg":"ADS serving certificate reloaded"'));
    });
  });
});
