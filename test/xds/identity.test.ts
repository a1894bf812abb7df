/**
 * Stream identity: TokenReviewAuthenticator over real HTTPS against the fake API server with the real
 * @kubernetes/client-node, and the development-only NodeClusterAuthenticator.
 */
import { expect } from 'chai';
import { loadKubeConfig } from '../../src/cluster/kube-config.js';
import { defaultInstallOptions } from '../../src/manifests/defaults.js';
import { renderInstall } from '../../src/manifests/render-install.js';
import {
  bearerToken,
  jwtExpiry,
  NodeClusterAuthenticator,
  TokenReviewAuthenticator,
  type AuthResult,
  type TokenReviewAuthenticatorOptions,
} from '../../src/xds/identity.js';
import { FakeApiServer, type RequestRecord } from '../support/fake-apiserver.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const NODE = { id: 'sidecar~10.0.0.7~curl-abc.curl~curl.svc.cluster.local', cluster: 'curl.curl' };
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

class FakeClock {
  constructor(public t = Date.UTC(2030, 0, 1)) {}
  now(): number {
    return this.t;
  }
  advance(ms: number): void {
    this.t += ms;
  }
}

function failed(r: AuthResult): { code: string; message: string } {
  expect(r.ok, JSON.stringify(r)).to.equal(false);
  return r as { code: string; message: string };
}

describe('TokenReviewAuthenticator against the fake API server (real client-node over HTTPS)', function () {
  let api: FakeApiServer;
  let clock: FakeClock;
  let kubeconfig: string;

  const authenticator = (opts: Partial<TokenReviewAuthenticatorOptions> = {}) => new TokenReviewAuthenticator({ kc: loadKubeConfig(kubeconfig), clock, ...opts });
  const reviews = () => api.tokenReviewRequests().length;

  beforeEach(async () => {
    clock = new FakeClock();
    api = await FakeApiServer.start({ now: () => clock.now() });
    kubeconfig = await api.kubeconfig();
  });
  afterEach(async () => {
    await api.close();
  });

  describe('accepted tokens', () => {
    it('a projected ServiceAccount token for audience meshgate → its ServiceAccount and the token expiry', async () => {
      const token = api.issueToken({ namespace: 'curl', name: 'curl' });
      const r = await authenticator().authenticate(bearer(token), NODE);
      expect(r).to.deep.equal({ ok: true, identity: { namespace: 'curl', name: 'curl' }, expiresAt: clock.now() - (clock.now() % 1000) + HOUR });
      const [review] = api.tokenReviewRequests();
      expect(review!.status).to.equal(201);
      expect(review!.body).to.deep.include({ apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview' });
      expect((review!.body as { spec: unknown }).spec).to.deep.equal({ token, audiences: ['meshgate'] });
    });

    it('identity comes from the token, never from the node: a sidecar claiming another account gets its own', async () => {
      const token = api.issueToken({ namespace: 'curl', name: 'curl' });
      const r = await authenticator().authenticate(bearer(token), { id: 'x', cluster: 'admin.kube-system' });
      expect(r).to.deep.include({ ok: true, identity: { namespace: 'curl', name: 'curl' } });
    });

    it('the scheme is case-insensitive, and a dotted ServiceAccount name (a DNS-1123 subdomain) is a name', async () => {
      const token = api.issueToken({ namespace: 'team-a', name: 'web.frontend' });
      const auth = authenticator();
      for (const scheme of ['bearer', 'BEARER', 'Bearer']) {
        expect(await auth.authenticate({ authorization: `${scheme} ${token}` }, NODE)).to.deep.include({ ok: true, identity: { namespace: 'team-a', name: 'web.frontend' } });
      }
    });
  });

  describe('cache', () => {
    it('a second call is answered from the cache; once the token expires the entry goes and the API server is asked again', async () => {
      const token = api.issueToken({ namespace: 'curl', name: 'curl' });
      const auth = authenticator();
      const first = await auth.authenticate(bearer(token), NODE);
      clock.advance(59 * MINUTE);
      expect(await auth.authenticate(bearer(token), NODE)).to.deep.equal(first);
      expect(reviews()).to.equal(1);
      clock.advance(2 * MINUTE); // past exp: the cached review is gone, and the API server says expired
      const after = failed(await auth.authenticate(bearer(token), NODE));
      expect(after.code).to.equal('UNAUTHENTICATED');
      expect(after.message).to.match(/^not authenticated: .*service account token has expired/);
      expect(reviews()).to.equal(2);
    });

    it('maxCacheMs bounds reuse below the token expiry; the new review keeps the token expiry', async () => {
      const token = api.issueToken({ namespace: 'curl', name: 'curl', expirationSeconds: 24 * 3600 });
      const auth = authenticator({ maxCacheMs: 10 * MINUTE });
      const first = await auth.authenticate(bearer(token), NODE);
      clock.advance(9 * MINUTE);
      await auth.authenticate(bearer(token), NODE);
      expect(reviews()).to.equal(1);
      clock.advance(2 * MINUTE);
      expect(await auth.authenticate(bearer(token), NODE)).to.deep.equal(first);
      expect(reviews()).to.equal(2);
    });

    it('a token without a readable exp is accepted with no expiresAt and reused for noExpiryCacheMs only', async () => {
      api.addToken('opaque-token', { username: 'system:serviceaccount:curl:curl', audiences: ['meshgate'] });
      const auth = authenticator({ noExpiryCacheMs: 5 * MINUTE });
      expect(await auth.authenticate(bearer('opaque-token'), NODE)).to.deep.equal({ ok: true, identity: { namespace: 'curl', name: 'curl' } });
      clock.advance(4 * MINUTE);
      await auth.authenticate(bearer('opaque-token'), NODE);
      expect(reviews()).to.equal(1);
      clock.advance(2 * MINUTE);
      await auth.authenticate(bearer('opaque-token'), NODE);
      expect(reviews()).to.equal(2);
    });

    it('concurrent calls with one token share one review', async () => {
      const token = api.issueToken({ namespace: 'curl', name: 'curl' });
      const auth = authenticator();
      const results = await Promise.all(Array.from({ length: 20 }, () => auth.authenticate(bearer(token), NODE)));
      expect(reviews()).to.equal(1);
      for (const r of results) expect(r).to.deep.equal(results[0]);
      expect(results[0]).to.deep.include({ ok: true });
    });

    it('keeps at most maxEntries tokens, evicting the oldest', async () => {
      const [a, b, c] = ['a', 'b', 'c'].map((name) => api.issueToken({ namespace: 'ns', name }));
      const auth = authenticator({ maxEntries: 2 });
      for (const t of [a!, b!, c!]) await auth.authenticate(bearer(t), NODE);
      expect(auth.cachedCount).to.equal(2);
      await auth.authenticate(bearer(c!), NODE);
      await auth.authenticate(bearer(b!), NODE);
      expect(reviews()).to.equal(3);
      await auth.authenticate(bearer(a!), NODE); // evicted
      expect(reviews()).to.equal(4);
    });

    it('a rejection is remembered for rejectionCacheMs only; an unavailable answer not at all', async () => {
      const auth = authenticator({ rejectionCacheMs: 5000 });
      await auth.authenticate(bearer('nobody-knows-this'), NODE);
      await auth.authenticate(bearer('nobody-knows-this'), NODE);
      expect(reviews()).to.equal(1);
      clock.advance(5001);
      await auth.authenticate(bearer('nobody-knows-this'), NODE);
      expect(reviews()).to.equal(2);

      const token = api.issueToken({ namespace: 'curl', name: 'curl' });
      api.failTokenReviews(500);
      expect(failed(await auth.authenticate(bearer(token), NODE)).code).to.equal('UNAVAILABLE');
      api.restoreTokenReviews();
      expect(await auth.authenticate(bearer(token), NODE)).to.deep.include({ ok: true });
      expect(reviews()).to.equal(4);
    });
  });

  describe('rejected: UNAUTHENTICATED with the reason', () => {
    for (const [what, authorization] of [
      ['no authorization metadata', undefined],
      ['a Basic scheme', 'Basic Y3VybDpjdXJs'],
      ['an empty token', 'Bearer '],
      ['the scheme alone', 'Bearer'],
      ['two words after Bearer', 'Bearer a b'],
    ] as const) {
      it(`${what}: "no bearer token", and the API server is not asked`, async () => {
        const r = failed(await authenticator().authenticate(authorization === undefined ? {} : { authorization }, NODE));
        expect(r.code).to.equal('UNAUTHENTICATED');
        expect(r.message).to.match(/^no bearer token/);
        expect(reviews()).to.equal(0);
      });
    }

    it('an expired token: not authenticated, with the API server reason', async () => {
      const token = api.issueToken({ namespace: 'curl', name: 'curl', issuedAt: clock.now() - 2 * HOUR });
      const r = failed(await authenticator().authenticate(bearer(token), NODE));
      expect(r.code).to.equal('UNAUTHENTICATED');
      expect(r.message).to.equal('not authenticated: the Kubernetes API server rejected the token ([invalid bearer token, service account token has expired])');
    });

    it('a token for another audience (the default API server token): wrong audience', async () => {
      const token = api.issueToken({ namespace: 'curl', name: 'curl', audiences: ['https://kubernetes.default.svc.cluster.local'] });
      const r = failed(await authenticator().authenticate(bearer(token), NODE));
      expect(r.code).to.equal('UNAUTHENTICATED');
      expect(r.message).to.match(/^wrong audience: the token is not for audience "meshgate"/);
      expect(r.message).to.include('is invalid for the target audiences ["meshgate"]');
    });

    it('authenticated by an audience-unaware authenticator (no status.audiences): wrong audience', async () => {
      api.addToken('unaware-token', { username: 'system:serviceaccount:curl:curl', audienceUnaware: true });
      const r = failed(await authenticator().authenticate(bearer('unaware-token'), NODE));
      expect(r.code).to.equal('UNAUTHENTICATED');
      expect(r.message).to.match(/^wrong audience: the token was authenticated, but not for audience "meshgate" \(no status\.audiences: the authenticator is not audience-aware/);
    });

    it('an unknown token: not authenticated', async () => {
      const r = failed(await authenticator().authenticate(bearer('eyJhbGciOiJSUzI1NiJ9.e30.forged'), NODE));
      expect(r.code).to.equal('UNAUTHENTICATED');
      expect(r.message).to.equal('not authenticated: the Kubernetes API server rejected the token (invalid bearer token)');
    });

    it('a revoked token (its pod deleted) is rejected once its cached review is gone', async () => {
      const token = api.issueToken({ namespace: 'curl', name: 'curl' });
      const auth = authenticator({ maxCacheMs: MINUTE });
      await auth.authenticate(bearer(token), NODE);
      api.revokeToken(token);
      clock.advance(MINUTE + 1);
      expect(failed(await auth.authenticate(bearer(token), NODE)).message).to.match(/^not authenticated/);
    });

    for (const [username, why] of [
      ['alice', /^not a ServiceAccount: the token belongs to user "alice", not to a ServiceAccount/],
      ['system:node:worker-1', /^not a ServiceAccount: the token belongs to user "system:node:worker-1"/],
      ['system:serviceaccount:curl', /^not a ServiceAccount: user "system:serviceaccount:curl" is not system:serviceaccount:<namespace>:<name>/],
      ['system:serviceaccount:Curl_NS:curl', /^not a ServiceAccount: user "system:serviceaccount:Curl_NS:curl" is not/],
      ['system:serviceaccount:curl:curl:extra', /^not a ServiceAccount: user "system:serviceaccount:curl:curl:extra" is not/],
    ] as const) {
      it(`a token of user ${username}: not a ServiceAccount`, async () => {
        api.addToken(`token-of-${username}`, { username, audiences: ['meshgate'] });
        const r = failed(await authenticator().authenticate(bearer(`token-of-${username}`), NODE));
        expect(r.code).to.equal('UNAUTHENTICATED');
        expect(r.message).to.match(why);
      });
    }
  });

  describe('no answer from the API server: UNAVAILABLE', () => {
    for (const status of [500, 503, 429]) {
      it(`HTTP ${status}`, async () => {
        const token = api.issueToken({ namespace: 'curl', name: 'curl' });
        api.failTokenReviews(status);
        const r = failed(await authenticator().authenticate(bearer(token), NODE));
        expect(r.code).to.equal('UNAVAILABLE');
        expect(r.message).to.match(new RegExp(`^token review failed: cannot create tokenreviews\\.authentication\\.k8s\\.io: fake TokenReview failure ${status} \\(HTTP ${status} `));
      });
    }

    it('the connection reset mid-request', async () => {
      const token = api.issueToken({ namespace: 'curl', name: 'curl' });
      api.failTokenReviews('reset');
      const r = failed(await authenticator().authenticate(bearer(token), NODE));
      expect(r.code).to.equal('UNAVAILABLE');
      expect(r.message).to.match(/^token review failed: cannot reach the Kubernetes API server at https:\/\/127\.0\.0\.1:\d+: connection (reset|closed)/);
    });

    it('no answer within timeoutMs', async () => {
      const token = api.issueToken({ namespace: 'curl', name: 'curl' });
      api.failTokenReviews('hang');
      const r = failed(await authenticator({ timeoutMs: 200 }).authenticate(bearer(token), NODE));
      expect(r).to.deep.equal({ ok: false, code: 'UNAVAILABLE', message: `token review failed: the API server at ${api.url} did not answer within 200 ms` });
    });

    it('the API server gone (connection refused)', async () => {
      const token = api.issueToken({ namespace: 'curl', name: 'curl' });
      const auth = authenticator();
      await api.close();
      const r = failed(await auth.authenticate(bearer(token), NODE));
      expect(r.code).to.equal('UNAVAILABLE');
      expect(r.message).to.match(/^token review failed: cannot reach the Kubernetes API server at https:\/\/127\.0\.0\.1:\d+: connection refused \(ECONNREFUSED\)/);
    });

    it('meshgate itself forbidden to create TokenReviews (RBAC missing): names the grant', async () => {
      const token = api.issueToken({ namespace: 'curl', name: 'curl' });
      api.forbid({ verb: 'create', resource: 'tokenreviews', group: 'authentication.k8s.io' });
      const r = failed(await authenticator().authenticate(bearer(token), NODE));
      expect(r.code).to.equal('UNAVAILABLE');
      expect(r.message).to.include('grant verb "create" on resource "tokenreviews" in API group "authentication.k8s.io"');
    });
  });

  it("the install's ClusterRole allows every request the authenticator makes, and grants TokenReview nothing more", async () => {
    const auth = authenticator();
    await auth.authenticate(bearer(api.issueToken({ namespace: 'curl', name: 'curl' })), NODE);
    await auth.authenticate(bearer('unknown'), NODE);
    const clusterRole = renderInstall(defaultInstallOptions()).find((o) => o.kind === 'ClusterRole') as unknown as {
      rules: { apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[] }[];
    };
    const allowed = (r: RequestRecord) => {
      const [group, plural] = (r.resource ?? '').split('/');
      return clusterRole.rules.some((rule) => rule.apiGroups.includes(group!) && rule.resources.includes(plural!) && rule.verbs.includes(r.verb) && !rule.resourceNames);
    };
    expect(api.requests).to.have.length(2);
    for (const r of api.requests) expect(allowed(r), `${r.verb} ${r.resource}`).to.equal(true);
    expect(clusterRole.rules.filter((rule) => rule.apiGroups.includes('authentication.k8s.io'))).to.deep.equal([
      { apiGroups: ['authentication.k8s.io'], resources: ['tokenreviews'], verbs: ['create'] },
    ]);
  });
});

describe('identity helpers', () => {
  it('bearerToken: the token of "Bearer <token>", case-insensitive scheme, nothing else', () => {
    expect(bearerToken('Bearer abc.def.ghi')).to.equal('abc.def.ghi');
    expect(bearerToken('bearer  abc ')).to.equal('abc');
    for (const bad of [undefined, '', 'Bearer', 'Bearer ', 'Basic abc', 'Bearerabc', 'Bearer a b', 'Token abc']) expect(bearerToken(bad), String(bad)).to.equal(undefined);
  });

  it('jwtExpiry: exp of a JWT payload in ms, undefined when absent or unreadable', () => {
    const jwt = (payload: unknown) => `e30.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.sig`;
    expect(jwtExpiry(jwt({ exp: 1_900_000_000 }))).to.equal(1_900_000_000_000);
    expect(jwtExpiry(jwt({ iat: 1 }))).to.equal(undefined);
    expect(jwtExpiry(jwt({ exp: '1900000000' }))).to.equal(undefined);
    expect(jwtExpiry(jwt(null))).to.equal(undefined);
    expect(jwtExpiry('opaque')).to.equal(undefined);
    expect(jwtExpiry('a.!!!.c')).to.equal(undefined);
  });
});

describe('NodeClusterAuthenticator (development only)', () => {
  const auth = new NodeClusterAuthenticator();

  it('takes the identity from node.cluster "SA.NS", whatever the metadata says', async () => {
    expect(await auth.authenticate({}, { id: 'n', cluster: 'curl.curl' })).to.deep.equal({ ok: true, identity: { namespace: 'curl', name: 'curl' } });
    expect(await auth.authenticate({ authorization: 'Bearer x' }, { id: 'n', cluster: 'web-1.team-a' })).to.deep.equal({ ok: true, identity: { namespace: 'team-a', name: 'web-1' } });
  });

  for (const cluster of ['', 'curl', 'a.b.c', '.curl', 'curl.', 'Curl.curl', 'curl.team_a', `${'a'.repeat(64)}.curl`]) {
    it(`refuses node.cluster ${JSON.stringify(cluster)}, naming the expected form`, async () => {
      const r = failed(await auth.authenticate({}, { id: 'n', cluster }));
      expect(r.code).to.equal('UNAUTHENTICATED');
      expect(r.message).to.equal(`node.cluster ${JSON.stringify(cluster)} does not name a ServiceAccount: expected "SA.NS", a ServiceAccount name and its namespace, both DNS-1123 labels`);
    });
  }
});
