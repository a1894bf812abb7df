import { X509Certificate } from 'node:crypto';

/**
 * `selfsigned` (with @peculiar/x509 and its ASN.1 stack) loaded on first use: most starts never
 * generate a certificate (files from cert-manager, a reused Secret or development set), and
 * loading it costs about a tenth of a second on every `meshgate serve`.
 */
let selfsignedModule: Promise<typeof import('selfsigned')> | undefined;
async function generate(...args: Parameters<typeof import('selfsigned').generate>): ReturnType<typeof import('selfsigned').generate> {
  selfsignedModule ??= import('selfsigned');
  return (await selfsignedModule).generate(...args);
}

/** PEM-encoded CA and serving certificate. */
export interface CertificateBundle {
  caCert: string;
  caKey: string;
  cert: string;
  key: string;
}

export interface CertificateOptions {
  /** DNS SANs of the serving certificate, e.g. `meshgate`, `meshgate.osm-system`, `meshgate.osm-system.svc`. */
  dnsNames: string[];
  /** IP SANs (development certificates on 127.0.0.1 and ::1). */
  ipAddresses?: string[];
  /** Validity of the serving certificate in days (the CA lives 10x longer). */
  validityDays?: number;
  now?: Date;
  keyType?: 'ec' | 'rsa';
}

const DAY = 24 * 60 * 60 * 1000;

/** The SAN list kube-apiserver checks against for a webhook Service. */
export function serviceDnsNames(service: string, namespace: string): string[] {
  return [service, `${service}.${namespace}`, `${service}.${namespace}.svc`, `${service}.${namespace}.svc.cluster.local`];
}

/**
 * A new CA and a serving certificate it signs. SHA-256 always (selfsigned defaults to SHA-1,
 * which kube-apiserver rejects), SANs always (CN-only certificates are rejected too).
 */
export async function generateCA(opts: { commonName: string; validityDays?: number; now?: Date; keyType?: 'ec' | 'rsa' }): Promise<{ cert: string; key: string }> {
  const now = opts.now ?? new Date();
  const ca = await generate([{ name: 'commonName', value: opts.commonName }], {
    algorithm: 'sha256',
    keyType: opts.keyType ?? 'ec',
    curve: 'P-256',
    notBeforeDate: new Date(now.getTime() - 5 * 60 * 1000),
    notAfterDate: new Date(now.getTime() + (opts.validityDays ?? 3650) * DAY),
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    ],
  });
  return { cert: ca.cert, key: ca.private };
}

export async function generateServingCert(
  ca: { cert: string; key: string },
  opts: CertificateOptions,
): Promise<{ cert: string; key: string }> {
  const now = opts.now ?? new Date();
  const leaf = await generate([{ name: 'commonName', value: opts.dnsNames[0] ?? 'meshgate' }], {
    algorithm: 'sha256',
    keyType: opts.keyType ?? 'ec',
    curve: 'P-256',
    notBeforeDate: new Date(now.getTime() - 5 * 60 * 1000),
    notAfterDate: new Date(now.getTime() + (opts.validityDays ?? 365) * DAY),
    ca,
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          ...opts.dnsNames.map((value) => ({ type: 2 as const, value })),
          ...(opts.ipAddresses ?? []).map((ip) => ({ type: 7 as const, ip })),
        ],
      },
    ],
  });
  return { cert: leaf.cert, key: leaf.private };
}

export async function generateBundle(commonName: string, opts: CertificateOptions): Promise<CertificateBundle> {
  const ca = await generateCA({ commonName, validityDays: (opts.validityDays ?? 365) * 10, now: opts.now, keyType: opts.keyType });
  const leaf = await generateServingCert(ca, opts);
  return { caCert: ca.cert, caKey: ca.key, cert: leaf.cert, key: leaf.key };
}

/** When a PEM certificate stops being valid. */
export function notAfter(pem: string): Date {
  return new Date(new X509Certificate(pem).validTo);
}
