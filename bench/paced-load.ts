/**
 * An open-loop load generator at a fixed rate, lean enough to share a 2-core machine with the
 * server it measures.
 *
 * Why open loop: a closed-loop tool (autocannon) waits for a response before sending the next
 * request, so a slow server slows the load and its stalls hide from the percentiles (coordinated
 * omission); autocannon's rate limit also sends each second's quota back to back. Here request i
 * is due at start + i/rate whether or not earlier ones were answered, and its latency is measured
 * from that due time, so time spent queued for a connection counts (as in wrk2).
 *
 * Why raw sockets: node:https `request()` builds a ClientRequest, an IncomingMessage, header
 * objects and a full HTTP parser per request; at 20,000 req/s that saturates a core by itself and
 * the "latency" becomes the generator's own queueing. Here each connection is a plain TLS socket,
 * the request is one pre-built Buffer written with a single `write`, and the response parser only
 * finds the end of the head, the status code and Content-Length, then counts body bytes.
 *
 * Connections: `opts.connections` TLS connections are opened (handshakes done) before the clock
 * starts; each carries one request at a time (HTTP/1.1 keep-alive, no pipelining). Due requests
 * that find every connection busy wait in FIFO order — the queue is just the index range
 * [next, due), since due times are arithmetic. If the oldest queued request has waited
 * GROW_AFTER_MS, one more connection is opened (one handshake at a time), up to
 * MAX_CONNECTIONS_FACTOR × connections: that keeps a too-small pool from turning into an unbounded
 * client-side backlog, while short bursts between timer ticks don't trigger handshakes.
 *
 * Errors: a non-200 status, a response the parser cannot frame (no Content-Length), and a request
 * whose connection errors or closes before its response all count as errors; a lost connection is
 * replaced while the run continues. Requests still in flight or never sent when the drain
 * deadline passes count as errors too.
 */
import { connect, type TLSSocket } from 'node:tls';

export interface PacedResult {
  sent: number;
  completed: number;
  errors: number;
  p50: number;
  p99: number;
  p999: number;
}

/**
 * How long the oldest queued request may wait for a free connection before another is opened:
 * twice the 5 ms p99 target, so only a real shortage grows the pool, not one burst per tick.
 */
const GROW_AFTER_MS = 10;
/** Cap on the pool, as a multiple of `opts.connections`. */
const MAX_CONNECTIONS_FACTOR = 4;
/** How long, after the last request is due, in-flight and queued requests get to finish. */
const DRAIN_MS = 10_000;
/** Pause before retrying a connection attempt that failed (so a dead server is not hammered). */
const RECONNECT_DELAY_MS = 100;
/** A response head longer than this is not a response this parser understands. */
const MAX_HEAD_BYTES = 16 * 1024;

const HEAD_END = Buffer.from('\r\n\r\n');
const STATUS_LINE = /^HTTP\/1\.[01] (\d{3})/;
const CONTENT_LENGTH = /\r\ncontent-length:[ \t]*(\d+)[ \t]*(?:\r|$)/i;
const CONNECTION_CLOSE = /\r\nconnection:[ \t]*close/i;

interface Connection {
  socket: TLSSocket;
  /** True between the TLS handshake and close. */
  open: boolean;
  /** Index of the request awaiting its response, or -1 when idle. */
  inFlight: number;
  /** Bytes of a response head that arrived without its end. */
  partialHead: Buffer | null;
  /** Status of the response being read, and how many of its body bytes are still to come. */
  status: number;
  bodyLeft: number;
  /** The server said it will close this connection after the current response. */
  closing: boolean;
}

export async function pacedLoad(opts: {
  port: number;
  path: string;
  body: string;
  ca: string;
  rate: number;
  durationSeconds: number;
  connections: number;
  /** Requests due in this first stretch open the connections (TLS handshakes) and are not counted. */
  warmUpSeconds?: number;
}): Promise<PacedResult> {
  if (!(opts.rate > 0) || !(opts.durationSeconds > 0) || !(opts.connections >= 1)) {
    throw new RangeError(`pacedLoad: rate, durationSeconds and connections must be positive (got ${opts.rate}, ${opts.durationSeconds}, ${opts.connections})`);
  }
  const run = new PacedRun(opts);
  await run.openPool();
  return run.run();
}

class PacedRun {
  private readonly request: Buffer;
  private readonly intervalMs: number;
  /** Requests 0 .. warmCount-1 are the warm-up; warmCount .. total-1 are measured. */
  private readonly warmCount: number;
  private readonly total: number;
  private readonly maxConnections: number;
  private readonly latencies: Float64Array;
  private recorded = 0;

  private start = 0;
  /** The next request to send; requests next .. due-1 are the FIFO queue. */
  private next = 0;
  private inFlight = 0;
  private errors = 0;
  private readonly pool = new Set<Connection>();
  private readonly idle: Connection[] = [];
  private connecting = 0;
  private finished = false;
  private timer: NodeJS.Timeout | undefined;
  private resolve: (() => void) | undefined;

  constructor(private readonly opts: Parameters<typeof pacedLoad>[0]) {
    const body = Buffer.from(opts.body, 'utf8');
    const head =
      `POST ${opts.path}?timeout=10s HTTP/1.1\r\n` +
      `Host: 127.0.0.1:${opts.port}\r\n` +
      'Content-Type: application/json\r\n' +
      `Content-Length: ${body.length}\r\n\r\n`;
    this.request = Buffer.concat([Buffer.from(head, 'latin1'), body]);
    this.intervalMs = 1000 / opts.rate;
    this.warmCount = Math.round(opts.rate * (opts.warmUpSeconds ?? 1));
    const measured = Math.max(1, Math.round(opts.rate * opts.durationSeconds));
    this.total = this.warmCount + measured;
    this.latencies = new Float64Array(measured);
    this.maxConnections = Math.max(1, Math.floor(opts.connections)) * MAX_CONNECTIONS_FACTOR;
  }

  /** Opens the initial connections; rejects if the server cannot be reached. */
  async openPool(): Promise<void> {
    const n = Math.max(1, Math.floor(this.opts.connections));
    const results = await Promise.allSettled(Array.from({ length: n }, () => this.connect()));
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) {
      for (const c of this.pool) c.socket.destroy();
      const reason = (failed as PromiseRejectedResult).reason as Error;
      throw new Error(`pacedLoad: cannot open a TLS connection to 127.0.0.1:${this.opts.port}: ${reason.message}`);
    }
    for (const c of this.pool) this.idle.push(c);
  }

  run(): Promise<PacedResult> {
    return new Promise<void>((resolve) => {
      this.resolve = resolve;
      this.start = performance.now();
      this.timer = setInterval(() => this.tick(), 1);
      this.tick();
    }).then(() => this.result());
  }

  private dueTime(i: number): number {
    return this.start + i * this.intervalMs;
  }

  /** How many requests are due by `now` (request i is due at start + i × interval). */
  private dueBy(now: number): number {
    const n = Math.floor((now - this.start) / this.intervalMs) + 1;
    return n < 0 ? 0 : n > this.total ? this.total : n;
  }

  private tick(): void {
    if (this.finished) return;
    const now = performance.now();
    const due = this.dueBy(now);
    while (this.next < due && this.idle.length > 0) this.send(this.idle.pop()!);
    if (
      this.next < due &&
      this.connecting === 0 &&
      this.pool.size < this.maxConnections &&
      now - this.dueTime(this.next) >= GROW_AFTER_MS
    ) {
      this.addConnection();
    }
    if ((this.next >= this.total && this.inFlight === 0) || now > this.dueTime(this.total - 1) + DRAIN_MS) this.finish();
  }

  private send(c: Connection): void {
    c.inFlight = this.next++;
    this.inFlight++;
    c.socket.write(this.request);
  }

  /** A connection with nothing in flight takes the oldest due request, or waits in the idle stack. */
  private release(c: Connection, now: number): void {
    if (this.next < this.dueBy(now)) this.send(c);
    else this.idle.push(c);
  }

  private connect(): Promise<Connection> {
    this.connecting++;
    return new Promise<Connection>((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port: this.opts.port, ca: this.opts.ca, servername: 'localhost' });
      socket.setNoDelay(true);
      const c: Connection = { socket, open: false, inFlight: -1, partialHead: null, status: 0, bodyLeft: 0, closing: false };
      socket.once('secureConnect', () => {
        this.connecting--;
        c.open = true;
        this.pool.add(c);
        resolve(c);
      });
      socket.on('data', (chunk: Buffer) => this.onData(c, chunk));
      socket.on('error', (err) => {
        if (!c.open) {
          this.connecting--;
          reject(err);
        }
        // After the handshake, 'close' follows and does the accounting.
      });
      socket.on('close', () => this.onClose(c));
    });
  }

  /** Opens one more connection (replacement or growth); it takes due work as soon as it is up. */
  private addConnection(): void {
    if (this.finished) return;
    this.connect().then(
      (c) => {
        if (this.finished) c.socket.destroy();
        else this.release(c, performance.now());
      },
      () => {
        if (!this.finished) setTimeout(() => this.addConnection(), RECONNECT_DELAY_MS).unref();
      },
    );
  }

  private onClose(c: Connection): void {
    if (!c.open) return; // never established: connect() rejected and its caller handles it
    c.open = false;
    this.pool.delete(c);
    if (this.finished) return;
    const at = this.idle.indexOf(c);
    if (at >= 0) this.idle.splice(at, 1);
    if (c.inFlight >= 0) {
      c.inFlight = -1;
      this.inFlight--;
      this.errors++;
    }
    this.addConnection();
  }

  /** Drops a connection whose bytes make no sense; its in-flight request becomes an error on close. */
  private protocolError(c: Connection): void {
    c.partialHead = null;
    c.socket.destroy();
  }

  /**
   * The response parser: responses may arrive split anywhere (head, body) across chunks. One
   * response per request, so bytes arriving while nothing is in flight are a protocol error.
   */
  private onData(c: Connection, chunk: Buffer): void {
    if (this.finished) return;
    let buf = chunk;
    if (c.partialHead !== null) {
      buf = Buffer.concat([c.partialHead, chunk]);
      c.partialHead = null;
    }
    let off = 0;
    while (off < buf.length) {
      if (c.inFlight < 0) return this.protocolError(c);
      if (c.bodyLeft > 0) {
        const take = Math.min(c.bodyLeft, buf.length - off);
        c.bodyLeft -= take;
        off += take;
        if (c.bodyLeft === 0) this.complete(c);
        continue;
      }
      const end = buf.indexOf(HEAD_END, off);
      if (end < 0) {
        if (buf.length - off > MAX_HEAD_BYTES) return this.protocolError(c);
        c.partialHead = buf.subarray(off);
        return;
      }
      const head = buf.toString('latin1', off, end);
      off = end + HEAD_END.length;
      const status = STATUS_LINE.exec(head);
      if (status === null) return this.protocolError(c);
      c.status = Number(status[1]);
      c.closing = CONNECTION_CLOSE.test(head);
      const length = CONTENT_LENGTH.exec(head);
      if (length !== null) c.bodyLeft = Number(length[1]);
      else if (c.status === 204 || c.status === 304) c.bodyLeft = 0;
      else return this.protocolError(c); // chunked or read-until-close: not framed by this parser
      if (c.bodyLeft === 0) this.complete(c);
    }
  }

  private complete(c: Connection): void {
    const i = c.inFlight;
    c.inFlight = -1;
    this.inFlight--;
    const now = performance.now();
    if (c.status !== 200) this.errors++;
    else if (i >= this.warmCount) this.latencies[this.recorded++] = now - this.dueTime(i);
    if (this.finished) return;
    if (c.closing) c.socket.end(); // the server closes it; 'close' opens a replacement
    else this.release(c, now);
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    clearInterval(this.timer);
    // What is still in flight or was never sent did not get an answer in time.
    this.errors += this.inFlight + (this.total - this.next);
    for (const c of this.pool) c.socket.destroy();
    this.pool.clear();
    this.idle.length = 0;
    this.resolve?.();
  }

  private result(): PacedResult {
    const sorted = this.latencies.subarray(0, this.recorded).sort();
    const pct = (p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]! : NaN);
    return { sent: this.next, completed: this.recorded, errors: this.errors, p50: pct(50), p99: pct(99), p999: pct(99.9) };
  }
}
