import { Agent, request } from 'node:https';

export interface PacedResult {
  sent: number;
  completed: number;
  errors: number;
  p50: number;
  p99: number;
  p999: number;
}

/**
 * An open-loop load at a fixed rate: requests leave evenly spaced (to the millisecond), whether or
 * not earlier ones have been answered, and each one's latency is measured from when it was due.
 * autocannon's rate limit sends each second's quota back to back and then waits, so its "half
 * rate" measures a saturated server for part of every second; this measures the latency a server
 * gives at that rate.
 */
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
  const warmUpMs = (opts.warmUpSeconds ?? 1) * 1000;
  const agent = new Agent({ keepAlive: true, maxSockets: opts.connections, ca: opts.ca, servername: 'localhost' });
  const latencies: number[] = [];
  let sent = 0;
  let errors = 0;
  let outstanding = 0;
  const bodyBytes = Buffer.from(opts.body);
  const start = performance.now();
  const total = Math.floor(opts.rate * (opts.durationSeconds + warmUpMs / 1000));

  const fire = (due: number) => {
    sent++;
    outstanding++;
    const req = request(
      {
        host: '127.0.0.1',
        port: opts.port,
        path: `${opts.path}?timeout=10s`,
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': bodyBytes.length },
      },
      (res) => {
        res.on('data', () => {});
        res.on('end', () => {
          outstanding--;
          if (res.statusCode !== 200) errors++;
          else if (due - start >= warmUpMs) latencies.push(performance.now() - due);
        });
      },
    );
    req.on('error', () => {
      outstanding--;
      errors++;
    });
    req.end(bodyBytes);
  };

  await new Promise<void>((resolve) => {
    const tick = setInterval(() => {
      const elapsed = performance.now() - start;
      const due = Math.min(total, Math.floor((elapsed / 1000) * opts.rate));
      while (sent < due) fire(start + (sent * 1000) / opts.rate);
      if (sent >= total) {
        clearInterval(tick);
        resolve();
      }
    }, 1);
  });
  // Let what is in flight finish (bounded).
  const deadline = performance.now() + 10_000;
  while (outstanding > 0 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  agent.destroy();

  latencies.sort((a, b) => a - b);
  const pct = (p: number) => (latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))]! : NaN);
  return { sent, completed: latencies.length, errors: errors + outstanding, p50: pct(50), p99: pct(99), p999: pct(99.9) };
}
