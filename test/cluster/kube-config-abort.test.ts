import { CoreV1Api } from '@kubernetes/client-node';
import { expect } from 'chai';
import { getEventListeners } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateBundle } from '../../src/certs/generate.js';
import { loadKubeConfig, withAbortSignal } from '../../src/cluster/kube-config.js';
import { FakeApiServer, writeKubeconfig } from '../support/fake-apiserver.js';
import { eventually } from '../support/fake-apiserver/wait.js';

/**
 * withAbortSignal in-process: the abort closes the request's connection even while it is still
 * being made (an API server that accepts TCP and never answers the TLS handshake), and a signal that
 * lives as long as the server (the shutdown's) does not collect a listener per request.
 * (The process-level behaviour is in test/cli/serve-shutdown-unresponsive.test.ts.)
 */
describe('withAbortSignal: an abort cuts the request and its connection', function () {
  this.timeout(30_000);
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'meshgate-kube-config-abort-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  for (const [how, withCa] of [
    ['with the cluster CA in the kubeconfig', true],
    ['with no CA in the kubeconfig (system CAs)', false],
  ] as const) {
    it(`mid-TLS handshake with a silent API server, ${how}: the request fails with the abort, and the connection is closed`, async () => {
      const open = new Set<Socket>();
      let accepted = 0;
      const server: Server = createServer((s) => {
        accepted++;
        open.add(s);
        // Reads (and drops) the ClientHello, so that the client's close is seen.
        s.resume();
        s.on('error', () => undefined);
        s.on('close', () => open.delete(s));
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      try {
        const ca = (await generateBundle('silent', { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] })).caCert;
        const file = await writeKubeconfig(join(dir, 'kubeconfig'), {
          server: `https://127.0.0.1:${(server.address() as { port: number }).port}`,
          ...(withCa ? { caPem: ca } : {}),
          token: 't',
        });
        const stop = new AbortController();
        const request = withAbortSignal(loadKubeConfig(file), stop.signal).makeApiClient(CoreV1Api).listNamespace();
        const outcome = request.then(
          () => 'answered',
          (err: unknown) => err,
        );
        await eventually('the connection accepted', () => accepted === 1);
        stop.abort(new Error('meshgate is shutting down (SIGTERM)'));
        expect(await outcome).to.be.instanceOf(Error).with.property('message', 'meshgate is shutting down (SIGTERM)');
        // Half of undici's 10 s connect timeout: without the cut the socket stays open until then.
        await eventually('the half-open connection closed', () => open.size === 0, 5_000);
      } finally {
        for (const s of open) s.destroy();
        await new Promise<void>((r) => server.close(() => r()));
      }
    });
  }

  it('a long-lived signal keeps no listener once a request\'s connection has closed', async () => {
    const api = await FakeApiServer.start();
    try {
      const lifetime = new AbortController();
      const core = withAbortSignal(loadKubeConfig(await api.kubeconfig({ dir })), lifetime.signal).makeApiClient(CoreV1Api);
      for (let i = 0; i < 3; i++) await core.listNamespace();
      expect(getEventListeners(lifetime.signal, 'abort').length).to.be.at.least(3);
      // The idle keep-alive connections close within seconds (undici's keep-alive timeout).
      await eventually('every listener released', () => getEventListeners(lifetime.signal, 'abort').length === 0, 20_000);
    } finally {
      await api.close();
    }
  });
});
