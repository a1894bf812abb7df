import { KubeConfig } from '@kubernetes/client-node';
import https from 'node:https';
import tls, { type PeerCertificate } from 'node:tls';
import { CertificateManager, type CertificateManagerOptions } from '../../src/certs/certificate-manager.js';
import type { Clock } from '../../src/certs/certificate-source.js';
import { kubeCertificateApi } from '../../src/certs/kube-certificate-api.js';
import { defaultInstallOptions } from '../../src/manifests/defaults.js';
import { installNames } from '../../src/manifests/names.js';
import { renderInstall } from '../../src/manifests/render-install.js';
import type { FakeApiServer, KubeObj } from '../support/fake-apiserver.js';

export const NAMES = installNames(defaultInstallOptions());
export const SERVICE_HOST = `${NAMES.service}.${NAMES.namespace}.svc`;

export class FakeClock implements Clock {
  constructor(public t = Date.now()) {}
  now(): number {
    return this.t;
  }
  advance(ms: number): void {
    this.t += ms;
  }
}

/** What `kubectl apply` of the install leaves for the server: the namespace and both webhook configurations (no caBundle). */
export function applyInstall(api: FakeApiServer): void {
  for (const o of renderInstall(defaultInstallOptions())) {
    if (['Namespace', 'ValidatingWebhookConfiguration', 'MutatingWebhookConfiguration'].includes(o.kind)) api.create(o as KubeObj);
  }
}

export async function kubeConfigFor(api: FakeApiServer): Promise<KubeConfig> {
  const kc = new KubeConfig();
  kc.loadFromFile(await api.kubeconfig());
  return kc;
}

export function newManager(kc: KubeConfig, clock: Clock, extra: Partial<CertificateManagerOptions> = {}): CertificateManager {
  return new CertificateManager({
    api: kubeCertificateApi(kc),
    namespace: NAMES.namespace,
    secretName: NAMES.tlsSecret,
    serviceName: NAMES.service,
    validatingWebhookConfiguration: NAMES.validatingWebhookConfiguration,
    mutatingWebhookConfiguration: NAMES.mutatingWebhookConfiguration,
    clock,
    checkIntervalMs: 1000,
    propagationMs: 2000,
    overlapMs: 10_000,
    periodic: false,
    ...extra,
  });
}

/** The caBundle (PEM) of every webhook of both configurations, as stored in the fake. */
export function publishedBundles(api: FakeApiServer): string[] {
  const out: string[] = [];
  for (const [kind, name] of [
    ['ValidatingWebhookConfiguration', NAMES.validatingWebhookConfiguration],
    ['MutatingWebhookConfiguration', NAMES.mutatingWebhookConfiguration],
  ] as const) {
    const config = api.get('admissionregistration.k8s.io/v1', kind, name) as { webhooks: { clientConfig: { caBundle?: string } }[] } | undefined;
    for (const w of config?.webhooks ?? []) out.push(Buffer.from(w.clientConfig.caBundle ?? '', 'base64').toString('utf8'));
  }
  return out;
}

/**
 * Server identity checked the way Go's crypto/x509 (kube-apiserver) does: DNS SANs only. Node's
 * own tls.checkServerIdentity still falls back to the subject CN when a certificate has no DNS
 * SAN; Go refuses such a certificate since 1.15.
 */
export function checkServerIdentitySansOnly(host: string, cert: PeerCertificate): Error | undefined {
  const sans = (cert.subjectaltname ?? '').split(',').map((s) => s.trim());
  if (!sans.some((s) => s.startsWith('DNS:'))) {
    return new Error('x509: certificate relies on legacy Common Name field, use SANs instead');
  }
  return tls.checkServerIdentity(host, cert);
}

export interface ApiserverRequestOptions {
  port: number;
  caBundle: string;
  servername?: string;
  agent?: https.Agent;
}

/**
 * One request the way kube-apiserver calls a webhook: TLS ≥ 1.2, the CA from the caBundle only,
 * server name `<service>.<namespace>.svc`, SANs-only identity. SHA-1 signatures need no extra
 * check here: Node's OpenSSL (security level 1+) already refuses them ("CA signature digest
 * algorithm too weak"), as Go does ("x509: cannot verify signature: insecure algorithm SHA1-RSA").
 * Resolves with the status and the fingerprint of the certificate the server presented.
 */
export function apiserverRequest(o: ApiserverRequestOptions): Promise<{ status: number; fingerprint: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: '127.0.0.1',
        port: o.port,
        method: 'POST',
        path: '/validate?timeout=10s',
        headers: { 'content-type': 'application/json' },
        servername: o.servername ?? SERVICE_HOST,
        ca: o.caBundle,
        minVersion: 'TLSv1.2',
        checkServerIdentity: checkServerIdentitySansOnly,
        agent: o.agent ?? false,
      },
      (res) => {
        const fingerprint = (res.socket as tls.TLSSocket).getPeerCertificate().fingerprint256;
        let body = '';
        res.setEncoding('utf8').on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, fingerprint, body }));
      },
    );
    req.on('error', reject);
    req.end('{}');
  });
}

/** An HTTPS server that answers 200 and swaps its certificate in place (setSecureContext), like the webhook server's updateTls. */
export async function startSwappingServer(material: { cert: string; key: string }): Promise<{ server: https.Server; port: number; swap(m: { cert: string; key: string }): void }> {
  const server = https.createServer({ cert: material.cert, key: material.key, minVersion: 'TLSv1.2', keepAliveTimeout: 30_000 }, (req, res) => {
    req.resume();
    req.on('end', () => res.end('{"ok":true}'));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    server,
    port,
    swap: (m) => server.setSecureContext({ cert: m.cert, key: m.key, minVersion: 'TLSv1.2' }),
  };
}

export async function closeServer(server: https.Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
}
