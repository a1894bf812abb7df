import { createHash } from 'node:crypto';
import { AuthenticationV1Api, Observable, type KubeConfig, type ObservableMiddleware } from '@kubernetes/client-node';
import { z } from 'zod';
import { describeApiFailure, type ApiAction } from '../cluster/api-errors.js';
import { serverOf } from '../cluster/kube-config.js';
import { dns1123LabelErrors, dns1123SubdomainErrors } from '../policy/dns-names.js';

/**
 * Who is at the other end of an ADS stream. Identity comes from a ServiceAccount token checked by
 * the API server (TokenReview), never from what the client says about itself (SPEC §10); the
 * node-based authenticator exists only for `--state` development runs.
 */

/** The ServiceAccount a stream receives the config of. */
export interface StreamIdentity {
  namespace: string;
  name: string;
}

/**
 * `expiresAt` (ms since the epoch) is when the token stops being valid: the ADS server closes the
 * stream then (UNAUTHENTICATED, "token expired") so the client reconnects with its refreshed token.
 * Absent when the token carries no expiry.
 */
export type AuthResult =
  | { ok: true; identity: StreamIdentity; expiresAt?: number }
  | { ok: false; code: 'UNAUTHENTICATED' | 'UNAVAILABLE'; message: string };

export interface StreamAuthenticator {
  authenticate(metadata: { authorization?: string }, node: { id: string; cluster: string }): Promise<AuthResult>;
}

/** The audience meshgate's projected tokens carry (the injector mounts them with it). */
export const MESHGATE_AUDIENCE = 'meshgate';

const SA_PREFIX = 'system:serviceaccount:';

/** Time, injectable so tests can move it. Milliseconds since the epoch. */
export interface AuthClock {
  now(): number;
}

export interface TokenReviewAuthenticatorOptions {
  /** Credentials for the API server that reviews the tokens. */
  kc: KubeConfig;
  /** The audience asked for in `spec.audiences` and required in `status.audiences`. Default `meshgate`. */
  audience?: string;
  /** A review that takes longer fails UNAVAILABLE. Default 5000 ms. */
  timeoutMs?: number;
  /** At most this many accepted tokens are remembered; the oldest entry goes first. Default 10,000. */
  maxEntries?: number;
  /** Upper bound of how long an accepted review is reused, whatever the token's `exp`. Default 1 h. */
  maxCacheMs?: number;
  /** How long an accepted token without a readable `exp` is reused. Default 5 min. */
  noExpiryCacheMs?: number;
  /** How long a token the API server rejected is answered from memory (blunts reconnect floods). Default 5 s; 0 disables. */
  rejectionCacheMs?: number;
  clock?: AuthClock;
}

interface CacheEntry {
  result: AuthResult;
  /** When this entry stops being reused (ms since the epoch). */
  until: number;
}

/** What we read of a TokenReview's status; everything else is ignored. */
const ReviewStatus = z
  .object({
    authenticated: z.boolean().optional(),
    error: z.string().optional(),
    audiences: z.array(z.string()).nullish(),
    user: z.object({ username: z.string().optional() }).loose().optional(),
  })
  .loose();

const TOKEN_REVIEW_ACTION: ApiAction = { verb: 'create', group: 'authentication.k8s.io', resource: 'tokenreviews' };

/** A bounded map in insertion order: re-setting a key moves it to the newest end. */
class BoundedCache {
  private readonly entries = new Map<string, CacheEntry>();
  constructor(private readonly max: number) {}
  get(key: string, now: number): CacheEntry | undefined {
    const e = this.entries.get(key);
    if (e && e.until <= now) {
      this.entries.delete(key);
      return undefined;
    }
    return e;
  }
  set(key: string, entry: CacheEntry): void {
    if (this.max <= 0) return;
    this.entries.delete(key);
    this.entries.set(key, entry);
    while (this.entries.size > this.max) this.entries.delete(this.entries.keys().next().value!);
  }
  get size(): number {
    return this.entries.size;
  }
}

/**
 * Checks `authorization: Bearer <token>` with an `authentication.k8s.io/v1` TokenReview for the
 * `meshgate` audience. Accepted: `status.authenticated`, `meshgate` in `status.audiences` (an
 * audience-unaware authenticator returns none, and then the token may have been issued for the API
 * server itself), and a `system:serviceaccount:NS:SA` user. Anything else is UNAUTHENTICATED with
 * the reason; no answer from the API server (unreachable, timeout, 5xx, 429, 401/403 on meshgate's
 * own credentials) is UNAVAILABLE, so the client retries and nothing is granted.
 *
 * Caching: an accepted review is reused, keyed by the SHA-256 of the token, until the token's `exp`
 * (read from the JWT payload only to bound the cache and set `expiresAt`; identity comes from the
 * review alone), at most `maxCacheMs`; without a readable `exp`, `noExpiryCacheMs` and no
 * `expiresAt`. A rejection by the API server is reused for `rejectionCacheMs` (a few seconds, so a
 * misconfigured proxy reconnecting in a loop costs one review per window); an UNAVAILABLE answer is
 * never cached. Concurrent reviews of one token share one request.
 */
export class TokenReviewAuthenticator implements StreamAuthenticator {
  private readonly api: AuthenticationV1Api;
  private readonly server: string;
  private readonly audience: string;
  private readonly timeoutMs: number;
  private readonly maxCacheMs: number;
  private readonly noExpiryCacheMs: number;
  private readonly rejectionCacheMs: number;
  private readonly clock: AuthClock;
  private readonly accepted: BoundedCache;
  private readonly rejected: BoundedCache;
  private readonly inFlight = new Map<string, Promise<AuthResult>>();

  constructor(opts: TokenReviewAuthenticatorOptions) {
    this.api = opts.kc.makeApiClient(AuthenticationV1Api);
    this.server = serverOf(opts.kc);
    this.audience = opts.audience ?? MESHGATE_AUDIENCE;
    this.timeoutMs = opts.timeoutMs ?? 5000;
    this.maxCacheMs = opts.maxCacheMs ?? 60 * 60 * 1000;
    this.noExpiryCacheMs = opts.noExpiryCacheMs ?? 5 * 60 * 1000;
    this.rejectionCacheMs = opts.rejectionCacheMs ?? 5000;
    this.clock = opts.clock ?? { now: () => Date.now() };
    const maxEntries = opts.maxEntries ?? 10_000;
    this.accepted = new BoundedCache(maxEntries);
    this.rejected = new BoundedCache(Math.min(maxEntries, 1000));
  }

  /** Tokens whose accepted review is remembered (expired entries may still count until looked up). */
  get cachedCount(): number {
    return this.accepted.size;
  }

  async authenticate(metadata: { authorization?: string }, _node?: { id: string; cluster: string }): Promise<AuthResult> {
    const token = bearerToken(metadata.authorization);
    if (token === undefined) {
      return { ok: false, code: 'UNAUTHENTICATED', message: `no bearer token: the authorization metadata must be "Bearer <ServiceAccount token with audience ${this.audience}>"` };
    }
    const key = createHash('sha256').update(token).digest('base64url');
    const now = this.clock.now();
    const hit = this.accepted.get(key, now) ?? this.rejected.get(key, now);
    if (hit) return hit.result;
    const pending = this.inFlight.get(key);
    if (pending) return pending;
    const review = this.review(token, key).finally(() => this.inFlight.delete(key));
    this.inFlight.set(key, review);
    return review;
  }

  private async review(token: string, key: string): Promise<AuthResult> {
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, this.timeoutMs);
    let status: z.infer<typeof ReviewStatus>;
    try {
      const review = await this.api.createTokenReview(
        { body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token, audiences: [this.audience] } } },
        { middleware: [abortMiddleware(controller.signal)], middlewareMergeStrategy: 'append' },
      );
      const parsed = ReviewStatus.safeParse(review.status ?? {});
      if (!parsed.success) return unavailable(`token review failed: the API server at ${this.server} answered a TokenReview status meshgate cannot read`);
      status = parsed.data;
    } catch (err) {
      if (timedOut) return unavailable(`token review failed: the API server at ${this.server} did not answer within ${this.timeoutMs} ms`);
      return unavailable(`token review failed: ${describeApiFailure(err, TOKEN_REVIEW_ACTION, this.server)}`);
    } finally {
      clearTimeout(timer);
    }

    const now = this.clock.now();
    const verdict = this.judge(status);
    if (!verdict.ok) {
      if (this.rejectionCacheMs > 0) this.rejected.set(key, { result: verdict, until: now + this.rejectionCacheMs });
      return verdict;
    }
    const exp = jwtExpiry(token);
    const result: AuthResult = exp === undefined ? verdict : { ...verdict, expiresAt: exp };
    // An exp already past by our clock (skew; the API server allows some leeway) is not cached, and
    // the stream it opens is closed at once: the client comes back with its refreshed token.
    const until = Math.min(exp ?? now + this.noExpiryCacheMs, now + this.maxCacheMs);
    if (until > now) this.accepted.set(key, { result, until });
    return result;
  }

  /** The review's answer as an AuthResult (no expiry yet). */
  private judge(status: z.infer<typeof ReviewStatus>): AuthResult {
    const aud = JSON.stringify(this.audience);
    if (status.authenticated !== true) {
      const why = status.error?.trim();
      if (why && /target audiences/.test(why)) {
        return unauthenticated(`wrong audience: the token is not for audience ${aud} (${why}); mount a projected ServiceAccount token with audience ${aud}`);
      }
      return unauthenticated(`not authenticated: the Kubernetes API server rejected the token${why ? ` (${why})` : ''}`);
    }
    const audiences = status.audiences ?? [];
    if (!audiences.includes(this.audience)) {
      const got = audiences.length ? `status.audiences ${JSON.stringify(audiences)}` : 'no status.audiences: the authenticator is not audience-aware, so the token may be meant for another audience';
      return unauthenticated(`wrong audience: the token was authenticated, but not for audience ${aud} (${got})`);
    }
    const username = status.user?.username ?? '';
    const identity = serviceAccountOf(username);
    if (typeof identity === 'string') return unauthenticated(`not a ServiceAccount: ${identity}`);
    return { ok: true, identity };
  }
}

/**
 * Development only (`--xds-allow-unauthenticated` with `--state`): the identity is what the client
 * claims in `node.cluster`, `SA.NS` (the injected bootstrap's form). Anyone who can reach the port
 * can ask for any ServiceAccount's config.
 */
export class NodeClusterAuthenticator implements StreamAuthenticator {
  async authenticate(_metadata: { authorization?: string }, node: { id: string; cluster: string }): Promise<AuthResult> {
    const parts = node.cluster.split('.');
    const [name, namespace] = parts;
    if (parts.length !== 2 || dns1123LabelErrors(name!).length > 0 || dns1123LabelErrors(namespace!).length > 0) {
      return unauthenticated(
        `node.cluster ${JSON.stringify(node.cluster)} does not name a ServiceAccount: expected "SA.NS", a ServiceAccount name and its namespace, both DNS-1123 labels`,
      );
    }
    return { ok: true, identity: { namespace: namespace!, name: name! } };
  }
}

/** The token of `Bearer <token>` (scheme case-insensitive, as RFC 7235 says); undefined otherwise. */
export function bearerToken(authorization: string | undefined): string | undefined {
  const m = /^bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization ?? '');
  return m?.[1];
}

/**
 * The `exp` claim of a JWT-shaped token, in ms since the epoch; undefined when the token is not a
 * JWT or carries no numeric `exp`. Unverified: used only to bound caching and the stream's life.
 */
export function jwtExpiry(token: string): number | undefined {
  const parts = token.split('.');
  if (parts.length !== 3 || !parts[1]) return undefined;
  try {
    const payload: unknown = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
    const exp = (payload as { exp?: unknown } | null)?.exp;
    return typeof exp === 'number' && Number.isFinite(exp) && exp > 0 ? exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

/** `system:serviceaccount:NS:SA` → identity, or why not. */
export function serviceAccountOf(username: string): StreamIdentity | string {
  if (!username.startsWith(SA_PREFIX)) {
    return `the token belongs to user ${JSON.stringify(username)}, not to a ServiceAccount (system:serviceaccount:<namespace>:<name>)`;
  }
  const rest = username.slice(SA_PREFIX.length).split(':');
  const [namespace, name] = rest;
  if (rest.length !== 2 || dns1123LabelErrors(namespace!).length > 0 || dns1123SubdomainErrors(name!).length > 0) {
    return `user ${JSON.stringify(username)} is not system:serviceaccount:<namespace>:<name> with a DNS-1123 namespace and name`;
  }
  return { namespace: namespace!, name: name! };
}

const unauthenticated = (message: string): AuthResult => ({ ok: false, code: 'UNAUTHENTICATED', message });
const unavailable = (message: string): AuthResult => ({ ok: false, code: 'UNAVAILABLE', message });

/** Client-node middleware that lets a request be aborted (client-node has no per-request timeout). */
function abortMiddleware(signal: AbortSignal): ObservableMiddleware {
  return {
    pre: (ctx) => {
      ctx.setSignal(signal);
      return new Observable(Promise.resolve(ctx));
    },
    post: (ctx) => new Observable(Promise.resolve(ctx)),
  };
}
