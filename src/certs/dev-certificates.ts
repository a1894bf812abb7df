import { X509Certificate, createPrivateKey } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { generateBundle } from './generate.js';

/**
 * The development certificate of `meshgate serve --dev`: a CA and a serving certificate in a
 * directory (ca.crt, tls.crt, tls.key), so `curl --cacert DIR/ca.crt https://127.0.0.1:9443/readyz`
 * verifies the server for real. Reused across restarts while still valid and covering the names,
 * so a CA handed to curl (or to a kind cluster's caBundle) keeps working.
 */
export interface DevCertificates {
  dir: string;
  caPath: string;
  certPath: string;
  keyPath: string;
  cert: string;
  key: string;
  caCert: string;
  /** True when an existing, still-valid set was reused. */
  reused: boolean;
}

export const DEV_IP_ADDRESSES = ['127.0.0.1', '::1'];
const RENEW_BEFORE_MS = 7 * 24 * 60 * 60 * 1000;

function sansOf(cert: X509Certificate): Set<string> {
  const out = new Set<string>();
  for (const part of (cert.subjectAltName ?? '').split(',')) {
    const m = /^\s*(DNS|IP Address):(.+)$/.exec(part);
    if (m) out.add(m[2]!.trim().toLowerCase());
  }
  return out;
}

function normalizeIp(ip: string): string {
  // X509Certificate prints ::1 as 0:0:0:0:0:0:0:1 on some OpenSSL versions.
  return ip === '::1' ? '0:0:0:0:0:0:0:1' : ip;
}

async function reusable(dir: string, dnsNames: string[], now: Date): Promise<Omit<DevCertificates, 'dir' | 'caPath' | 'certPath' | 'keyPath' | 'reused'> | undefined> {
  try {
    const [caCert, cert, key] = await Promise.all(['ca.crt', 'tls.crt', 'tls.key'].map((f) => readFile(join(dir, f), 'utf8')));
    const ca = new X509Certificate(caCert!);
    const leaf = new X509Certificate(cert!);
    if (!leaf.verify(ca.publicKey) || !leaf.checkPrivateKey(createPrivateKey(key!))) return undefined;
    if (new Date(leaf.validTo).getTime() - now.getTime() < RENEW_BEFORE_MS) return undefined;
    const sans = sansOf(leaf);
    const wanted = [...dnsNames.map((d) => d.toLowerCase()), ...DEV_IP_ADDRESSES];
    if (!wanted.every((n) => sans.has(n) || sans.has(normalizeIp(n)))) return undefined;
    return { caCert: caCert!, cert: cert!, key: key! };
  } catch {
    return undefined;
  }
}

export async function ensureDevCertificates(dir: string, dnsNames: string[], now = new Date()): Promise<DevCertificates> {
  const paths = { dir, caPath: join(dir, 'ca.crt'), certPath: join(dir, 'tls.crt'), keyPath: join(dir, 'tls.key') };
  const existing = await reusable(dir, dnsNames, now);
  if (existing) return { ...paths, ...existing, reused: true };
  const bundle = await generateBundle('meshgate development CA', {
    dnsNames,
    ipAddresses: DEV_IP_ADDRESSES,
    validityDays: 365,
    now,
  });
  await mkdir(dir, { recursive: true });
  await writeFile(paths.caPath, bundle.caCert);
  await writeFile(paths.certPath, bundle.cert);
  await writeFile(paths.keyPath, bundle.key, { mode: 0o600 });
  await chmod(paths.keyPath, 0o600);
  // The CA key is not kept: nothing else should be signed with a development CA.
  return { ...paths, caCert: bundle.caCert, cert: bundle.cert, key: bundle.key, reused: false };
}
