import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect as tcpConnect, createServer as createTcpServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createServer as createTlsServer } from 'node:tls';
import { generateBundle } from '../../src/certs/generate.js';
import { watchedResources } from '../../src/cluster/watched-resources.js';
import { resolveProfile } from '../../src/profile.js';
import { FakeApiServer, writeKubeconfig } from '../support/fake-apiserver.js';
import { expectPromptCleanExit } from '../support/serve-exit.js';
import { AdsClient, CDS } from '../xds/ads-client.js';
import { eventually } from '../support/fake-apiserver/wait.js';
import { freePort } from '../support/free-port.js';
import { MESHGATE_BIN, spawnCli, type CliProcess } from '../support/run-cli.js';
import { testCertificates } from '../webhook/server-harness.js';

/**
 * `meshgate serve --kubeconfig` (the built bin/meshgate) against an API server that accepts the
 * connection and then says nothing (a black-holed or overloaded API server): a plain TCP listener
 * that never starts the TLS handshake, and a TLS listener that completes the handshake and never
 * answers the HTTP request. SIGTERM while start-up waits on it (the --cert-secret Secret read, or the
 * informers' lists) exits 0 at once: the half-open connections are cut when the stop begins, they do
 * not hold the process until the 5 s "linger" bound forces the exit.
 *
 * The bound below (well under that 5 s) only stops a hang from hanging the suite; the failure it
 * catches is the forced exit ("forcing exit: still running after everything closed").
 */

const EXIT_BOUND_MS = 2_000;
const INFORMERS = watchedResources(resolveProfile('osm')).length;

interface SilentServer {
  url: string;
  /** Connections accepted (for TLS: handshakes completed). */
  accepted(): number;
  close(): Promise<void>;
}

/** Accepts TCP connections and never writes a byte (no TLS ServerHello either). */
async function silentTcpServer(): Promise<SilentServer> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  const server = createTcpServer((s) => {
    accepted++;
    sockets.add(s);
    s.on('error', () => undefined);
    s.on('close', () => sockets.delete(s));
  });
  return listening(server, sockets, () => accepted);
}

/** Completes the TLS handshake and never answers the HTTP request sent over it. */
async function silentTlsServer(cert: string, key: string): Promise<SilentServer> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  const server = createTlsServer({ cert, key }, () => accepted++);
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('error', () => undefined);
    s.on('close', () => sockets.delete(s));
  });
  server.on('tlsClientError', () => undefined);
  return listening(server, sockets, () => accepted);
}

async function listening(server: Server, sockets: Set<Socket>, accepted: () => number): Promise<SilentServer> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  return {
    url: `https://127.0.0.1:${port}`,
    accepted,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/**
 * A TCP proxy to `upstream` that can go silent: `blackhole()` drops every proxied connection (unless
 * `dropOpen: false`), and from then on accepts connections and never answers (an API server that
 * became unreachable).
 */
async function blackholeProxy(upstreamPort: number): Promise<SilentServer & { blackhole(opts?: { dropOpen?: boolean }): void }> {
  const sockets = new Set<Socket>();
  let silent = false;
  let accepted = 0;
  const track = (s: Socket) => {
    sockets.add(s);
    s.on('error', () => undefined);
    s.on('close', () => sockets.delete(s));
  };
  const server = createTcpServer((client) => {
    track(client);
    if (silent) {
      accepted++;
      return;
    }
    const upstream = tcpConnect(upstreamPort, '127.0.0.1');
    track(upstream);
    client.pipe(upstream).pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  const base = await listening(server, sockets, () => accepted);
  return {
    ...base,
    blackhole: ({ dropOpen = true }: { dropOpen?: boolean } = {}) => {
      silent = true;
      if (dropOpen) for (const s of sockets) s.destroy();
    },
  };
}

describe('meshgate serve: SIGTERM while the API server accepts connections and never answers exits 0 at once (process)', function () {
  this.timeout(60_000);
  let dir: string;
  let apiCa: string;
  let apiCert: string;
  let apiKey: string;
  let serveCa: string;
  let silent: SilentServer | undefined;
  let proc: CliProcess | undefined;

  before(async () => {
    if (!existsSync(resolve(MESHGATE_BIN, '../../dist/src/cli/main.js'))) throw new Error('bin/meshgate is not built: run `npm run build` first');
    dir = await mkdtemp(join(tmpdir(), 'meshgate-serve-unresponsive-'));
    const certs = await testCertificates(0);
    serveCa = certs.caCert;
    await writeFile(join(dir, 'tls.crt'), certs.cert);
    await writeFile(join(dir, 'tls.key'), certs.key);
    const api = await generateBundle('silent-apiserver', { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
    apiCa = api.caCert;
    apiCert = api.cert;
    apiKey = api.key;
  });

  afterEach(async () => {
    if (proc) await proc.stop('SIGKILL', 2_000);
    proc = undefined;
    await silent?.close();
    silent = undefined;
  });

  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  function kubeconfigFor(server: string): Promise<string> {
    return writeKubeconfig(join(dir, 'kubeconfig'), { server, caPem: apiCa, token: 'silent-token' });
  }

  async function spawnServe(tlsArgs: string[]): Promise<CliProcess> {
    const kubeconfig = await kubeconfigFor(silent!.url);
    const xdsPort = await freePort();
    proc = spawnCli(['serve', '--kubeconfig', kubeconfig, ...tlsArgs, '--port', '0', '--host', '127.0.0.1', '--xds-port', String(xdsPort)], { hermetic: true });
    return proc;
  }

  /** `serve` with a file certificate, its API server reached through `proxy`, once it has synced. */
  async function serveSyncedThrough(api: FakeApiServer, proxy: SilentServer): Promise<{ p: CliProcess; xdsPort: number }> {
    const kubeconfig = await api.kubeconfig({ dir, server: proxy.url });
    const xdsPort = await freePort();
    const p = (proc = spawnCli(
      ['serve', '--kubeconfig', kubeconfig, '--tls-cert', join(dir, 'tls.crt'), '--tls-key', join(dir, 'tls.key'), '--port', '0', '--host', '127.0.0.1', '--xds-port', String(xdsPort)],
      { hermetic: true },
    ));
    await p.waitFor(/"msg":"cluster state synced"/, { stream: 'stdout', timeoutMs: 20_000 });
    return { p, xdsPort };
  }

  const servers: Array<[string, () => Promise<SilentServer>]> = [
    ['accepts TCP, never completes the TLS handshake', silentTcpServer],
    ['completes TLS, never answers the HTTP request', () => silentTlsServer(apiCert, apiKey)],
  ];

  it('after sync: the API server goes silent, SIGTERM while the informers reconnect to it', async () => {
    const api = await FakeApiServer.start();
    try {
      api.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'osm-system' } });
      const proxy = await blackholeProxy(Number(new URL(api.url).port));
      silent = proxy;
      const { p } = await serveSyncedThrough(api, proxy);
      expect(api.openWatchCount).to.equal(INFORMERS);
      proxy.blackhole();
      await eventually(`all ${INFORMERS} informers reconnecting to the silent API server`, () => proxy.accepted() >= INFORMERS, 20_000);
      await expectPromptCleanExit(p, 'reconnecting to a silent API server', { boundMs: EXIT_BOUND_MS });
    } finally {
      await api.close();
    }
  });

  it('serving: SIGTERM while an ADS stream\'s TokenReview waits on an API server gone silent', async () => {
    const api = await FakeApiServer.start();
    let ads: AdsClient | undefined;
    try {
      api.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'osm-system' } });
      const token = api.issueToken({ namespace: 'curl', name: 'curl' });
      const proxy = await blackholeProxy(Number(new URL(api.url).port));
      silent = proxy;
      const { p, xdsPort } = await serveSyncedThrough(api, proxy);
      // The watches stay on their open connections; only new ones (the TokenReview's) meet silence.
      proxy.blackhole({ dropOpen: false });
      ads = new AdsClient({ port: xdsPort, ca: serveCa, token });
      ads.send({ typeUrl: CDS, node: { id: 'curl-5f7.curl', cluster: 'curl.curl' } });
      await eventually('the TokenReview connected to the silent API server', () => proxy.accepted() >= 1, 20_000);
      await expectPromptCleanExit(p, 'TokenReview unanswered', { boundMs: EXIT_BOUND_MS });
    } finally {
      ads?.cancel();
      await api.close();
    }
  });

  for (const [what, make] of servers) {
    describe(`an API server that ${what}`, () => {
      it('before listening: SIGTERM while the --cert-secret Secret read waits on it', async () => {
        silent = await make();
        const p = await spawnServe(['--cert-secret', 'meshgate-webhook-tls']);
        await eventually('the Secret read connected', () => silent!.accepted() >= 1, 20_000);
        await expectPromptCleanExit(p, 'Secret read unanswered', { boundMs: EXIT_BOUND_MS });
        expect(p.stderr()).to.not.include('meshgate serving');
      });

      it('while listing: SIGTERM while every informer list waits on it', async () => {
        silent = await make();
        const p = await spawnServe(['--tls-cert', join(dir, 'tls.crt'), '--tls-key', join(dir, 'tls.key')]);
        await p.waitFor(/meshgate serving /);
        await eventually(`all ${INFORMERS} lists connected`, () => silent!.accepted() >= INFORMERS, 20_000);
        await expectPromptCleanExit(p, 'lists unanswered', { boundMs: EXIT_BOUND_MS });
      });
    });
  }
});
