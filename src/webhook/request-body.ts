import type { IncomingMessage } from 'node:http';

export type BodyResult = { ok: true; body: Buffer } | { ok: false; status: number; message: string } | { ok: false; status: 0; message: string };

/**
 * Reads a request body into one Buffer, bounded by `limit`. A declared Content-Length over the
 * limit is refused before a byte is read; an undeclared (chunked) body is refused as soon as it
 * passes the limit, without buffering the rest. Compressed bodies are refused: the API server never
 * sends them. Status 0 means the client went away; there is nobody to answer.
 */
export function readBody(req: IncomingMessage, limit: number, done: (r: BodyResult) => void): void {
  const encoding = req.headers['content-encoding'];
  if (encoding !== undefined && encoding.toLowerCase() !== 'identity') {
    req.resume();
    done({ ok: false, status: 415, message: `unsupported content encoding ${JSON.stringify(encoding)}: send the body uncompressed` });
    return;
  }
  const declared = req.headers['content-length'];
  const length = declared === undefined ? undefined : Number(declared);
  if (length !== undefined && length > limit) {
    req.resume();
    done({ ok: false, status: 413, message: `request body is larger than ${limit} bytes` });
    return;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  let finished = false;
  const finish = (r: BodyResult) => {
    if (finished) return;
    finished = true;
    req.off('data', onData);
    req.off('end', onEnd);
    req.off('aborted', onAborted);
    req.off('error', onAborted);
    done(r);
  };
  const onData = (chunk: Buffer) => {
    size += chunk.length;
    if (size > limit) {
      // Stop keeping what arrives; the response says Connection: close, so the rest is discarded.
      chunks.length = 0;
      req.resume();
      finish({ ok: false, status: 413, message: `request body is larger than ${limit} bytes` });
      return;
    }
    chunks.push(chunk);
  };
  const onEnd = () => finish({ ok: true, body: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size) });
  const onAborted = () => finish({ ok: false, status: 0, message: 'client aborted the request' });
  req.on('data', onData);
  req.on('end', onEnd);
  req.on('aborted', onAborted);
  req.on('error', onAborted);
}
