import { expect } from 'chai';
import { status } from '@grpc/grpc-js';
import { Registry } from 'prom-client';
import { compileProxyConfig } from '../../src/egress/compile.js';
import type { Json } from '../../src/egress/proxy-config.js';
import { DEFAULT_SETTINGS } from '../../src/settings.js';
import { AdsServer } from '../../src/xds/ads-server.js';
import { NodeClusterAuthenticator, type AuthResult, type StreamAuthenticator } from '../../src/xds/identity.js';
import { egress, meshConfig, routeGroup, storeWith } from '../policy/helpers.js';
import { captureLogs, testCertificates } from '../webhook/server-harness.js';
import { AdsClient, CDS, clientTypes, LDS, RDS, resourceNames } from './ads-client.js';
import { ensureDescriptors } from './descriptors.js';

/**
 * The ADS server in-process over real gRPC and TLS, with a MeshStore the tests change, and a
 * client that speaks the protocol as Envoy does (first request with node, ACK/NACK by nonce).
 */

const NODE_CURL = { id: 'curl-7d9.curl', cluster: 'curl.curl' };
const NODE_OTHER = { id: 'other-1.curl', cluster: 'other.curl' };
const http80 = (host: string, more: Record<string, unknown> = {}) => ({ hosts: [host], ports: [{ number: 80, protocol: 'http' }], ...more });
const otherSource = { sources: [{ kind: 'ServiceAccount', name: 'other', namespace: 'curl' }] };

/** Tokens name the identity: "good:NS/SA[:expiresInMs]"; "down" → UNAVAILABLE; anything else is refused. */
class TestAuthenticator implements StreamAuthenticator {
  async authenticate(metadata: { authorization?: string }): Promise<AuthResult> {
    const token = /^Bearer (.+)$/.exec(metadata.authorization ?? '')?.[1];
    if (!token) return { ok: false, code: 'UNAUTHENTICATED', message: 'no bearer token' };
    if (token === 'down') return { ok: false, code: 'UNAVAILABLE', message: 'token review failed: API server unreachable' };
    const m = /^good:([^/]+)\/([^:]+)(?::(\d+))?$/.exec(token);
    if (!m) return { ok: false, code: 'UNAUTHENTICATED', message: 'not authenticated' };
    return { ok: true, identity: { namespace: m[1]!, name: m[2]! }, ...(m[3] ? { expiresAt: Date.now() + Number(m[3]) } : {}) };
  }
}

describe('xds: ADS server (in-process, gRPC over TLS)', function () {
  this.timeout(20_000);
  let ca: string;
  let tls: { cert: string; key: string };
  const servers: AdsServer[] = [];
  const clients: AdsClient[] = [];

  before(async () => {
    ensureDescriptors();
    const b = await testCertificates();
    ca = b.caCert;
    tls = { cert: b.cert, key: b.key };
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.cancel();
    for (const s of servers.splice(0)) await s.close(100);
  });

  async function start(opts: { authenticator?: StreamAuthenticator; ready?: () => boolean } = {}) {
    const store = storeWith([
      meshConfig({ traffic: { enableEgress: false }, featureFlags: { enableEgressPolicy: true } }),
      egress(http80('httpbin.org'), { name: 'curl-httpbin' }),
      egress({ ...http80('example.com'), ...otherSource }, { name: 'other-example' }),
      routeGroup([{ name: 'get', pathRegex: '/get' }], 'rg'),
    ]);
    const logs = captureLogs('debug');
    const registry = new Registry();
    const server = new AdsServer({
      logger: logs.logger,
      state: store,
      changes: store,
      settings: DEFAULT_SETTINGS,
      authenticator: opts.authenticator ?? new NodeClusterAuthenticator(),
      tls,
      registry,
      debounceMs: 5,
      ...(opts.ready ? { ready: opts.ready } : {}),
    });
    servers.push(server);
    const port = await server.listen(0, '127.0.0.1');
    const connect = (token?: string) => {
      const c = new AdsClient({ port, ca, ...(token !== undefined ? { token } : {}) });
      clients.push(c);
      return c;
    };
    return { store, server, port, connect, logs, registry };
  }

  /** CDS, then LDS, then RDS as Envoy subscribes, each ACKed; returns the final responses. */
  async function handshake(c: AdsClient, node = NODE_CURL) {
    c.send({ typeUrl: CDS, node });
    const cds = await c.nextOf(CDS);
    c.ack(cds);
    c.send({ typeUrl: LDS });
    const lds = await c.nextOf(LDS);
    c.ack(lds);
    const names = routeNamesOf(lds);
    let rds;
    if (names.length) {
      c.send({ typeUrl: RDS, resourceNames: names });
      rds = await c.nextOf(RDS);
      c.ack(rds, names);
    }
    return { cds, lds, rds, names };
  }

  it('serves the compiled config: CDS, LDS and RDS by name, each resource as the compiler wrote it', async () => {
    const { connect, store } = await start();
    const c = connect();
    const { cds, lds, rds, names } = await handshake(c);
    const { config } = compileProxyConfig({ namespace: 'curl', name: 'curl' }, store, DEFAULT_SETTINGS);
    const decode = (r: { resources: { typeUrl: string; value: Uint8Array }[] }) => r.resources.map((a) => clientTypes().resourceToJson(a.typeUrl, a.value));
    expect(resourceNames(cds)).to.deep.equal(config.clusters.map((x) => (x as { name: string }).name));
    expect(resourceNames(lds)).to.deep.equal(['outbound-listener']);
    expect(names).to.deep.equal(['egress-http-80']);
    expect(rds!.resources.map((a) => a.typeUrl)).to.deep.equal(['type.googleapis.com/envoy.config.route.v3.RouteConfiguration']);
    // Byte-exact: what the client decodes re-encodes to what the compiler's JSON encodes to.
    for (const [got, want] of [
      [decode(cds), config.clusters],
      [decode(lds), config.listeners],
      [decode(rds!), config.routeConfigurations],
    ] as [Json[], Json[]][]) {
      expect(got.length).to.equal(want.length);
      got.forEach((g, i) => {
        const typeUrl = (want[i] as { '@type': string })['@type'];
        const a = clientTypes().encodeResource({ '@type': typeUrl, ...(g as object) } as Json).any.value;
        expect(Buffer.from(a).equals(Buffer.from(clientTypes().encodeResource(want[i]!).any.value))).to.equal(true);
      });
    }
    await c.none(200);
  });

  it('refuses a first request without node (INVALID_ARGUMENT), before sending anything', async () => {
    const { connect } = await start();
    const c = connect();
    c.send({ typeUrl: CDS });
    const end = await c.ended;
    expect(end.code).to.equal(status.INVALID_ARGUMENT);
    expect(end.details).to.match(/must carry node/);
  });

  it('authenticates before anything is sent: no or bad token UNAUTHENTICATED, reviewer down UNAVAILABLE', async () => {
    const { connect, server } = await start({ authenticator: new TestAuthenticator() });
    for (const [token, code] of [
      [undefined, status.UNAUTHENTICATED],
      ['forged', status.UNAUTHENTICATED],
      ['down', status.UNAVAILABLE],
    ] as const) {
      const c = connect(token);
      c.send({ typeUrl: CDS, node: NODE_CURL });
      const end = await c.ended;
      expect(end.code, String(token)).to.equal(code);
    }
    // The token decides the identity, not node.cluster.
    const c = connect('good:curl/other');
    c.send({ typeUrl: CDS, node: NODE_CURL });
    await c.nextOf(CDS);
    expect(server.proxyStatus().proxies.map((p) => [p.node, p.identity])).to.deep.equal([[NODE_CURL.id, 'curl/other']]);
  });

  it('closes the stream when the token expires (UNAUTHENTICATED, token expired)', async () => {
    const { connect } = await start({ authenticator: new TestAuthenticator() });
    const c = connect('good:curl/curl:300');
    c.send({ typeUrl: CDS, node: NODE_CURL });
    await c.nextOf(CDS);
    const end = await c.ended;
    expect(end).to.deep.equal({ code: status.UNAUTHENTICATED, details: 'token expired' });
  });

  it('refuses new streams UNAVAILABLE while the state is not synced', async () => {
    let ready = false;
    const { connect } = await start({ ready: () => ready });
    const c = connect();
    c.send({ typeUrl: CDS, node: NODE_CURL });
    expect((await c.ended).code).to.equal(status.UNAVAILABLE);
    ready = true;
    const d = connect();
    d.send({ typeUrl: CDS, node: NODE_CURL });
    await d.nextOf(CDS);
  });

  it('records a NACK, logs it once with identity and error_detail, and does not resend that version', async () => {
    const { connect, store, server, logs, registry } = await start();
    const c = connect();
    const { lds } = await handshake(c);
    store.upsert(egress(http80('httpbin.org', { ports: [{ number: 8080, protocol: 'tcp' }] }), { name: 'curl-httpbin' }));
    // Make before break: CDS (old and new) first.
    const union = await c.nextOf(CDS);
    c.ack(union);
    const lds2 = await c.nextOf(LDS);
    c.nack(lds2, lds.versionInfo, 'Error adding/updating listener(s) outbound-listener: test rejection');
    // The routes changed too (no http port left): sent after the listener, and ACKed.
    const rds2 = await c.nextOf(RDS);
    c.ack(rds2, ['egress-http-80']);
    await c.none(300);
    // Another change that compiles to the same listener: still not resent.
    store.upsert(egress(http80('httpbin.org', { ports: [{ number: 8080, protocol: 'tcp' }], labels: { again: 'yes' } }), { name: 'curl-httpbin' }));
    await c.none(200);
    const [p] = server.proxyStatus().proxies;
    expect(p!.lastRejection).to.deep.include({ type: 'LDS', version: lds2.versionInfo, message: 'Error adding/updating listener(s) outbound-listener: test rejection' });
    expect(p!.types.LDS!.ackedVersion).to.equal(lds.versionInfo);
    const nacks = logs.lines().filter((l) => l.msg === 'Envoy rejected a config (NACK)');
    expect(nacks).to.have.length(1);
    expect(nacks[0]).to.deep.include({ identity: 'curl/curl', type: 'LDS', errorDetail: 'Error adding/updating listener(s) outbound-listener: test rejection' });
    const metrics = await registry.metrics();
    expect(metrics).to.match(/meshgate_xds_rejections_total\{type="LDS"\} 1/);
    expect(metrics).to.match(/meshgate_xds_connected_proxies 1/);
    expect(metrics).to.match(/meshgate_xds_push_latency_seconds_count \d+/);
  });

  it('ignores a request with a stale nonce', async () => {
    const { connect } = await start();
    const c = connect();
    const { cds } = await handshake(c);
    c.send({ typeUrl: CDS, versionInfo: cds.versionInfo, responseNonce: 'not-a-nonce-we-sent' });
    c.send({ typeUrl: LDS, versionInfo: 'x', responseNonce: cds.nonce }); // a CDS nonce on LDS
    await c.none(300);
  });

  it('a reconnect with the last versions gets nothing (content-hash versions, any replica)', async () => {
    const { connect, server } = await start();
    const first = connect();
    const { cds, lds, rds, names } = await handshake(first);
    first.cancel();
    // A second server on the same state: another replica.
    const { connect: connectOther } = await start();
    for (const c of [connect(), connectOther()]) {
      c.send({ typeUrl: CDS, node: NODE_CURL, versionInfo: cds.versionInfo });
      c.send({ typeUrl: LDS, versionInfo: lds.versionInfo });
      c.send({ typeUrl: RDS, versionInfo: rds!.versionInfo, resourceNames: names });
      await c.none(300);
    }
    expect(server.proxyStatus().proxies[0]!.types.CDS!.ackedVersion).to.equal(cds.versionInfo);
  });

  it('a policy change reaches only the streams of the ServiceAccount it names, in make-before-break order', async () => {
    const { connect, store, server } = await start();
    const curl = connect();
    const other = connect();
    const a = await handshake(curl);
    await handshake(other, NODE_OTHER);
    await curl.none(100);
    // curl's policy moves from port 80 (http) to 443 (tls): new clusters, new listener, no routes.
    store.upsert(egress({ hosts: ['httpbin.org'], ports: [{ number: 443, protocol: 'https' }] }, { name: 'curl-httpbin' }));
    const union = await curl.next();
    expect(union.typeUrl).to.equal(CDS);
    expect(resourceNames(union)).to.include.members(resourceNames(a.cds)).and.include('egress-dynamic-forward-proxy');
    curl.ack(union);
    const lds = await curl.next();
    expect(lds.typeUrl).to.equal(LDS);
    curl.ack(lds);
    // The listener no longer names routes: Envoy drops the RDS subscription.
    const rds = await curl.nextOf(RDS);
    expect(resourceNames(rds)).to.deep.equal([]);
    curl.send({ typeUrl: RDS, versionInfo: rds.versionInfo, responseNonce: rds.nonce, resourceNames: [] });
    const final = await curl.nextOf(CDS);
    expect(resourceNames(final)).to.deep.equal(['egress-dynamic-forward-proxy']);
    curl.ack(final);
    await other.none(200);
    const s = server.proxyStatus().proxies.find((p) => p.identity === 'curl/curl')!;
    expect(s.types.CDS!.ackedVersion).to.equal(final.versionInfo);
    expect(s.types.LDS!.ackedVersion).to.equal(lds.versionInfo);
  });

  it('a MeshConfig change reaches every stream whose config changed', async () => {
    const { connect, store } = await start();
    const curl = connect();
    const other = connect();
    await handshake(curl);
    await handshake(other, NODE_OTHER);
    store.upsert(meshConfig({ traffic: { enableEgress: true }, featureFlags: { enableEgressPolicy: true } }));
    for (const c of [curl, other]) {
      const union = await c.nextOf(CDS);
      expect(resourceNames(union)).to.include('passthrough-outbound');
    }
  });

  it('ends streams UNAVAILABLE on shutdown, so proxies reconnect elsewhere', async () => {
    const { connect, server } = await start();
    const c = connect();
    await handshake(c);
    await server.close(1000);
    expect((await c.ended).code).to.equal(status.UNAVAILABLE);
  });
});

/** The RDS names a listener references (what Envoy subscribes to). */
function routeNamesOf(lds: { resources: { typeUrl: string; value: Uint8Array }[] }): string[] {
  const text = JSON.stringify(lds.resources.map((a) => clientTypes().resourceToJson(a.typeUrl, a.value)));
  return [...new Set([...text.matchAll(/"route_config_name":"([^"]+)"/g)].map((m) => m[1]!))].sort();
}
