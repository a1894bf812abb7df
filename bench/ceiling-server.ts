/**
 * The benchmark's ceiling: the least any correct Node admission webhook must do. node:https with
 * the same certificate, reads the body, parses it, and answers a fixed allowed AdmissionReview with
 * the request's uid. Usage: node ceiling-server.js CERT KEY PORT
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';

const [certPath, keyPath, port] = process.argv.slice(2);
const server = createServer({ cert: readFileSync(certPath!), key: readFileSync(keyPath!), minVersion: 'TLSv1.2' }, (req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    let uid = '';
    try {
      uid = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { request?: { uid?: string } }).request?.uid ?? '';
    } catch {
      res.writeHead(400).end('bad json');
      return;
    }
    const body = JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid, allowed: true } });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
  });
});
server.keepAliveTimeout = 60_000;
server.listen(Number(port), '127.0.0.1', () => process.stdout.write('ready\n'));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
