import { Writable } from 'node:stream';
import tls from 'node:tls';
import { pino, type Logger } from 'pino';
import { generateBundle, type CertificateBundle } from '../../src/certs/generate.js';
import { resolveProfile } from '../../src/profile.js';
import { DEFAULT_SETTINGS } from '../../src/settings.js';
import type { MeshState, StateSource } from '../../src/state/mesh-state.js';
import { MeshStore } from '../../src/state/store.js';
import { createWebhookServer, type WebhookServer, type WebhookServerOptions } from '../../src/webhook/server.js';
import { AdmissionClient } from '../support/admission-client.js';
import { egressReview } from '../support/admission-fixtures.js';

/** A real webhook server on 127.0.0.1 over real TLS, with injectable decisions, for contract tests. */

let bundles: Promise<CertificateBundle>[] = [];

/** Test certificates (SANs localhost, 127.0.0.1, ::1), made once per run; `n` picks an independent CA. */
export function testCertificates(n = 0): Promise<CertificateBundle> {
  while (bundles.length <= n) {
    bundles.push(generateBundle(`meshgate test CA ${bundles.length}`, { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1', '::1'] }));
  }
  return bundles[n]!;
}

/** A StateSource whose readiness the test controls. */
export class FakeSource implements StateSource {
  constructor(readonly store: MeshStore = new MeshStore(resolveProfile('osm'))) {}
  isReady = true;
  reasons = ['Egress informer has not synced'];
  get state(): MeshState {
    return this.store;
  }
  ready(): boolean {
    return this.isReady;
  }
  notReadyReasons(): string[] {
    return this.isReady ? [] : this.reasons;
  }
  async start(): Promise<void> {}
  async stop(): Promise<void> {}
}

export interface LogCapture {
  logger: Logger;
  lines(): Array<Record<string, unknown>>;
}

export function captureLogs(level = 'debug'): LogCapture {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      cb();
    },
  });
  return {
    logger: pino({ level }, stream),
    lines: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

export interface TestServer {
  server: WebhookServer;
  client: AdmissionClient;
  source: FakeSource;
  url: string;
  port: number;
  ca: string;
  logs: LogCapture;
  close(): Promise<void>;
}

export async function startTestServer(overrides: Partial<WebhookServerOptions> = {}): Promise<TestServer> {
  const certs = await testCertificates(0);
  const source = (overrides.source as FakeSource | undefined) ?? new FakeSource();
  const logs = captureLogs();
  const server = createWebhookServer({
    logger: logs.logger,
    source,
    settings: DEFAULT_SETTINGS,
    tls: { cert: certs.cert, key: certs.key },
    // Contract tests decide for themselves; end-to-end tests pass the real rules explicitly.
    validate: () => ({ errors: [], warnings: [] }),
    mutate: () => ({ action: 'skip', reason: 'test default', warnings: [] }),
    ...overrides,
  });
  const addr = await server.listen(0, '127.0.0.1');
  const url = `https://127.0.0.1:${addr.port}`;
  const client = new AdmissionClient({ baseUrl: url, ca: certs.caCert });
  return {
    server,
    client,
    source,
    url,
    port: addr.port,
    ca: certs.caCert,
    logs,
    async close() {
      client.close();
      await server.close();
    },
  };
}

/**
 * A request held in flight: headers sent with `Expect: 100-continue`, so the server's
 * `100 Continue` proves it has the request; the body follows when the test says so.
 */
export async function heldRequest(port: number, ca: string, path = '/validate?timeout=10s') {
  const review = egressReview();
  const body = Buffer.from(JSON.stringify(review));
  const socket = await new Promise<tls.TLSSocket>((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, ca }, () => resolve(s));
    s.once('error', reject);
  });
  let data = '';
  const listeners = new Set<() => void>();
  socket.setEncoding('utf8');
  socket.on('data', (d: string) => {
    data += d;
    listeners.forEach((l) => l());
  });
  socket.on('error', () => {});
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  const until = (re: RegExp) =>
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if (re.test(data)) {
          listeners.delete(check);
          resolve();
        }
      };
      listeners.add(check);
      void closed.then(() => (re.test(data) ? resolve() : reject(new Error(`connection closed before ${re}: ${data}`))));
      check();
    });
  socket.write(
    `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nExpect: 100-continue\r\n\r\n`,
  );
  await until(/^HTTP\/1\.1 100 Continue\r\n\r\n/);
  return {
    uid: review.request.uid,
    /** Sends the body and resolves with the final response (status line, headers, JSON body). */
    async finish(): Promise<{ status: number; headers: string; json: { response: { uid: string; allowed: boolean } } }> {
      socket.write(body);
      await until(/HTTP\/1\.1 200[\s\S]*\r\n\r\n[\s\S]*"response"[\s\S]*\}\}$/);
      const final = data.replace(/^HTTP\/1\.1 100 Continue\r\n\r\n/, '');
      const [head, payload] = final.split('\r\n\r\n') as [string, string];
      return { status: Number(head.split(' ')[1]), headers: head, json: JSON.parse(payload) };
    },
    closed,
  };
}
