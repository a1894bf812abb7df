import { createPrivateKey, X509Certificate } from 'node:crypto';

/** The certificates of a PEM bundle, each as its own PEM block. */
export function splitPemBundle(bundle: string): string[] {
  return bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)?.map((pem) => `${pem}\n`) ?? [];
}

export function joinPemBundle(pems: readonly string[]): string {
  return pems.map((p) => (p.endsWith('\n') ? p : `${p}\n`)).join('');
}

export interface CertificateFacts {
  notBefore: number;
  notAfter: number;
  fingerprint256: string;
  dnsNames: string[];
}

export function certificateFacts(pem: string): CertificateFacts {
  const x = new X509Certificate(pem);
  const dnsNames = (x.subjectAltName ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.startsWith('DNS:'))
    .map((s) => s.slice(4));
  return { notBefore: Date.parse(x.validFrom), notAfter: Date.parse(x.validTo), fingerprint256: x.fingerprint256, dnsNames };
}

/** True when `key` is the private key of `certPem`. */
export function keyMatches(certPem: string, keyPem: string): boolean {
  try {
    return new X509Certificate(certPem).checkPrivateKey(createPrivateKey(keyPem));
  } catch {
    return false;
  }
}

/** True when `certPem` was issued and signed by `caPem`. */
export function signedBy(certPem: string, caPem: string): boolean {
  try {
    const cert = new X509Certificate(certPem);
    const ca = new X509Certificate(caPem);
    return cert.checkIssued(ca) && cert.verify(ca.publicKey);
  } catch {
    return false;
  }
}

/** When a certificate should be replaced: at `fraction` of its lifetime (2/3 by default). */
export function renewalTime(facts: Pick<CertificateFacts, 'notBefore' | 'notAfter'>, fraction: number): number {
  return facts.notBefore + fraction * (facts.notAfter - facts.notBefore);
}

export function isParsableCertificate(pem: string): boolean {
  try {
    new X509Certificate(pem);
    return true;
  } catch {
    return false;
  }
}
