import { expect } from 'chai';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WriteBatcher } from '../../src/webhook/write-batcher.js';

function post(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'POST' }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('WriteBatcher: answers written once per event-loop turn', () => {
  let server: Server;
  let port: number;
  const errors: unknown[] = [];
  const batcher = new WriteBatcher((err) => errors.push(err));

  before(async () => {
    server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        if (req.url === '/gone') {
          // The client is gone before its answer is flushed: the batch skips it.
          res.destroy();
        }
        batcher.send(res, JSON.stringify({ path: req.url }));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  it('gives every one of many concurrent requests its own answer, with status, type and length', async () => {
    const paths = Array.from({ length: 200 }, (_, i) => `/r${i}`);
    const answers = await Promise.all(paths.map((p) => post(port, p)));
    answers.forEach((a, i) => {
      expect(a.status).to.equal(200);
      expect(JSON.parse(a.body)).to.deep.equal({ path: paths[i] });
    });
    expect(errors).to.deep.equal([]);
  });

  it('skips an answer whose connection is gone, and the batch it was in is still written', async () => {
    const results = await Promise.allSettled([post(port, '/gone'), post(port, '/a'), post(port, '/b')]);
    expect(results[0]!.status).to.equal('rejected');
    expect(results.slice(1).map((r) => (r.status === 'fulfilled' ? JSON.parse(r.value.body).path : r.reason))).to.deep.equal(['/a', '/b']);
    expect(errors).to.deep.equal([]);
  });
});
