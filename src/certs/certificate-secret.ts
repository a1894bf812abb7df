import { z } from 'zod';
import { MESHGATE_DOMAIN } from '../profile.js';
import { isParsableCertificate, joinPemBundle, keyMatches, splitPemBundle } from './pem.js';

/**
 * The Secret the server keeps its CA and serving certificate in: type kubernetes.io/tls (tls.crt,
 * tls.key, ca.crt), the CA key under ca.key, and annotations recording the CA rotation:
 * - `meshgate.io/ca-bundle`: every CA the webhook configurations must trust (PEM), patched into
 *   their caBundle; during a CA rotation it holds the old and the new CA;
 * - `next-ca.crt`/`next-ca.key` (data): a new CA already in the bundle but not yet signing;
 * - `meshgate.io/ca-bundle-published-at`: when the bundle holding the next CA was seen in every
 *   webhook configuration (the new CA signs only a while after that);
 * - `meshgate.io/retire-old-cas-at`: when CAs other than the current one leave the bundle (after
 *   every replica has had time to load the certificate the new CA signed).
 */
export const SECRET_KEYS = {
  caCert: 'ca.crt',
  caKey: 'ca.key',
  cert: 'tls.crt',
  key: 'tls.key',
  nextCaCert: 'next-ca.crt',
  nextCaKey: 'next-ca.key',
} as const;

export const CERT_ANNOTATIONS = {
  caBundle: `${MESHGATE_DOMAIN}/ca-bundle`,
  bundlePublishedAt: `${MESHGATE_DOMAIN}/ca-bundle-published-at`,
  retireOldCasAt: `${MESHGATE_DOMAIN}/retire-old-cas-at`,
} as const;

export interface KeyPair {
  cert: string;
  key: string;
}

export interface CertificateState {
  ca: KeyPair;
  serving: KeyPair;
  /** CAs to trust, PEM each, oldest first. Always contains `ca`. */
  bundle: string[];
  next?: KeyPair;
  bundlePublishedAt?: number;
  retireOldCasAt?: number;
}

/** The parts of a v1 Secret this code reads and writes. */
export const secretSchema = z.object({
  apiVersion: z.string().optional(),
  kind: z.string().optional(),
  metadata: z
    .object({
      name: z.string(),
      namespace: z.string().optional(),
      resourceVersion: z.string().optional(),
      labels: z.record(z.string(), z.string()).optional().nullable(),
      annotations: z.record(z.string(), z.string()).optional().nullable(),
    })
    .loose(),
  type: z.string().optional().nullable(),
  data: z.record(z.string(), z.string()).optional().nullable(),
}).loose();

export type SecretObject = z.infer<typeof secretSchema>;

const decode = (b64: string | undefined): string | undefined => (b64 === undefined ? undefined : Buffer.from(b64, 'base64').toString('utf8'));
const encode = (text: string): string => Buffer.from(text, 'utf8').toString('base64');

function timestamp(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const t = Date.parse(value);
  return Number.isNaN(t) ? undefined : t;
}

export type ParsedSecret = { ok: true; state: CertificateState } | { ok: false; reason: string; bundle: string[] };

/** Reads the state out of a Secret; `ok: false` says what is wrong (and keeps any CAs it could read, to stay trusted while repairing). */
export function parseCertificateSecret(input: unknown): ParsedSecret {
  const parsed = secretSchema.safeParse(input);
  if (!parsed.success) return { ok: false, reason: 'not a Secret', bundle: [] };
  const data = parsed.data.data ?? {};
  const annotations = parsed.data.metadata.annotations ?? {};
  const text = (k: string) => decode(data[k]);
  const bundle = splitPemBundle(annotations[CERT_ANNOTATIONS.caBundle] ?? '').filter(isParsableCertificate);
  const ca = { cert: text(SECRET_KEYS.caCert), key: text(SECRET_KEYS.caKey) };
  const serving = { cert: text(SECRET_KEYS.cert), key: text(SECRET_KEYS.key) };
  if (!ca.cert || !ca.key || !keyMatches(ca.cert, ca.key)) return { ok: false, reason: 'CA certificate or key missing or not a pair', bundle };
  if (!serving.cert || !serving.key || !keyMatches(serving.cert, serving.key)) {
    return { ok: false, reason: 'serving certificate or key missing or not a pair', bundle };
  }
  const nextCert = text(SECRET_KEYS.nextCaCert);
  const nextKey = text(SECRET_KEYS.nextCaKey);
  const next = nextCert && nextKey && keyMatches(nextCert, nextKey) ? { cert: nextCert, key: nextKey } : undefined;
  const state: CertificateState = {
    ca: { cert: ca.cert, key: ca.key },
    serving: { cert: serving.cert, key: serving.key },
    bundle,
  };
  if (next) state.next = next;
  const publishedAt = timestamp(annotations[CERT_ANNOTATIONS.bundlePublishedAt]);
  if (publishedAt !== undefined) state.bundlePublishedAt = publishedAt;
  const retireAt = timestamp(annotations[CERT_ANNOTATIONS.retireOldCasAt]);
  if (retireAt !== undefined) state.retireOldCasAt = retireAt;
  return { ok: true, state };
}

/** The Secret holding `state`, keeping the metadata (resourceVersion, others' labels) of `base`. */
export function buildCertificateSecret(
  base: SecretObject | undefined,
  name: string,
  namespace: string,
  state: CertificateState,
  labels: Record<string, string>,
): SecretObject {
  const annotations: Record<string, string> = { ...(base?.metadata.annotations ?? {}) };
  for (const key of Object.values(CERT_ANNOTATIONS)) delete annotations[key];
  annotations[CERT_ANNOTATIONS.caBundle] = joinPemBundle(state.bundle);
  if (state.bundlePublishedAt !== undefined) annotations[CERT_ANNOTATIONS.bundlePublishedAt] = new Date(state.bundlePublishedAt).toISOString();
  if (state.retireOldCasAt !== undefined) annotations[CERT_ANNOTATIONS.retireOldCasAt] = new Date(state.retireOldCasAt).toISOString();
  const data: Record<string, string> = {
    [SECRET_KEYS.caCert]: encode(state.ca.cert),
    [SECRET_KEYS.caKey]: encode(state.ca.key),
    [SECRET_KEYS.cert]: encode(state.serving.cert),
    [SECRET_KEYS.key]: encode(state.serving.key),
  };
  if (state.next) {
    data[SECRET_KEYS.nextCaCert] = encode(state.next.cert);
    data[SECRET_KEYS.nextCaKey] = encode(state.next.key);
  }
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      ...(base?.metadata ?? {}),
      name,
      namespace,
      labels: { ...(base?.metadata.labels ?? {}), ...labels },
      annotations,
    },
    type: 'kubernetes.io/tls',
    data,
  };
}
