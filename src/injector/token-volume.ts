import { XDS_TOKEN_AUDIENCE } from '../profile.js';

/**
 * The ServiceAccount token the sidecar presents to meshgate's ADS server (SPEC §10): a projected
 * volume, so the kubelet requests it with audience `meshgate` (the API server's own token, for
 * audience `https://kubernetes.default.svc`, would be refused by the TokenReview) and refreshes it
 * before it expires. It is a volume of its own, mounted read-only into the proxy container only:
 * the app containers never see it, and `automountServiceAccountToken: false` (which only turns off
 * the API server's `kube-api-access` volume) does not remove it.
 */
export const TOKEN_VOLUME_NAME = 'meshgate-token';
export const TOKEN_MOUNT_PATH = '/var/run/secrets/meshgate.io';
export const TOKEN_FILE = 'token';
export const TOKEN_PATH = `${TOKEN_MOUNT_PATH}/${TOKEN_FILE}`;
/**
 * One hour (the API accepts 10 minutes and more). The kubelet refreshes the file at 80 % of it, and
 * the ADS server closes a stream when its token expires, so Envoy reconnects with the fresh file. Not
 * 3607 s: kube-apiserver silently extends tokens of exactly that lifetime to a year.
 */
export const TOKEN_EXPIRATION_SECONDS = 3600;

export interface Volume {
  name: string;
  [key: string]: unknown;
}

export function tokenVolume(): Volume {
  return {
    name: TOKEN_VOLUME_NAME,
    projected: {
      sources: [{ serviceAccountToken: { audience: XDS_TOKEN_AUDIENCE, expirationSeconds: TOKEN_EXPIRATION_SECONDS, path: TOKEN_FILE } }],
    },
  };
}

export function tokenVolumeMount(): { name: string; mountPath: string; readOnly: boolean } {
  return { name: TOKEN_VOLUME_NAME, mountPath: TOKEN_MOUNT_PATH, readOnly: true };
}
