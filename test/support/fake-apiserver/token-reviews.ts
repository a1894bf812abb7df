import { randomBytes, randomUUID } from 'node:crypto';
import type { ResourceType } from './resources.js';

/**
 * kube-apiserver's TokenReview (`POST /apis/authentication.k8s.io/v1/tokenreviews`), modelled on
 * pkg/registry/authentication/tokenreview and the ServiceAccount JWT authenticator:
 * - `spec.audiences` empty → the API server's own audiences;
 * - a token the server does not know → `authenticated: false`, `error: "invalid bearer token"`;
 * - an expired token → `authenticated: false`, the authenticator's "service account token has expired";
 * - a token whose audiences do not intersect the requested ones → `authenticated: false` with
 *   `token audiences ["…"] is invalid for the target audiences ["…"]` (the real server never
 *   answers authenticated with a disjoint audience: it would be a 500 "error validating audiences");
 * - otherwise `authenticated: true`, the user, and `status.audiences` = the intersection.
 * An `audienceUnaware` token answers as an authenticator that ignores audiences does (an old or
 * webhook authenticator): authenticated, no `status.audiences`.
 */

/** What kube-apiserver uses when a review names no audience (its --api-audiences / issuer). */
export const API_SERVER_AUDIENCES = ['https://kubernetes.default.svc.cluster.local'];

/** A token the fake API server recognizes. */
export interface FakeToken {
  /** `status.user.username`, e.g. `system:serviceaccount:NS:SA` or `alice`. */
  username: string;
  uid?: string;
  groups?: string[];
  /** The token's `aud` claim. Default: the API server's own audiences. */
  audiences?: string[];
  /** When the token expires (ms since the epoch); undefined never. */
  expiresAt?: number;
  /** Answer like an audience-unaware authenticator: authenticated whatever the audience, no status.audiences. */
  audienceUnaware?: boolean;
}

export interface IssueTokenOptions {
  namespace: string;
  name: string;
  /** Default `['meshgate']`. */
  audiences?: string[];
  /** Default 3600 (what the injector asks for). */
  expirationSeconds?: number;
  /** Issue time (ms since the epoch); default the server's clock. */
  issuedAt?: number;
}

/** How TokenReview requests fail while a failure is set: an HTTP status, a reset connection, or no answer at all. */
export type TokenReviewFailure = number | 'reset' | 'hang';

/** The type used for RBAC messages (TokenReview is served apart from the object store). */
export const TOKEN_REVIEW_TYPE: ResourceType = {
  group: 'authentication.k8s.io',
  version: 'v1',
  plural: 'tokenreviews',
  singular: 'tokenreview',
  kind: 'TokenReview',
  namespaced: false,
  builtIn: true,
};

export const TOKEN_REVIEW_PATH = '/apis/authentication.k8s.io/v1/tokenreviews';

const b64url = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
/** Go's `%q` of a []string: `["a" "b"]`. */
const goQuoted = (xs: string[]) => `[${xs.map((x) => JSON.stringify(x)).join(' ')}]`;

/**
 * A ServiceAccount token shaped like the kubelet's projected ones (a JWT with `aud`, `exp`, `iat`,
 * `iss`, `sub` and `kubernetes.io`), signed with random bytes: only the fake API server can tell
 * whether it is valid, as only the real one can for a real token.
 */
export function serviceAccountJwt(o: Required<Omit<IssueTokenOptions, 'issuedAt'>> & { issuedAt: number }): string {
  const iat = Math.floor(o.issuedAt / 1000);
  const header = { alg: 'RS256', kid: 'fake-apiserver' };
  const payload = {
    aud: o.audiences,
    exp: iat + o.expirationSeconds,
    iat,
    nbf: iat,
    iss: API_SERVER_AUDIENCES[0],
    sub: `system:serviceaccount:${o.namespace}:${o.name}`,
    'kubernetes.io': { namespace: o.namespace, serviceaccount: { name: o.name, uid: randomUUID() } },
  };
  return `${b64url(header)}.${b64url(payload)}.${randomBytes(64).toString('base64url')}`;
}

export interface TokenReviewStatus {
  authenticated: boolean;
  error?: string;
  user?: { username: string; uid?: string; groups?: string[]; extra?: Record<string, string[]> };
  audiences?: string[];
}

/** The status kube-apiserver returns for `token` asked for `requested` audiences at `now`. */
export function reviewToken(tokens: ReadonlyMap<string, FakeToken>, token: string, requested: string[] | undefined, now: number): TokenReviewStatus {
  const wanted = requested && requested.length > 0 ? requested : API_SERVER_AUDIENCES;
  const t = tokens.get(token);
  if (!t) return { authenticated: false, error: 'invalid bearer token' };
  const user = { username: t.username, ...(t.uid ? { uid: t.uid } : {}), ...(t.groups ? { groups: t.groups } : {}), extra: {} };
  if (t.audienceUnaware) return { authenticated: true, user };
  if (t.expiresAt !== undefined && t.expiresAt <= now) return { authenticated: false, error: '[invalid bearer token, service account token has expired]' };
  const tokenAudiences = t.audiences ?? API_SERVER_AUDIENCES;
  const both = tokenAudiences.filter((a) => wanted.includes(a));
  if (both.length === 0) {
    return { authenticated: false, error: `[invalid bearer token, token audiences ${goQuoted(tokenAudiences)} is invalid for the target audiences ${goQuoted(wanted)}]` };
  }
  return { authenticated: true, user, audiences: both };
}
