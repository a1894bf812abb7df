import type { CertificateState } from './certificate-secret.js';
import { certificateFacts, renewalTime, signedBy } from './pem.js';

/**
 * The next step of the certificate life cycle, decided from the Secret's content and the time
 * only, so every replica that reads the same Secret decides the same thing (and one that loses a
 * write race re-reads and finds the step already done).
 *
 * CA rotation, in order, each step one Secret write:
 * 1. start-ca-rotation: a new CA joins the bundle as `next`; the serving certificate stays signed
 *    by the old CA. Every replica patches the bundle (old + new) into the webhook configurations.
 * 2. once the bundle was seen in every webhook configuration (`bundlePublishedAt`, stamped by the
 *    manager) and `propagationMs` has passed (kube-apiservers reload webhook configurations from
 *    their informers): promote-next-ca: the new CA signs a new serving certificate. The old CA
 *    stays in the bundle, because replicas still serve the old certificate until their next check.
 * 3. after `overlapMs` (longer than the replicas' check interval): retire-old-cas: the bundle
 *    shrinks to the current CA.
 */
export interface RotationPolicy {
  /** Renew at this fraction of a certificate's lifetime (default 2/3). */
  renewAtFraction: number;
  /** Wait between the new bundle being published and the new CA signing. */
  propagationMs: number;
  /** How long old CAs stay in the bundle after the new CA started signing. */
  overlapMs: number;
  /** DNS SANs the serving certificate must carry. */
  dnsNames: string[];
}

export type RotationStep =
  | { kind: 'none' }
  | { kind: 'retire-old-cas' }
  | { kind: 'promote-next-ca' }
  | { kind: 'start-ca-rotation' }
  | { kind: 'renew-serving'; reason: string }
  | { kind: 'repair-bundle' }
  /** Nothing worth keeping (the CA expired, e.g. a cluster that was off for years): start over. */
  | { kind: 'regenerate'; reason: string };

export function planRotation(state: CertificateState, now: number, policy: RotationPolicy): RotationStep {
  const ca = certificateFacts(state.ca.cert);
  if (now >= ca.notAfter) return { kind: 'regenerate', reason: 'the CA expired' };
  if (!state.bundle.some((pem) => certificateFacts(pem).fingerprint256 === ca.fingerprint256)) return { kind: 'repair-bundle' };
  if (state.next && !state.bundle.some((pem) => certificateFacts(pem).fingerprint256 === certificateFacts(state.next!.cert).fingerprint256)) {
    return { kind: 'repair-bundle' };
  }
  if (state.next) {
    if (state.bundlePublishedAt !== undefined && now >= state.bundlePublishedAt + policy.propagationMs) return { kind: 'promote-next-ca' };
    // Waiting for the bundle to be published; the serving certificate may still need renewing meanwhile.
  } else if (state.retireOldCasAt !== undefined && now >= state.retireOldCasAt) {
    return { kind: 'retire-old-cas' };
  } else if (state.retireOldCasAt === undefined && now >= renewalTime(ca, policy.renewAtFraction)) {
    return { kind: 'start-ca-rotation' };
  }
  const serving = certificateFacts(state.serving.cert);
  if (!signedBy(state.serving.cert, state.ca.cert)) return { kind: 'renew-serving', reason: 'not signed by the current CA' };
  const missing = policy.dnsNames.filter((n) => !serving.dnsNames.includes(n));
  if (missing.length > 0) return { kind: 'renew-serving', reason: `missing DNS names ${missing.join(', ')}` };
  if (now >= renewalTime(serving, policy.renewAtFraction)) return { kind: 'renew-serving', reason: 'due for renewal' };
  if (now < serving.notBefore) return { kind: 'renew-serving', reason: 'not yet valid' };
  return { kind: 'none' };
}
