import type { ServerResponse } from 'node:http';

/**
 * Answers admission requests in batches, once per turn of the event loop.
 *
 * Every response written to a socket wakes the process waiting on the other end (kube-apiserver;
 * in the benchmark, the load generator on the same cores). Written one by one, as each request is
 * decided, every response pays that wake-up on its own, and on a busy server it was the largest
 * single cost per request (README, Benchmarks). Instead, the responses decided while the server
 * works through the sockets that were ready together are queued, and written back to back right
 * after (`setImmediate` runs once the poll phase has handled every ready socket): the peer is
 * woken once per batch, not once per response. Redis does the same before it sleeps
 * (`handleClientsWithPendingWrites`), Netty offers it as `FlushConsolidationHandler`.
 *
 * The cost is latency bounded by one loop turn: a response waits at most for the other requests
 * that arrived with it to be decided, which the server would have had to do before answering the
 * next one anyway.
 */
export class WriteBatcher {
  private queue: Array<{ res: ServerResponse; body: string }> = [];

  constructor(private readonly onError: (err: unknown) => void) {}

  /** Queues one 200 JSON answer; it is written before the event loop next waits for I/O. */
  send(res: ServerResponse, body: string): void {
    if (this.queue.length === 0) setImmediate(this.flush);
    this.queue.push({ res, body });
  }

  private readonly flush = (): void => {
    const batch = this.queue;
    this.queue = [];
    for (const { res, body } of batch) {
      // The client may have gone away while the answer waited: nobody to write to.
      if (res.destroyed || res.writableEnded) continue;
      try {
        res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
        res.end(body);
      } catch (err) {
        this.onError(err);
        res.destroy();
      }
    }
  };
}
