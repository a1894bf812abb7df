/**
 * The benchmark's ceiling: the least any correct Node admission webhook must do. node:https with
 * the same certificate, reads the body, parses it, and answers a fixed allowed AdmissionReview with
 * the request's uid. Usage: node ceiling-server.js CERT KEY PORT [PATCH_BYTES]
 *
 * With PATCH_BYTES, the fixed answer also carries a patch of that many base64 characters: the same
 * bare server, answering as many bytes as meshgate's injection answer, to tell the cost of sending
 * a patch from the cost of computing it.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';

const [certPath, keyPath, port, patchBytes] = process.argv.slice(2);
const patch = patchBytes ? Buffer.alloc(Number(patchBytes), 'm').toString('base64').slice(0, Number(patchBytes)) : undefined;
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
    const response = patch ? { uid, allowed: true, patchType: 'JSONPatch', patch } : { uid, allowed: true };
    const body = JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
  });
});
server.keepAliveTimeout = 60_000;
server.listen(Number(port), '127.0.0.1', () => process.stdout.write('ready\n'));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
