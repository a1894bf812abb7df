import { expect } from 'chai';
import { StreamProtocol, TYPE_URLS, type DiscoveryRequestView, type ResponseOut, type Snapshot, type TypeSnapshot } from '../../src/xds/stream-protocol.js';

/** The per-stream protocol alone (SPEC §10's rules), with strings for resources. */

const LDS = TYPE_URLS.listener;
const RDS = TYPE_URLS.route;
const CDS = TYPE_URLS.cluster;
const NODE = { id: 'curl-1.curl', cluster: 'curl.curl' };

function typeSnap(resources: Record<string, string>): TypeSnapshot<string> {
  const entries = Object.entries(resources).sort(([a], [b]) => (a < b ? -1 : 1));
  return { version: `v(${entries.map(([k, v]) => `${k}=${v}`).join(',')})`, resources: new Map(entries) };
}

function snap(l: Record<string, string>, r: Record<string, string>, c: Record<string, string>): Snapshot<string> {
  return { listeners: typeSnap(l), routes: typeSnap(r), clusters: typeSnap(c) };
}

const req = (typeUrl: string, more: Partial<DiscoveryRequestView> = {}): DiscoveryRequestView => ({ versionInfo: '', resourceNames: [], typeUrl, responseNonce: '', ...more });
const ack = (r: ResponseOut<string>, names: string[] = []) => req(r.typeUrl, { versionInfo: r.versionInfo, responseNonce: r.nonce, resourceNames: names });
const nack = (r: ResponseOut<string>, prev: string, message: string, names: string[] = []) =>
  req(r.typeUrl, { versionInfo: prev, responseNonce: r.nonce, resourceNames: names, errorDetail: { code: 3, message } });

const V1 = snap({ out: 'L1' }, { 'egress-http-80': 'R1' }, { 'httpbin.org:80': 'C1', 'egress-tcp-443': 'T1' });

/** A stream that has received and ACKed V1 in full (CDS, LDS, RDS). */
function settledOn(s: Snapshot<string>) {
  const p = new StreamProtocol<string>();
  p.setSnapshot(s);
  const [cds] = p.handleRequest(req(CDS, { node: NODE })).responses;
  p.handleRequest(ack(cds!));
  const [lds] = p.handleRequest(req(LDS)).responses;
  p.handleRequest(ack(lds!));
  const names = [...s.routes.resources.keys()];
  const [rds] = p.handleRequest(req(RDS, { resourceNames: names })).responses;
  if (rds) p.handleRequest(ack(rds, names));
  return p;
}

describe('xds: the per-stream protocol', () => {
  it('requires node on the first request, and not after', () => {
    const p = new StreamProtocol<string>();
    p.setSnapshot(V1);
    expect(p.handleRequest(req(CDS)).error).to.match(/first DiscoveryRequest .* must carry node/);
    const q = new StreamProtocol<string>();
    q.setSnapshot(V1);
    expect(q.handleRequest(req(CDS, { node: NODE })).error).to.equal(undefined);
    expect(q.handleRequest(req(LDS)).error).to.equal(undefined);
    expect(q.nodeInfo).to.deep.equal(NODE);
  });

  it('answers a wildcard subscription with every resource, for [] and for ["*"]', () => {
    for (const names of [[], ['*']]) {
      const p = new StreamProtocol<string>();
      p.setSnapshot(V1);
      const [r] = p.handleRequest(req(CDS, { node: NODE, resourceNames: names })).responses;
      expect(r).to.deep.include({ typeUrl: CDS, versionInfo: V1.clusters.version, names: ['egress-tcp-443', 'httpbin.org:80'] });
      expect(r!.resources).to.deep.equal(['T1', 'C1']);
    }
  });

  it('answers RDS by name: only the names asked for', () => {
    const s = snap({ out: 'L' }, { 'egress-http-80': 'R80', 'egress-http-8080': 'R8080' }, {});
    const p = new StreamProtocol<string>();
    p.setSnapshot(s);
    const [r] = p.handleRequest(req(RDS, { node: NODE, resourceNames: ['egress-http-8080'] })).responses;
    expect(r!.names).to.deep.equal(['egress-http-8080']);
    expect(r!.resources).to.deep.equal(['R8080']);
  });

  it('answers every subscribed type, an empty list included', () => {
    const empty = snap({}, {}, {});
    const p = new StreamProtocol<string>();
    p.setSnapshot(empty);
    const [c] = p.handleRequest(req(CDS, { node: NODE })).responses;
    expect(c).to.deep.include({ typeUrl: CDS, versionInfo: empty.clusters.version, names: [] });
    p.handleRequest(ack(c!));
    const [l] = p.handleRequest(req(LDS)).responses;
    expect(l).to.deep.include({ typeUrl: LDS, names: [] });
    // A type meshgate does not serve is answered too, empty, so Envoy does not stall on it.
    const [e] = p.handleRequest(req('type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment', { resourceNames: ['x'] })).responses;
    expect(e).to.deep.include({ names: [] });
  });

  it('records an ACK and sends nothing more while nothing changes', () => {
    const p = new StreamProtocol<string>();
    p.setSnapshot(V1);
    const [r] = p.handleRequest(req(CDS, { node: NODE })).responses;
    const step = p.handleRequest(ack(r!));
    expect(step.responses).to.deep.equal([]);
    expect(step.events).to.deep.equal([{ kind: 'ack', typeUrl: CDS, version: V1.clusters.version }]);
    expect(p.status().CDS).to.deep.include({ ackedVersion: V1.clusters.version, sentVersion: V1.clusters.version });
  });

  it('records a NACK with its error_detail and never resends that version to the stream', () => {
    const p = settledOn(V1);
    const V2 = snap({ out: 'L2' }, { 'egress-http-80': 'R1' }, { 'httpbin.org:80': 'C1', 'egress-tcp-443': 'T1' });
    const [l] = p.setSnapshot(V2);
    expect(l).to.deep.include({ typeUrl: LDS, versionInfo: V2.listeners.version });
    const step = p.handleRequest(nack(l!, V1.listeners.version, 'Error adding/updating listener(s) out: duplicate matcher'));
    expect(step.events).to.deep.equal([
      { kind: 'nack', typeUrl: LDS, version: V2.listeners.version, message: 'Error adding/updating listener(s) out: duplicate matcher', code: 3 },
    ]);
    expect(step.responses).to.deep.equal([]);
    // The same version again (e.g. another state change that compiles to it): not resent.
    expect(p.setSnapshot({ ...V2 })).to.deep.equal([]);
    expect(p.status().LDS).to.deep.include({ ackedVersion: V1.listeners.version });
    expect(p.status().LDS!.lastNack).to.deep.include({ version: V2.listeners.version, message: 'Error adding/updating listener(s) out: duplicate matcher' });
    expect(p.lastNack()).to.deep.include({ typeUrl: LDS, version: V2.listeners.version });
    // A later, different version is sent.
    const V3 = snap({ out: 'L3' }, { 'egress-http-80': 'R1' }, { 'httpbin.org:80': 'C1', 'egress-tcp-443': 'T1' });
    expect(p.setSnapshot(V3).map((r) => r.versionInfo)).to.deep.equal([V3.listeners.version]);
  });

  it('ignores a request with a stale nonce: no answer, no ACK, no NACK', () => {
    const p = settledOn(V1);
    const V2 = snap({ out: 'L2' }, { 'egress-http-80': 'R1' }, { 'httpbin.org:80': 'C1', 'egress-tcp-443': 'T1' });
    const [first] = p.setSnapshot(V2);
    p.handleRequest(ack(first!));
    const V3 = snap({ out: 'L3' }, { 'egress-http-80': 'R1' }, { 'httpbin.org:80': 'C1', 'egress-tcp-443': 'T1' });
    const [second] = p.setSnapshot(V3);
    // Envoy answering the older response: stale.
    const stale = p.handleRequest(nack(first!, V1.listeners.version, 'late'));
    expect(stale.responses).to.deep.equal([]);
    expect(stale.events).to.deep.equal([{ kind: 'stale', typeUrl: LDS, nonce: first!.nonce }]);
    expect(p.status().LDS!.lastNack).to.equal(undefined);
    // An unknown nonce on a new type is stale too.
    expect(p.handleRequest(req(CDS, { responseNonce: '999' })).events[0]).to.deep.include({ kind: 'stale' });
    // The current nonce still works.
    expect(p.handleRequest(ack(second!)).events).to.deep.equal([{ kind: 'ack', typeUrl: LDS, version: V3.listeners.version }]);
  });

  it('does not resend on a reconnect that already holds the current versions', () => {
    const p = new StreamProtocol<string>();
    p.setSnapshot(V1);
    const c = p.handleRequest(req(CDS, { node: NODE, versionInfo: V1.clusters.version }));
    expect(c.responses).to.deep.equal([]);
    expect(c.events).to.deep.equal([{ kind: 'resumed', typeUrl: CDS, version: V1.clusters.version }]);
    expect(p.handleRequest(req(LDS, { versionInfo: V1.listeners.version })).responses).to.deep.equal([]);
    expect(p.handleRequest(req(RDS, { versionInfo: V1.routes.version, resourceNames: ['egress-http-80'] })).responses).to.deep.equal([]);
    expect(p.status().LDS).to.deep.include({ ackedVersion: V1.listeners.version });
    // An older version on reconnect is answered.
    const q = new StreamProtocol<string>();
    q.setSnapshot(V1);
    expect(q.handleRequest(req(CDS, { node: NODE, versionInfo: 'old' })).responses).to.have.length(1);
  });

  it('follows the listener with RDS names: new names are answered at the same version', () => {
    const s = snap({ out: 'L' }, { 'egress-http-80': 'R80', 'egress-http-8080': 'R8080' }, {});
    const p = new StreamProtocol<string>();
    p.setSnapshot(s);
    const [a] = p.handleRequest(req(RDS, { node: NODE, resourceNames: ['egress-http-80'] })).responses;
    // The ACK carries the listener's new set of names.
    const step = p.handleRequest(ack(a!, ['egress-http-80', 'egress-http-8080']));
    expect(step.responses).to.have.length(1);
    expect(step.responses[0]).to.deep.include({ versionInfo: s.routes.version, names: ['egress-http-80', 'egress-http-8080'] });
    // Names dropped: answered with the remaining one.
    const next = p.handleRequest(ack(step.responses[0]!, ['egress-http-8080']));
    expect(next.responses[0]!.names).to.deep.equal(['egress-http-8080']);
  });

  it('takes RDS with no names as the subscription dropped: not answered, and not waited for', () => {
    const p = settledOn(V1);
    const rds = p.status().RDS!;
    expect(rds.sentVersion).to.equal(V1.routes.version);
    // The listener no longer names routes; Envoy drops RDS (an empty, non-wildcard request).
    const V2 = snap({ out: 'L2' }, {}, { 'httpbin.org:80': 'C1', 'egress-tcp-443': 'T1' });
    const [l, r] = p.setSnapshot(V2);
    expect([l!.typeUrl, r!.typeUrl]).to.deep.equal([LDS, RDS]);
    p.handleRequest(ack(l!));
    expect(p.handleRequest(ack(r!, [])).responses).to.deep.equal([]);
    expect(p.setSnapshot(snap({ out: 'L2' }, { 'egress-http-9': 'R9' }, { 'httpbin.org:80': 'C1', 'egress-tcp-443': 'T1' }))).to.deep.equal([]);
  });

  it('keeps one response in flight per type: the next waits for the ACK', () => {
    const p = settledOn(V1);
    const V2 = snap({ out: 'L2' }, { 'egress-http-80': 'R1' }, { 'httpbin.org:80': 'C1', 'egress-tcp-443': 'T1' });
    const V3 = snap({ out: 'L3' }, { 'egress-http-80': 'R1' }, { 'httpbin.org:80': 'C1', 'egress-tcp-443': 'T1' });
    const [l2] = p.setSnapshot(V2);
    expect(p.setSnapshot(V3)).to.deep.equal([]);
    const after = p.handleRequest(ack(l2!)).responses;
    expect(after.map((r) => r.versionInfo)).to.deep.equal([V3.listeners.version]);
  });

  it('makes before it breaks: CDS(old ∪ new) → ACK → LDS → RDS → ACKs → CDS(new)', () => {
    const p = settledOn(V1);
    // The listener now routes to a new cluster and drops the tcp one.
    const V2 = snap({ out: 'L2' }, { 'egress-http-80': 'R2' }, { 'httpbin.org:80': 'C1', 'example.com:80': 'C2' });
    const first = p.setSnapshot(V2);
    expect(first).to.have.length(1);
    const union = first[0]!;
    expect(union.typeUrl).to.equal(CDS);
    expect(union.names).to.deep.equal(['egress-tcp-443', 'example.com:80', 'httpbin.org:80']);
    expect(union.versionInfo).to.not.equal(V2.clusters.version);
    // Nothing else until the clusters are acknowledged (warm).
    expect(p.handleRequest(req(LDS, { responseNonce: 'nope' })).responses).to.deep.equal([]);
    const afterCds = p.handleRequest(ack(union)).responses;
    expect(afterCds.map((r) => r.typeUrl)).to.deep.equal([LDS, RDS]);
    expect(afterCds[0]!.versionInfo).to.equal(V2.listeners.version);
    expect(afterCds[1]!.versionInfo).to.equal(V2.routes.version);
    // The stale cluster goes only once listeners and routes are acknowledged.
    expect(p.handleRequest(ack(afterCds[0]!)).responses).to.deep.equal([]);
    const last = p.handleRequest(ack(afterCds[1]!, ['egress-http-80'])).responses;
    expect(last).to.have.length(1);
    expect(last[0]).to.deep.include({ typeUrl: CDS, versionInfo: V2.clusters.version, names: ['example.com:80', 'httpbin.org:80'] });
    p.handleRequest(ack(last[0]!));
    expect(p.setSnapshot(V2)).to.deep.equal([]);
  });

  it('keeps the union of clusters when the new listener is rejected', () => {
    const p = settledOn(V1);
    const V2 = snap({ out: 'L2' }, { 'egress-http-80': 'R1' }, { 'example.com:80': 'C2' });
    const [union] = p.setSnapshot(V2);
    const [lds] = p.handleRequest(ack(union!)).responses;
    expect(p.handleRequest(nack(lds!, V1.listeners.version, 'bad listener')).responses).to.deep.equal([]);
    // The old listener still runs: its clusters are not taken away.
    expect(p.status().CDS!.ackedVersion).to.equal(union!.versionInfo);
  });

  it('sends a cluster-only change directly', () => {
    const p = settledOn(V1);
    const V2 = snap({ out: 'L1' }, { 'egress-http-80': 'R1' }, { 'httpbin.org:80': 'C1-timeout', 'egress-tcp-443': 'T1' });
    const out = p.setSnapshot(V2);
    expect(out.map((r) => [r.typeUrl, r.versionInfo])).to.deep.equal([[CDS, V2.clusters.version]]);
  });

  it('never names a resource twice in one response', () => {
    const p = settledOn(V1);
    // Same names in old and new, new content: the union holds each name once, with the new content.
    const V2 = snap({ out: 'L2' }, { 'egress-http-80': 'R1' }, { 'httpbin.org:80': 'C1-new', 'egress-tcp-443': 'T1', 'a:80': 'A' });
    const [union] = p.setSnapshot(V2);
    expect(new Set(union!.names).size).to.equal(union!.names.length);
    expect(union!.resources[union!.names.indexOf('httpbin.org:80')]).to.equal('C1-new');
    const p2 = new StreamProtocol<string>();
    p2.setSnapshot(V1);
    const [r] = p2.handleRequest(req(RDS, { node: NODE, resourceNames: ['egress-http-80', 'egress-http-80', '*'] })).responses;
    expect(r!.names).to.deep.equal(['egress-http-80']);
  });

  it('gives each response a nonce of its own', () => {
    const p = new StreamProtocol<string>();
    p.setSnapshot(V1);
    const a = p.handleRequest(req(CDS, { node: NODE })).responses[0]!;
    const b = p.handleRequest(req(LDS)).responses;
    p.handleRequest(ack(a));
    const nonces = [a, ...b, ...p.handleRequest(req(LDS, { responseNonce: 'x' })).responses].map((r) => r.nonce);
    expect(new Set(nonces).size).to.equal(nonces.length);
  });
});
