import { expect } from 'chai';
import tls from 'node:tls';
import { AdmissionClient, type CheckedReview, type WebhookPath } from '../support/admission-client.js';
import { egressObject, egressReview, podObject, podReview, type AdmissionReviewRequestV1 } from '../support/admission-fixtures.js';

/**
 * Load and abuse for the resilience suites: a bounded load generator of valid admission requests
 * whose answers are known (and checked, not just counted), slow-loris connections, and raw TLS
 * connections the test can watch being closed by the server. All traffic goes to 127.0.0.1.
 */

/** A valid request with a known right answer. */
export interface LoadCase {
  name: string;
  webhook: WebhookPath;
  review: () => AdmissionReviewRequestV1;
  /** Throws when the (already contract-checked) answer is not the right one. */
  verify: (answer: CheckedReview) => void;
}

/** The load mix: both webhooks, allowed, denied, patched and untouched answers (state: test/fuzz writeStateDir). */
export const LOAD_CASES: LoadCase[] = [
  {
    name: 'valid Egress → allowed',
    webhook: 'validate',
    review: () => egressReview(egressObject({ name: 'load-https', spec: { sources: [{ kind: 'ServiceAccount', name: 'curl', namespace: 'curl' }], hosts: ['example.com'], ports: [{ number: 443, protocol: 'https' }] } })),
    verify: (a) => expect(a.response.allowed, JSON.stringify(a.response.status)).to.equal(true),
  },
  {
    name: 'invalid Egress → 422 Invalid',
    webhook: 'validate',
    review: () => egressReview(egressObject({ name: 'load-bad', spec: { sources: [{ kind: 'ServiceAccount', name: 'curl', namespace: 'curl' }], ipAddresses: ['10.0.0.0/8'], ports: [{ number: 5353, protocol: 'udp' }] } })),
    verify: (a) => {
      expect(a.response.allowed).to.equal(false);
      expect(a.response.status?.code).to.equal(422);
      expect(a.response.status?.details?.causes?.map((c) => c.field)).to.include('spec.ports[0].protocol');
    },
  },
  {
    name: 'pod in the enrolled namespace → patched with the sidecar',
    webhook: 'mutate',
    review: () => podReview(podObject({ namespace: 'curl' })),
    verify: (a) => {
      expect(a.response.allowed).to.equal(true);
      const names = ((a.patched as { spec: { containers: Array<{ name: string }> } }).spec.containers ?? []).map((c) => c.name);
      expect(names).to.deep.equal(['curl', 'envoy']);
    },
  },
  {
    name: 'pod outside the mesh → allowed, no patch',
    webhook: 'mutate',
    review: () => podReview(podObject({ namespace: 'outside' })),
    verify: (a) => {
      expect(a.response.allowed).to.equal(true);
      expect(a.response.patch).to.equal(undefined);
    },
  },
];

export interface LoadFailure {
  case: string;
  /** Milliseconds since the load started, when the request was sent. */
  startedAt: number;
  error: string;
}

export interface LoadReport {
  sent: number;
  succeeded: number;
  failures: LoadFailure[];
  /** Requests per case name that were answered right. */
  byCase: Record<string, number>;
}

export interface LoadOptions {
  clients: AdmissionClient[];
  /** Concurrent workers per client. */
  workersPerClient?: number;
  /** Upper bound on requests (the loop is bounded whatever happens). */
  maxRequests?: number;
  /** Upper bound on time. */
  maxMs?: number;
  cases?: LoadCase[];
}

/**
 * Continuous valid load until stop() (or the bounds). Every answer is checked the way
 * kube-apiserver checks it and against the case's right answer; failures are recorded, never thrown.
 */
export class Load {
  private stopped = false;
  private readonly t0 = Date.now();
  readonly report: LoadReport = { sent: 0, succeeded: 0, failures: [], byCase: {} };
  readonly done: Promise<LoadReport>;
  private readonly waiters: Array<{ n: number; resolve: () => void }> = [];

  constructor(opts: LoadOptions) {
    const cases = opts.cases ?? LOAD_CASES;
    const max = opts.maxRequests ?? 20_000;
    const deadline = this.t0 + (opts.maxMs ?? 60_000);
    const workers: Promise<void>[] = [];
    let next = 0;
    for (const client of opts.clients) {
      for (let w = 0; w < (opts.workersPerClient ?? 3); w++) {
        workers.push(
          (async () => {
            while (!this.stopped && this.report.sent < max && Date.now() < deadline) {
              const c = cases[next++ % cases.length]!;
              this.report.sent++;
              const startedAt = Date.now() - this.t0;
              try {
                const answer = await client.review(c.webhook, c.review());
                c.verify(answer);
                this.report.succeeded++;
                this.report.byCase[c.name] = (this.report.byCase[c.name] ?? 0) + 1;
                this.notify();
              } catch (err) {
                this.report.failures.push({ case: c.name, startedAt, error: err instanceof Error ? `${err.name}: ${err.message}` : String(err) });
              }
            }
          })(),
        );
      }
    }
    this.done = Promise.all(workers).then(() => this.report);
  }

  /** Milliseconds since the load started. */
  now(): number {
    return Date.now() - this.t0;
  }

  /** Resolves once `n` more requests have been answered right (proof that load is flowing now). */
  answered(n: number): Promise<void> {
    const target = this.report.succeeded + n;
    return new Promise((resolve) => {
      this.waiters.push({ n: target, resolve });
      this.notify();
    });
  }

  private notify(): void {
    for (let i = this.waiters.length - 1; i >= 0; i--) {
      if (this.report.succeeded >= this.waiters[i]!.n) this.waiters.splice(i, 1)[0]!.resolve();
    }
  }

  /** Stops issuing requests; resolves when those in flight have finished. */
  async stop(): Promise<LoadReport> {
    this.stopped = true;
    const r = await this.done;
    for (const w of this.waiters.splice(0)) w.resolve();
    return r;
  }
}

/** Asserts a finished load had no failure and answered every case. */
export function expectCleanLoad(report: LoadReport, what: string): void {
  expect(report.failures, `${what}: failed requests (of ${report.sent})`).to.deep.equal([]);
  expect(report.succeeded, `${what}: requests answered`).to.equal(report.sent);
  for (const c of LOAD_CASES) expect(report.byCase[c.name] ?? 0, `${what}: answers for "${c.name}"`).to.be.greaterThan(0);
}

/** A TLS connection whose close the test can await; `received` is what the server sent. */
export interface WatchedSocket {
  socket: tls.TLSSocket;
  received(): string;
  /** Resolves when the connection closes; `byUs` says whether the test destroyed it. */
  closed: Promise<{ byUs: boolean; received: string }>;
  destroy(): void;
}

export async function openTls(port: number, ca: string | Buffer | Array<string | Buffer>): Promise<WatchedSocket> {
  const socket = await new Promise<tls.TLSSocket>((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, ca, servername: 'localhost' }, () => resolve(s));
    s.once('error', reject);
  });
  let data = '';
  let byUs = false;
  socket.setEncoding('utf8');
  socket.on('data', (d: string) => (data += d));
  socket.on('error', () => {});
  const closed = new Promise<{ byUs: boolean; received: string }>((resolve) => socket.once('close', () => resolve({ byUs, received: data })));
  return {
    socket,
    received: () => data,
    closed,
    destroy() {
      byUs = true;
      socket.destroy();
    },
  };
}

/**
 * A slow-loris connection: sends a request's headers one byte at a time, forever, never the blank
 * line that ends them. Stops writing when the connection closes.
 */
export async function slowLoris(port: number, ca: string | Buffer, intervalMs = 40): Promise<WatchedSocket> {
  const w = await openTls(port, ca);
  const head = 'POST /validate?timeout=10s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n';
  let i = 0;
  const timer = setInterval(() => {
    if (w.socket.destroyed) return;
    const text = i < head.length ? head[i]! : 'X-Slow: zzzzzzzz\r\n'[(i - head.length) % 18]!;
    i++;
    w.socket.write(text);
  }, intervalMs);
  void w.closed.then(() => clearInterval(timer));
  return w;
}

/** Resolves after `ms` (waiting for load to flow, not a timing assertion). */
export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export interface HeldRequest {
  uid: string;
  /** Sends the body; resolves with the final response (status and parsed JSON body). */
  finish(): Promise<{ status: number; head: string; json: { response?: { uid?: string; allowed?: boolean; patch?: string; status?: { code?: number } } } }>;
  socket: WatchedSocket;
}

/**
 * A request the server has received but not finished: the headers go out with
 * `Expect: 100-continue`, and the server's `100 Continue` proves it has the request in flight;
 * the body follows when the test says so.
 */
export async function holdRequest(port: number, ca: string | Buffer, webhook: WebhookPath, review: AdmissionReviewRequestV1): Promise<HeldRequest> {
  const w = await openTls(port, ca);
  const body = Buffer.from(JSON.stringify(review));
  const until = (test: (data: string) => boolean, what: string) =>
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if (test(w.received())) {
          w.socket.off('data', check);
          resolve();
        }
      };
      w.socket.on('data', check);
      void w.closed.then(() => (test(w.received()) ? resolve() : reject(new Error(`connection closed before ${what}; got: ${w.received().slice(0, 300)}`))));
      check();
    });
  w.socket.write(
    `POST /${webhook}?timeout=10s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nExpect: 100-continue\r\n\r\n`,
  );
  await until((d) => d.startsWith('HTTP/1.1 100 Continue\r\n\r\n'), '100 Continue');
  const final = () => w.received().slice('HTTP/1.1 100 Continue\r\n\r\n'.length);
  const complete = (d: string) => {
    const f = d.slice('HTTP/1.1 100 Continue\r\n\r\n'.length);
    const end = f.indexOf('\r\n\r\n');
    if (end < 0) return false;
    const len = /content-length: (\d+)/i.exec(f.slice(0, end));
    return len !== null && Buffer.byteLength(f.slice(end + 4)) >= Number(len[1]);
  };
  return {
    uid: review.request.uid,
    socket: w,
    async finish() {
      w.socket.write(body);
      await until(complete, 'the final response');
      const f = final();
      const end = f.indexOf('\r\n\r\n');
      const head = f.slice(0, end);
      return { status: Number(head.split(' ')[1]), head, json: JSON.parse(f.slice(end + 4)) };
    },
  };
}
