/**
 * The upstream side of the stand-in tests and the app's clients, shared by
 * test/netns/envoy-standin.test.ts and test/netns/seed-demo.test.ts:
 * - startUpstreams: upstreams.py in the rig's external namespace (HTTP on 80, TLS on 443 with a
 *   fresh self-signed certificate, the server-first banner on 3306);
 * - curlIn: real curl in the pod namespace as the app UID, through the interception rules;
 * - timedClient: a bounded raw TCP client (timed-client.py) for server-first services.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generate } from 'selfsigned';
import { APP_UID, PYTHON, type ExecResult, type NetnsRig } from './rig.js';

const here = dirname(fileURLToPath(import.meta.url));
const UPSTREAMS_PY = readFileSync(join(here, 'upstreams.py'), 'utf8');
const TIMED_CLIENT_PY = readFileSync(join(here, 'timed-client.py'), 'utf8');

export interface Upstreams {
  /** Removes the certificate directory (the process itself dies with the rig). */
  cleanup(): void;
}

/**
 * Starts upstreams.py in the external namespace (it takes 80, 443 and 3306 on every address there,
 * so create the rig with `extPorts` that leave those free).
 */
export async function startUpstreams(rig: NetnsRig): Promise<Upstreams> {
  const pem = await generate([{ name: 'commonName', value: 'upstream.test' }], { algorithm: 'sha256', keyType: 'ec', curve: 'P-256' });
  const certDir = mkdtempSync(join(tmpdir(), 'mg-upstream-cert-'));
  const cleanup = () => rmSync(certDir, { recursive: true, force: true });
  try {
    writeFileSync(join(certDir, 'cert.pem'), pem.cert);
    writeFileSync(join(certDir, 'key.pem'), pem.private);
    await rig.startHelper('ext', 0, UPSTREAMS_PY, [join(certDir, 'cert.pem'), join(certDir, 'key.pem')]);
  } catch (err) {
    cleanup();
    throw err;
  }
  return { cleanup };
}

export interface CurlResult {
  /** curl's exit status (7 refused, 56 reset, 35 reset during TLS, 0 a response arrived). */
  code: number;
  /** The response's status line (`HTTP/1.1 200 OK`), when one arrived. */
  statusLine?: string;
  status?: number;
  headers: Record<string, string>;
  body: string;
  stderr: string;
}

/**
 * Real curl (`curl -sS -i --max-time 8 ARGS`) in the pod namespace as the app UID, through the
 * interception rules. With `-I` among ARGS the output is the head only, as `curl -sI` prints it.
 */
export async function curlIn(rig: NetnsRig, args: string[]): Promise<CurlResult> {
  const r: ExecResult = await rig.exec(['curl', '-sS', '-i', '--max-time', '8', ...args], APP_UID, 15_000);
  const [head = '', ...rest] = r.stdout.split('\r\n\r\n');
  const lines = head.split('\r\n');
  const statusLine = /^HTTP\/[0-9.]+ \d{3}/.test(lines[0] ?? '') ? lines[0]!.trimEnd() : undefined;
  const headers: Record<string, string> = {};
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':');
    if (i > 0) headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim();
  }
  return {
    code: r.code,
    ...(statusLine ? { statusLine, status: Number(statusLine.split(' ')[1]) } : {}),
    headers,
    body: rest.join('\r\n\r\n'),
    stderr: r.stderr,
  };
}

export interface TimedClientResult {
  ok: boolean;
  /** Seconds from connect to the first reply byte; null when nothing arrived. */
  first: number | null;
  reply: string;
  error?: string;
}

/**
 * One raw TCP connection from the pod namespace as the app UID (timed-client.py): sends `send`
 * (with \n escapes) if given, then reads until `lines` lines arrived, the peer closed or `seconds`
 * passed.
 */
export async function timedClient(rig: NetnsRig, host: string, port: number, seconds: number, lines: number, send?: string): Promise<TimedClientResult> {
  const argv = [PYTHON, '-c', TIMED_CLIENT_PY, host, String(port), String(seconds), String(lines), ...(send ? [send] : [])];
  const r = await rig.exec(argv, APP_UID, (seconds + 5) * 1000);
  if (r.code !== 0) throw new Error(`timed client exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as TimedClientResult;
}
