import { commonLabels, type InstallNames } from './names.js';
import type { KubeObject } from './types.js';

const CERT_MANAGER_API = 'cert-manager.io/v1';

/**
 * cert-manager mode (`install --cert-manager`): a self-signed Issuer bootstraps a CA Certificate,
 * a CA Issuer signs the serving Certificate for the Service's DNS names into the Secret the
 * Deployment mounts, and cainjector copies the CA into both webhook configurations (the
 * `cert-manager.io/inject-ca-from` annotation). ECDSA P-256 keys, SHA-256 signatures.
 */
export function certManagerObjects(names: InstallNames, meshName: string): KubeObject[] {
  const meta = (name: string) => ({ name, namespace: names.namespace, labels: commonLabels(meshName) });
  return [
    { apiVersion: CERT_MANAGER_API, kind: 'Issuer', metadata: meta(names.selfSignedIssuer), spec: { selfSigned: {} } },
    {
      apiVersion: CERT_MANAGER_API,
      kind: 'Certificate',
      metadata: meta(names.caCertificate),
      spec: {
        isCA: true,
        commonName: `${names.app}-ca.${names.namespace}`,
        secretName: names.caSecret,
        duration: '87600h',
        renewBefore: '720h',
        privateKey: { algorithm: 'ECDSA', size: 256, rotationPolicy: 'Always' },
        issuerRef: { kind: 'Issuer', name: names.selfSignedIssuer, group: 'cert-manager.io' },
      },
    },
    { apiVersion: CERT_MANAGER_API, kind: 'Issuer', metadata: meta(names.caIssuer), spec: { ca: { secretName: names.caSecret } } },
    {
      apiVersion: CERT_MANAGER_API,
      kind: 'Certificate',
      metadata: meta(names.servingCertificate),
      spec: {
        secretName: names.tlsSecret,
        commonName: names.serviceDnsNames[2],
        dnsNames: [...names.serviceDnsNames],
        duration: '2160h',
        renewBefore: '720h',
        usages: ['server auth', 'digital signature'],
        privateKey: { algorithm: 'ECDSA', size: 256, rotationPolicy: 'Always' },
        issuerRef: { kind: 'Issuer', name: names.caIssuer, group: 'cert-manager.io' },
      },
    },
  ];
}
