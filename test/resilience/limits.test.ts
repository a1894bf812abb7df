import { expect } from 'chai';
import { rmSync } from 'node:fs';
import { generateBundle, type CertificateBundle } from '../../src/certs/generate.js';
import { DirStateSource } from '../../src/cluster/state-dir.js';
import { resolveProfile } from '../../src/profile.js';
import { DEFAULT_SETTINGS } from '../../src/settings.js';
import { createWebhookServer, DEFAULT_TIMEOUTS, type ServerTimeouts, type WebhookServer } from '../../src/webhook/server.js';
import { AdmissionClient } from '../support/admission-client.js';
import { countingLogger, writeStateDir } from '../fuzz/fuzz-support.js';
import { expectCleanLoad, Load, openTls, slowLoris, type WatchedSocket } from './resilience-support.js';

/**
 * Body and time limits under load (in-process server with short timeouts, so the suite is fast;
 * the defaults are controller-runtime's and are checked separately): slow-loris connections do
 * not starve others and are closed by the server after the headers timeout; a body that never
 * finishes is closed after the request timeout; an idle connection is closed after the keep-alive
 * timeout; bodies over the limit get 413. Valid requests keep succeeding throughout.
 */

const SHORT: Partial<ServerTimeouts> = { headersMs: 1_000, requestMs: 2_000, keepAliveMs: 800, checkIntervalMs: 200 };

describe('resilience: body and time limits under load (in-process server)', function () {
  this.timeout(60_000);
  let certs: CertificateBundle;
  let stateDir: string;
  let server: WebhookServer;
  let port: number;
  let logs: ReturnType<typeof countingLogger>;
  let clients: AdmissionClient[] = [];
  let sockets: WatchedSocket[] = [];

  before(async () => {
    certs = await generateBundle('limits CA', { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
    stateDir = writeStateDir();
    const source = new DirStateSource(resolveProfile('osm'), stateDir);
    await source.start();
    logs = countingLogger();
    server = createWebhookServer({ logger: logs.logger, source, settings: DEFAULT_SETTINGS, tls: { cert: certs.cert, key: certs.key }, timeouts: SHORT });
    port = (await server.listen(0, '127.0.0.1')).port;
  });

  afterEach(() => {
    for (const s of sockets.splice(0)) s.destroy();
    for (const c of clients.splice(0)) c.close();
  });

  after(async () => {
    await server?.close();
    rmSync(stateDir, { recursive: true, force: true });
    expect(logs.errors, 'unexpected errors logged').to.deep.equal([]);
  });

  function newClients(n: number): AdmissionClient[] {
    const made = Array.from({ length: n }, () => new AdmissionClient({ baseUrl: `https://127.0.0.1:${port}`, ca: certs.caCert, keepAlive: true }));
    clients.push(...made);
    return made;
  }

  it('the defaults are controller-runtime\'s: 32 s to read headers, 90 s keep-alive, and a whole-request bound just past the API server\'s 30 s give-up', async () => {
    expect(DEFAULT_TIMEOUTS.headersMs).to.equal(32_000);
    expect(DEFAULT_TIMEOUTS.keepAliveMs).to.equal(90_000);
    expect(DEFAULT_TIMEOUTS.requestMs).to.be.within(30_000, 60_000);
    const s = createWebhookServer({ logger: logs.logger, source: new DirStateSource(resolveProfile('osm'), stateDir), settings: DEFAULT_SETTINGS, tls: { cert: certs.cert, key: certs.key } });
    expect([s.httpsServer.headersTimeout, s.httpsServer.requestTimeout, s.httpsServer.keepAliveTimeout]).to.deep.equal([
      DEFAULT_TIMEOUTS.headersMs,
      DEFAULT_TIMEOUTS.requestMs,
      DEFAULT_TIMEOUTS.keepAliveMs,
    ]);
  });

  it('60 slow-loris connections do not starve valid requests, and the server closes each after the headers timeout', async () => {
    const load = new Load({ clients: newClients(2), workersPerClient: 3, maxMs: 40_000 });
    await load.answered(30);
    const slow = await Promise.all(Array.from({ length: 60 }, () => slowLoris(port, certs.caCert)));
    sockets.push(...slow);
    // While every slow connection is open, valid requests keep being answered right.
    await load.answered(200);
    const ends = await Promise.all(slow.map((s) => s.closed));
    for (const e of ends) {
      expect(e.byUs, 'closed by the server, not by the test').to.equal(false);
      expect(e.received === '' || e.received.startsWith('HTTP/1.1 408'), e.received.slice(0, 100)).to.equal(true);
    }
    await load.answered(50);
    expectCleanLoad(await load.stop(), 'slow-loris');
  });

  it('a body that never finishes is closed after the request timeout, while others are answered', async () => {
    const load = new Load({ clients: newClients(1), workersPerClient: 3, maxMs: 40_000 });
    await load.answered(20);
    const stuck = await Promise.all(Array.from({ length: 10 }, () => openTls(port, certs.caCert)));
    sockets.push(...stuck);
    for (const s of stuck) s.socket.write('POST /mutate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"apiVersion":');
    await load.answered(100);
    for (const e of await Promise.all(stuck.map((s) => s.closed))) {
      expect(e.byUs).to.equal(false);
      expect(e.received === '' || e.received.startsWith('HTTP/1.1 408'), e.received.slice(0, 100)).to.equal(true);
    }
    expectCleanLoad(await load.stop(), 'unfinished bodies');
  });

  it('connections idling past the timeout are closed by the server: after a request (keep-alive) and before any', async () => {
    const afterRequest = await openTls(port, certs.caCert);
    const silent = await openTls(port, certs.caCert);
    sockets.push(afterRequest, silent);
    afterRequest.socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n');
    const [a, b] = await Promise.all([afterRequest.closed, silent.closed]);
    expect(a.byUs).to.equal(false);
    expect(a.received).to.match(/^HTTP\/1\.1 200 OK\r\n[\s\S]*Keep-Alive: timeout=\d+[\s\S]*\r\n\r\nok\n$/);
    expect(b.byUs).to.equal(false);
  });

  it('5 MiB bodies get 413 and deep nesting gets 400 while valid load continues', async () => {
    const load = new Load({ clients: newClients(2), workersPerClient: 2, maxMs: 40_000 });
    await load.answered(20);
    const [abuser] = newClients(1);
    const big = Buffer.alloc(5 * 1024 * 1024, 'a');
    const deep = '['.repeat(200_000) + ']'.repeat(200_000);
    const results = await Promise.all([
      ...Array.from({ length: 4 }, () =>
        abuser!.post('validate', big).then(
          (r) => r.status,
          // The server may answer 413 and close before the client has written 5 MiB.
          (err: NodeJS.ErrnoException) => (['EPIPE', 'ECONNRESET'].includes(err.code ?? '') ? 413 : Promise.reject(err)),
        ),
      ),
      ...Array.from({ length: 4 }, () => abuser!.post('mutate', deep).then((r) => r.status)),
    ]);
    expect(results).to.deep.equal([413, 413, 413, 413, 400, 400, 400, 400]);
    await load.answered(100);
    expectCleanLoad(await load.stop(), 'big bodies');
  });
});
