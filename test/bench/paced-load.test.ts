import { expect } from 'chai';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from 'node:tls';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pacedLoad, type PacedResult } from '../../bench/paced-load.js';
import { generateBundle, type CertificateBundle } from '../../src/certs/generate.js';

interface Received {
  method: string;
  url: string;
  host: string | undefined;
  contentType: string | undefined;
  contentLength: string | undefined;
  body: string;
}

const BODY = JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: 'u-1', note: 'ünïcode' } });
const PATH = '/validate/egress';

let bundle: CertificateBundle;

async function listen(server: HttpsServer | TlsServer): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

async function closeHttps(server: HttpsServer): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/** An HTTPS server that records every request it receives, then lets `answer` respond. */
async function recordingServer(answer: (req: IncomingMessage, res: ServerResponse, n: number) => void) {
  const received: Received[] = [];
  const server = createHttpsServer({ cert: bundle.cert, key: bundle.key }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({
        method: req.method ?? '',
        url: req.url ?? '',
        host: req.headers.host,
        contentType: req.headers['content-type'],
        contentLength: req.headers['content-length'],
        body: Buffer.concat(chunks).toString('utf8'),
      });
      answer(req, res, received.length);
    });
  });
  const port = await listen(server);
  return { server, port, received };
}

function load(port: number, rate: number, durationSeconds: number, warmUpSeconds: number, connections = 4): Promise<PacedResult> {
  return pacedLoad({ port, path: PATH, body: BODY, ca: bundle.caCert, rate, durationSeconds, warmUpSeconds, connections });
}

function expectSaneLatencies(r: PacedResult): void {
  for (const v of [r.p50, r.p99, r.p999]) {
    expect(Number.isFinite(v), `latency ${v} is finite`).to.equal(true);
    expect(v).to.be.at.least(0);
  }
  expect(r.p50).to.be.at.most(r.p99);
  expect(r.p99).to.be.at.most(r.p999);
}

function ok(res: ServerResponse): void {
  const body = '{"response":{"allowed":true}}';
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
}

describe('bench: paced open-loop load', () => {
  before(async () => {
    bundle = await generateBundle('paced-load-test', { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
  });

  it('sends every due request once, byte for byte, and counts only those after the warm-up', async () => {
    const s = await recordingServer((_req, res) => ok(res));
    try {
      // 500/s for 1 s after a 0.2 s warm-up: requests 0..99 warm up, 100..599 are measured.
      const r = await load(s.port, 500, 1, 0.2);
      expect(r.sent).to.equal(600);
      expect(s.received).to.have.length(r.sent);
      expect(r.completed).to.equal(500);
      expect(r.errors).to.equal(0);
      expectSaneLatencies(r);
      for (const got of s.received) {
        expect(got).to.deep.equal({
          method: 'POST',
          url: `${PATH}?timeout=10s`,
          host: `127.0.0.1:${s.port}`,
          contentType: 'application/json',
          contentLength: String(Buffer.byteLength(BODY)),
          body: BODY,
        });
      }
    } finally {
      await closeHttps(s.server);
    }
  });

  it('counts a non-200 answer as an error, not a completion', async () => {
    const s = await recordingServer((_req, res) => res.writeHead(500, { 'content-length': 4 }).end('oops'));
    try {
      const r = await load(s.port, 200, 0.5, 0.1);
      expect(r.sent).to.equal(120);
      expect(s.received).to.have.length(120);
      expect(r.errors).to.equal(120);
      expect(r.completed).to.equal(0);
      expect(r.p99).to.be.NaN;
    } finally {
      await closeHttps(s.server);
    }
  });

  it('parses responses whose head and body arrive split across many writes, and never pipelines', async () => {
    // A raw TLS server so the response head itself can be split, with odd header case and a body
    // that contains a blank line (the parser must count body bytes, not search them).
    const responseBody = '{"a":"x\r\n\r\ny","allowed":true}';
    const response = Buffer.from(
      `HTTP/1.1 200 OK\r\ncontent-TYPE: application/json\r\nCONTENT-LENGTH: ${Buffer.byteLength(responseBody)}\r\nX-Trailing: 1\r\n\r\n${responseBody}`,
    );
    const cuts = [3, 11, 17, 30, 47, 62, 63, 64, 65, 80, response.length - 20, response.length - 1];
    const pieces = cuts.map((end, i) => response.subarray(i === 0 ? 0 : cuts[i - 1], end));
    pieces.push(response.subarray(cuts[cuts.length - 1]));
    expect(Buffer.concat(pieces).equals(response)).to.equal(true);

    const expectedRequest = Buffer.from(
      `POST ${PATH}?timeout=10s HTTP/1.1\r\nHost: 127.0.0.1:PORT\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(BODY)}\r\n\r\n${BODY}`,
    );
    let requests = 0;
    let malformed = 0;
    let pipelined = 0;
    const server = createTlsServer({ cert: bundle.cert, key: bundle.key }, (socket: TLSSocket) => {
      let pending = Buffer.alloc(0);
      let answering = false;
      socket.on('error', () => {});
      socket.on('data', (chunk: Buffer) => {
        pending = Buffer.concat([pending, chunk]);
        const want = expectedRequest.length - 'PORT'.length + String(port).length;
        while (pending.length >= want) {
          const one = pending.subarray(0, want);
          pending = pending.subarray(want);
          requests++;
          if (!one.equals(Buffer.from(expectedRequest.toString().replace('PORT', String(port))))) malformed++;
          if (answering) pipelined++;
          answering = true;
          let i = 0;
          const writeNext = () => {
            if (socket.destroyed) return;
            socket.write(pieces[i++]!);
            if (i < pieces.length) setTimeout(writeNext, 1);
            else answering = false;
          };
          writeNext();
        }
      });
    });
    const port = await listen(server);
    try {
      const r = await load(port, 100, 0.5, 0.1);
      expect(r.sent).to.equal(60);
      expect(requests).to.equal(60);
      expect(malformed).to.equal(0);
      expect(pipelined).to.equal(0);
      expect(r.errors).to.equal(0);
      expect(r.completed).to.equal(50);
      expectSaneLatencies(r);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('counts requests on connections the server destroys as errors, reconnects, and finishes', async () => {
    let destroyed = 0;
    const s = await recordingServer((req, res, n) => {
      if (n % 25 === 0) {
        destroyed++;
        req.socket.destroy();
      } else ok(res);
    });
    try {
      // 350 requests: 50 warm-up, 300 measured; every 25th request loses its connection.
      const r = await load(s.port, 500, 0.6, 0.1);
      expect(r.sent).to.equal(350);
      expect(s.received).to.have.length(350);
      expect(destroyed).to.equal(14);
      expect(r.errors).to.equal(destroyed);
      expect(r.completed).to.be.at.most(300);
      expect(r.completed).to.be.at.least(300 - destroyed);
      expectSaneLatencies(r);
    } finally {
      await closeHttps(s.server);
    }
  });

  it('refuses to start when the server cannot be reached', async () => {
    const s = await recordingServer((_req, res) => ok(res));
    const port = s.port;
    await closeHttps(s.server);
    const err = await load(port, 100, 0.1, 0).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(err?.message).to.match(/pacedLoad: cannot open a TLS connection to 127\.0\.0\.1:\d+/);
  });
});
