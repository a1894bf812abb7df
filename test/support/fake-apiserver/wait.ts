import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';

/**
 * Polls `check` until it returns a truthy value, failing with `what` after `timeoutMs`. For state
 * that follows a watch: no timing is asserted, the bound only stops a hang. Only a falsy answer
 * ("not yet") is retried: an exception from `check` (a TypeError, a failed parse, an unexpected
 * HTTP status, a broken contract) is not a condition still settling, and fails the wait at once.
 */
export async function eventually<T>(what: string, check: () => T | Promise<T>, timeoutMs = 10_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    let v: T;
    try {
      v = await check();
    } catch (err) {
      if (err instanceof Error) err.message = `while waiting for ${what}: ${err.message}`;
      throw err;
    }
    if (v) return v as NonNullable<T>;
    last = v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 15));
  }
}

/** A pino logger whose lines are kept (parsed) for assertions. */
export function capturingLogger(): { logger: Logger; lines: Record<string, unknown>[]; messages: () => string[] } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      for (const l of String(chunk).split('\n')) if (l.trim()) lines.push(JSON.parse(l));
      cb();
    },
  });
  const logger = pino({ level: 'debug' }, stream);
  return { logger, lines, messages: () => lines.map((l) => String(l.msg)) };
}
